"""The job runner: runs after commit and never after a rollback, one claim at a time, leases
that let a dead worker's job be taken up again, retries, plain failure messages."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.jobs.runner import run_after_commit, run_job, sweep
from app.models import Job, JobStatus
from app.services import jobs as job_records
from tests.conftest import NOW
from tests.jobs.handlers import CALLS

LEASE = timedelta(seconds=60)


def _ask(session: Session, kind: str, key: str = "k", **args: object) -> Job:
    """Ask for a job and have it run when the session commits."""
    job, _created = job_records.request_job(session, kind=kind, key=key, args=dict(args), now=NOW)
    run_after_commit(session, job)
    return job


def _fresh(session: Session, job_id: int) -> Job:
    """The job as the database has it now (a new transaction: the old one may see an old state)."""
    session.rollback()
    session.expire_all()
    return session.get_one(Job, job_id)


def test_a_job_runs_once_its_request_commits_and_keeps_its_result(session: Session) -> None:
    before = CALLS.get("echo", 0)
    job = _ask(session, "test.echo", value=7)
    assert CALLS.get("echo", 0) == before  # nothing runs inside the transaction
    session.commit()
    done = _fresh(session, job.id)
    assert (done.status, done.progress, done.result, done.attempts) == (
        JobStatus.DONE,
        100,
        {"echo": 7},
        1,
    )
    assert CALLS["echo"] == before + 1
    assert done.finished_at is not None and done.lease_until is None


def test_a_rolled_back_request_runs_nothing_and_leaves_no_job(session: Session) -> None:
    before = CALLS.get("echo", 0)
    _ask(session, "test.echo", value=1)
    session.rollback()
    session.commit()  # a later commit of the same session does not run the dropped job
    assert CALLS.get("echo", 0) == before
    assert session.scalars(select(Job)).all() == []


def test_asking_again_for_work_in_progress_gives_the_same_job(session: Session) -> None:
    first, created = job_records.request_job(
        session, kind="test.echo", key="report:1:en:pdf", args={}, now=NOW
    )
    again, created_again = job_records.request_job(
        session, kind="test.echo", key="report:1:en:pdf", args={}, now=NOW
    )
    assert created and not created_again and again.id == first.id


def test_a_failing_job_is_retried_then_failed_and_its_message_holds_no_data(
    session: Session,
) -> None:
    before = CALLS.get("fails", 0)
    job, _ = job_records.request_job(
        session, kind="test.fails", key="k", args={}, payload="name,email\n", now=NOW
    )
    run_after_commit(session, job)
    session.commit()
    first = _fresh(session, job.id)
    assert (first.status, first.attempts) == (JobStatus.QUEUED, 1)
    assert "answer" not in first.error and "ValueError" in first.error
    run_job(job.id)
    run_job(job.id)
    last = _fresh(session, job.id)
    assert (last.status, last.attempts) == (JobStatus.FAILED, 3)
    assert last.payload is None  # the uploaded file is not kept once nothing will read it
    run_job(job.id)  # a failed job is not run again
    assert CALLS["fails"] == before + 3


def test_a_handler_explains_its_failure_in_its_own_words(session: Session) -> None:
    job = _ask(session, "test.explains")
    session.commit()
    assert _fresh(session, job.id).error == "The survey file has 3 problems."


def test_only_one_worker_holds_a_job_until_its_lease_passes(session: Session) -> None:
    job, _ = job_records.request_job(session, kind="test.echo", key="k", args={}, now=NOW)
    session.commit()
    assert job_records.claim(session, job.id, worker="a:1", now=NOW, lease=LEASE)
    assert not job_records.claim(session, job.id, worker="b:2", now=NOW + LEASE / 2, lease=LEASE)
    later = NOW + LEASE + timedelta(seconds=1)
    assert job_records.claim(session, job.id, worker="b:2", now=later, lease=LEASE)
    session.commit()
    taken = _fresh(session, job.id)
    assert (taken.worker, taken.attempts) == ("b:2", 2)


def test_a_job_out_of_attempts_is_failed_not_claimed(session: Session) -> None:
    job, _ = job_records.request_job(
        session, kind="test.echo", key="k", args={}, now=NOW, max_attempts=1
    )
    session.commit()
    assert job_records.claim(session, job.id, worker="a:1", now=NOW, lease=LEASE)
    later = NOW + LEASE * 2
    assert not job_records.claim(session, job.id, worker="b:2", now=later, lease=LEASE)
    session.commit()
    failed = _fresh(session, job.id)
    assert failed.status == JobStatus.FAILED and "worker ended" in failed.error


def test_the_sweep_takes_up_a_job_whose_worker_died(session: Session) -> None:
    job, _ = job_records.request_job(session, kind="test.echo", key="k", args={"value": 3}, now=NOW)
    session.commit()
    # a worker claimed it long ago and died: its lease has passed
    assert job_records.claim(session, job.id, worker="dead:1", now=NOW, lease=LEASE)
    session.commit()
    assert sweep() == 1
    resumed = _fresh(session, job.id)
    assert (resumed.status, resumed.attempts, resumed.result) == (JobStatus.DONE, 2, {"echo": 3})


def test_the_sweep_leaves_a_job_under_a_live_lease_alone(session: Session) -> None:
    job, _ = job_records.request_job(session, kind="test.echo", key="k", args={}, now=NOW)
    session.commit()
    far = NOW + timedelta(days=3650)  # a lease that has not passed
    assert job_records.claim(session, job.id, worker="alive:1", now=far, lease=LEASE)
    session.commit()
    assert sweep() == 0
    assert _fresh(session, job.id).status == JobStatus.RUNNING
