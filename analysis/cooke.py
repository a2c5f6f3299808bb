"""Cooke's classical model: calibration, information, performance weights, decision makers.

Experts give quantiles (e.g. 5/50/95 % or 5/25/50/75/95 %) for seed items, whose true values
(realisations) are known, and for target items. Conventions follow TU Delft's `anduryl` (and
Excalibur), and the tests match anduryl 1.2.2 to 1e-6 on its TU Delft cases:

- quantile bins: a realisation equal to a quantile falls in the bin below it;
- calibration C = 1 - chi2.cdf(2 N I(s, p) * power, K) with s the expert's empirical bin shares,
  p the theoretical ones, K the number of quantiles, and N the fewest seed items any expert
  answered (so experts who answered more seeds are not penalised for it);
- information per item against a uniform background measure (log-uniform for LOG items: all
  values are log-transformed first) on the intrinsic range [L, U]: the smallest and largest of
  all experts' quantiles and the realisation, widened by `overshoot` (10 %) of U - L on each
  side: ln(U - L) + sum_j p_j ln(p_j / (q_j - q_{j-1})); averaged over the items the expert
  answered (all items: information_total; seed items: information_seed);
- global weight C * I_seed * [C >= alpha]; item weight C * I_item * [C >= alpha];
- the decision maker (DM) is the weighted mixture of the experts' piecewise-uniform CDFs (the
  quantiles joined linearly from (L, 0) to (U, 1)); its quantiles are the mixture's inverse, and
  it is scored like an expert. With alpha optimised, every distinct expert calibration score is
  tried as alpha and the DM with the largest C(DM) * I_seed(DM) * [C(DM) >= alpha] wins (the
  first such alpha on ties).

Two corner cases differ from anduryl on purpose (neither occurs in its TU Delft cases): LOG
items are always scored on the log scale (anduryl leaves their range unlogged when the
overshoot is 0), and information is averaged over the items an expert answered (anduryl
averages over non-zero values, so an answered item with information exactly 0 drops out). The
chi-square tail is scipy's (anduryl uses its own continued fraction; they agree to ~1e-12 here).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import scipy

from analysis.errors import InputError

FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
WeightType: TypeAlias = Literal["global", "item", "equal", "user"]

DEFAULT_OVERSHOOT = 0.1
#: Excalibur writes "no value" as a number in this range (usually -999.5)
_MISSING_LOW, _MISSING_HIGH = -1000.0, -990.0


@dataclass(frozen=True)
class CookeData:
    """Experts' quantiles for seed and target items, and the seeds' realisations."""

    #: quantile levels in (0, 1), ascending, e.g. (0.05, 0.5, 0.95)
    levels: FloatArray
    experts: tuple[str, ...]
    items: tuple[str, ...]
    #: (experts, items, levels); NaN where an expert gave no answer
    assessments: FloatArray
    #: (items,); NaN for target items
    realizations: FloatArray
    #: (items,); True where the background measure is log-uniform
    log_scale: BoolArray
    questions: tuple[str, ...] = ()

    @property
    def is_seed(self) -> BoolArray:
        """True for seed (calibration) items."""
        return ~np.isnan(self.realizations)


def make_data(
    assessments: npt.ArrayLike,
    realizations: npt.ArrayLike,
    levels: Sequence[float],
    *,
    experts: Sequence[str] | None = None,
    items: Sequence[str] | None = None,
    log_scale: Sequence[bool] | None = None,
    questions: Sequence[str] = (),
) -> CookeData:
    """Checked CookeData from arrays (assessments: experts x items x levels)."""
    values = np.asarray(assessments, dtype=np.float64)
    if values.ndim != 3:
        raise InputError(
            f"assessments must be experts x items x quantiles, got shape {values.shape}"
        )
    n_experts, n_items, n_levels = values.shape
    level_array = np.asarray(levels, dtype=np.float64)
    if level_array.shape != (n_levels,):
        raise InputError(f"{len(level_array)} quantile levels for {n_levels} quantiles per answer")
    if not ((level_array > 0) & (level_array < 1)).all() or (np.diff(level_array) <= 0).any():
        raise InputError(f"quantile levels must rise strictly inside (0, 1): {list(levels)}")
    real = np.asarray(realizations, dtype=np.float64)
    if real.shape != (n_items,):
        raise InputError(f"{real.size} realisations for {n_items} items")
    expert_ids = (
        tuple(experts) if experts is not None else tuple(f"E{i + 1}" for i in range(n_experts))
    )
    item_ids = tuple(items) if items is not None else tuple(f"Q{i + 1}" for i in range(n_items))
    if len(expert_ids) != n_experts or len(item_ids) != n_items:
        raise InputError("the expert and item names must match the assessments' shape")
    logs = np.zeros(n_items, dtype=bool) if log_scale is None else np.asarray(log_scale, dtype=bool)
    if logs.shape != (n_items,):
        raise InputError(f"{logs.size} scale flags for {n_items} items")
    _check_assessments(values, real, logs, expert_ids, item_ids)
    if not (~np.isnan(real)).any():
        raise InputError("no seed item: at least one item needs a realisation")
    return CookeData(level_array, expert_ids, item_ids, values, real, logs, tuple(questions))


def _check_assessments(
    values: FloatArray,
    realizations: FloatArray,
    log_scale: BoolArray,
    experts: tuple[str, ...],
    items: tuple[str, ...],
) -> None:
    """InputError naming the expert and item whose quantiles are partial, unordered or invalid."""
    missing = np.isnan(values)
    partial = missing.any(axis=2) & ~missing.all(axis=2)
    with np.errstate(invalid="ignore"):
        unordered = (np.diff(values, axis=2) <= 0).any(axis=2)
        non_positive = log_scale[None, :, None] & (values <= 0)
    problems = [
        (partial, "gives some quantiles but not all"),
        (unordered & ~missing.any(axis=2), "gives quantiles that do not rise strictly"),
        (non_positive.any(axis=2), "gives a non-positive quantile on a log-scale item"),
        (np.isinf(values).any(axis=2), "gives an infinite quantile"),
    ]
    for mask, message in problems:
        if mask.any():
            e, i = (int(v) for v in np.argwhere(mask)[0])
            raise InputError(f"expert {experts[e]}, item {items[i]}: {message}")
    if (log_scale & ~np.isnan(realizations) & (realizations <= 0)).any():
        i = int(np.flatnonzero(log_scale & (realizations <= 0))[0])
        raise InputError(f"item {items[i]}: a log-scale item needs a positive realisation")


# ---------------------------------------------------------------------------------------------
# Excalibur files

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_HEADER = re.compile(r"NQ=\s*(\d+)\s+QU=((?:\s*" + _NUMBER + r")+)")
_RLS_LINE = re.compile(
    r"^\s*(\d+)\s+(.*?)\s+(" + _NUMBER + r")\s+(UNI|LOG)\b\s*(.*)$", re.IGNORECASE
)


def parse_excalibur(
    dtt_text: str, rls_text: str, *, dtt_name: str = ".dtt", rls_name: str = ".rls"
) -> CookeData:
    """Read Excalibur's assessments (.dtt) and realisations (.rls); -999.5 marks "no value".

    The .dtt's first line gives NQ and the quantile levels in percent; every other line is
    `expert-number expert-id item-number item-id UNI|LOG q1 .. qNQ [question]`. The .rls lines
    are `item-number item-id value UNI|LOG [question]`; realisations are matched to items by id,
    and an item without one is a target item.
    """
    lines = [line for line in dtt_text.splitlines() if line.strip()]
    if not lines:
        raise InputError(f"{dtt_name}: empty file")
    header = _HEADER.search(lines[0])
    if header is None:
        raise InputError(f"{dtt_name}, line 1: expected 'NQ= n QU= levels' (Excalibur header)")
    n_levels = int(header.group(1))
    levels = [float(v) / 100.0 for v in header.group(2).split()]
    if len(levels) != n_levels:
        raise InputError(f"{dtt_name}, line 1: NQ={n_levels} but {len(levels)} quantile levels")
    line_pattern = re.compile(
        r"^\s*(\d+)\s+(\S+)\s+(\d+)\s+(.*?)\s+(UNI|LOG)\s+((?:"
        + _NUMBER
        + r"\s+){"
        + str(n_levels - 1)
        + "}"
        + _NUMBER
        + r")(?:\s+(.*))?\s*$",
        re.IGNORECASE,
    )
    experts: dict[int, str] = {}
    items: dict[int, tuple[str, bool, str]] = {}
    answers: dict[tuple[int, int], list[float]] = {}
    for number, line in enumerate(lines[1:], start=2):
        match = line_pattern.match(line)
        if match is None:
            raise InputError(
                f"{dtt_name}, line {number}: expected expert number, expert id, item number, "
                f"item id, UNI or LOG and {n_levels} numbers"
            )
        expert_no, expert_id, item_no, item_id, scale, numbers, question = match.groups()
        experts.setdefault(int(expert_no), expert_id)
        items.setdefault(
            int(item_no), (item_id.strip(), scale.upper() == "LOG", (question or "").strip())
        )
        values = [float(v) for v in numbers.split()]
        answers[(int(expert_no), int(item_no))] = [
            math.nan if _MISSING_LOW <= v <= _MISSING_HIGH else v for v in values
        ]
    expert_numbers = sorted(experts)
    item_numbers = sorted(items)
    array = np.full((len(expert_numbers), len(item_numbers), n_levels), np.nan)
    expert_index = {no: i for i, no in enumerate(expert_numbers)}
    item_index = {no: i for i, no in enumerate(item_numbers)}
    for (expert_no, item_no), values in answers.items():
        array[expert_index[expert_no], item_index[item_no]] = values

    realized: dict[str, float] = {}
    for number, line in enumerate(rls_text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _RLS_LINE.match(line)
        if match is None:
            raise InputError(
                f"{rls_name}, line {number}: expected item number, item id, value and UNI or LOG"
            )
        value = float(match.group(3))
        realized[match.group(2).strip()] = (
            math.nan if _MISSING_LOW <= value <= _MISSING_HIGH else value
        )
    item_ids = [items[no][0] for no in item_numbers]
    return make_data(
        array,
        [realized.get(item_id, math.nan) for item_id in item_ids],
        levels,
        experts=[experts[no] for no in expert_numbers],
        items=item_ids,
        log_scale=[items[no][1] for no in item_numbers],
        questions=[items[no][2] for no in item_numbers],
    )


def read_excalibur(dtt_path: str | Path, rls_path: str | Path) -> CookeData:
    """Read an Excalibur case from its .dtt and .rls files."""
    dtt, rls = Path(dtt_path), Path(rls_path)
    try:
        dtt_text = dtt.read_text(errors="replace")
        rls_text = rls.read_text(errors="replace")
    except OSError as error:
        raise InputError(f"cannot read {error.filename}: {error.strerror}") from None
    return parse_excalibur(dtt_text, rls_text, dtt_name=dtt.name, rls_name=rls.name)


# ---------------------------------------------------------------------------------------------
# Scores


@dataclass(frozen=True)
class ExpertScores:
    """Calibration and information of each expert (arrays in the order of `experts`)."""

    experts: tuple[str, ...]
    calibration: FloatArray
    information_total: FloatArray
    information_seed: FloatArray
    #: (experts, items); NaN where the expert gave no answer
    information_per_item: FloatArray
    #: (experts, quantiles + 1): realisations per inter-quantile bin
    bin_counts: npt.NDArray[np.int64]
    seeds_answered: npt.NDArray[np.int64]
    #: the N in 2 N I(s, p): the fewest seed items any expert answered
    n_effective: int
    #: calibration x seed information (the unnormalised global weight at alpha = 0)
    combined_score: FloatArray


@dataclass(frozen=True)
class _Prepared:
    """Everything the scores need, on the background scale (log where flagged)."""

    values: FloatArray  # (experts, items, K) log-transformed on log items
    lower: FloatArray  # (items,) intrinsic range with overshoot
    upper: FloatArray
    bin_p: FloatArray  # (K + 1,)
    answered: BoolArray  # (experts, items)


def _prepare(data: CookeData, overshoot: float) -> _Prepared:
    if not overshoot >= 0:
        raise InputError(f"overshoot must be non-negative: {overshoot}")
    values = data.assessments.copy()
    values[:, data.log_scale, :] = np.log(values[:, data.log_scale, :])
    real = data.realizations.copy()
    real[data.log_scale] = np.log(real[data.log_scale])
    answered: BoolArray = np.asarray(~np.isnan(values).any(axis=2))
    if not answered.any(axis=0).all():
        item = data.items[int(np.flatnonzero(~answered.any(axis=0))[0])]
        raise InputError(f"item {item}: no expert answered it")
    low = np.fmin(np.nanmin(values, axis=(0, 2)), real)
    high = np.fmax(np.nanmax(values, axis=(0, 2)), real)
    span = high - low
    edges = np.concatenate(([0.0], data.levels, [1.0]))
    return _Prepared(
        values, low - overshoot * span, high + overshoot * span, np.diff(edges), answered
    )


def _information(quantiles: FloatArray, prepared: _Prepared) -> FloatArray:
    """Relative information per (row, item) of quantiles (rows, items, K) on the background."""
    rows = quantiles.shape[0]
    lower = np.broadcast_to(prepared.lower[None, :, None], (rows, quantiles.shape[1], 1))
    upper = np.broadcast_to(prepared.upper[None, :, None], (rows, quantiles.shape[1], 1))
    widths = np.diff(np.concatenate((lower, quantiles, upper), axis=2), axis=2)
    p = prepared.bin_p
    with np.errstate(divide="ignore", invalid="ignore"):
        result: FloatArray = np.log(prepared.upper - prepared.lower)[None, :] + (
            p * np.log(p / widths)
        ).sum(axis=2)
    return result


def _bin_counts(
    raw_quantiles: FloatArray, realizations: FloatArray, seed: BoolArray
) -> npt.NDArray[np.int64]:
    """(rows, K + 1) counts of seed realisations per bin; a tie goes to the bin below."""
    quantiles = raw_quantiles[:, seed, :]
    real = realizations[seed]
    answered = ~np.isnan(quantiles).any(axis=2)
    below = (quantiles < real[None, :, None]).sum(axis=2)  # quantiles strictly below
    n_bins = quantiles.shape[2] + 1
    counts = np.zeros((quantiles.shape[0], n_bins), dtype=np.int64)
    for b in range(n_bins):
        counts[:, b] = ((below == b) & answered).sum(axis=1)
    return counts


def _calibration(
    counts: npt.NDArray[np.int64], bin_p: FloatArray, n_effective: int, power: float
) -> FloatArray:
    """1 - chi2.cdf(2 N I(s, p) power, K) per row of bin counts."""
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = counts / totals
        terms = np.where(s > 0, s * np.log(s / bin_p), 0.0)
    relative_information = terms.sum(axis=1)
    statistic = 2.0 * n_effective * relative_information * power
    calibration: FloatArray = scipy.special.chdtrc(len(bin_p) - 1, statistic)
    return calibration


def _mean_over(values: FloatArray, mask: BoolArray) -> FloatArray:
    """Row means over the masked columns, ignoring NaN (unanswered items)."""
    chosen = np.where(mask[None, :], values, np.nan)
    count = (~np.isnan(chosen)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        result: FloatArray = np.nansum(chosen, axis=1) / count
    return result


def _scores(data: CookeData, prepared: _Prepared, power: float) -> ExpertScores:
    information = _information(prepared.values, prepared)
    information[~prepared.answered] = np.nan
    counts = _bin_counts(data.assessments, data.realizations, data.is_seed)
    answered = counts.sum(axis=1)
    n_effective = int(answered.min())
    if n_effective == 0:
        expert = data.experts[int(np.argmin(answered))]
        raise InputError(f"expert {expert} answered no seed item: calibration is undefined")
    calibration = _calibration(counts, prepared.bin_p, n_effective, power)
    seed_information = _mean_over(information, data.is_seed)
    return ExpertScores(
        experts=data.experts,
        calibration=calibration,
        information_total=_mean_over(information, np.ones(len(data.items), dtype=bool)),
        information_seed=seed_information,
        information_per_item=information,
        bin_counts=counts,
        seeds_answered=answered,
        n_effective=n_effective,
        combined_score=calibration * seed_information,
    )


def score_experts(
    data: CookeData, *, overshoot: float = DEFAULT_OVERSHOOT, calibration_power: float = 1.0
) -> ExpertScores:
    """Calibration, information (total, seed and per item) and C x I of every expert."""
    return _scores(data, _prepare(data, overshoot), calibration_power)


# ---------------------------------------------------------------------------------------------
# Decision makers


@dataclass(frozen=True)
class DecisionMaker:
    """A combined expert: its quantiles per item, its scores, and how it was weighted."""

    weight_type: WeightType
    #: the calibration threshold used (the optimum when `optimised`)
    alpha: float
    optimised: bool
    #: (items, quantiles) on the items' own scale
    quantiles: FloatArray
    calibration: float
    information_total: float
    information_seed: float
    #: C x I_seed x [C >= alpha], the DM's own unnormalised weight
    combined_score: float
    #: (experts, items): each expert's weight in each item's mixture (columns sum to 1)
    weights: FloatArray
    #: (alpha tried, DM combined score) for each candidate when optimised
    candidates: tuple[tuple[float, float], ...]
    experts: ExpertScores


def _weights(
    weight_type: WeightType,
    scores: ExpertScores,
    alphas: FloatArray,
    answered: BoolArray,
    user_weights: FloatArray | None,
) -> FloatArray:
    """(alphas, experts, items) normalised weights; unanswered items get weight 0."""
    n_experts, n_items = answered.shape
    cal = scores.calibration
    above = (cal[None, :] >= alphas[:, None]).astype(np.float64)  # (alphas, experts)
    if weight_type == "global":
        raw = (cal * scores.information_seed)[None, :, None] * above[:, :, None]
        raw = np.broadcast_to(raw, (len(alphas), n_experts, n_items)).copy()
    elif weight_type == "item":
        info = np.nan_to_num(scores.information_per_item)
        raw = cal[None, :, None] * info[None, :, :] * above[:, :, None]
    elif weight_type == "equal":
        raw = np.ones((len(alphas), n_experts, n_items))
    else:
        if user_weights is None:
            raise InputError("user weights were asked for but not given")
        raw = np.broadcast_to(user_weights[None, :, None], (len(alphas), n_experts, n_items)).copy()
    raw[:, ~answered] = 0.0
    totals = raw.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        weights: FloatArray = raw / totals
    return weights


#: experts whose CDFs are tabulated on the grid at once (bounds the memory of a large panel)
_CDF_ROWS = 256


def _mixture_quantiles(prepared: _Prepared, levels: FloatArray, weights: FloatArray) -> FloatArray:
    """(alphas, items, K) quantiles of the weighted mixture of piecewise-uniform CDFs."""
    n_alphas, _, n_items = weights.shape
    knots_y = np.concatenate(([0.0], levels, [1.0]))
    out = np.empty((n_alphas, n_items, len(levels)))
    for i in range(n_items):
        rows = np.flatnonzero(prepared.answered[:, i])
        answers = prepared.values[rows, i, :]
        grid = np.concatenate(([prepared.lower[i]], np.unique(answers), [prepared.upper[i]]))
        mixture = np.zeros((n_alphas, len(grid)))
        # the experts' CDFs on the grid a slice of experts at a time: all at once they are
        # experts x grid, and the grid grows with the experts (gigabytes for thousands)
        for start in range(0, len(rows), _CDF_ROWS):
            chunk = answers[start : start + _CDF_ROWS]
            cdf = np.empty((len(chunk), len(grid)))
            for r, row in enumerate(chunk):
                knots_x = np.concatenate(([prepared.lower[i]], row, [prepared.upper[i]]))
                cdf[r] = np.interp(grid, knots_x, knots_y)
            mixture += weights[:, rows[start : start + _CDF_ROWS], i] @ cdf  # (alphas, grid)
        for a in range(n_alphas):
            out[a, i] = np.interp(levels, mixture[a], grid)
    return out


def decision_maker(
    data: CookeData,
    *,
    weights: WeightType = "global",
    alpha: float | None = None,
    user_weights: Sequence[float] | None = None,
    overshoot: float = DEFAULT_OVERSHOOT,
    calibration_power: float = 1.0,
) -> DecisionMaker:
    """The decision maker for a weighting scheme; alpha=None optimises the threshold.

    "global" and "item" are Cooke's performance weights, "equal" gives every expert the same
    weight, "user" takes `user_weights` (e.g. self-rated expertise; normalised here). With
    equal or user weights alpha plays no part unless given.
    """
    if weights not in ("global", "item", "equal", "user"):
        raise InputError(f"weights must be global, item, equal or user: {weights!r}")
    prepared = _prepare(data, overshoot)
    scores = _scores(data, prepared, calibration_power)
    user: FloatArray | None = None
    if weights == "user":
        user = np.asarray(user_weights if user_weights is not None else [], dtype=np.float64)
        if user.shape != (len(data.experts),) or (user < 0).any() or not user.sum() > 0:
            raise InputError(
                f"user_weights: {len(data.experts)} non-negative numbers, not all 0, are needed"
            )
    if alpha is not None:
        if weights in ("global", "item") and alpha > scores.calibration.max():
            raise InputError(
                f"alpha {alpha} is above every expert's calibration (max {scores.calibration.max():.6g}): "
                "no expert would count"
            )
        alphas = np.array([alpha], dtype=np.float64)
    elif weights in ("global", "item"):
        alphas = np.unique(scores.calibration)
    else:
        alphas = np.array([0.0])
    weight_array = _weights(weights, scores, alphas, prepared.answered, user)
    quantiles = _mixture_quantiles(prepared, data.levels, weight_array)
    information = _information(quantiles.reshape(-1, len(data.items), len(data.levels)), prepared)
    raw = quantiles.copy()
    raw[:, data.log_scale, :] = np.exp(raw[:, data.log_scale, :])
    counts = _bin_counts(raw, data.realizations, data.is_seed)
    calibration = _calibration(counts, prepared.bin_p, scores.n_effective, calibration_power)
    all_items = np.ones(len(data.items), dtype=bool)
    information_seed = _mean_over(information, data.is_seed)
    combined = calibration * information_seed * (calibration >= alphas)
    best = int(np.argmax(combined))
    return DecisionMaker(
        weight_type=weights,
        alpha=float(alphas[best]),
        optimised=alpha is None and weights in ("global", "item"),
        quantiles=raw[best],
        calibration=float(calibration[best]),
        information_total=float(_mean_over(information, all_items)[best]),
        information_seed=float(information_seed[best]),
        combined_score=float(combined[best]),
        weights=weight_array[best],
        candidates=tuple((float(a), float(c)) for a, c in zip(alphas, combined, strict=True)),
        experts=scores,
    )
