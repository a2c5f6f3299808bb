"""answer drafts, kept answers, per-request idempotency, paging

Revision ID: 5e1f0a7c3b21
Revises: da94e1e828c8
Create Date: 2026-12-06 18:30:00

Drafts keep what an expert typed that is not a valid answer yet; `answers.kept` marks an
answer carried over from the previous round by choice; `save_requests` remembers each
autosave's idempotency key with its body digest (replays and late duplicates answer from
there); `studies.page_by` says whether the round is paged by item or by category.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "5e1f0a7c3b21"
down_revision = "da94e1e828c8"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    op.create_table(
        "answer_drafts",
        sa.Column("participation_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["participation_id"],
            ["participations.id"],
            name=op.f("fk_answer_drafts_participation_id_participations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["questions.id"],
            name=op.f("fk_answer_drafts_question_id_questions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_answer_drafts_round_id_rounds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "participation_id", "round_id", "question_id", name=op.f("pk_answer_drafts")
        ),
    )
    op.create_table(
        "save_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participation_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("body_digest", sa.String(length=64), nullable=False),
        sa.Column("outcome", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name=op.f("fk_save_requests_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["participation_id"],
            ["participations.id"],
            name=op.f("fk_save_requests_participation_id_participations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_save_requests_round_id_rounds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_save_requests")),
        sa.UniqueConstraint(
            "participation_id",
            "idempotency_key",
            name=op.f("uq_save_requests_participation_id_idempotency_key"),
        ),
    )
    op.create_index(op.f("ix_save_requests_round_id"), "save_requests", ["round_id"], unique=False)
    with op.batch_alter_table("answers") as batch:
        batch.add_column(sa.Column("kept", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("studies") as batch:
        batch.add_column(
            sa.Column("page_by", sa.String(length=10), server_default="item", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("page_by")
    with op.batch_alter_table("answers") as batch:
        batch.drop_column("kept")
    op.drop_index(op.f("ix_save_requests_round_id"), table_name="save_requests")
    op.drop_table("save_requests")
    op.drop_table("answer_drafts")
