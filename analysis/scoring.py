"""Scoring forecasts once their outcomes are known: Brier and log scores, interval hits.

Both scores are losses (lower is better), averaged over the resolved forecasts:

- Brier score (Brier 1950, two-outcome form): (p - o)^2 with o = 1 if the event occurred, else
  0; 0 is perfect, 0.25 is what "50 %" on everything earns, 1 is certainly wrong.
- Log score: -ln(p) if the event occurred, -ln(1 - p) if not, natural logarithm, with p first
  clipped to [eps, 1 - eps] (eps = 1e-3 by default, the pooling's own clipping constant), so
  one forecast of 0 % or 100 % that turns out wrong costs -ln(eps) = 6.91 instead of infinity.
  ln 2 = 0.693 is what "50 %" on everything earns.

Trend values are scored by whether the realised value falls inside the expert's central
interval (e.g. 5 % to 95 %) and by the quantile (pinball) loss averaged over the levels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from analysis.errors import InputError

FloatArray: TypeAlias = npt.NDArray[np.float64]

#: the log score's default clipping: the same eps as log-odds pooling
DEFAULT_EPS = 1e-3


def _checked(p: npt.ArrayLike, outcomes: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Probabilities in [0, 1] and 0/1 outcomes of the same length; InputError naming a bad one."""
    try:
        probabilities = np.atleast_1d(np.asarray(p, dtype=np.float64))
        occurred = np.atleast_1d(np.asarray(outcomes, dtype=np.float64))
    except (TypeError, ValueError):
        raise InputError("forecasts and outcomes must be numbers") from None
    if probabilities.ndim != 1 or probabilities.shape != occurred.shape:
        raise InputError(f"{probabilities.size} forecasts for {occurred.size} outcomes")
    bad = ~((probabilities >= 0) & (probabilities <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"forecast {i} is {float(probabilities[i]):g}: must be in [0, 1]")
    not_binary = ~np.isin(occurred, (0.0, 1.0))
    if not_binary.any():
        i = int(np.flatnonzero(not_binary)[0])
        raise InputError(f"outcome {i} is {float(occurred[i]):g}: must be 0 or 1")
    return probabilities, occurred


def brier(p: npt.ArrayLike, outcomes: npt.ArrayLike) -> FloatArray:
    """Brier score (p - o)^2 of each forecast."""
    probabilities, occurred = _checked(p, outcomes)
    result: FloatArray = (probabilities - occurred) ** 2
    return result


def log_score(p: npt.ArrayLike, outcomes: npt.ArrayLike, *, eps: float = DEFAULT_EPS) -> FloatArray:
    """Log score -ln(p) or -ln(1 - p) of each forecast, p clipped to [eps, 1 - eps]."""
    if not 0 < eps < 0.5:
        raise InputError(f"eps must be in (0, 0.5): {eps}")
    probabilities, occurred = _checked(p, outcomes)
    clipped = np.clip(probabilities, eps, 1.0 - eps)
    result: FloatArray = -np.where(occurred == 1.0, np.log(clipped), np.log1p(-clipped))
    return result


@dataclass(frozen=True)
class ForecastScore:
    """Mean Brier and log scores over n resolved forecasts (None when n is 0)."""

    n: int
    brier: float | None
    log: float | None
    eps: float


def score_forecasts(
    p: Sequence[float], outcomes: Sequence[float], *, eps: float = DEFAULT_EPS
) -> ForecastScore:
    """Mean Brier and log scores of a set of forecasts of resolved events."""
    if len(p) == 0 and len(outcomes) == 0:
        return ForecastScore(n=0, brier=None, log=None, eps=eps)
    b = brier(p, outcomes)
    ln = log_score(p, outcomes, eps=eps)
    return ForecastScore(n=len(b), brier=float(b.mean()), log=float(ln.mean()), eps=eps)


def pinball(quantiles: Sequence[float], levels: Sequence[float], realised: float) -> float:
    """Mean quantile (pinball) loss of quantiles at `levels` (in (0, 1)) for a realised value."""
    q = np.asarray(quantiles, dtype=np.float64)
    tau = np.asarray(levels, dtype=np.float64)
    if q.shape != tau.shape or q.ndim != 1 or len(q) == 0:
        raise InputError(f"{q.size} quantiles for {tau.size} levels")
    if not ((tau > 0) & (tau < 1)).all():
        raise InputError(f"quantile levels must be inside (0, 1): {list(levels)}")
    if not (np.isfinite(q).all() and math.isfinite(realised)):
        raise InputError("quantiles and the realised value must be finite numbers")
    diff = realised - q
    return float(np.mean(np.maximum(tau * diff, (tau - 1.0) * diff)))


def inside_interval(quantiles: Sequence[float], realised: float) -> bool:
    """Whether the realised value lies within the outermost quantiles (ends included)."""
    if len(quantiles) < 2:
        raise InputError("an interval needs at least two quantiles")
    return bool(min(quantiles) <= realised <= max(quantiles))
