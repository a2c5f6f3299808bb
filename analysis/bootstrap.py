"""Bootstrap over experts: how much a panel statistic would move with another panel like this one.

The panel's experts are the sampling unit. A resample draws n experts with replacement from the
n who answered (their answers travel together, so links between an expert's answers are kept),
the statistic is recomputed, and the percentile interval of the resampled statistics is the
interval (Efron & Tibshirani 1993, ch. 13): lower = Q((1 - level) / 2), upper = Q((1 + level) / 2),
with numpy's "linear" quantile (R type 7). The draws are `rng.integers(0, n, (resamples, n))` of
`numpy.random.default_rng(seed)`, the same draws as `scipy.stats.bootstrap`, so a percentile
interval here equals scipy's for the same seed.

An expert who did not answer a question is NaN there; a resampled statistic uses the answers its
resample has. A resample in which nobody answered a question gives no value for it (ignored by the
quantiles). With fewer than SMALL_PANEL experts the interval is reported with a note: a bootstrap
over so few experts understates the uncertainty.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy

from analysis.errors import InputError
from analysis.pooling import DEFAULT_EPS, METHODS
from analysis.scenarios._common import state_bits
from analysis.tia import ImpactProfile

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: below this many experts the interval carries a warning note
SMALL_PANEL = 5
#: the default interval level
LEVEL = 0.9
#: at most this many events enter the scenario bootstrap (all 2^n scenarios are tallied)
SCENARIO_MAX_EVENTS = 12


@dataclass(frozen=True)
class Interval:
    """A statistic on the whole panel and its bootstrap percentile interval."""

    estimate: float
    lower: float
    upper: float

    def as_dict(self) -> dict[str, float | None]:
        """JSON-ready (NaN as None)."""
        return {
            k: _json(v)
            for k, v in (("estimate", self.estimate), ("lower", self.lower), ("upper", self.upper))
        }


@dataclass(frozen=True)
class BootstrapInfo:
    """How a bootstrap was made: resamples, seed, level, panel size and any warning."""

    resamples: int
    seed: int
    level: float
    experts: int
    note: str = ""
    method: str = "percentile bootstrap over experts"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "method": self.method,
            "resamples": self.resamples,
            "seed": self.seed,
            "level": self.level,
            "experts": self.experts,
            "note": self.note,
        }


@dataclass(frozen=True)
class PooledIntervals:
    """Per pooling method, one interval per question (in the columns' order)."""

    info: BootstrapInfo
    intervals: dict[str, tuple[Interval, ...]]


@dataclass(frozen=True)
class RankRange:
    """A scenario's rank on the whole panel and the range of its ranks over the resamples."""

    state: int
    occurring: tuple[str, ...]
    probability: Interval
    rank: int
    rank_lower: int
    rank_upper: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "occurring": list(self.occurring),
            "probability": self.probability.as_dict(),
            "rank": self.rank,
            "rank_lower": self.rank_lower,
            "rank_upper": self.rank_upper,
        }


@dataclass(frozen=True)
class ScenarioIntervals:
    """Bootstrap intervals of named scenarios and of the most likely scenarios' ranks."""

    info: BootstrapInfo
    method: str
    event_keys: tuple[str, ...]
    named: dict[str, Interval]
    top: tuple[RankRange, ...]
    events: dict[str, Interval] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            **self.info.as_dict(),
            "scenario_method": self.method,
            "events": list(self.event_keys),
            "named": {k: v.as_dict() for k, v in self.named.items()},
            "top": [r.as_dict() for r in self.top],
            "pooled": {k: v.as_dict() for k, v in self.events.items()},
        }


