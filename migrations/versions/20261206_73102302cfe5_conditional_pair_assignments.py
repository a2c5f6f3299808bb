"""conditional pairs per expert: the study's cap and each expert's assigned pairs

Revision ID: 73102302cfe5
Revises: 5e1f0a7c3b21
Create Date: 2026-12-06 10:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "73102302cfe5"
down_revision = "5e1f0a7c3b21"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("studies", schema=None) as batch_op:
        # nullable: existing studies keep asking every expert every pair
        batch_op.add_column(sa.Column("conditional_pairs_per_expert", sa.Integer(), nullable=True))

    op.create_table(
        "pair_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participation_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("given_key", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["participation_id"],
            ["participations.id"],
            name=op.f("fk_pair_assignments_participation_id_participations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["questions.id"],
            name=op.f("fk_pair_assignments_question_id_questions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pair_assignments")),
        sa.UniqueConstraint(
            "participation_id",
            "question_id",
            "given_key",
            name=op.f("uq_pair_assignments_participation_id_question_id_given_key"),
        ),
    )
    with op.batch_alter_table("pair_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pair_assignments_participation_id"), ["participation_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pair_assignments_question_id"), ["question_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("pair_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pair_assignments_question_id"))
        batch_op.drop_index(batch_op.f("ix_pair_assignments_participation_id"))
    op.drop_table("pair_assignments")
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.drop_column("conditional_pairs_per_expert")
