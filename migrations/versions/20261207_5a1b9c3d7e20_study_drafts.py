"""Study drafts: studies being built in the browser before they are launched.

One new table, `study_drafts`: the owner, the survey file's content as JSON, and the study it
was launched as. Nothing existing changes, so the downgrade only drops the table.

Revision ID: 5a1b9c3d7e20
Revises: 766e19f3d748
Create Date: 2026-12-07

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "5a1b9c3d7e20"
down_revision = "766e19f3d748"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "study_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column(
            "document",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_study_drafts_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_study_drafts_study_id_studies"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_drafts")),
    )
    with op.batch_alter_table("study_drafts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_study_drafts_owner_id"), ["owner_id"], unique=False)


def downgrade():
    with op.batch_alter_table("study_drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_study_drafts_owner_id"))
    op.drop_table("study_drafts")
