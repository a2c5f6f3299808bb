"""data subject rights: experts.erased_at, studies.answers_withdrawn

An erased expert keeps their row (anonymised: name and email replaced), so pseudonymous answers
keep their participation; `erased_at` says when. `answers_withdrawn` counts the experts who
also withdrew their answers from a study (never who), for the report.

Revision ID: 393123285471
Revises: 73102302cfe5
Create Date: 2026-12-06 10:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "393123285471"
down_revision = "73102302cfe5"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("experts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("answers_withdrawn", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.drop_column("answers_withdrawn")
    with op.batch_alter_table("experts", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
