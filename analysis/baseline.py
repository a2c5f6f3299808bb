"""A trend's surprise-free baseline, extrapolated from its history with a prediction interval.

Method: ordinary least squares of value on year (a straight-line trend), which takes irregularly
spaced years as they come. The forecast for year t is the fitted line; its prediction interval is
the textbook one for a new observation (Student's t with n - 2 degrees of freedom, standard error
se(t) = sqrt(s^2 + se_mean(t)^2), the same as statsmodels' `obs_ci`, which the tests check). Holt's or ARIMA models need
evenly spaced and longer series than a Delphi trend usually has (three to ten points), so the
straight line is the honest model; with three points the interval is very wide, as it should be.

When the trend's scale has both ends (an index 0-100, a share), a straight line would run
through them (a share rising 15 points a year passes 100 % within a few years), so the line is
fitted on the logit scale instead: z = logit((y - low) / (high - low)), the same OLS and t
interval on z, and every figure mapped back with the logistic function (a logistic growth
curve, which flattens towards the ends of the scale rather than running into them). The
standard error passed on for simulated baseline paths is then the interval's half-width on the
original scale divided by the t quantile. With one end only, the straight line and its interval
are clipped to it, and the result says so. Fewer than MIN_POINTS points: no extrapolation
(InputError).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy

from analysis.errors import InputError

#: the fewest history points a line (and its residual variance) can be fitted to
MIN_POINTS = 3
#: history values at an end of a bounded scale are moved this share of the range inside it,
#: so that their logit is finite
EDGE = 0.005


@dataclass(frozen=True)
class BaselineForecast:
    """The extrapolated baseline by year, with its prediction interval."""

    years: tuple[int, ...]
    mean: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    #: standard error of a new observation (before any clipping)
    se: tuple[float, ...]
    #: degrees of freedom of the t distribution of the interval (n - 2)
    df: float
    level: float
    points: int
    slope: float
    method: str = "OLS linear trend, t prediction interval"
    clipped: bool = False

    @property
    def logistic(self) -> bool:
        """Whether the line was fitted on the logit scale (a bounded trend)."""
        return "logit" in self.method

    def as_mapping(self) -> dict[int, float]:
        """Year -> forecast value."""
        return dict(zip(self.years, self.mean, strict=True))

    def se_mapping(self) -> dict[int, float]:
        """Year -> standard error of a new observation."""
        return dict(zip(self.years, self.se, strict=True))


@dataclass(frozen=True)
class _LineFit:
    """Ordinary least squares of y on centred x: y = intercept + slope x + error."""

    intercept: float
    slope: float
    #: residual variance s^2 (n - 2 degrees of freedom)
    scale: float
    df: int
    n: int
    sxx: float

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray) -> _LineFit:
        """Fit the line; x must be centred (mean 0) and not all equal."""
        sxx = float(np.dot(x, x))
        if sxx <= 0.0:
            raise InputError("history needs at least two different years")
        slope = float(np.dot(x, y - y.mean())) / sxx
        intercept = float(y.mean())
        residuals = y - (intercept + slope * x)
        df = len(x) - 2
        return cls(intercept, slope, float(np.dot(residuals, residuals)) / df, df, len(x), sxx)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The fitted line at x and the standard error of a new observation there."""
        mean = self.intercept + self.slope * x
        se_mean_squared = self.scale * (1.0 / self.n + x**2 / self.sxx)
        return mean, np.sqrt(self.scale + se_mean_squared)


def extrapolate_baseline(
    history: Mapping[int, float],
    *,
    start_year: int,
    end_year: int,
    level: float = 0.8,
    bounds: tuple[float | None, float | None] = (None, None),
) -> BaselineForecast:
    """Fit a straight line to the history and forecast start_year..end_year with its interval."""
    if end_year < start_year:
        raise InputError(f"end_year ({end_year}) is before start_year ({start_year})")
    if not 0.0 < level < 1.0:
        raise InputError(f"level must be between 0 and 1, not {level!r}")
    pairs = sorted((int(y), float(v)) for y, v in history.items())
    if len(pairs) < MIN_POINTS:
        raise InputError(
            f"{len(pairs)} history point(s): at least {MIN_POINTS} are needed to extrapolate"
        )
    x = np.array([p[0] for p in pairs], dtype=np.float64)
    y = np.array([p[1] for p in pairs], dtype=np.float64)
    if not np.isfinite(y).all():
        raise InputError("history values must be finite numbers")
    low, high = bounds
    ends = (low, high) if low is not None and high is not None and high > low else None
    if ends is not None:
        if ((y < ends[0]) | (y > ends[1])).any():
            raise InputError(
                f"history values must lie on the scale, between {ends[0]:g} and {ends[1]:g}"
            )
        share = np.clip((y - ends[0]) / (ends[1] - ends[0]), EDGE, 1.0 - EDGE)
        y = scipy.special.logit(share)
    centre = x.mean()  # centring the years keeps the design well conditioned
    fit = _LineFit.of(x - centre, y)
    years = np.arange(start_year, end_year + 1, dtype=np.float64)
    mean, se = fit.predict(years - centre)
    half = float(scipy.stats.t.ppf(0.5 + level / 2.0, fit.df)) * se
    lower, upper = mean - half, mean + half
    clipped = False
    method = "OLS linear trend, t prediction interval"
    if ends is not None:
        bottom, span = ends[0], ends[1] - ends[0]
        mean, lower, upper = (bottom + span * scipy.special.expit(a) for a in (mean, lower, upper))
        t = float(scipy.stats.t.ppf(0.5 + level / 2.0, fit.df))
        se = (upper - lower) / (2.0 * t)
        method = "OLS linear trend on the logit of the scale, t prediction interval"
    elif low is not None or high is not None:
        before = (mean.copy(), lower.copy(), upper.copy())
        mean, lower, upper = (np.clip(a, low, high) for a in (mean, lower, upper))
        clipped = any(
            not np.array_equal(b, a) for b, a in zip(before, (mean, lower, upper), strict=True)
        )
    return BaselineForecast(
        years=tuple(int(t) for t in years),
        mean=tuple(float(v) for v in mean),
        lower=tuple(float(v) for v in lower),
        upper=tuple(float(v) for v in upper),
        se=tuple(float(v) for v in se),
        df=float(fit.df),
        level=float(level),
        points=len(pairs),
        slope=fit.slope,
        method=method,
        clipped=clipped,
    )
