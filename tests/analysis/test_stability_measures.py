"""Scheibe et al.'s distribution change (hand-computed histograms, properties) and the exact
Wilcoxon signed-rank p with ties (against scipy's permutation test and exact distribution)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.describe import ScaleSpec
from analysis.errors import InputError
from analysis.stability import (
    STABILITY_NAMES,
    Stability,
    compare_rounds,
    distribution_change,
    signed_rank_exact,
    stopping_verdict,
)

FIVE = ScaleSpec("likert", 1, 5, agree_region=(4, 5))


def _experts(values: list[float]) -> dict[str, float]:
    return {f"x{i:02d}": float(v) for i, v in enumerate(values)}


def test_distribution_change_by_hand_on_a_likert_scale() -> None:
    # counts by point 1..5: before 1,2,3,1,3; after 0,2,4,2,2
    before = [1, 2, 2, 3, 3, 3, 4, 5, 5, 5]
    after = [2, 2, 3, 3, 3, 3, 4, 4, 5, 5]
    # |differences| 1+0+1+1+1 = 4, so 2 net change units among 10 respondents
    result = compare_rounds(_experts(before), _experts(after), FIVE)
    assert result.distribution_change == pytest.approx(0.2)
    # three experts moved (1->2, 2->3, 5->4), but one move leaves the histogram as it was
    assert result.changed_share == pytest.approx(0.3)
    assert result.as_dict()["distribution_change"] == pytest.approx(0.2)


def test_distribution_change_by_hand_on_probabilities() -> None:
    # 10-point bands: only 25 -> 35 crosses a band edge, 1 unit among 5
    before, after = [5, 15, 25, 95, 100], [8, 12, 35, 99, 100]
    scale = ScaleSpec("probability")
    assert distribution_change(before, after, scale) == pytest.approx(0.2)
    result = compare_rounds(_experts(before), _experts(after), scale)
    assert result.distribution_change == pytest.approx(0.2)
    assert result.changed_share == pytest.approx(0.8)


def test_distribution_change_on_an_open_scale_uses_one_set_of_bins() -> None:
    # bins over both rounds' range 0..10: [0,1) [1,2) ... [9,10]; everyone moves to the top bin
    scale = ScaleSpec("continuous")
    assert distribution_change([0, 0, 5, 5], [10, 10, 10, 10], scale) == pytest.approx(1.0)
    assert distribution_change([3.0, 3.0], [3.0, 3.0], scale) == 0.0
    assert distribution_change([], [1.0], scale) is None


def test_experts_who_swap_answers_leave_the_distribution_unchanged() -> None:
    result = compare_rounds({"a": 1.0, "b": 5.0}, {"a": 5.0, "b": 1.0}, FIVE)
    assert result.changed_share == 1.0
    assert result.distribution_change == 0.0


def test_a_rule_can_use_the_distribution_change() -> None:
    assert "distribution_change" in STABILITY_NAMES
    moved = Stability(10, 3, 0.3, None, None, "none", 0, 0, None, None, None, 0.1)
    verdict = stopping_verdict(True, moved, "distribution_change < 0.15")
    assert verdict.decision == "stop_consensus"
    assert stopping_verdict(True, moved).decision == "continue"  # changed_share < 0.15 fails


likert_answers = st.lists(st.integers(1, 5), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(before=likert_answers, data=st.data())
def test_distribution_change_properties(before: list[int], data: st.DataObject) -> None:
    after = data.draw(st.lists(st.integers(1, 5), min_size=len(before), max_size=len(before)))
    result = compare_rounds(_experts(before), _experts(after), FIVE)
    change = result.distribution_change
    assert change is not None and 0.0 <= change <= 1.0
    # a net change needs a person to move: never more than the share who moved
    assert change <= result.changed_share + 1e-12  # type: ignore[operator]
    # it does not matter which experts moved, only where the answers ended up
    shuffled = data.draw(st.permutations(after))
    again = compare_rounds(_experts(before), _experts(list(shuffled)), FIVE)
    assert again.distribution_change == pytest.approx(change)
    # the same histogram in both rounds, however the answers were reassigned: no change
    assert distribution_change(before, data.draw(st.permutations(before)), FIVE) == 0.0
    assert distribution_change(after, before, FIVE) == pytest.approx(change)


def test_six_changes_of_plus_one_give_the_exact_p() -> None:
    before = _experts([2, 3, 3, 4, 2, 1])
    after = {e: v + 1 for e, v in before.items()}
    result = compare_rounds(before, after, FIVE)
    assert result.wilcoxon_method == "exact"
    assert result.wilcoxon_p == pytest.approx(0.03125)  # 2 / 2^6: all plus or all minus
    assert result.wilcoxon_statistic == 0.0
    normal = compare_rounds(before, after, FIVE, wilcoxon="normal")
    assert normal.wilcoxon_method == "normal"
    assert normal.wilcoxon_p == pytest.approx(0.01430588, abs=1e-7)  # what was reported before
    assert compare_rounds(before, after, FIVE, wilcoxon_exact_up_to=5).wilcoxon_method == "normal"


def _permutation_p(changes: np.ndarray) -> float:
    """scipy's exact permutation test over sign flips, with the sum of positive ranks."""
    ranks = stats.rankdata(np.abs(changes))

    def t_plus(x: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.sum(ranks * (x > 0), axis=axis)

    return float(
        stats.permutation_test(
            (changes,),
            t_plus,
            permutation_type="samples",
            n_resamples=np.inf,
            vectorized=True,
            alternative="two-sided",
        ).pvalue
    )


@pytest.mark.parametrize(
    "changes",
    [
        [1, 1, 1, 1, 1, 1],
        [1, 1, 2, -2, 3, 3, 3, -1],
        [-1, -1, -1, 2, 2, -3, 1, 1, -2, 4, 1],
        [0.5, 0.5, -0.5, 1.5, 1.5, 1.5, 2.5, -2.5, 1.0, 1.0, 1.0, 1.0],
    ],
)
def test_exact_p_with_ties_matches_scipys_permutation_test(changes: list[float]) -> None:
    array = np.asarray(changes, dtype=float)
    statistic, p = signed_rank_exact(array)
    assert p == pytest.approx(_permutation_p(array), rel=1e-9)
    reference = stats.wilcoxon(array, method="approx")
    assert statistic == pytest.approx(reference.statistic)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-4, 4).filter(bool), min_size=2, max_size=12))
