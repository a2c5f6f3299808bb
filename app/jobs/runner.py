"""Running jobs: claim with a lease, a heartbeat that renews it, progress, retries, the sweep.

A handler is registered per job kind with `@handler("kind")`. It gets a `JobRun`: the job's
arguments, a session of its own to work in, and `progress()`. It should read first and write
at the end (on SQLite a long write transaction would hold up the progress updates), and be
safe to run again from the start: a retried job begins anew.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import current_app
from huey import crontab
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.extensions import db
from app.jobs.queue import enqueue_after_commit, huey, periodic_task, task
from app.models import Job, utcnow
from app.services import jobs as job_records

logger = logging.getLogger(__name__)


class JobError(Exception):
    """A failure the handler explains to the facilitator (shown on the job's page as is)."""


@dataclass
class JobRun:
    """What a handler gets: the job's record, its own session, and a way to report progress."""

    job: Job
    session: Session
    _report: Callable[[int | None, str | None], None] = field(repr=False)

    @property
    def args(self) -> dict[str, Any]:
        """The job's arguments."""
        return self.job.args

    def progress(self, percent: int | None = None, stage: str | None = None) -> None:
        """Tell the facilitators how far the job is (committed at once, outside the work)."""
        self._report(percent, stage)

    def start_writing(self) -> None:
        """Call once reading is over, before the handler writes its results."""
        begin_writing(self.session)


Handler = Callable[[JobRun], dict[str, Any] | None]
HANDLERS: dict[str, Handler] = {}

#: tasks the minute's tick runs besides the job sweep (the outbox, reminders, deadlines)
TICKS: list[Callable[[], None]] = []


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that does the work of jobs of `kind`."""

    def register(function: Handler) -> Handler:
        HANDLERS[kind] = function
        return function

    return register


def on_tick(function: Callable[[], None]) -> Callable[[], None]:
    """Register work the scheduler runs every minute (each part's failure is logged alone)."""
    TICKS.append(function)
    return function


def worker_name() -> str:
    """host:pid of this process, recorded on the jobs it holds."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lease() -> timedelta:
    """How long a job stays ours without a heartbeat."""
    return timedelta(seconds=float(current_app.config["JOB_LEASE_SECONDS"]))


def begin_writing(session: Session) -> None:
    """End the session's reads and start a write transaction (on SQLite, with the write lock).

    On SQLite a reading transaction that starts writing fails if another connection wrote in
    between (a progress update, say); starting afresh with the lock avoids that.
    """
    session.commit()
    session.info["writing"] = True
    if db.engine.dialect.name == "sqlite":
        session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})


@contextmanager
def job_session(*, write: bool = True) -> Iterator[Session]:
    """A session of its own on the app's engine (never the request's), closed at the end;
    `write` takes SQLite's write lock up front."""
    session = Session(db.engine, expire_on_commit=False)
    try:
        if write and db.engine.dialect.name == "sqlite":
            session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        yield session
    finally:
        session.close()


def run_after_commit(session: Session, job: Job) -> None:
    """Run `job` once `session` commits."""
    enqueue_after_commit(session, run_job, job.id)


def _record_progress(job_id: int, percent: int | None, stage: str | None) -> None:
    """Write progress and renew the lease in a short transaction of its own."""
    try:
        with job_session() as session:
            job_records.report_progress(
                session, job_id, percent=percent, stage=stage, now=utcnow(), lease=lease()
            )
            session.commit()
    except SQLAlchemyError:  # progress is a courtesy; the work goes on
        logger.warning("could not record the progress of job %s", job_id)


class _Heartbeat(threading.Thread):
    """Renews a running job's lease every third of it, until stopped."""

    def __init__(self, app: Any, job_id: int, every: float) -> None:
        super().__init__(name=f"job-{job_id}-heartbeat", daemon=True)
        self.app, self.job_id, self.every = app, job_id, every
        self.stopped = threading.Event()

    def run(self) -> None:
        """Beat until stopped."""
        while not self.stopped.wait(self.every):
            with self.app.app_context():
                _record_progress(self.job_id, None, None)


@task()
def run_job(job_id: int) -> None:
    """Claim job `job_id` and run its handler; a claimed job that fails is retried later."""
    now = utcnow()
    with job_session() as session:
        claimed = job_records.claim(session, job_id, worker=worker_name(), now=now, lease=lease())
        session.commit()
    if not claimed:
        return  # done, failed, or running under a live lease elsewhere
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    heartbeat = _Heartbeat(app, job_id, lease().total_seconds() / 3)
    heartbeat.start()
    try:
        with job_session(write=False) as session:
            job = session.get_one(Job, job_id)
            work = HANDLERS.get(job.kind)
            if work is None:
                raise JobError(f"No handler for jobs of kind {job.kind!r}.")
            run = JobRun(job, session, lambda p, s: _record_progress(job_id, p, s))
            result = work(run)
            if not session.info.get("writing"):
                begin_writing(session)
            job_records.finish(session, job, result, now=utcnow())
            session.commit()
    except Exception as error:
        message = str(error) if isinstance(error, JobError) else _plain(error)
        # the frames, not the message: an exception's text may quote data (answers, names)
        logger.error(
            "job %s failed with %s:\n%s",
            job_id,
            type(error).__name__,
            "".join(traceback.format_tb(error.__traceback__)),
        )
        with job_session() as session:
            again = job_records.fail_attempt(session, job_id, message, now=utcnow())
            session.commit()
        if again:
            delay = int(current_app.config["JOB_RETRY_DELAY_SECONDS"])
            run_job.schedule(args=(job_id,), delay=delay)
    finally:
        heartbeat.stopped.set()


def _plain(error: Exception) -> str:
    """A failure's class only: its text may hold data (the log has the traceback)."""
    return f"The job stopped with an internal error ({type(error).__name__}); it is retried."


def sweep() -> int:
    """Enqueue every job a lost message or a dead worker left; returns how many."""
    now = utcnow()
    with job_session() as session:
        ids = job_records.to_resume(session, now=now, queued_before=now - timedelta(seconds=30))
        session.rollback()
    for job_id in ids:
        run_job(job_id)
    return len(ids)


@periodic_task(crontab(minute="*"))
def tick() -> None:
    """Every minute: resume lost jobs, then the registered ticks (outbox, reminders, deadlines)."""
    for part in (sweep, *TICKS):
        try:
            part()
        except Exception:
            logger.exception("the minute's %s failed; it runs again next minute", part.__name__)


@huey.on_startup()
def _look_at_once() -> None:
    """A worker that starts (after a crash, say) looks for left work at once, not in a minute."""
    tick()
