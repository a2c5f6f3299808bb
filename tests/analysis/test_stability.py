"""Stability between rounds: paired tests against scipy and statsmodels, verdicts, attrition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

from analysis.describe import ScaleSpec
from analysis.errors import InputError
from analysis.stability import (
    Stability,
    attrition,
    compare_rounds,
    stability_long,
    stopping_verdict,
)

NINE = ScaleSpec("likert", 1, 9, agree_region=(7, 9))


def _rounds() -> tuple[dict[str, float], dict[str, float]]:
    before = {f"x{i}": v for i, v in enumerate([3, 5, 7, 8, 2, 6, 9, 4, 7, 5, 6, 8])}
    after = {f"x{i}": v for i, v in enumerate([4, 7, 7, 8, 5, 7, 9, 7, 8, 6, 8, 8])}
    after["late"] = 9.0  # answered only the second round: not paired
    return before, after


def test_changed_share_and_wilcoxon_match_scipy() -> None:
    before, after = _rounds()
    result = compare_rounds(before, after, NINE, wilcoxon="normal")
    paired = sorted(set(before) & set(after))
    change = np.array([after[e] - before[e] for e in paired])
    assert result.n_paired == 12
    assert result.n_changed == int((change != 0).sum())
    assert result.changed_share == pytest.approx((change != 0).mean())
    reference = stats.wilcoxon(change, zero_method="wilcox", correction=False, method="approx")
    assert result.wilcoxon_method == "normal"
    assert result.wilcoxon_statistic == pytest.approx(reference.statistic)
    assert result.wilcoxon_p == pytest.approx(reference.pvalue)


def test_wilcoxon_is_exact_for_small_samples_without_ties() -> None:
    before = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0, "e": 5.0, "f": 1.0}
    after = {"a": 2.0, "b": 4.0, "c": 6.0, "d": 8.0, "e": 0.0, "f": 1.0}
    result = compare_rounds(before, after, ScaleSpec("continuous", agree_within=1))
    reference = stats.wilcoxon([1, 2, 3, 4, -5], method="exact")
    assert result.wilcoxon_method == "exact"
    assert result.wilcoxon_p == pytest.approx(reference.pvalue)


def test_mcnemar_exact_matches_statsmodels() -> None:
    before, after = _rounds()
    result = compare_rounds(before, after, NINE)
    paired = sorted(set(before) & set(after))
    was = np.array([7 <= before[e] <= 9 for e in paired])
    now = np.array([7 <= after[e] <= 9 for e in paired])
    table = [[(was & now).sum(), (was & ~now).sum()], [(~was & now).sum(), (~was & ~now).sum()]]
    assert (result.agree_to_disagree, result.disagree_to_agree) == (table[0][1], table[1][0])
    assert result.mcnemar_p == pytest.approx(mcnemar(table, exact=True).pvalue)


def test_no_change_is_perfectly_stable() -> None:
    answers = {"a": 3.0, "b": 4.0, "c": 5.0}
    result = compare_rounds(answers, answers, NINE)
    assert result.changed_share == 0.0 and result.wilcoxon_p == 1.0 and result.mcnemar_p == 1.0
    assert result.delta_iqr == 0.0


def test_delta_iqr_and_cv() -> None:
    before = {"a": 1.0, "b": 5.0, "c": 9.0, "d": 5.0}
    after = {"a": 4.0, "b": 5.0, "c": 6.0, "d": 5.0}
    result = compare_rounds(before, after, NINE)
    q = lambda v: np.quantile(v, 0.75) - np.quantile(v, 0.25)  # noqa: E731
    assert result.delta_iqr == pytest.approx(q([4, 5, 6, 5]) - q([1, 5, 9, 5]))
    cv = lambda v: np.std(v, ddof=1) / np.mean(v)  # noqa: E731
    assert result.delta_cv == pytest.approx(cv([4, 5, 6, 5]) - cv([1, 5, 9, 5]))
    bipolar = ScaleSpec("likert", -3, 3, bipolar=True)
    assert compare_rounds({"a": 1, "b": 2}, {"a": 2, "b": 2}, bipolar).delta_cv is None


def test_tolerance_counts_small_moves_as_unchanged() -> None:
    result = compare_rounds(
        {"a": 50.0, "b": 20.0}, {"a": 52.0, "b": 40.0}, ScaleSpec("probability"), tolerance=5
    )
    assert result.n_changed == 1


def _stability(share: float | None) -> Stability:
    return Stability(10, 0, share, None, None, "none", 0, 0, None, None, None)


@pytest.mark.parametrize(
    ("consensus", "share", "decision"),
    [
        (True, 0.1, "stop_consensus"),
        (False, 0.1, "stop_dissensus"),
        (None, 0.1, "cannot_tell"),
        (True, 0.3, "continue"),
        (False, 0.3, "continue"),
        (True, None, "cannot_tell"),
    ],
)
def test_stopping_verdict(consensus: bool | None, share: float | None, decision: str) -> None:
    verdict = stopping_verdict(consensus, _stability(share))
    assert verdict.decision == decision
    assert verdict.reasons[0].startswith("stability rule changed_share < 0.15")


def test_stopping_verdict_round_limit_and_custom_rule() -> None:
    assert (
        stopping_verdict(False, _stability(0.5), round_limit_reached=True).decision
        == "stop_round_limit"
    )
    assert (
        stopping_verdict(True, _stability(0.2), "changed_share < 0.25").decision == "stop_consensus"
    )
    with pytest.raises(InputError, match="unknown name iqr"):
        stopping_verdict(True, _stability(0.2), "iqr < 1")


def test_attrition_against_mann_whitney() -> None:
    previous = {f"s{i}": v for i, v in enumerate([5, 6, 7, 6, 5, 7, 6, 8])}
    previous.update({f"l{i}": v for i, v in enumerate([1, 2, 1, 2])})
    stayed = [e for e in previous if e.startswith("s")]
    result = attrition(previous, stayed)
    reference = stats.mannwhitneyu([1, 2, 1, 2], [5, 6, 7, 6, 5, 7, 6, 8], alternative="two-sided")
    assert result.p == pytest.approx(reference.pvalue)
    assert (result.n_stayed, result.n_left) == (8, 4)
    assert result.median_left == 1.5 and result.median_stayed == 6.0
    assert "leavers answered differently" in result.verdict
    same = attrition({"a": 5.0, "b": 6.0, "c": 5.0, "d": 6.0}, ["a", "b"])
    assert "no evidence" in same.verdict
    assert attrition({"a": 5.0}, ["a"]).verdict == "no attrition"


def test_stability_long_per_item() -> None:
    before, after = _rounds()
    rows = [(1, e, "E1", "impact", v) for e, v in before.items()]
    rows += [(2, e, "E1", "impact", v) for e, v in after.items()]
    rows += [(1, e, "E2", "impact", 5.0) for e in before]
    rows += [(2, e, "E2", "impact", 5.0) for e in before]
    df = pd.DataFrame(rows, columns=["round", "expert", "item", "question", "value"])
    table = stability_long(df, {"impact": NINE}, 1, 2)
    assert table["item"].tolist() == ["E1", "E2"]
    direct = compare_rounds(before, after, NINE)
    assert table.loc[0, "changed_share"] == pytest.approx(direct.changed_share)
    assert table.loc[1, "changed_share"] == 0.0
    with pytest.raises(InputError, match="round 3 is not in the data"):
        stability_long(df, {"impact": NINE}, 1, 3)


def test_off_scale_answers_name_the_expert() -> None:
    with pytest.raises(InputError, match="expert b: after value is off the likert scale"):
        compare_rounds({"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 12.0}, NINE)
    with pytest.raises(InputError, match="expert a: before value 'x' is not a number"):
        compare_rounds({"a": "x"}, {"a": 1.0}, NINE)  # type: ignore[dict-item]
