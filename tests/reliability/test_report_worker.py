"""A real `flask jobs worker` on Redis builds reports; SIGKILLed in the middle of a build, its job
is taken up again by the next worker and one complete file is kept (R23, quick form: the small
example study; `make faults` runs it on the demo study)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.load import report_faults

pytestmark = pytest.mark.slow


def _redis_answers() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(report_faults.REDIS_URL).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def redis_queue(app: Flask) -> Iterator[None]:
    """Redis must answer; this test's app gets its immediate queue back afterwards."""
    if not _redis_answers():
        pytest.skip(f"Redis does not answer at {report_faults.REDIS_URL}")
    yield
    from app.jobs.queue import configure_queue

    configure_queue(app)


def test_R23_a_worker_killed_mid_report_leaves_one_complete_file(
    redis_queue: None, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'reports.sqlite'}"
    result = report_faults.report_worker_kill(
        database, which="example", lease=3, kill_at_percent=25, timeout=180, log_dir=tmp_path
    )
    log = (tmp_path / "report_faults_worker.log").read_text(errors="replace")
    assert result.killed_at != "never", result.report() + "\n" + log[-3000:]
    assert result.rows_after_kill == 0, result.report()
    assert result.status == "done" and result.attempts == 2, result.report() + "\n" + log[-3000:]
    assert result.files == 1, result.report()
    assert result.pages == result.expected_pages > 0, result.report()