def _json(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def check_settings(resamples: int, seed: int, level: float) -> None:
    """InputError unless resamples >= 1, seed >= 0 and 0 < level < 1."""
    if isinstance(resamples, bool) or not isinstance(resamples, (int, np.integer)) or resamples < 1:
        raise InputError(f"resamples must be a whole number of at least 1, not {resamples!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative whole number, not {seed!r}")
    if not 0.0 < float(level) < 1.0:
        raise InputError(f"level must be between 0 and 1, not {level!r}")


def info_for(experts: int, resamples: int, seed: int, level: float) -> BootstrapInfo:
    """The settings record, with a note when the panel is small."""
    note = ""
    if experts < SMALL_PANEL:
        note = (
            f"only {experts} experts: a bootstrap over fewer than {SMALL_PANEL} experts "
            "understates the uncertainty"
        )
    return BootstrapInfo(
        resamples=int(resamples), seed=int(seed), level=float(level), experts=experts, note=note
    )


def resample_indices(n: int, resamples: int, seed: int) -> IntArray:
    """Expert indices (resamples x n), drawn with replacement; scipy.stats.bootstrap's draws."""
    if n < 1:
        raise InputError("the bootstrap needs at least one expert")
    check_settings(resamples, seed, 0.5)
    return np.random.default_rng(seed).integers(0, n, (resamples, n))


def percentile_interval(
    samples: npt.ArrayLike, level: float = LEVEL
) -> tuple[FloatArray, FloatArray]:
    """(lower, upper) percentile limits over the first axis, ignoring NaN (R type 7)."""
    values = np.asarray(samples, dtype=np.float64)
    tail = (1.0 - level) / 2.0
    with np.errstate(invalid="ignore"):
        if np.isnan(values).any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                limits = np.nanquantile(values, [tail, 1.0 - tail], axis=0, method="linear")
        else:
            limits = np.quantile(values, [tail, 1.0 - tail], axis=0, method="linear")
    return np.asarray(limits[0], dtype=np.float64), np.asarray(limits[1], dtype=np.float64)


def pool_columns(
    values: npt.ArrayLike,
    method: str,
    *,
    eps: float = DEFAULT_EPS,
    a: float = 1.0,
    trim: float = 0.1,
) -> FloatArray:
    """Pool along the experts axis (-2) with equal weights, NaN = no answer; pooling.pool's formulas.

    `values` is (..., experts, questions) in [0, 1]; the result is (..., questions), NaN where
    nobody answered.
    """
    x = np.asarray(values, dtype=np.float64)
    if method not in METHODS:
        raise InputError(f"unknown pooling method {method!r}; use one of {', '.join(METHODS)}")
    answered = ~np.isnan(x)
    count = answered.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method in ("linear", "baron"):
            mean = np.where(answered, x, 0.0).sum(axis=-2) / count
            out = mean if method == "linear" else mean**a / (mean**a + (1.0 - mean) ** a)
        elif method == "median":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out = np.nanmedian(x, axis=-2)
        elif method == "trimmed":
            # scipy.stats.trim_mean: cut int(trim * n) values from each end of the sorted answers
            ordered = np.sort(x, axis=-2)  # NaN sort last
            cut = np.floor(trim * count).astype(np.int64)
            position = np.arange(x.shape[-2]).reshape((1,) * (x.ndim - 2) + (-1, 1))
            keep = (position >= cut[..., None, :]) & (position < (count - cut)[..., None, :])
            out = np.where(keep, ordered, 0.0).sum(axis=-2) / keep.sum(axis=-2)
        else:
            z = np.where(
                answered, scipy.special.logit(np.clip(np.nan_to_num(x), eps, 1.0 - eps)), 0.0
            )
            factor = a if method == "extremized" else 1.0
            out = scipy.special.expit(factor * z.sum(axis=-2) / count)
    return np.asarray(np.where(count > 0, out, np.nan), dtype=np.float64)


#: about how many answers one slice of resamples holds when pooled (a slice of a 1,000-resample
#: bootstrap of 5,000 experts at once would hold 5 million answers per question)
SLICE_ANSWERS = 2_000_000


def pool_resampled(
    values: FloatArray,
    rows: IntArray,
    method: str,
    *,
    eps: float = DEFAULT_EPS,
    a: float = 1.0,
    trim: float = 0.1,
) -> FloatArray:
    """`pool_columns(values[rows], ...)` computed a slice of resamples at a time.

    `values` is experts x questions, `rows` resamples x experts; the result is resamples x
    questions, the same numbers as pooling the whole stack at once (each resample is pooled on
    its own), in memory that does not grow with the number of resamples.
    """
    per_resample = max(1, rows.shape[1] * int(np.prod(values.shape[1:])))
    step = max(1, SLICE_ANSWERS // per_resample)
    parts = [
        pool_columns(values[rows[start : start + step]], method, eps=eps, a=a, trim=trim)
        for start in range(0, rows.shape[0], step)
    ]
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, *values.shape[1:]))


