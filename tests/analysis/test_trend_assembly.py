"""Trend assembly: events for trend_impact, the clipped forecast and its bootstrap interval."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.bootstrap import expected_trend_intervals
from analysis.tia import ImpactProfile, TrendEvent
from analysis.trend_assembly import (
    ForecastYear,
    TiaEvent,
    clipped_forecast,
    expected_interval,
    forecast_years,
    tia_events,
    trend_event,
)

PROFILE = {"t1": -1.0, "t2": 4.0, "t3": 2.0, "i_max": 10.0, "i_ss": 5.0}


def _forecast() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "year": [2025, 2026, 2027],
            "baseline": [90.0, 95.0, 105.0],
            "expected": [91.0, 99.0, 110.0],
            "mean": [91.0, 99.0, 110.0],
            "p10": [-5.0, 90.0, 100.0],
            "p50": [91.0, 99.0, 108.0],
            "p90": [95.0, 104.0, 120.0],
        }
    )


def test_trend_event_orders_the_timing_medians_for_the_simulation() -> None:
    expert = ImpactProfile(t1=1, t2=2, t3=3, i_max=1, i_ss=1, kind="absolute")
    event, (key, row, points) = trend_event(
        "E01", PROFILE, [(2030, 0.4), (2027, 0.2)], [expert], "relative"
    )
    assert (event.impact.t1, event.impact.t2, event.impact.t3) == (0.0, 4.0, 4.0)
    assert (event.impact.i_max, event.impact.i_ss, event.impact.kind) == (10.0, 5.0, "relative")
    assert event.probabilities == ((2027, 0.2), (2030, 0.4)) == points
    assert event.profiles == (expert,)
    assert key == "E01" and row["i_max"] == 10.0


def test_clipped_forecast_holds_the_simulated_columns_and_leaves_its_input() -> None:
    forecast = _forecast()
    clipped = clipped_forecast(forecast, (0.0, 100.0))
    assert forecast.equals(_forecast())
    for column in ("expected", "mean", "p10", "p50", "p90"):
        assert clipped[column].between(0.0, 100.0).all()
    # the baseline is the facilitators' and the extrapolation's; it is not clipped here
    assert clipped["baseline"].tolist() == [90.0, 95.0, 105.0]
    assert clipped["p10"].tolist() == [0.0, 90.0, 100.0]
    assert clipped_forecast(forecast, (None, None)).equals(forecast)
    assert clipped_forecast(forecast, (None, 100.0))["p10"].tolist() == [-5.0, 90.0, 100.0]


def test_expected_interval_is_the_bootstrap_over_experts_clipped() -> None:
    profiles = {
        "E01": {
            "a": ImpactProfile(0, 1, 2, 10, 5, "absolute"),
            "b": ImpactProfile(0, 1, 2, 30, 20, "absolute"),
            "c": ImpactProfile(0, 1, 2, -5, 0, "absolute"),
        }
    }
    events = [TrendEvent("E01", ((2026, 0.5),), ImpactProfile(0, 1, 2, 10, 5, "absolute"))]
    baseline = np.array([90.0, 95.0, 100.0])
    occurrence = pd.DataFrame({"E01": [0.2, 0.5, 0.6]})
    lower, upper = expected_interval(
        baseline,
        occurrence,
        events,
        profiles,
        relative=False,
        resamples=200,
        seed=3,
        bounds=(None, None),
        level=0.9,
    )
    _whole, want_lower, want_upper, _info = expected_trend_intervals(
        baseline,
        occurrence[["E01"]].to_numpy().T,
        [tuple(profiles["E01"].values())],
        [tuple(profiles["E01"])],
        relative=False,
        resamples=200,
        seed=3,
        level=0.9,
        statistic="mean",
    )
    assert lower is not None and upper is not None
    assert lower.tolist() == want_lower.tolist() and upper.tolist() == want_upper.tolist()
    assert (lower < upper).any()
    held_lower, held_upper = expected_interval(
        baseline,
        occurrence,
        events,
        profiles,
        relative=False,
        resamples=200,
        seed=3,
        bounds=(None, 100.0),
        level=0.9,
    )
    assert held_upper is not None and held_upper.max() <= 100.0
    assert held_lower is not None and held_lower.tolist() == np.minimum(lower, 100.0).tolist()


def test_no_expected_interval_without_every_events_profiles_or_resamples() -> None:
    events = [
        TrendEvent("E01", ((2026, 0.5),), ImpactProfile(0, 1, 2, 10, 5, "absolute")),
        TrendEvent("E02", ((2026, 0.5),), ImpactProfile(0, 1, 2, 10, 5, "absolute")),
    ]
    profiles = {"E01": {"a": ImpactProfile(0, 1, 2, 10, 5, "absolute")}, "E02": {}}
    occurrence = pd.DataFrame({"E01": [0.5], "E02": [0.5]})
    kwargs = {"relative": False, "seed": 1, "bounds": (None, None), "level": 0.9}
    assert expected_interval(
        np.array([1.0]), occurrence, events, profiles, resamples=50, **kwargs
    ) == (None, None)
    assert expected_interval(
        np.array([1.0]), occurrence, events[:1], profiles, resamples=0, **kwargs
    ) == (None, None)


def test_forecast_years_and_reported_events() -> None:
    years = forecast_years(_forecast(), None, None)
    assert years[0] == ForecastYear(2025, 90.0, 91.0, -5.0, 91.0, 95.0)
    with_interval = forecast_years(
        _forecast(), np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])
    )
    assert (with_interval[2].expected_lower, with_interval[2].expected_upper) == (3.0, 6.0)
    assert with_interval[2].as_dict()["p90"] == 120.0
    _event, row = trend_event("E01", PROFILE, [(2027, 0.2)], [], "absolute")
    (reported,) = tia_events([row], pd.Series({"E01": np.float64(2.5)}))
    assert reported == TiaEvent("E01", ((2027, 0.2),), -1.0, 4.0, 2.0, 10.0, 5.0, 2.5)
    assert type(reported.contribution) is float
