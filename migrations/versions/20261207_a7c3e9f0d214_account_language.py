"""The language an account's pages speak: `users.language` (en, fa, ru; none = the browser's).

On SQLite the column is added with ALTER TABLE ADD COLUMN (`recreate="never"`): copying `users`
would delete, through ON DELETE CASCADE, the account's sessions and API keys.

Revision ID: a7c3e9f0d214
Revises: 5c0a7e2b9d41
Create Date: 2026-12-07

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "a7c3e9f0d214"
down_revision = "5c0a7e2b9d41"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=10), nullable=True))


def downgrade():
    with op.batch_alter_table("users", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("language")
