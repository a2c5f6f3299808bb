"""Background work the database remembers: jobs, built reports, outgoing email, reminder runs.

The queue (app/jobs) only carries "look at row N now"; these rows are the truth. A job or an
email is claimed with a lease that its worker renews while it runs, so when a worker dies its
rows are found by their expired lease and taken up again, and nothing is done twice by two
workers at once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column

from app.models.base import Base, utcnow


class JobStatus(StrEnum):
    """A job's life: queued -> running -> done | failed; running -> queued again on a retry."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(Base):
    """One piece of background work (a report build, a panel import), with its progress.

    `key` names the work (e.g. "report:12:en:pdf"): while one job with a key is queued or
    running, asking for the same work again returns that job instead of a second one.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("status in ('queued', 'running', 'done', 'failed')", name="status"),
        CheckConstraint("progress >= 0 and progress <= 100", name="progress"),
        Index("ix_jobs_status_lease", "status", "lease_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(200), index=True)
    study_id: Mapped[int | None] = mapped_column(
        ForeignKey("studies.id", ondelete="CASCADE"), index=True
    )
    #: what the handler needs (ids, options); never a secret or an answer
    args: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(10), default=JobStatus.QUEUED)
    progress: Mapped[int] = mapped_column(default=0)  #: percent
    stage: Mapped[str] = mapped_column(String(200), default="")  #: what it is doing now
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    #: a running job whose lease has passed has lost its worker and is taken up again
    lease_until: Mapped[datetime | None]
    #: the worker that holds the lease (host:pid), for the operator
    worker: Mapped[str] = mapped_column(String(100), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    #: what the handler returned (counts, ids), shown on the job's page
    result: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: a large input the handler reads once (an uploaded panel file), cleared when done
    payload: Mapped[str | None] = deferred(mapped_column(Text))

    @property
    def active(self) -> bool:
        """Whether the job is still to run or running."""
        return self.status in (JobStatus.QUEUED, JobStatus.RUNNING)


class ReportFile(Base):
    """A built report or export of one snapshot, in one language and format, kept to serve."""

    __tablename__ = "report_files"
    __table_args__ = (UniqueConstraint("snapshot_id", "language", "format"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("snapshots.id", ondelete="CASCADE"), index=True
    )
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    language: Mapped[str] = mapped_column(String(8))
    format: Mapped[str] = mapped_column(String(10))  #: pdf | html | xlsx
    #: the file name offered to the browser
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    #: the settings and code version it was built with; another value means build it again
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    built_at: Mapped[datetime] = mapped_column(default=utcnow)
    build_seconds: Mapped[float] = mapped_column(default=0.0)
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))


class EmailStatus(StrEnum):
    """An outgoing email's life.

    pending -> sending -> sent | failed | skipped. A worker that dies between handing the
    message to the mail server and recording it leaves it `sending`; once its lease passes it
    becomes `unsure`: it is never sent again on its own (it may have arrived), and the
    facilitators see it and may send it again.
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNSURE = "unsure"


class OutgoingEmail(Base):
    """An invitation or reminder to send, written in the transaction of the change that causes it.

    It holds no link and no text: the worker issues the private link and renders the message
    in the expert's language when it sends, so no usable token ever rests in the database.
    """

    __tablename__ = "outgoing_emails"
    __table_args__ = (
        CheckConstraint(
            "status in ('pending', 'sending', 'sent', 'failed', 'skipped', 'unsure')",
            name="status",
        ),
        Index("ix_outgoing_emails_status_claimed", "status", "claimed_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    participation_id: Mapped[int] = mapped_column(
        ForeignKey("participations.id", ondelete="CASCADE"), index=True
    )
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  #: invitation | reminder
    #: the scheduled reminder run that queued it, if any
    reminder_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("reminder_runs.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(10), default=EmailStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_until: Mapped[datetime | None]
    #: why it failed or was skipped (never the address or the link)
    reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ReminderRun(Base):
    """One scheduled reminder of one round (e.g. 7 days before its deadline), done once."""

    __tablename__ = "reminder_runs"
    __table_args__ = (UniqueConstraint("round_id", "days_before"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    days_before: Mapped[int]
    due_at: Mapped[datetime]
    ran_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: how many reminders it queued; a run due before the round opened queues none
    queued: Mapped[int] = mapped_column(default=0)
    note: Mapped[str] = mapped_column(String(200), default="")
