"""Names per participation; owner and member roles per study.

An expert's name moves from the shared `experts` row to each participation, so that a study's
facilitators see only the name they typed (an email already on another panel reveals nothing).
Every participation keeps the name its expert had.

Study roles become `owner` (manages the team, finishes the study) and `member`. The creator of
a study is its owner; a study with no owner left (its creator's account was deleted) gets all
its members as owners, so nobody loses what they could do and no study is left without one.

On SQLite the two column changes use ALTER TABLE ADD/DROP COLUMN, never a table copy: with
foreign keys on, dropping `participations` to rebuild it would delete every answer (ON DELETE
CASCADE) and dropping `experts` is refused (RESTRICT).

Revision ID: 060ba4458647
Revises: 393123285471
Create Date: 2026-12-06

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "060ba4458647"
down_revision = "393123285471"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "participations",
        sa.Column("name", sa.String(length=200), nullable=False, server_default=""),
    )
    op.execute(
        "UPDATE participations SET name = "
        "(SELECT experts.name FROM experts WHERE experts.id = participations.expert_id)"
    )
    if op.get_bind().dialect.name != "sqlite":
        # the default only filled existing rows; new rows always get a name from the app
        # (SQLite cannot drop a column default without copying the table; it is never used)
        op.alter_column("participations", "name", server_default=None)
    op.drop_column("experts", "name")

    op.execute("UPDATE study_members SET role = 'member' WHERE role <> 'owner'")
    op.execute(
        "UPDATE study_members SET role = 'owner' WHERE user_id = "
        "(SELECT studies.created_by_id FROM studies WHERE studies.id = study_members.study_id)"
    )
    op.execute(
        "UPDATE study_members SET role = 'owner' WHERE study_id NOT IN "
        "(SELECT owners.study_id FROM study_members AS owners WHERE owners.role = 'owner')"
    )
    # study_members is referenced by no table, so copying it (SQLite) is safe
    with op.batch_alter_table("study_members", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_study_members_role"), "role in ('owner', 'member')"
        )


def downgrade():
    with op.batch_alter_table("study_members", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_study_members_role"), type_="check")
    op.execute("UPDATE study_members SET role = 'facilitator' WHERE role = 'member'")

    op.add_column(
        "experts",
        sa.Column("name", sa.String(length=200), nullable=False, server_default=""),
    )
    # one shared name again: the one the expert's first panel gave them
    op.execute(
        "UPDATE experts SET name = COALESCE((SELECT participations.name FROM participations "
        "WHERE participations.expert_id = experts.id ORDER BY participations.id LIMIT 1), "
        "experts.email)"
    )
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("experts", "name", server_default=None)
    op.drop_column("participations", "name")
