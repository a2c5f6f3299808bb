"""Stored analyses: the heavy analyses of a closed round, computed once and kept.

One new table, `stored_analyses`: per snapshot and kind (scenario results at a seed, trend
impact, weighted pooling, ...), the pickled result, its HMAC signature and the fingerprint of
the settings and code it was computed with. Nothing existing changes; rows are rebuilt on demand,
so the downgrade only drops the table.

Revision ID: 766e19f3d748
Revises: e1f2a3b4c5d6
Create Date: 2026-12-07

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "766e19f3d748"
down_revision = "e1f2a3b4c5d6"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "stored_analyses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=120), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.Column("compute_seconds", sa.Float(), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["snapshots.id"],
            name=op.f("fk_stored_analyses_snapshot_id_snapshots"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_stored_analyses_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_analyses")),
        sa.UniqueConstraint(
            "snapshot_id", "kind", name=op.f("uq_stored_analyses_snapshot_id_kind")
        ),
    )
    with op.batch_alter_table("stored_analyses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stored_analyses_study_id"), ["study_id"], unique=False)


def downgrade():
    with op.batch_alter_table("stored_analyses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stored_analyses_study_id"))
    op.drop_table("stored_analyses")
