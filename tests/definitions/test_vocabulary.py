"""Rules in survey files may use exactly the names analysis computes, and nothing else."""

from __future__ import annotations

import pytest

from analysis.describe import STAT_NAMES
from analysis.stability import STABILITY_NAMES
from tests.definitions.helpers import edited, parse, problems_of

SCALES = "[scales.probability]"


def _with_rules(consensus: str, stability: str) -> str:
    rules = f'[rules]\nconsensus = "{consensus}"\nstability = "{stability}"\n\n'
    return edited((SCALES, rules + SCALES))


@pytest.mark.parametrize("name", STAT_NAMES)
def test_every_statistic_of_analysis_may_be_used_in_a_consensus_rule(name: str) -> None:
    definition = parse(_with_rules(f"{name} > 0", "changed_share < 0.15"))
    assert definition.rules.consensus == f"{name} > 0"


@pytest.mark.parametrize("name", STABILITY_NAMES)
def test_every_stability_measure_of_analysis_may_be_used_in_a_stability_rule(name: str) -> None:
    assert parse(_with_rules("iqr <= 1", f"{name} >= 0")).rules.stability == f"{name} >= 0"


def test_a_name_analysis_does_not_compute_is_refused() -> None:
    problems = problems_of(_with_rules("iqr <= 1 and median_abs_dev < 2", "changed_share < 0.15"))
    assert any("median_abs_dev" in p.message for p in problems)
    problems = problems_of(_with_rules("iqr <= 1", "iqr < 1"))  # a consensus name, not stability
    assert any("iqr" in p.message for p in problems)
