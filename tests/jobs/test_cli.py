"""`flask jobs`: the worker refuses a queue it cannot work on; status counts jobs and emails."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from app.services import jobs as job_records
from tests.conftest import NOW


def test_the_worker_refuses_the_immediate_queue_and_says_what_to_set(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["jobs", "worker"])
    assert result.exit_code != 0
    assert "JOB_QUEUE_URL is 'immediate'" in result.output
    assert "redis://HOST:PORT/DB" in result.output


def test_status_counts_jobs_by_state(app: Flask, session: Session) -> None:
    for key in ("a", "b"):
        job_records.request_job(session, kind="test.echo", key=key, args={}, now=NOW)
    session.commit()
    result = app.test_cli_runner().invoke(args=["jobs", "status"])
    assert result.exit_code == 0, result.output
    assert "queue: immediate" in result.output
    assert "jobs: 2 queued, 0 running, 0 done, 0 failed" in result.output
    assert "emails: 0 pending" in result.output
