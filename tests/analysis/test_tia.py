"""Trend impact analysis: hand-computed expected values, Monte Carlo band, spec validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.errors import InputError
from analysis.tia import (
    CrossImpact,
    ImpactProfile,
    TrendEvent,
    cumulative_probability,
    tia_from_spec,
    trend_impact,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "analysis" / "examples"


def one_event(**impact: float) -> TrendEvent:
    profile = ImpactProfile(**{"t1": 1, "t2": 3, "t3": 5, "i_max": 0.2, "i_ss": 0.1, **impact})
    return TrendEvent("E1", ((2030, 0.5),), profile)


def test_impact_profile_shape() -> None:
    profile = ImpactProfile(t1=1, t2=3, t3=5, i_max=0.2, i_ss=0.1)
    assert profile.at([-1, 0, 1, 2, 3, 4, 5, 6, 30]) == pytest.approx(
        [0, 0, 0, 0.1, 0.2, 0.15, 0.1, 0.1, 0.1]
    )
    jump = ImpactProfile(t1=2, t2=2, t3=2, i_max=-3, i_ss=-1, kind="absolute")
    assert jump.at([1, 2, 3]) == pytest.approx([0, -3, -1])
    with pytest.raises(InputError, match="0 <= t1 <= t2 <= t3"):
        ImpactProfile(t1=3, t2=2, t3=4, i_max=1, i_ss=1)


def test_one_event_expected_values_by_hand() -> None:
    # P(by 2030) = 0.5, linear from 0 in 2025: q = 0.1 in each of 2026-2030. Impact by years
    # since occurrence d = 0, 1, ...: 0, 0, 0.1, 0.2, 0.15, 0.1, 0.1, ...
    # E[D(2028)] = q(2026) I(2) = 0.01; E[D(2029)] = 0.1 (0.2 + 0.1) = 0.03;
    # E[D(2030)] = 0.1 (0.15 + 0.2 + 0.1) = 0.045; E[D(2031)] = 0.1 (0.1+0.15+0.2+0.1) = 0.055;
    # then 0.065, 0.065, 0.055 and 0.05 in 2035, when all five years have settled at i_ss.
    result = trend_impact(
        {2025: 100.0, 2035: 100.0}, [one_event()], start_year=2025, end_year=2035, seed=1, runs=4000
    )
    forecast = result.forecast
    expected_change = [0, 0, 0, 0.01, 0.03, 0.045, 0.055, 0.065, 0.065, 0.055, 0.05]
    assert forecast["expected"].to_numpy() == pytest.approx(100 * (1 + np.array(expected_change)))
    assert result.contributions["E1"].to_numpy() == pytest.approx(100 * np.array(expected_change))
    assert result.occurrence["E1"].to_numpy() == pytest.approx(
        [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    )
    assert forecast.columns.tolist() == [
        "year",
        "baseline",
        "expected",
        "mean",
        "p10",
        "p50",
        "p90",
    ]
    # half the runs never see the event: the lower decile is the baseline
    assert forecast["p10"].to_numpy() == pytest.approx(np.full(11, 100.0))
    assert np.all(forecast["p10"] <= forecast["p50"]) and np.all(forecast["p50"] <= forecast["p90"])
    error = 100 * 0.2 / np.sqrt(result.runs)
    assert np.all(np.abs(forecast["mean"] - forecast["expected"]) < 4.5 * error)


def test_absolute_impacts_and_hazard_interpolation_by_hand() -> None:
    # hazard interpolation: P(by 2027) = 0.19 means a yearly survival of 0.9, so P(2026) = 0.1.
    # An absolute impact of -5 from the year of occurrence (t1 = t2 = 0) on a rising baseline.
    event = TrendEvent("X", ((2027, 0.19),), ImpactProfile(0, 0, 0, -5, -5, "absolute"))
    result = trend_impact(
        {2025: 10.0, 2027: 14.0},
        [event],
        start_year=2025,
        end_year=2027,
        seed=3,
        runs=2000,
        interpolation="hazard",
    )
    assert result.occurrence["X"].to_numpy() == pytest.approx([0, 0.1, 0.19])
    assert result.forecast["expected"].to_numpy() == pytest.approx([10, 12 - 0.5, 14 - 0.95])
    assert cumulative_probability(
        {2027: 1.0}, [2025, 2026, 2027, 2030], start_year=2025, interpolation="hazard"
    )[-1] == pytest.approx(1.0)


def test_a_certain_event_gives_a_band_of_zero_width() -> None:
    event = TrendEvent("S", ((2026, 1.0),), ImpactProfile(0, 1, 1, 0.5, 0.5))
    result = trend_impact(
        {2025: 2.0, 2028: 2.0}, [event], start_year=2025, end_year=2028, seed=0, runs=500
    )
    forecast = result.forecast
    # occurs in 2026 (d = 0, impact still 0), full +50 % from 2027
    assert forecast["expected"].to_numpy() == pytest.approx([2, 2, 3, 3])
    for column in ("mean", "p10", "p50", "p90"):
        assert forecast[column].to_numpy() == pytest.approx(forecast["expected"].to_numpy())


def two_events() -> list[TrendEvent]:
    return [
        TrendEvent("E2", ((2030, 0.3), (2035, 0.6)), ImpactProfile(0, 0, 2, -5, -2, "absolute")),
        one_event(),
    ]


def test_listing_events_in_another_order_changes_nothing() -> None:
    events = two_events()
    cross = [CrossImpact("E1", "E2", 0.9)]
    first = trend_impact(
        {2025: 100, 2035: 110},
        events,
        start_year=2025,
        end_year=2035,
        seed=4,
        runs=3000,
        cross_impacts=cross,
    )
    second = trend_impact(
        {2025: 100, 2035: 110},
        events[::-1],
        start_year=2025,
        end_year=2035,
        seed=4,
        runs=3000,
        cross_impacts=cross,
    )
    pd.testing.assert_frame_equal(first.forecast, second.forecast)
    pd.testing.assert_frame_equal(
        first.contributions[["year", "E1", "E2"]], second.contributions[["year", "E1", "E2"]]
    )


def test_seeded_runs_repeat_exactly() -> None:
    kwargs = {"start_year": 2025, "end_year": 2035, "runs": 2000}
    first = trend_impact({2025: 100, 2035: 110}, two_events(), seed=8, **kwargs)
    again = trend_impact({2025: 100, 2035: 110}, two_events(), seed=8, **kwargs)
    other = trend_impact({2025: 100, 2035: 110}, two_events(), seed=9, **kwargs)
    pd.testing.assert_frame_equal(first.forecast, again.forecast)
    assert not first.forecast["mean"].equals(other.forecast["mean"])
    # without cross-impacts the expected column does not depend on the seed
    assert first.forecast["expected"].equals(other.forecast["expected"])


def test_cross_impacts_raise_the_target_and_keep_probabilities_valid() -> None:
    base = trend_impact(
        {2025: 100, 2035: 110}, two_events(), start_year=2025, end_year=2035, seed=1, runs=20_000
    )
    crossed = trend_impact(
        {2025: 100, 2035: 110},
        two_events(),
        start_year=2025,
        end_year=2035,
        seed=1,
        runs=20_000,
        cross_impacts=[CrossImpact("E1", "E2", 0.95)],
    )
    assert crossed.cross_impacts and not base.cross_impacts
    simulated = crossed.occurrence["E2 simulated"].to_numpy()
    assert simulated[-1] > base.occurrence["E2"].iloc[-1] + 0.1
    assert np.all((simulated >= 0) & (simulated <= 1)) and np.all(np.diff(simulated) >= 0)
    # E1 itself is untouched (nothing impacts it), within Monte Carlo error
    assert crossed.occurrence["E1 simulated"].iloc[-1] == pytest.approx(0.5, abs=0.015)
    # E2 lowers the trend, so more E2 means a lower expected forecast
    assert (
        crossed.forecast["expected"].iloc[-1]
        < crossed.forecast["expected_without_cross_impacts"].iloc[-1]
    )


def test_example_spec_runs() -> None:
    spec = json.loads((EXAMPLES / "tia_spec.json").read_text(encoding="utf-8"))
    result = tia_from_spec(spec, runs=2000)
    assert result.forecast["year"].iloc[0] == spec["start_year"]
    assert result.forecast["year"].iloc[-1] == spec["end_year"]
    assert set(result.contributions.columns) == {"year"} | {e["key"] for e in spec["events"]}


IMPACT = {"t1": 0, "t2": 1, "t3": 2, "i_max": 0.1, "i_ss": 0.05}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start_year": None}, "start_year: None is not a year"),
        ({"baseline": {"2030": 1.0}}, "baseline covers 2030-2030"),
        ({"surprise": 1}, "unknown field"),
        (
            {
                "events": [
                    {"key": "A", "probabilities": {"2030": 0.5, "2035": 0.4}, "impact": IMPACT}
                ]
            },
            r"events\[0\] \(A\).probabilities: cumulative probability falls from 0.5 by 2030 to 0.4",
        ),
        (
            {"events": [{"key": "A", "probabilities": {"2030": 0.5}, "impact": {"t1": 1}}]},
            r"events\[0\].impact: missing field 't2'",
        ),
        (
            {
                "events": [
                    {
                        "key": "A",
                        "probabilities": {"2030": 0.5},
                        "impact": {"t1": 2, "t2": 1, "t3": 3, "i_max": 1, "i_ss": 0},
                    }
                ]
            },
            r"events\[0\].impact: impact times",
        ),
        (
            {"events": [{"key": "A", "probabilities": {"2030": 0.5}}]},
            r"events\[0\]: missing field 'impact'",
        ),
        (
            {"cross_impacts": [{"if": "A", "then": "Z", "p": 0.5}]},
            r"cross_impacts\[0\]: unknown target event 'Z'",
        ),
        ({"interpolation": "cubic"}, "interpolation must be"),
        ({"end_year": 2020}, "must be after start_year"),
    ],
)
def test_spec_errors_name_the_field(change: dict[str, object], message: str) -> None:
    spec: dict[str, object] = {
        "start_year": 2025,
        "end_year": 2035,
        "baseline": {"2025": 1.0, "2035": 2.0},
        "events": [
            {
                "key": "A",
                "probabilities": {"2030": 0.5},
                "impact": {"t1": 0, "t2": 1, "t3": 2, "i_max": 0.1, "i_ss": 0.05},
            }
        ],
    }
    spec.update(change)
    with pytest.raises(InputError, match=message):
        tia_from_spec(spec)
