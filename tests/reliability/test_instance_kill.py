"""Two gunicorn instances on one PostgreSQL and one Redis; one is SIGKILLed whole (master and
workers) while experts save: its experts go on with the survivor, every acknowledged save is
stored exactly once, and the survivor answers no 5xx (R24, quick form; `make faults` runs it at
full size)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.load import instances
from tests.load.harness import postgres_available, server_url

pytestmark = pytest.mark.slow


def test_R24_a_killed_instance_loses_no_acknowledged_save(worker_id: str, tmp_path: Path) -> None:
    if not postgres_available():
        pytest.skip(f"PostgreSQL does not answer at {server_url()}: R24 needs it")
    if not instances.redis_answers():
        pytest.skip(f"Redis does not answer at {instances.REDIS_URL}: R24 needs it")
    result = instances.instance_faults(
        f"delphi_reliability_r24_{worker_id}",
        use_migrations=False,
        experts=8,
        before=2.0,
        after=3.0,
        min_acknowledged=30,
        workers=2,
        log_dir=tmp_path,
    )
    assert result.killed_processes == 3, result.report()
    assert result.moved_experts > 0 and result.stranded_experts == 0, result.report()
    assert result.acknowledged_by_killed > 0, result.report()
    assert result.ledger.acknowledged > 0 and result.ledger.ok, result.report()
    assert result.gave_up == 0 and result.other_errors == 0, result.report()
    assert result.survivor_5xx == 0, result.report()
    assert result.leaks == {"tokens": 0, "canaries": 0}, result.report()