def pooled_intervals(
    values: npt.ArrayLike,
    *,
    methods: Sequence[str] = METHODS,
    eps: float = DEFAULT_EPS,
    a: float = 1.0,
    trim: float = 0.1,
    resamples: int = 1000,
    seed: int = 0,
    level: float = LEVEL,
) -> PooledIntervals:
    """Percentile intervals of pooled probabilities; `values` is experts x questions (NaN: no answer)."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1:
        raise InputError("values must be an experts x questions table with at least one expert")
    answered = ~np.isnan(x)
    if ((x[answered] < 0) | (x[answered] > 1)).any():
        raise InputError("probabilities must be in [0, 1]")
    check_settings(resamples, seed, level)
    index = resample_indices(x.shape[0], resamples, seed)
    out: dict[str, tuple[Interval, ...]] = {}
    for method in methods:
        point = pool_columns(x, method, eps=eps, a=a, trim=trim)
        lower, upper = percentile_interval(
            pool_resampled(x, index, method, eps=eps, a=a, trim=trim), level
        )
        out[method] = tuple(
            Interval(float(p), float(lo), float(hi))
            for p, lo, hi in zip(point, lower, upper, strict=True)
        )
    return PooledIntervals(info=info_for(x.shape[0], resamples, seed, level), intervals=out)


def loglinear_scenarios(
    p: npt.ArrayLike, given: npt.ArrayLike, given_not: npt.ArrayLike, *, eps: float = DEFAULT_EPS
) -> FloatArray:
    """Probabilities of all 2^n scenarios (state index: bit i = event i) under the fast pairwise
    log-linear model; works on stacks (..., n), (..., n, n).

    log p(t) = sum_i h_i t_i + sum_{i<j} J_ij t_i t_j - log Z. The coupling J_ij is the panel's
    log odds ratio of i and j, logit P(i | j) - logit P(i | not j), averaged with the one read the
    other way round when both were asked (0 where neither was: independence). The fields h are
    fitted so that every event keeps its pooled probability (Newton's method, to 1e-10 or
    100 steps). Pooled cells that are NaN count as not asked.
    """
    marginal = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    n = marginal.shape[-1]
    yes = scipy.special.logit(np.clip(np.asarray(given, dtype=np.float64), eps, 1.0 - eps))
    no = scipy.special.logit(np.clip(np.asarray(given_not, dtype=np.float64), eps, 1.0 - eps))
    ratio = yes - no  # NaN where not asked
    mirrored = np.swapaxes(ratio, -1, -2)
    both = np.stack([ratio, mirrored])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        coupling = np.nan_to_num(np.nanmean(both, axis=0))
    diagonal = np.eye(n, dtype=bool)
    coupling = np.where(diagonal, 0.0, coupling)
    bits = state_bits(n).astype(np.float64)  # S x n
    pair_bits = (bits[:, :, None] * bits[:, None, :]).reshape(bits.shape[0], n * n)
    pair_energy = 0.5 * (coupling.reshape(*coupling.shape[:-2], n * n) @ pair_bits.T)
    h = scipy.special.logit(marginal)
    for _step in range(100):
        energy = pair_energy + h @ bits.T
        energy -= energy.max(axis=-1, keepdims=True)
        weights = np.exp(energy)
        probs = weights / weights.sum(axis=-1, keepdims=True)
        fitted = probs @ bits
        gap = marginal - fitted
        if np.abs(gap).max() < 1e-10:
            break
        # Newton's step: d(fitted)/dh is the covariance of the events under the model
        second = (probs @ pair_bits).reshape(*probs.shape[:-1], n, n)
        covariance = second - fitted[..., :, None] * fitted[..., None, :]
        covariance += 1e-12 * np.eye(n)
        step = np.linalg.solve(covariance, gap[..., None])[..., 0]
        h = h + np.clip(step, -2.0, 2.0)
    energy = pair_energy + h @ bits.T
    energy -= energy.max(axis=-1, keepdims=True)
    weights = np.exp(energy)
    return np.asarray(weights / weights.sum(axis=-1, keepdims=True), dtype=np.float64)


def scenario_intervals(
    p: npt.ArrayLike,
    given: npt.ArrayLike,
    given_not: npt.ArrayLike,
    *,
    event_keys: Sequence[str],
    expressions: Mapping[str, str] | None = None,
    top: int = 10,
    resamples: int = 1000,
    seed: int = 0,
    level: float = LEVEL,
    eps: float = DEFAULT_EPS,
) -> ScenarioIntervals:
    """Bootstrap scenario probabilities and ranks under the fast log-linear model (loglinear_scenarios).

    p is experts x n (P(i) per expert), given and given_not experts x n x n (P(i | j) and
    P(i | not j) in cell [i, j]); NaN = not answered. Each resample pools every cell by the mean
    of log-odds over its experts who answered it and recomputes all 2^n scenario probabilities;
    a cell nobody in the resample answered counts as not asked.
    """
    from analysis.expressions import parse_expression

    marginal = np.asarray(p, dtype=np.float64)
    cond = np.asarray(given, dtype=np.float64)
    cond_not = np.asarray(given_not, dtype=np.float64)
    if marginal.ndim != 2:
        raise InputError("p must be an experts x events table")
    experts, n = marginal.shape
    keys = tuple(event_keys)
    if len(keys) != n:
        raise InputError(f"{len(keys)} event keys for {n} events")
    if not 1 <= n <= SCENARIO_MAX_EVENTS:
        raise InputError(f"the scenario bootstrap takes 1 to {SCENARIO_MAX_EVENTS} events, not {n}")
    if cond.shape != (experts, n, n) or cond_not.shape != (experts, n, n):
        raise InputError("given and given_not must be experts x events x events tables")
    check_settings(resamples, seed, level)
    bits = state_bits(n)
    masks = {
        name: np.asarray(
            parse_expression(text).evaluate_array({k: bits[:, i] for i, k in enumerate(keys)}),
            dtype=bool,
        ).reshape(bits.shape[0])
        for name, text in (expressions or {}).items()
    }

    def pooled_inputs(rows: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        # rows: resamples x experts; every cell pooled over the experts axis
        shape = (rows.shape[0], n, n)
        pm = pool_resampled(marginal, rows, "logodds", eps=eps)
        flat = pool_resampled(cond.reshape(experts, n * n), rows, "logodds", eps=eps)
        flat_not = pool_resampled(cond_not.reshape(experts, n * n), rows, "logodds", eps=eps)
        return pm, flat.reshape(shape), flat_not.reshape(shape)

    full_p, full_given, full_not = pooled_inputs(np.arange(experts)[None, :])
    if np.isnan(full_p).any():
        raise InputError("every event needs at least one expert's probability")
    whole = loglinear_scenarios(full_p, full_given, full_not, eps=eps)[0]
    all_p, all_given, all_not = pooled_inputs(resample_indices(experts, resamples, seed))
    pooled_p = np.where(np.isnan(all_p), full_p, all_p)
    samples = loglinear_scenarios(pooled_p, all_given, all_not, eps=eps)
    lower, upper = percentile_interval(samples, level)
    named = {}
    for name, mask in masks.items():
        low, high = percentile_interval(samples[:, mask].sum(axis=1), level)
        named[name] = Interval(float(whole[mask].sum()), float(low), float(high))
    order = np.argsort(-whole, kind="stable")[: min(top, 2**n)]
    ranks = []
    for position, state in enumerate(order):
        # rank = 1 + the number of scenarios strictly more likely in that resample
        sampled_rank = 1 + (samples > samples[:, [state]]).sum(axis=1)
        low_rank, high_rank = percentile_interval(sampled_rank.astype(np.float64), level)
        ranks.append(
            RankRange(
                state=int(state),
                occurring=tuple(k for i, k in enumerate(keys) if bits[state, i]),
                probability=Interval(float(whole[state]), float(lower[state]), float(upper[state])),
                rank=position + 1,
                rank_lower=int(np.floor(low_rank)),
                rank_upper=int(np.ceil(high_rank)),
            )
        )
    p_low, p_high = percentile_interval(pooled_p, level)
    return ScenarioIntervals(
        info=info_for(experts, resamples, seed, level),
        method="loglinear",
        event_keys=keys,
        named=named,
        top=tuple(ranks),
        events={
            k: Interval(float(full_p[0, i]), float(p_low[i]), float(p_high[i]))
            for i, k in enumerate(keys)
        },
    )


# ---------------------------------------------------------------------------------------------
# Trend impact: the panel's median impact profiles, resampled


PROFILE_FIELDS = ("t1", "t2", "t3", "i_max", "i_ss")


def _profile_table(profiles: Sequence[ImpactProfile]) -> FloatArray:
    """experts x 5 (t1, t2, t3, i_max, i_ss)."""
    return np.array([[getattr(p, f) for f in PROFILE_FIELDS] for p in profiles], dtype=np.float64)


def resampled_median_profiles(
    profiles: Sequence[ImpactProfile], *, resamples: int, seed: int
) -> tuple[ImpactProfile, ...]:
    """One median profile per bootstrap resample of the experts (times made monotone).

    Given to `TrendEvent(profiles=...)`, each Monte Carlo run then draws a resample's median
    profile: the band shows how uncertain the panel's median is, rather than the spread of
    single experts' opinions.
    """
    if not profiles:
        raise InputError("at least one expert's profile is needed")
    kind = profiles[0].kind
    table = _profile_table(profiles)
    medians = np.median(table[resample_indices(len(profiles), resamples, seed)], axis=1)
    out = []
    for t1, t2, t3, i_max, i_ss in medians:
        first = max(0.0, float(t1))
        second = max(first, float(t2))
        out.append(
            ImpactProfile(first, second, max(second, float(t3)), float(i_max), float(i_ss), kind)
        )
    return tuple(out)


def _profiles_at(table: FloatArray, delays: FloatArray) -> FloatArray:
    """ImpactProfile.at for many profiles at once: (..., 5) x delays -> (..., delays)."""
    t1, t2, t3, i_max, i_ss = (table[..., k, None] for k in range(5))
    d = delays
    with np.errstate(invalid="ignore", divide="ignore"):
        rising = np.where(t2 > t1, i_max * (d - t1) / (t2 - t1), i_max)
        falling = np.where(t3 > t2, i_max + (i_ss - i_max) * (d - t2) / (t3 - t2), i_ss)
    out = np.where(d < t1, 0.0, np.where(d <= t2, rising, np.where(d <= t3, falling, i_ss)))
    return np.asarray(out, dtype=np.float64)


def draw_counts(index: IntArray, size: int) -> FloatArray:
    """How many times each resample (a row of `index`) drew each of `size` items."""
    rows = index.shape[0]
    flat = (np.arange(rows)[:, None] * size + index).ravel()
    return np.bincount(flat, minlength=rows * size).reshape(rows, size).astype(np.float64)


def expected_trend_intervals(
    baseline: npt.ArrayLike,
    occurrence: npt.ArrayLike,
    profiles: Sequence[Sequence[ImpactProfile]],
    experts: Sequence[Sequence[str]],
    *,
    relative: bool,
    resamples: int = 1000,
    seed: int = 0,
    level: float = LEVEL,
    statistic: Literal["median", "mean"] = "median",
) -> tuple[FloatArray, FloatArray, FloatArray, BootstrapInfo]:
    """Percentile interval of the expected forecast when the panel's profiles are resampled.

    baseline: y0 by year; occurrence: events x years of P(occurred by that year) (as in
    TiaResult.occurrence); profiles[e] the experts' profiles of event e, experts[e] their
    pseudonyms (one resample of the panel's experts serves every event). Each resample takes the
    median profile of its experts per event (statistic="median": the panel-median analysis) or
    the mean of their impact curves (statistic="mean": the expectation when every run draws an
    expert's profile) and recomputes E[D(t)] = sum_tau q(tau) I(t - tau) and the expected
    forecast. Returns (whole-panel expected, lower, upper, info).
    """
    y0 = np.asarray(baseline, dtype=np.float64)
    cumulative = np.asarray(occurrence, dtype=np.float64).reshape(len(profiles), y0.size)
    check_settings(resamples, seed, level)
    panel = sorted({e for names in experts for e in names})
    if not panel:
        raise InputError("no expert gave an impact profile")
    position = {e: i for i, e in enumerate(panel)}
    index = np.vstack([np.arange(len(panel)), resample_indices(len(panel), resamples, seed)])
    delays = np.arange(y0.size, dtype=np.float64)
    q = np.diff(cumulative, axis=1, prepend=0.0)
    change = np.zeros((index.shape[0], y0.size))
    # how often each resample drew each expert: the mean of the drawn curves is a product with
    # it, where the drawn curves themselves (resamples x panel x years) would take gigabytes
    drawn = draw_counts(index, len(panel)) if statistic == "mean" else None
    for e, (options, names) in enumerate(zip(profiles, experts, strict=True)):
        table = np.full((len(panel), 5), np.nan)
        table[[position[n] for n in names]] = _profile_table(options)
        if drawn is not None:
            # the mean of the resampled experts' impact curves (an expert counted as often as drawn)
            each = _profiles_at(table, delays)  # panel x years, NaN rows for silent experts
            given = ~np.isnan(each)
            with np.errstate(invalid="ignore", divide="ignore"):
                curves = (drawn @ np.where(given, each, 0.0)) / (drawn @ given)
            curves = np.where(np.isnan(curves), curves[0], curves)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                medians = np.nanmedian(table[index], axis=1)  # resamples+1 x 5
            # a resample without any of this event's experts keeps the whole panel's median
            medians = np.where(np.isnan(medians), medians[0], medians)
            medians[:, 0] = np.maximum(medians[:, 0], 0.0)
            medians[:, 1] = np.maximum(medians[:, 1], medians[:, 0])
            medians[:, 2] = np.maximum(medians[:, 2], medians[:, 1])
            curves = _profiles_at(medians, delays)  # resamples+1 x years
        # causal convolution of q with each curve: sum_tau q(tau) I(t - tau)
        lag = np.arange(y0.size)[:, None] - np.arange(y0.size)[None, :]  # t x tau
        weights = np.where(lag >= 0, q[e][None, :], 0.0)
        change += np.einsum("tk,rtk->rt", weights, curves[:, np.clip(lag, 0, None)])
    expected = y0[None, :] * (1.0 + change) if relative else y0[None, :] + change
    lower, upper = percentile_interval(expected[1:], level)
    return expected[0], lower, upper, info_for(len(panel), resamples, seed, level)
