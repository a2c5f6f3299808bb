"""Stability between rounds, stopping verdicts and attrition (methods.md section 2).

The same panel answers twice, so the tests are paired: Wilcoxon's signed-rank test on each
expert's change (exact for small samples, ties included), McNemar's exact test on agreeing vs not
agreeing, the share of experts who changed their answer, and the change in the distribution of
answers (Scheibe, Skutsch & Schofer 1975: the share of "net change units", stable below 15 %).
Consensus alone is not a stopping rule (von der Gracht 2012): stop when consensus and stability
hold, or at the round limit.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy

from analysis.describe import LONG_COLUMNS, ScaleSpec, describe, histogram
from analysis.errors import InputError
from analysis.expressions import parse_expression

FloatArray: TypeAlias = npt.NDArray[np.float64]

#: the variables a stability rule may use (see Stability.as_dict)
STABILITY_NAMES: tuple[str, ...] = (
    "n_paired",
    "n_changed",
    "changed_share",
    "distribution_change",
    "wilcoxon_statistic",
    "wilcoxon_p",
    "mcnemar_p",
    "delta_iqr",
    "delta_cv",
)
DEFAULT_STABILITY_RULE = "changed_share < 0.15"
#: how a Wilcoxon p is computed: "exact" (the permutation distribution of the signed-rank
#: statistic over all sign patterns, ties and all), "normal" (the normal approximation with the
#: tie correction), or "auto" (exact up to WILCOXON_EXACT_UP_TO non-zero changes, else normal)
WILCOXON_METHODS: tuple[str, ...] = ("auto", "exact", "normal")
#: "auto" is exact up to this many non-zero changes. Likert changes tie heavily, and there the
#: normal approximation is off by up to 0.05 at n = 26, 0.02 at n = 51 to 100 and 0.01 at
#: n = 200 (changes drawn from -3..3); the exact distribution costs about 15 ms at n = 200 and
#: grows as n^3 (0.4 s at n = 500), so beyond 200 the approximation is both close and cheaper
WILCOXON_EXACT_UP_TO = 200


@dataclass(frozen=True)
class Stability:
    """How much a panel's answers to one question moved between two rounds (paired experts)."""

    n_paired: int
    n_changed: int
    changed_share: float | None
    wilcoxon_statistic: float | None
    wilcoxon_p: float | None
    #: "exact" (permutation distribution, ties included), "normal" (normal approximation with
    #: the tie correction) or "none" (no change at all, p = 1)
    wilcoxon_method: str
    #: experts who went from agreeing to not agreeing, and back
    agree_to_disagree: int
    disagree_to_agree: int
    mcnemar_p: float | None
    delta_iqr: float | None
    delta_cv: float | None
    #: Scheibe et al.'s share of net change units: half the summed absolute differences between
    #: the two rounds' histograms (as shares of the paired experts), from 0 to 1
    distribution_change: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        """The figures by the names stability rules use."""
        return {
            "n_paired": float(self.n_paired),
            "n_changed": float(self.n_changed),
            "changed_share": self.changed_share,
            "distribution_change": self.distribution_change,
            "wilcoxon_statistic": self.wilcoxon_statistic,
            "wilcoxon_p": self.wilcoxon_p,
            "mcnemar_p": self.mcnemar_p,
            "delta_iqr": self.delta_iqr,
            "delta_cv": self.delta_cv,
        }


def _agrees(
    values: FloatArray, scale: ScaleSpec, region: tuple[float, float] | None
) -> npt.NDArray[np.bool_]:
    """Who agrees: inside the region, else within the scale's distance of this round's median."""
    if region is not None:
        return (values >= region[0]) & (values <= region[1])
    within = scale.effective_agree_within
    if within is None:
        raise InputError(
            "agreement is undefined on this scale: give an agree region or agree_within"
        )
    return np.abs(values - np.median(values)) <= within + 1e-9


