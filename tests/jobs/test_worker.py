"""A real worker process on the real Redis queue: it runs what the web side enqueued, and
takes up the job of a worker that was SIGKILLed half-way once that worker's lease has passed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.jobs.queue import configure_queue, huey
from app.jobs.runner import run_after_commit
from app.models import Job, JobStatus
from app.services import jobs as job_records
from tests.conftest import NOW
from tests.jobs import handlers  # noqa: F401 - the test job kinds
from tests.jobs.worker import LEASE_SECONDS

ROOT = Path(__file__).resolve().parents[2]
#: a Redis database of the suite's own; each pytest-xdist worker takes another
REDIS_BASE = "redis://127.0.0.1:6379/"


@pytest.fixture
def redis_queue(app: Flask, worker_id: str) -> Iterator[str]:
    """The test process's queue on a real Redis (emptied before and after), then immediate again."""
    redis = pytest.importorskip("redis")
    number = 10 + (int(worker_id.removeprefix("gw")) if worker_id.startswith("gw") else 0)
    url = f"{REDIS_BASE}{number}"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.exceptions.RedisError:
        pytest.skip("Redis is not running on 127.0.0.1:6379 (.ci/run starts it)")
    app.config["JOB_QUEUE_URL"] = url
    configure_queue(app)
    huey.flush()
    yield url
    huey.flush()
    app.config["JOB_QUEUE_URL"] = "immediate"
    configure_queue(app)


class Worker:
    """`python -m tests.jobs.worker` as a child process."""

    def __init__(self, database: str, queue: str, log: Path) -> None:
        self.args = [sys.executable, "-m", "tests.jobs.worker", database, queue]
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it (again)."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ)
            )

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop it if it runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def worker(app: Flask, redis_queue: str, tmp_path: Path) -> Iterator[Worker]:
    """A worker on the test's database and queue (not started)."""
    found = Worker(app.config["SQLALCHEMY_DATABASE_URI"], redis_queue, tmp_path / "worker.log")
    yield found
    found.stop()


def _wait_for(session: Session, job_id: int, until: object, seconds: float = 60) -> Job:
    """Poll the job until `until(job)` holds; fail with the worker's state otherwise."""
    deadline = time.monotonic() + seconds
    while True:
        session.rollback()
        session.expire_all()
        job = session.get_one(Job, job_id)
        if until(job):  # type: ignore[operator]
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} is {job.status} at {job.progress} % after {seconds} s")
        time.sleep(0.1)


def test_a_real_worker_runs_what_a_commit_enqueued(session: Session, worker: Worker) -> None:
    job, _ = job_records.request_job(
        session, kind="test.slow", key="slow", args={"seconds": 0.5}, now=NOW
    )
    run_after_commit(session, job)
    session.commit()
    assert len(huey) == 1  # on Redis, waiting for a worker
    worker.start()
    done = _wait_for(session, job.id, lambda j: j.status == JobStatus.DONE)
    assert done.result == {"steps": 10, "attempt": 1}


def test_a_job_whose_worker_is_killed_midway_is_finished_by_the_next_worker(
    session: Session, worker: Worker
) -> None:
    job, _ = job_records.request_job(
        session, kind="test.slow", key="slow", args={"seconds": 4}, now=NOW
    )
    run_after_commit(session, job)
    session.commit()
    worker.start()
    _wait_for(session, job.id, lambda j: j.status == JobStatus.RUNNING and j.progress >= 30)
    worker.kill()
    stranded = _wait_for(session, job.id, lambda j: True)
    assert stranded.status == JobStatus.RUNNING and stranded.progress < 100
    time.sleep(LEASE_SECONDS + 0.5)  # its lease passes; a starting worker looks at once
    worker.start()
    done = _wait_for(session, job.id, lambda j: j.status == JobStatus.DONE)
    assert (done.attempts, done.result) == (2, {"steps": 10, "attempt": 2})
    assert len(session.scalars(select(Job)).all()) == 1
