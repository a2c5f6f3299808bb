"""A partial index on a round's current answers by question: `answers (round_id, question_id)
WHERE is_current`.

The answers CSV is written by PostgreSQL one (round, item) at a time; without the index each
item read every answer of the round through `ix_answers_round_id` (a round of a 5,000-expert
panel holds 0.7 M), with it only the item's. The close reads a (round, question) at a time
and may use it too. Built with a plain CREATE INDEX, which holds writes to `answers` while it
runs (seconds for millions of rows): upgrade between rounds.

Revision ID: b3d5f7a9c1e2
Revises: a7c3e9f0d214
Create Date: 2026-12-07

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b3d5f7a9c1e2"
down_revision = "a7c3e9f0d214"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_answers_current_round_question",
        "answers",
        ["round_id", "question_id"],
        unique=False,
        sqlite_where=sa.text("is_current"),
        postgresql_where=sa.text("is_current"),
    )


def downgrade():
    op.drop_index(
        "ix_answers_current_round_question",
        table_name="answers",
        sqlite_where=sa.text("is_current"),
        postgresql_where=sa.text("is_current"),
    )