def compare_rounds(
    before: Mapping[str, float],
    after: Mapping[str, float],
    scale: ScaleSpec,
    *,
    agree: tuple[float, float] | None = None,
    tolerance: float = 0.0,
    quantile_method: str = "type7",
    wilcoxon: str = "auto",
    wilcoxon_exact_up_to: int = WILCOXON_EXACT_UP_TO,
) -> Stability:
    """Paired stability of one question: experts who answered both rounds, by pseudonym.

    An expert "changed" when the answers differ by more than `tolerance`. The distribution
    change compares the two rounds' histograms of the paired answers (see distribution_change).
    Agreement uses `agree` (an inclusive region), else the scale's agree region, else "within
    the scale's agreement distance of that round's median". Wilcoxon drops zero changes
    (Wilcoxon's convention); its p is exact (ties included) under `wilcoxon="exact"`, or under
    "auto" with at most `wilcoxon_exact_up_to` non-zero changes, else from the normal
    approximation with the tie correction. With no change at all, p is 1. McNemar's p is the
    exact two-sided binomial p on the discordant pairs (1 when there are none).
    """
    if wilcoxon not in WILCOXON_METHODS:
        raise InputError(f"wilcoxon must be one of {', '.join(WILCOXON_METHODS)}: {wilcoxon!r}")
    if wilcoxon_exact_up_to < 0:
        raise InputError(f"wilcoxon_exact_up_to must be 0 or more: {wilcoxon_exact_up_to}")
    paired = sorted(set(before) & set(after))
    first = _numbers([before[e] for e in paired], paired, "before")
    second = _numbers([after[e] for e in paired], paired, "after")
    answered = ~(np.isnan(first) | np.isnan(second))
    for values, which in ((first, "before"), (second, "after")):
        try:
            describe(values[~np.isnan(values)], scale)
        except InputError:
            bad = next(e for e, v in zip(paired, values, strict=True) if _off_scale(v, scale))
            raise InputError(f"expert {bad}: {which} value is off the {scale.kind} scale") from None
    first, second = first[answered], second[answered]
    n = len(first)
    if n == 0:
        return Stability(0, 0, None, None, None, "none", 0, 0, None, None, None)
    change = second - first
    changed = np.abs(change) > tolerance
    statistic, p, method = _wilcoxon(change, wilcoxon, wilcoxon_exact_up_to)
    region = agree if agree is not None else scale.agree_region
    was, now = _agrees(first, scale, region), _agrees(second, scale, region)
    lost, gained = int((was & ~now).sum()), int((~was & now).sum())
    discordant = lost + gained
    mcnemar = 1.0 if discordant == 0 else float(scipy.stats.binomtest(lost, discordant, 0.5).pvalue)
    stats_before = describe(first, scale, quantile_method=quantile_method)
    stats_after = describe(second, scale, quantile_method=quantile_method)
    return Stability(
        n_paired=n,
        n_changed=int(changed.sum()),
        changed_share=float(changed.mean()),
        distribution_change=distribution_change(first, second, scale),
        wilcoxon_statistic=statistic,
        wilcoxon_p=p,
        wilcoxon_method=method,
        agree_to_disagree=lost,
        disagree_to_agree=gained,
        mcnemar_p=mcnemar,
        delta_iqr=_difference(stats_after.iqr, stats_before.iqr),
        delta_cv=_difference(stats_after.cv, stats_before.cv),
    )


def _off_scale(value: float, scale: ScaleSpec) -> bool:
    """True when one answer fails the scale's checks."""
    try:
        describe([value], scale)
    except InputError:
        return True
    return False


def _numbers(values: list[object], experts: list[str], which: str) -> FloatArray:
    """The answers as floats, in one conversion when they all are finite numbers (a large
    panel's parts hold thousands); otherwise one at a time, naming the first bad expert."""
    # numpy reads None as NaN where float() refuses it: such a list goes the slow way
    if None not in values:
        try:
            array = np.array(values, dtype=np.float64)
        except (TypeError, ValueError):
            pass
        else:
            if array.shape == (len(values),) and not np.isinf(array).any():
                return array
    return np.array(
        [_number(v, e, which) for v, e in zip(values, experts, strict=True)], dtype=np.float64
    )


def _number(value: object, expert: str, which: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"expert {expert}: {which} value {value!r} is not a number") from None
    if math.isinf(number):
        raise InputError(f"expert {expert}: {which} value is infinite")
    return number


