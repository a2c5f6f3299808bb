"""Background work: jobs with leases, built reports, outgoing email, scheduled reminders.

Four new tables, and three columns: `studies.reminder_days` (days before a deadline at which
non-submitters are reminded; existing studies get none) and `studies.close_at_deadline`
(existing studies keep closing rounds by hand), and `rounds.auto_close_note`.

On SQLite the columns are added with ALTER TABLE ADD COLUMN (`recreate="never"`): copying
`studies` or `rounds` would delete, through ON DELETE CASCADE, every row that belongs to them.

Revision ID: e1f2a3b4c5d6
Revises: b7c2d9e4f1a6
Create Date: 2026-12-07

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "e1f2a3b4c5d6"
down_revision = "b7c2d9e4f1a6"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=True),
        sa.Column(
            "args",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("worker", sa.String(length=100), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status in ('queued', 'running', 'done', 'failed')", name=op.f("ck_jobs_status")
        ),
        sa.CheckConstraint("progress >= 0 and progress <= 100", name=op.f("ck_jobs_progress")),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_jobs_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name=op.f("fk_jobs_study_id_studies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_key"), ["key"], unique=False)
        batch_op.create_index("ix_jobs_status_lease", ["status", "lease_until"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_study_id"), ["study_id"], unique=False)

    op.create_table(
        "reminder_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("days_before", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("ran_at", sa.DateTime(), nullable=False),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_reminder_runs_round_id_rounds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_runs")),
        sa.UniqueConstraint(
            "round_id", "days_before", name=op.f("uq_reminder_runs_round_id_days_before")
        ),
    )
    with op.batch_alter_table("reminder_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminder_runs_round_id"), ["round_id"], unique=False)

    op.create_table(
        "outgoing_emails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("participation_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("reminder_run_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status in ('pending', 'sending', 'sent', 'failed', 'skipped', 'unsure')",
            name=op.f("ck_outgoing_emails_status"),
        ),
        sa.ForeignKeyConstraint(
            ["participation_id"],
            ["participations.id"],
            name=op.f("fk_outgoing_emails_participation_id_participations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reminder_run_id"],
            ["reminder_runs.id"],
            name=op.f("fk_outgoing_emails_reminder_run_id_reminder_runs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_outgoing_emails_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["rounds.id"],
            name=op.f("fk_outgoing_emails_round_id_rounds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_outgoing_emails_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outgoing_emails")),
    )
    with op.batch_alter_table("outgoing_emails", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outgoing_emails_participation_id"), ["participation_id"], unique=False
        )
        batch_op.create_index(
            "ix_outgoing_emails_status_claimed", ["status", "claimed_until"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outgoing_emails_study_id"), ["study_id"], unique=False)

    op.create_table(
        "report_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("built_at", sa.DateTime(), nullable=False),
        sa.Column("build_seconds", sa.Float(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["snapshots.id"],
            name=op.f("fk_report_files_snapshot_id_snapshots"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_report_files_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_files")),
        sa.UniqueConstraint(
            "snapshot_id",
            "language",
            "format",
            name=op.f("uq_report_files_snapshot_id_language_format"),
        ),
    )
    with op.batch_alter_table("report_files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_report_files_snapshot_id"), ["snapshot_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_report_files_study_id"), ["study_id"], unique=False)

    with op.batch_alter_table("rounds", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("auto_close_note", sa.String(length=300), server_default="", nullable=False)
        )

    with op.batch_alter_table("studies", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column(
                "reminder_days",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                server_default=sa.text("'[]'"),
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("close_at_deadline", sa.Boolean(), server_default="0", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("studies", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("close_at_deadline")
        batch_op.drop_column("reminder_days")

    with op.batch_alter_table("rounds", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("auto_close_note")

    with op.batch_alter_table("report_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_files_study_id"))
        batch_op.drop_index(batch_op.f("ix_report_files_snapshot_id"))

    op.drop_table("report_files")
    with op.batch_alter_table("outgoing_emails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outgoing_emails_study_id"))
        batch_op.drop_index("ix_outgoing_emails_status_claimed")
        batch_op.drop_index(batch_op.f("ix_outgoing_emails_participation_id"))

    op.drop_table("outgoing_emails")
    with op.batch_alter_table("reminder_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminder_runs_round_id"))

    op.drop_table("reminder_runs")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_study_id"))
        batch_op.drop_index("ix_jobs_status_lease")
        batch_op.drop_index(batch_op.f("ix_jobs_key"))

    op.drop_table("jobs")