def test_exact_p_matches_the_permutation_test_on_any_tied_sample(changes: list[int]) -> None:
    array = np.asarray(changes, dtype=float)
    assert signed_rank_exact(array)[1] == pytest.approx(_permutation_p(array), rel=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_exact_p_without_ties_matches_scipys_exact_distribution(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 30))
    changes = rng.permutation(np.arange(1, n + 1)) * rng.choice([-1.0, 1.0], size=n)
    statistic, p = signed_rank_exact(changes)
    reference = stats.wilcoxon(changes, method="exact")
    assert p == pytest.approx(reference.pvalue, rel=1e-9)
    assert statistic == pytest.approx(reference.statistic)


def test_zero_changes_are_dropped_and_no_change_gives_one() -> None:
    assert signed_rank_exact([0, 1, 1, 1, 1, 1, 1, 0]) == pytest.approx((0.0, 0.03125))
    assert signed_rank_exact([0.0, 0.0]) == (0.0, 1.0)


def test_bad_wilcoxon_options_are_refused() -> None:
    with pytest.raises(InputError, match="wilcoxon must be one of auto, exact, normal"):
        compare_rounds({"a": 1.0}, {"a": 2.0}, FIVE, wilcoxon="approx")
    with pytest.raises(InputError, match="wilcoxon_exact_up_to must be 0 or more"):
        compare_rounds({"a": 1.0}, {"a": 2.0}, FIVE, wilcoxon_exact_up_to=-1)
