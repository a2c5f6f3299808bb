"""Job records: ask for background work once, claim it with a lease, report progress, finish.

These functions flush and never commit; the runner (app/jobs/runner.py) owns the transactions.
A claim is one conditional UPDATE, so two workers never run the same job at once, on SQLite as
on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.models import Job, JobStatus, NotFoundError, Study, User

#: how much of a failure's text a job keeps (the page shows it; never a traceback)
_ERROR_LENGTH = 500


def request_job(
    session: Session,
    *,
    kind: str,
    key: str,
    args: dict[str, Any],
    study: Study | None = None,
    requested_by: User | None = None,
    payload: str | None = None,
    max_attempts: int = 3,
    now: datetime,
) -> tuple[Job, bool]:
    """The active job for `key`, or a new queued one; (job, created).

    The caller enqueues a new job's run after commit (`app.jobs.runner.run_after_commit`).
    """
    active = session.scalars(
        select(Job)
        .where(Job.key == key, Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
        .order_by(Job.id)
        .limit(1)
    ).first()
    if active is not None:
        return active, False
    job = Job(
        kind=kind,
        key=key,
        args=args,
        study_id=study.id if study is not None else None,
        requested_by_id=requested_by.id if requested_by is not None else None,
        payload=payload,
        max_attempts=max_attempts,
        status=JobStatus.QUEUED,
        created_at=now,
    )
    session.add(job)
    session.flush()
    return job, True


def claim(session: Session, job_id: int, *, worker: str, now: datetime, lease: timedelta) -> bool:
    """Take a queued job, or a running one whose worker's lease has passed; False if not ours.

    Each claim counts an attempt; a job out of attempts is marked failed instead.
    """
    claimable = or_(
        Job.status == JobStatus.QUEUED,
        (Job.status == JobStatus.RUNNING) & (Job.lease_until < now),
    )
    taken = session.execute(
        update(Job)
        .where(Job.id == job_id, claimable, Job.attempts < Job.max_attempts)
        .values(
            status=JobStatus.RUNNING,
            attempts=Job.attempts + 1,
            lease_until=now + lease,
            worker=worker[:100],
            started_at=now,
            progress=0,
            stage="",
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(taken, "rowcount", 0) == 1:
        return True
    # out of attempts: a job whose worker kept dying is failed, not retried for ever
    session.execute(
        update(Job)
        .where(Job.id == job_id, claimable, Job.attempts >= Job.max_attempts)
        .values(
            status=JobStatus.FAILED,
            finished_at=now,
            lease_until=None,
            error="Stopped: its worker ended before finishing it on every attempt.",
            payload=None,
        )
        .execution_options(synchronize_session=False)
    )
    return False


def report_progress(
    session: Session,
    job_id: int,
    *,
    percent: int | None = None,
    stage: str | None = None,
    now: datetime,
    lease: timedelta,
) -> None:
    """Record how far a running job is and renew its lease."""
    values: dict[str, Any] = {"lease_until": now + lease}
    if percent is not None:
        values["progress"] = max(0, min(100, int(percent)))
    if stage is not None:
        values["stage"] = stage[:200]
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.RUNNING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def finish(session: Session, job: Job, result: dict[str, Any] | None, *, now: datetime) -> None:
    """Mark a job done with what it produced; its payload is no longer needed."""
    job.status = JobStatus.DONE
    job.progress = 100
    job.result = result
    job.finished_at = now
    job.lease_until = None
    job.error = ""
    job.payload = None
    session.flush()


def fail_attempt(session: Session, job_id: int, message: str, *, now: datetime) -> bool:
    """Record a failed attempt: queued again while attempts remain (True), else failed."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFoundError("No such job.")
    job.error = message[:_ERROR_LENGTH]
    job.lease_until = None
    if job.attempts < job.max_attempts:
        job.status = JobStatus.QUEUED
        session.flush()
        return True
    job.status = JobStatus.FAILED
    job.finished_at = now
    job.payload = None  # an uploaded file is kept only while the job may still use it
    session.flush()
    return False


def to_resume(session: Session, *, now: datetime, queued_before: datetime) -> Sequence[int]:
    """Jobs a worker should look at: queued a while ago and not yet taken (a lost message), or
    running with a passed lease (a dead worker)."""
    return session.scalars(
        select(Job.id)
        .where(
            or_(
                (Job.status == JobStatus.QUEUED) & (Job.created_at < queued_before),
                (Job.status == JobStatus.RUNNING) & (Job.lease_until < now),
            )
        )
        .order_by(Job.id)
    ).all()


def jobs_of(session: Session, study: Study, *, limit: int = 50) -> Sequence[Job]:
    """A study's latest jobs, newest first (for the facilitators' pages)."""
    return session.scalars(
        select(Job).where(Job.study_id == study.id).order_by(Job.id.desc()).limit(limit)
    ).all()