def _difference(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


def distribution_change(
    before: npt.ArrayLike, after: npt.ArrayLike, scale: ScaleSpec
) -> float | None:
    """Scheibe et al.'s (1975) change in the distribution of answers between two rounds, 0..1.

    Half the sum over categories of |share_after(c) - share_before(c)|: the share of the panel
    that would have to move to turn one histogram into the other ("net change units" over the
    number of respondents; the total variation distance). With the same n in both rounds (paired
    experts) it equals sum |f_after(c) - f_before(c)| / 2 / n. Categories are the feedback
    histogram's bars: each Likert point, 10-point bands of probability, and 10 equal bands over
    the scale (or over both rounds' range when the scale is open) otherwise. It does not see who
    moved: experts who swap answers leave it at 0. None when either round has no answer.
    """
    first = np.asarray(before, dtype=np.float64).ravel()
    second = np.asarray(after, dtype=np.float64).ravel()
    first, second = first[~np.isnan(first)], second[~np.isnan(second)]
    if len(first) == 0 or len(second) == 0:
        return None
    if scale.kind == "continuous" and (scale.low is None or scale.high is None):
        # both rounds must share one set of bins
        both = np.concatenate([first, second])
        low = scale.low if scale.low is not None else float(both.min())
        high = scale.high if scale.high is not None else float(both.max())
        scale = replace(scale, low=low, high=high if high > low else low + 1.0)
    shares = [
        np.array([b.count for b in histogram(values, scale)], dtype=np.float64) / len(values)
        for values in (first, second)
    ]
    return float(min(1.0, 0.5 * np.abs(shares[1] - shares[0]).sum()))


def _wilcoxon(
    change: FloatArray, wanted: str = "auto", exact_up_to: int = WILCOXON_EXACT_UP_TO
) -> tuple[float | None, float | None, str]:
    """(statistic, p, method) of the two-sided signed-rank test on the non-zero changes."""
    nonzero = change[change != 0]
    if len(nonzero) == 0:
        return 0.0, 1.0, "none"
    exact = wanted == "exact" or (wanted == "auto" and len(nonzero) <= exact_up_to)
    if exact:
        statistic, p = signed_rank_exact(nonzero)
        return statistic, p, "exact"
    result = scipy.stats.wilcoxon(nonzero, zero_method="wilcox", correction=False, method="approx")
    return float(result.statistic), float(result.pvalue), "normal"


def signed_rank_exact(changes: npt.ArrayLike) -> tuple[float, float]:
    """(min(T+, T-), two-sided p) of Wilcoxon's signed-rank test from its exact permutation
    distribution: every pattern of signs over the mid-ranks of |changes| (zeros dropped).

    With ties the mid-ranks are multiples of 1/2, so twice the rank sums are whole numbers and
    the distribution of T+ is built by convolution, one rank at a time (exact for any n, in
    O(n^3) steps). Without ties it is scipy's exact distribution; with ties it is what scipy's
    permutation test over sign flips gives. p = min(1, 2 min(P(T+ <= t), P(T+ >= t))).
    """
    array = np.asarray(changes, dtype=np.float64).ravel()
    array = array[array != 0]
    if len(array) == 0:
        return 0.0, 1.0
    ranks = scipy.stats.rankdata(np.abs(array))
    doubled = np.rint(2 * ranks).astype(np.intp)
    # probabilities, not counts: 2^n overflows nothing this way
    distribution = np.zeros(int(doubled.sum()) + 1)
    distribution[0] = 1.0
    for step in doubled:
        shifted = np.zeros_like(distribution)
        shifted[step:] = distribution[:-step]
        distribution = 0.5 * (distribution + shifted)
    t_plus = int(doubled[array > 0].sum())
    lower = float(distribution[: t_plus + 1].sum())
    upper = float(distribution[t_plus:].sum())
    t_minus = int(doubled.sum()) - t_plus
    return min(t_plus, t_minus) / 2.0, min(1.0, 2.0 * min(lower, upper))


Decision: TypeAlias = Literal[
    "continue", "stop_consensus", "stop_dissensus", "stop_round_limit", "cannot_tell"
]
_LABELS = {
    "continue": "continue: answers are still moving",
    "stop_consensus": "stop: consensus and stable",
    "stop_dissensus": "stop: stable without consensus (report the dissensus)",
    "stop_round_limit": "stop: round limit reached",
    "cannot_tell": "cannot tell",
}


@dataclass(frozen=True)
class Verdict:
    """Whether to run another round, and why."""

    decision: Decision
    label: str
    reasons: tuple[str, ...]
    stable: bool | None


def stopping_verdict(
    consensus: bool | None,
    stability: Stability,
    rule: str = DEFAULT_STABILITY_RULE,
    *,
    round_limit_reached: bool = False,
) -> Verdict:
    """Continue, or stop (consensus and stable / stable without consensus / round limit)."""
    expression = parse_expression(rule, allowed_names=STABILITY_NAMES)
    stable = expression.evaluate(stability.as_dict())
    reasons = [f"stability rule {expression}: {_word(stable)}"]
    reasons.append(f"consensus: {_word(consensus)}")
    decision: Decision
    if round_limit_reached:
        decision = "stop_round_limit"
    elif stable is None:
        decision = "cannot_tell"
        reasons.append("the stability rule cannot be evaluated (too few paired answers?)")
    elif not stable:
        decision = "continue"
    elif consensus is None:
        decision = "cannot_tell"
        reasons.append("stable, but whether there is consensus cannot be told")
    elif consensus:
        decision = "stop_consensus"
    else:
        decision = "stop_dissensus"
    return Verdict(decision, _LABELS[decision], tuple(reasons), stable)


def _word(value: bool | None) -> str:
    return "cannot tell" if value is None else ("yes" if value else "no")


@dataclass(frozen=True)
class Attrition:
    """Did the experts who left answer the previous round differently from those who stayed?"""

    n_stayed: int
    n_left: int
    median_stayed: float | None
    median_left: float | None
    u_statistic: float | None
    p: float | None
    verdict: str


def attrition(
    previous_round_answers: Mapping[str, float], stayed: Collection[str], *, alpha: float = 0.05
) -> Attrition:
    """Mann-Whitney U (two-sided) on the previous-round answers of leavers vs stayers."""
    stayed_set = set(stayed)
    values_stayed = np.array(
        [_number(v, e, "previous") for e, v in previous_round_answers.items() if e in stayed_set]
    )
    values_left = np.array(
        [
            _number(v, e, "previous")
            for e, v in previous_round_answers.items()
            if e not in stayed_set
        ]
    )
    values_stayed = values_stayed[~np.isnan(values_stayed)]
    values_left = values_left[~np.isnan(values_left)]
    median_stayed = float(np.median(values_stayed)) if len(values_stayed) else None
    median_left = float(np.median(values_left)) if len(values_left) else None
    if len(values_left) == 0:
        return Attrition(len(values_stayed), 0, median_stayed, None, None, None, "no attrition")
    if len(values_stayed) == 0:
        return Attrition(0, len(values_left), None, median_left, None, None, "everyone left")
    if np.ptp(np.concatenate([values_stayed, values_left])) == 0:
        u, p = len(values_stayed) * len(values_left) / 2.0, 1.0
    else:
        result = scipy.stats.mannwhitneyu(values_left, values_stayed, alternative="two-sided")
        u, p = float(result.statistic), float(result.pvalue)
    if p < alpha:
        verdict = (
            f"leavers answered differently (median {median_left:g} vs {median_stayed:g}, "
            f"p = {p:.3g}): later rounds may be biased by attrition"
        )
    else:
        verdict = f"no evidence that leaving biased the result (p = {p:.3g})"
    return Attrition(
        len(values_stayed), len(values_left), median_stayed, median_left, u, p, verdict
    )


def stability_long(
    df: pd.DataFrame,
    scales: Mapping[str, ScaleSpec],
    round_a: object,
    round_b: object,
    *,
    by: Sequence[str] = ("item", "question"),
    tolerance: float = 0.0,
    quantile_method: str = "type7",
    wilcoxon: str = "auto",
    wilcoxon_exact_up_to: int = WILCOXON_EXACT_UP_TO,
) -> pd.DataFrame:
    """compare_rounds for every (item, question) of long data, pairing experts by pseudonym."""
    missing = [c for c in (*LONG_COLUMNS, *by) if c not in df.columns]
    if missing:
        raise InputError(f"missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    if "question" not in by:
        raise InputError("`by` must include question: each question has its own scale")
    rounds = set(df["round"].unique().tolist())
    for wanted in (round_a, round_b):
        if wanted not in rounds:
            raise InputError(
                f"round {wanted!r} is not in the data (rounds: {sorted(map(str, rounds))})"
            )
    pair = df[df["round"].isin([round_a, round_b])]
    rows: list[dict[str, object]] = []
    for key, cell in pair.groupby(list(by), sort=True, observed=True):
        keys = key if isinstance(key, tuple) else (key,)
        record = dict(zip(by, keys, strict=True))
        question = str(record["question"])
        if question not in scales:
            raise InputError(f"no scale for question: {question}")
        first = cell[cell["round"] == round_a]
        second = cell[cell["round"] == round_b]
        for part, name in ((first, round_a), (second, round_b)):
            if part["expert"].duplicated().any():
                expert = part.loc[part["expert"].duplicated(), "expert"].iloc[0]
                raise InputError(f"expert {expert} answered {record} twice in round {name}")
        result = compare_rounds(
            dict(zip(first["expert"].astype(str), first["value"], strict=True)),
            dict(zip(second["expert"].astype(str), second["value"], strict=True)),
            scales[question],
            tolerance=tolerance,
            quantile_method=quantile_method,
            wilcoxon=wilcoxon,
            wilcoxon_exact_up_to=wilcoxon_exact_up_to,
        )
        record.update(result.as_dict())
        record["n_paired"], record["n_changed"] = result.n_paired, result.n_changed
        record["wilcoxon_method"] = result.wilcoxon_method
        record["agree_to_disagree"] = result.agree_to_disagree
        record["disagree_to_agree"] = result.disagree_to_agree
        rows.append(record)
    return pd.DataFrame(rows)
