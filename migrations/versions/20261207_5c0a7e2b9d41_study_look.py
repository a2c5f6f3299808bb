"""The study's look and mail: its own invitation and reminder texts, colours and logo.

Columns on `studies`: `mail_templates` and `colours` (JSON, empty by default), `logo` (the
image's bytes), `logo_type` and `logo_hash`. On SQLite they are added with ALTER TABLE ADD
COLUMN (`recreate="never"`): copying `studies` would delete, through ON DELETE CASCADE, every
row that belongs to a study.

Revision ID: 5c0a7e2b9d41
Revises: 5a1b9c3d7e20
Create Date: 2026-12-07

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "5c0a7e2b9d41"
down_revision = "5a1b9c3d7e20"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    with op.batch_alter_table("studies", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("mail_templates", _json(), server_default=sa.text("'{}'"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("colours", _json(), server_default=sa.text("'{}'"), nullable=False)
        )
        batch_op.add_column(sa.Column("logo", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("logo_type", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("logo_hash", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("studies", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("logo_hash")
        batch_op.drop_column("logo_type")
        batch_op.drop_column("logo")
        batch_op.drop_column("colours")
        batch_op.drop_column("mail_templates")
