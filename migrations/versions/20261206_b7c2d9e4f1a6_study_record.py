"""The study record: reporting items (CREDES / DELPHISTAR) the facilitators edit.

One nullable JSON column on `studies`: field -> language -> text. NULL means nobody has edited
the record yet, and the survey file's `[record]` table (kept in `studies.definition`) is shown.

On SQLite the column is added with ALTER TABLE ADD COLUMN (`recreate="never"`): copying
`studies` would delete, through ON DELETE CASCADE, every row that belongs to a study.

Revision ID: b7c2d9e4f1a6
Revises: c00ce0a1b2d3
Create Date: 2026-12-06

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "b7c2d9e4f1a6"
down_revision = "c00ce0a1b2d3"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("studies", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column(
                "record",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade():
    with op.batch_alter_table("studies", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("record")
