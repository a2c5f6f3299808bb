"""A trend's impact analysis assembled for reporting: the events as they entered it, the forecast
per year, the forecast held within the scale's ends and the bootstrap interval (over experts) of
the expected forecast.

The service (app/services/trend_results.py) reads the panel's estimates, runs
analysis.tia.trend_impact and calls these; everything here is pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.bootstrap import expected_trend_intervals
from analysis.jsonable import finite
from analysis.tia import ImpactProfile, TrendEvent

#: the forecast columns held within the ends of the trend's scale
BOUNDED_COLUMNS = ("expected", "mean", "p10", "p50", "p90")

Bounds = tuple[float | None, float | None]
#: (event key, the panel's profile medians as reported, its (year, probability) points)
UsedEvent = tuple[str, dict[str, float], tuple[tuple[int, float], ...]]


@dataclass(frozen=True)
class TiaEvent:
    """An event as it enters a trend's impact analysis."""

    key: str
    #: (year, P(occurred by then)) from the pooled estimates
    probabilities: tuple[tuple[int, float], ...]
    #: medians of the panel's impact profile: years to first impact, to maximum, to steady state
    t1: float
    t2: float
    t3: float
    i_max: float
    i_ss: float
    #: expected change of the trend by the end year, in the trend's units
    contribution: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "key": self.key,
            "probabilities": [[y, finite(p)] for y, p in self.probabilities],
            "t1": self.t1,
            "t2": self.t2,
            "t3": self.t3,
            "i_max": self.i_max,
            "i_ss": self.i_ss,
            "contribution": finite(self.contribution),
        }


@dataclass(frozen=True)
class ForecastYear:
    """The trend in one year: baseline, expected forecast and the Monte Carlo band."""

    year: int
    baseline: float
    expected: float
    low: float  #: 10 % quantile of the simulated trajectories
    median: float
    high: float  #: 90 % quantile
    #: bootstrap interval of the expected forecast (the experts resampled), if there are profiles
    expected_lower: float | None = None
    expected_upper: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "year": self.year,
            "baseline": finite(self.baseline),
            "expected": finite(self.expected),
            "p10": finite(self.low),
            "p50": finite(self.median),
            "p90": finite(self.high),
            "expected_lower": finite(self.expected_lower),
            "expected_upper": finite(self.expected_upper),
        }


def trend_event(
    key: str,
    profile: Mapping[str, float],
    points: Sequence[tuple[int, float]],
    experts: Sequence[ImpactProfile],
    kind: Literal["relative", "absolute"],
) -> tuple[TrendEvent, UsedEvent]:
    """An event for trend_impact from the panel's profile medians, and the row that reports it.

    Medians of t1, t2, t3 taken separately need not be ordered: the simulated impact raises each
    to the one before it (t1 to at least 0). The reported row keeps the medians as the panel
    gave them (the profile's own t1-t3 override the ordered ones in the merged mapping)."""
    t1 = max(0.0, profile["t1"])
    t2 = max(t1, profile["t2"])
    t3 = max(t2, profile["t3"])
    ordered = tuple(sorted(points))
    event = TrendEvent(
        key=key,
        probabilities=ordered,
        impact=ImpactProfile(
            t1=t1, t2=t2, t3=t3, i_max=profile["i_max"], i_ss=profile["i_ss"], kind=kind
        ),
        profiles=tuple(experts),
    )
    return event, (key, {"t1": t1, "t2": t2, "t3": t3, **profile}, ordered)


def clipped_forecast(forecast: pd.DataFrame, bounds: Bounds) -> pd.DataFrame:
    """trend_impact's forecast with its simulated columns held within the scale's ends."""
    if bounds == (None, None):
        return forecast
    clipped = forecast.copy()
    for column in BOUNDED_COLUMNS:
        clipped[column] = clipped[column].clip(bounds[0], bounds[1])
    return clipped


def expected_interval(
    baseline: npt.NDArray[np.float64],
    occurrence: pd.DataFrame,
    events: Sequence[TrendEvent],
    named_profiles: Mapping[str, Mapping[str, ImpactProfile]],
    *,
    relative: bool,
    resamples: int,
    seed: int,
    bounds: Bounds,
    level: float,
) -> tuple[npt.NDArray[np.float64] | None, npt.NDArray[np.float64] | None]:
    """Bootstrap interval (over experts) of the expected forecast, or (None, None).

    None unless every event has per-expert profiles and resamples > 0."""
    chosen = [e for e in events if named_profiles.get(e.key)]
    if resamples <= 0 or not chosen or len(chosen) != len(events):
        return None, None
    _whole, lower, upper, _info = expected_trend_intervals(
        baseline,
        occurrence[[e.key for e in chosen]].to_numpy().T,
        [tuple(named_profiles[e.key].values()) for e in chosen],
        [tuple(named_profiles[e.key]) for e in chosen],
        relative=relative,
        resamples=resamples,
        seed=seed,
        level=level,
        statistic="mean",
    )
    if bounds != (None, None):
        lower, upper = np.clip(lower, *bounds), np.clip(upper, *bounds)
    return lower, upper


def forecast_years(
    table: pd.DataFrame,
    lower: npt.NDArray[np.float64] | None,
    upper: npt.NDArray[np.float64] | None,
) -> tuple[ForecastYear, ...]:
    """One ForecastYear per row of trend_impact's forecast, with the expected forecast's interval."""
    return tuple(
        ForecastYear(
            year=int(row["year"]),
            baseline=float(row["baseline"]),
            expected=float(row["expected"]),
            low=float(row["p10"]),
            median=float(row["p50"]),
            high=float(row["p90"]),
            expected_lower=None if lower is None else float(lower[i]),
            expected_upper=None if upper is None else float(upper[i]),
        )
        for i, (_, row) in enumerate(table.iterrows())
    )


def tia_events(used: Sequence[UsedEvent], last: pd.Series) -> tuple[TiaEvent, ...]:
    """The events as reported, with their contributions by the end year (`last`, a row of
    trend_impact's contributions)."""
    return tuple(
        TiaEvent(
            key=key,
            probabilities=points,
            t1=profile["t1"],
            t2=profile["t2"],
            t3=profile["t3"],
            i_max=profile["i_max"],
            i_ss=profile["i_ss"],
            contribution=float(last[key]),
        )
        for key, profile, points in used
    )
