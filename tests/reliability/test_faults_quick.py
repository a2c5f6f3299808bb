"""Quick versions of the fault runs (`make faults` runs them at full size): acknowledged saves
survive killed workers (R1), identical autosaves, plain-form posts and submits at once are
stored once (R2), a round closing amid saves freezes exactly the acknowledged answers (R3),
terminated database connections give 503s and lose nothing (R17, quick form), and SQLite
writers killed mid-write leave an intact file (R16). No log line carries a token or an
answer (R7)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.load import faults
from tests.load.harness import postgres_available, server_url

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stage(worker_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[faults.Stage]:
    """gunicorn (2 workers) on a database of this test worker's own, on the local PostgreSQL."""
    if not postgres_available():
        pytest.skip(
            f"PostgreSQL does not answer at {server_url()}: the gunicorn fault tests need it"
        )
    logs: Path = tmp_path_factory.mktemp("gunicorn")
    with faults.stage(
        f"delphi_reliability_{worker_id}", workers=2, use_migrations=False, log_dir=logs
    ) as where:
        yield where


def test_R1_acknowledged_saves_survive_killed_workers(stage: faults.Stage) -> None:
    result = faults.worker_kills(
        stage,
        experts=10,
        duration=3.0,
        min_acknowledged=200,
        min_kills=2,
        max_duration=60.0,
        kill_every=(1.5, 2.5),
    )
    assert result.kills >= 2
    assert result.acknowledged_requests >= 100
    assert result.ledger.missing == 0, result.report()
    assert result.ledger.duplicates == 0, result.report()
    assert result.ledger.wrong_value == 0 and result.ledger.unexpected == 0, result.report()
    assert result.gave_up == 0 and result.other_errors == 0, result.report()
    assert result.leaks == {"tokens": 0, "canaries": 0}, result.report()


def test_R2_identical_saves_and_submits_at_once_are_stored_once(stage: faults.Stage) -> None:
    result = faults.concurrent_replays(stage, copies=20)
    assert result.save_statuses == {200: 20} and result.save_replays == 19, result.report()
    assert result.save_rows == 1 and result.rows_after_change == 1, result.report()
    assert result.changed_body_status == 409, result.report()
    assert result.form_statuses == {303: 20}, result.report()
    assert result.form_rows_per_question == {1}, result.report()
    assert result.submit_statuses == {303: 20}, result.report()
    assert result.rows_changed_by_submits == 0 and result.submitted, result.report()


def test_R3_close_freezes_exactly_the_acknowledged_saves(stage: faults.Stage) -> None:
    result = faults.close_races(
        stage, repetitions=2, experts=8, before_close=(0.4, 0.8), after_close=0.4
    )
    assert result.acknowledged > 0 and result.refused > 0, result.report()
    assert result.snapshot_mismatches == 0, "\n".join(result.details)
    assert result.ledger_problems == 0, result.report()
    assert result.echo_mismatches == 0 and result.errors == 0, result.report()


def test_R17_terminated_connections_give_503_and_lose_nothing(stage: faults.Stage) -> None:
    result = faults.database_outage(
        stage, mode="terminate", experts=8, before=1.0, after=1.5, terminations=2
    )
    assert result.ledger.acknowledged > 0
    assert result.ledger.ok, result.report()
    assert result.non_503 == 0 and result.tracebacks == 0, result.report()
    assert result.gave_up == 0 and result.other_errors == 0, result.report()
    assert result.leaks == {"tokens": 0, "canaries": 0}, result.report()


@pytest.mark.once  # SQLite's own file, whatever database the pass uses
def test_R16_sqlite_writers_killed_mid_write_leave_an_intact_file() -> None:
    result = faults.sqlite_processes(processes=4, saves=20, kill_after=8)
    assert result.acknowledged >= 3 * 20 + 8
    assert result.user_errors == 0 and result.locked_messages == 0, result.report()
    assert result.integrity == "ok"
    assert result.ledger.ok, result.report()
