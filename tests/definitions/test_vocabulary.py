"""The names survey files may use mirror what analysis computes."""

from __future__ import annotations

from analysis import describe
from app.definitions.vocabulary import CONSENSUS_NAMES, STABILITY_NAMES


def test_consensus_rules_may_use_exactly_the_statistics_analysis_computes() -> None:
    assert set(describe.STAT_NAMES) == CONSENSUS_NAMES


def test_stability_names_do_not_overlap_consensus_names() -> None:
    assert not STABILITY_NAMES & CONSENSUS_NAMES
