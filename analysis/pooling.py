"""Pooling expert probabilities into one (methods.md section 3).

Probabilities are shares in [0, 1]. Log-odds methods clip them to [eps, 1 - eps] first (a single
0 or 1 would otherwise decide the pool alone); every Pooled result records its method, weights,
eps and extremizing factor a, so that anyone can recompute it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import scipy

from analysis.errors import InputError

FloatArray: TypeAlias = npt.NDArray[np.float64]
Method: TypeAlias = Literal["linear", "median", "trimmed", "logodds", "extremized", "baron"]
METHODS: tuple[str, ...] = ("linear", "median", "trimmed", "logodds", "extremized", "baron")
DEFAULT_EPS = 1e-3


@dataclass(frozen=True)
class Pooled:
    """A pooled probability and everything needed to recompute it."""

    p: float
    method: str
    #: normalised weights, in the experts' order
    weights: tuple[float, ...]
    eps: float
    a: float
    n: int
    trim: float | None = None


def _probabilities(p: npt.ArrayLike) -> FloatArray:
    try:
        values = np.asarray(p, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("probabilities must be numbers in [0, 1]") from None
    if values.ndim != 1 or len(values) == 0:
        raise InputError("pool needs a non-empty list of probabilities")
    bad = ~((values >= 0) & (values <= 1))  # NaN counts as bad
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"probability {i} is {float(values[i]):g}: must be in [0, 1]")
    return values


def normalise_weights(weights: npt.ArrayLike | None, n: int) -> FloatArray:
    """Weights summing to 1 (equal when None); InputError naming a bad one."""
    if weights is None:
        return np.full(n, 1.0 / n)
    try:
        values = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("weights must be numbers") from None
    if values.shape != (n,):
        raise InputError(f"{values.size} weights for {n} probabilities")
    bad = ~((values >= 0) & np.isfinite(values))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"weight {i} is {float(values[i]):g}: must be a non-negative number")
    total = values.sum()
    if total <= 0:
        raise InputError("weights are all zero")
    normalised: FloatArray = values / total
    return normalised


def expertise_weights(ratings: Sequence[float], *, low: float = 1.0) -> FloatArray:
    """Self-rated expertise as weights: rating minus the scale's low end plus one, normalised.

    So on a 1..5 self-rating an expert who says 5 counts five times one who says 1 (a
    sensitivity analysis, not a measure of performance: use Cooke's weights for that).
    """
    values = np.asarray(ratings, dtype=np.float64)
    bad = ~(np.isfinite(values) & (values >= low))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"expertise rating {i} is {float(values[i]):g}: must be at least {low:g}")
    return normalise_weights(values - low + 1.0, len(values))


def logit(p: npt.ArrayLike, eps: float = DEFAULT_EPS) -> FloatArray:
    """Log-odds of p clipped to [eps, 1 - eps]."""
    clipped = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    result: FloatArray = scipy.special.logit(clipped)
    return result


def weighted_median(values: FloatArray, weights: FloatArray) -> float:
    """The value where cumulative weight reaches one half; halfway between two values when it
    lands exactly on the boundary (so equal weights give the ordinary median)."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order] / weights.sum()
    cumulative = np.cumsum(w)
    index = int(np.searchsorted(cumulative, 0.5 - 1e-12))
    if abs(cumulative[index] - 0.5) <= 1e-12 and index + 1 < len(v):
        following = index + 1
        while following < len(v) - 1 and w[following] == 0:
            following += 1
        return float((v[index] + v[following]) / 2.0)
    return float(v[index])


def pool(
    p: npt.ArrayLike,
    *,
    method: str = "logodds",
    weights: npt.ArrayLike | None = None,
    eps: float = DEFAULT_EPS,
    a: float = 1.0,
    trim: float = 0.1,
) -> Pooled:
    """Pool the experts' probabilities of one event.

    linear: sum w_i p_i. median: weighted median. trimmed: scipy's trim_mean cutting `trim` from
    each end (unweighted). logodds (default): sigmoid(sum w_i logit p_i), the weighted geometric
    mean of odds. extremized (Satopaa et al. 2014): sigmoid(a sum w_i logit p_i). baron (Baron et
    al. 2014): the linear pool p pushed out by p^a / (p^a + (1 - p)^a).
    """
    values = _probabilities(p)
    if method not in METHODS:
        raise InputError(f"unknown pooling method {method!r}; use one of {', '.join(METHODS)}")
    if not 0 < eps < 0.5:
        raise InputError(f"eps must be in (0, 0.5): {eps}")
    if not (math.isfinite(a) and a > 0):
        raise InputError(f"the extremizing factor a must be positive: {a}")
    w = normalise_weights(weights, len(values))
    used_trim: float | None = None
    if method == "linear":
        pooled = float(w @ values)
    elif method == "median":
        pooled = weighted_median(values, w)
    elif method == "trimmed":
        if weights is not None and not np.allclose(w, w[0]):
            raise InputError("the trimmed mean takes no weights: use median or linear instead")
        if not 0 <= trim < 0.5:
            raise InputError(f"trim must be in [0, 0.5): {trim}")
        pooled = float(scipy.stats.trim_mean(values, trim))
        used_trim = trim
    elif method == "baron":
        mean = float(w @ values)
        pooled = mean**a / (mean**a + (1.0 - mean) ** a)
    else:
        factor = a if method == "extremized" else 1.0
        pooled = float(scipy.special.expit(factor * (w @ logit(values, eps))))
    return Pooled(
        p=pooled,
        method=method,
        weights=tuple(np.asarray(w, dtype=np.float64).tolist()),
        eps=eps,
        a=a if method in ("extremized", "baron") else 1.0,
        n=len(values),
        trim=used_trim,
    )


def _question_logodds(
    probabilities: FloatArray, weights: FloatArray | None, eps: float
) -> FloatArray:
    """Weighted mean log-odds per question (row); NaN entries are experts who did not answer."""
    answered = ~np.isnan(probabilities)
    w = np.ones(probabilities.shape[1]) if weights is None else weights
    row_weights = np.where(answered, w[None, :], 0.0)
    totals = row_weights.sum(axis=1)
    if (totals <= 0).any():
        q = int(np.flatnonzero(totals <= 0)[0])
        raise InputError(f"question {q}: no expert with a positive weight answered it")
    z = np.where(answered, logit(np.nan_to_num(probabilities), eps), 0.0)
    result: FloatArray = (row_weights * z).sum(axis=1) / totals
    return result


def fit_extremizing(
    probabilities: npt.ArrayLike,
    outcomes: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    eps: float = DEFAULT_EPS,
    bounds: tuple[float, float] = (1e-3, 100.0),
) -> float:
    """Maximum-likelihood a for sigmoid(a * mean log-odds) on resolved questions.

    `probabilities` is questions x experts (NaN: no answer), `outcomes` 0/1 per question.
    The log-likelihood is concave in a, so the bounded scalar search finds the optimum.
    """
    matrix = np.asarray(probabilities, dtype=np.float64)
    if matrix.ndim != 2:
        raise InputError("probabilities must be a questions x experts table")
    answered = ~np.isnan(matrix)
    bad = answered & ~((matrix >= 0) & (matrix <= 1))
    if bad.any():
        q, e = (int(v) for v in np.argwhere(bad)[0])
        raise InputError(
            f"question {q}, expert {e}: probability {float(matrix[q, e]):g} not in [0, 1]"
        )
    y = np.asarray(outcomes, dtype=np.float64)
    if y.shape != (matrix.shape[0],):
        raise InputError(f"{y.size} outcomes for {matrix.shape[0]} questions")
    if not np.isin(y, (0.0, 1.0)).all():
        q = int(np.flatnonzero(~np.isin(y, (0.0, 1.0)))[0])
        raise InputError(f"outcome {q} is {float(y[q]):g}: must be 0 or 1")
    w = None if weights is None else normalise_weights(weights, matrix.shape[1])
    z = _question_logodds(matrix, w, eps)
    if not np.any(z != 0):
        raise InputError("every pooled forecast is 50 %: a cannot be fitted")

    def negative_log_likelihood(a: float) -> float:
        # log sigmoid(t) = -log(1 + exp(-t)), computed stably
        t = a * z
        return float(np.sum(np.logaddexp(0.0, -t) * y + np.logaddexp(0.0, t) * (1.0 - y)))

    result = scipy.optimize.minimize_scalar(
        negative_log_likelihood, bounds=bounds, method="bounded", options={"xatol": 1e-10}
    )
    return float(result.x)
