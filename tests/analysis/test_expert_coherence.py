"""Per-expert coherence: total probability, Fréchet bounds, reciprocity, scores, panel summary."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.errors import InputError
from analysis.expert_coherence import (
    Judgements,
    expert_coherence,
    pair_checks,
    panel_coherence,
)


def _from_joint(weights: list[float], keys: tuple[str, ...]) -> Judgements:
    """Marginals and every conditional of a joint distribution over len(keys) events."""
    n = len(keys)
    pi = np.asarray(weights, dtype=float)
    pi = pi / pi.sum()
    states = np.array(list(itertools.product([0, 1], repeat=n)), dtype=bool)
    p = {k: float(pi[states[:, i]].sum()) for i, k in enumerate(keys)}
    given: dict[tuple[str, str], float] = {}
    given_not: dict[tuple[str, str], float] = {}
    for i, a in enumerate(keys):
        for j, b in enumerate(keys):
            if i != j:
                both = float(pi[states[:, i] & states[:, j]].sum())
                given[(a, b)] = both / p[b]
                given_not[(a, b)] = (p[a] - both) / (1.0 - p[b])
    return Judgements(p, given, given_not)


def test_a_coherent_expert_scores_one() -> None:
    # P(A) = 0.8 * 0.4 + 0.3 * 0.6 = 0.5
    coherent = Judgements({"A": 0.5, "B": 0.4}, {("A", "B"): 0.8}, {("A", "B"): 0.3})
    result = expert_coherence("x", coherent)
    assert result.checks == 3  # total probability and the two Fréchet checks
    assert result.violations == 0
    assert result.score == 1.0
    assert result.max_violation == 0.0


def test_an_incoherent_expert_gets_the_hand_computed_violations() -> None:
    # P(A) = 0.9 but the conditionals imply 0.5: 40 points of total probability;
    # P(A and not B) = 0.3 * 0.6 = 0.18 must lie in [max(0, 0.9 - 0.4), min(0.9, 0.6)] = [0.5, 0.6]
    incoherent = Judgements({"A": 0.9, "B": 0.4}, {("A", "B"): 0.8}, {("A", "B"): 0.3})
    sizes = {v.kind: v.size for v in pair_checks(incoherent)}
    assert sizes["total_probability"] == pytest.approx(40.0)
    assert sizes["frechet_joint_not"] == pytest.approx(32.0)
    # P(A and B) = 0.32 lies in [max(0, 1.3 - 1), min(0.9, 0.4)] = [0.3, 0.4]
    assert sizes["frechet_joint"] == 0.0
    result = expert_coherence("x", incoherent)
    assert result.violations == 2
    assert result.mean_violation == pytest.approx(24.0)
    assert result.score == pytest.approx(1.0 - 0.24)
    assert [v.kind for v in result.details] == ["total_probability", "frechet_joint_not"]
    assert expert_coherence("x", incoherent, tolerance=35.0).violations == 1


def test_without_p_b_only_the_range_of_the_conditionals_is_checked() -> None:
    # P(A) must lie between P(A | not B) = 0.3 and P(A | B) = 0.8 whatever P(B) is
    inside = Judgements({"A": 0.6}, {("A", "B"): 0.8}, {("A", "B"): 0.3})
    outside = Judgements({"A": 0.1}, {("A", "B"): 0.8}, {("A", "B"): 0.3})
    assert [(v.kind, v.size) for v in pair_checks(inside)] == [("total_probability", 0.0)]
    assert pair_checks(outside)[0].size == pytest.approx(20.0)
    # without P(A) there is nothing to check
    assert expert_coherence("x", Judgements({}, {("A", "B"): 0.8}, {("A", "B"): 0.3})).score is None


def test_reciprocity_compares_the_two_readings_of_the_joint() -> None:
    # P(A | B) P(B) = 0.8 * 0.4 = 0.32 but P(B | A) P(A) = 0.5 * 0.5 = 0.25: 7 points
    judgements = Judgements(
        {"A": 0.5, "B": 0.4},
        {("A", "B"): 0.8, ("B", "A"): 0.5},
        {("A", "B"): 0.3, ("B", "A"): 0.3},
    )
    reciprocity = [v for v in pair_checks(judgements) if v.kind == "reciprocity"]
    assert len(reciprocity) == 1
    assert reciprocity[0].size == pytest.approx(7.0)


def test_the_panel_summary_counts_experts_and_violations() -> None:
    panel = panel_coherence(
        {
            "good": Judgements({"A": 0.5, "B": 0.4}, {("A", "B"): 0.8}, {("A", "B"): 0.3}),
            "bad": Judgements({"A": 0.9, "B": 0.4}, {("A", "B"): 0.8}, {("A", "B"): 0.3}),
            "silent": Judgements({"A": 0.5}),
        }
    )
    assert [e.expert for e in panel.experts] == ["bad", "good", "silent"]
    assert panel.checked == 2
    assert panel.coherent == 1
    assert panel.checks == 6
    assert panel.violations == 2
    assert panel.mean_violation == pytest.approx(72.0 / 6)
    assert panel.max_violation == pytest.approx(40.0)
    assert panel.mean_score == pytest.approx((1.0 + 0.76) / 2)
    assert "bad" not in str(panel.summary())


def test_answers_that_are_not_probabilities_are_refused() -> None:
    with pytest.raises(InputError, match="P\\(A\\)"):
        pair_checks(Judgements({"A": 1.5, "B": 0.4}, {("A", "B"): 0.8}, {("A", "B"): 0.3}))
    with pytest.raises(InputError, match="tolerance"):
        expert_coherence("x", Judgements(), tolerance=-1.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(min_value=0.01, max_value=1.0), min_size=8, max_size=8),
)
def test_a_joint_distribution_s_marginals_and_conditionals_are_coherent(
    weights: list[float],
) -> None:
    judgements = _from_joint(weights, ("A", "B", "C"))
    result = expert_coherence("x", judgements, tolerance=1e-6)
    # 6 ordered pairs x 3 checks + 3 reciprocity checks
    assert result.checks == 21
    assert result.violations == 0
    assert result.max_violation < 1e-6
    assert result.score == pytest.approx(1.0, abs=1e-8)
