"""Cross-impact Monte Carlo: hand-derived two-event cases, calibration, seeds, relabelling."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import InputError
from analysis.scenarios import cross_impact
from analysis.scenarios._common import state_bits


def test_no_cross_impacts_reproduce_marginals_within_monte_carlo_error() -> None:
    p = np.array([0.1, 0.35, 0.5, 0.8, 0.97])
    given = np.tile(p, (5, 1))  # P(j | i) = P(j): no impacts
    result = cross_impact(p, given, plays=200_000, seed=11)
    z = (result.frequency - p) / np.sqrt(p * (1 - p) / result.plays)
    assert np.all(np.abs(z) < 4.5)
    assert result.start_probabilities == pytest.approx(p)
    assert result.calibration_iterations == 0
    # independent plays: pairs co-occur as products, within Monte Carlo error
    expected = np.outer(p, p)
    np.fill_diagonal(expected, p)
    assert result.co_occurrence == pytest.approx(expected, abs=0.005)
    assert np.all((result.lower <= result.frequency) & (result.frequency <= result.upper))


def test_two_events_hand_derived() -> None:
    # P(A) = P(B) = 0.5, A raises B to 0.8, B leaves A alone, no calibration. Half the plays
    # decide A first: B then has 0.8 or 0.5; the other half decide B first at 0.5. So
    # P(B) = 0.5 (0.5 * 0.8 + 0.5 * 0.5) + 0.5 * 0.5 = 0.575 and
    # P(A and B) = 0.5 * 0.5 * 0.8 + 0.5 * 0.25 = 0.325.
    result = cross_impact(
        [0.5, 0.5], [[np.nan, 0.8], [0.5, np.nan]], plays=400_000, seed=1, calibrate=False
    )
    error = np.sqrt(0.25 / result.plays)
    assert result.frequency[0] == pytest.approx(0.5, abs=4.5 * error)
    assert result.frequency[1] == pytest.approx(0.575, abs=4.5 * error)
    assert result.co_occurrence[0, 1] == pytest.approx(0.325, abs=4.5 * error)
    # with P(B | not A) = 0.2 applied on non-occurrence: P(B) = 0.5 * 0.5 + 0.25 = 0.5
    both_ways = cross_impact(
        [0.5, 0.5],
        [[np.nan, 0.8], [0.5, np.nan]],
        p_given_not=[[np.nan, 0.2], [0.5, np.nan]],
        plays=400_000,
        seed=1,
        calibrate=False,
    )
    assert both_ways.frequency[1] == pytest.approx(0.5, abs=4.5 * error)
    # P(A and B) is still 0.2 + 0.125, so the simulated P(B | A) is 0.325 / 0.5
    assert both_ways.conditional[0, 1] == pytest.approx(0.65, abs=0.01)


def test_calibration_reproduces_the_panel_marginals() -> None:
    rng = np.random.default_rng(2)
    n = 8
    p = rng.uniform(0.15, 0.85, n)
    given = np.clip(p[None, :] + rng.normal(0.15, 0.1, (n, n)), 0.02, 0.98)
    raw = cross_impact(p, given, plays=50_000, seed=4, calibrate=False)
    calibrated = cross_impact(p, given, plays=50_000, seed=4, calibration_tolerance=2e-4)
    assert np.max(np.abs(raw.frequency - p)) > 0.05  # the impacts push frequencies up
    assert np.max(np.abs(calibrated.frequency - p)) <= 2e-4
    assert calibrated.calibration_error <= 2e-4
    assert np.all(calibrated.start_probabilities < p + 1e-9)  # so the starts move down
    assert calibrated.calibrated and calibrated.calibration_iterations > 1


def test_same_seed_same_numbers_other_seed_other_numbers() -> None:
    p = [0.3, 0.6, 0.5]
    given = [[np.nan, 0.9, 0.2], [0.5, np.nan, 0.7], [0.1, 0.4, np.nan]]
    first = cross_impact(p, given, plays=20_000, seed=5)
    again = cross_impact(p, given, plays=20_000, seed=5)
    other = cross_impact(p, given, plays=20_000, seed=6)
    assert np.array_equal(first.state_counts, again.state_counts)
    assert np.array_equal(first.co_occurrence, again.co_occurrence)
    assert np.array_equal(first.start_probabilities, again.start_probabilities)
    assert not np.array_equal(first.co_occurrence, other.co_occurrence)
    assert first.seed == 5


def test_relabelling_events_permutes_the_frequencies() -> None:
    p = np.array([0.3, 0.6, 0.5, 0.2])
    given = np.array(
        [[0, 0.9, 0.2, 0.3], [0.5, 0, 0.7, 0.1], [0.1, 0.4, 0, 0.6], [0.6, 0.5, 0.3, 0]],
        dtype=float,
    )
    permutation = np.array([3, 1, 0, 2])
    first = cross_impact(p, given, plays=100_000, seed=1, calibrate=False)
    second = cross_impact(
        p[permutation],
        given[np.ix_(permutation, permutation)],
        plays=100_000,
        seed=2,
        calibrate=False,
    )
    error = np.sqrt(first.frequency * (1 - first.frequency) * 2 / first.plays)
    assert np.all(np.abs(second.frequency - first.frequency[permutation]) < 4.5 * error + 1e-12)
    pairs = first.co_occurrence[np.ix_(permutation, permutation)]
    assert second.co_occurrence == pytest.approx(pairs, abs=0.01)


def test_scenario_table_sums_to_one_and_is_sorted() -> None:
    p = [0.3, 0.6, 0.5]
    given = [[np.nan, 0.9, 0.2], [0.5, np.nan, 0.7], [0.1, 0.4, np.nan]]
    result = cross_impact(p, given, plays=30_000, seed=3)
    assert result.state_counts.sum() == 30_000
    table = result.scenarios(8)
    assert table["frequency"].sum() == pytest.approx(1.0)
    assert table["frequency"].is_monotonic_decreasing
    assert np.all((table["lower"] <= table["frequency"]) & (table["frequency"] <= table["upper"]))
    # each scenario's bits agree with the event frequencies
    bits = state_bits(3, result.state_indices)
    assert (bits * result.state_counts[:, None]).sum(axis=0) / 30_000 == pytest.approx(
        result.frequency
    )
    events = result.events_table()
    assert events["event"].tolist() == ["E01", "E02", "E03"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p": [0.5, 1.5]}, r"p\[E02\] = 1.5"),
        ({"p_given": [[0, 2.0], [0.5, 0]]}, r"p_given\[E01, E02\] = 2.0"),
        ({"plays": 0}, "plays must be an integer >= 1"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"p_given_not": [[0, 0.5, 0.5]]}, "p_given_not must be a 2 x 2 matrix"),
        ({"eps": 0.7}, "eps must be between 0 and 0.5"),
        ({"event_keys": ["a"]}, "event_keys has 1 keys for 2 events"),
    ],
)
def test_bad_input_is_named(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "p": [0.5, 0.5],
        "p_given": [[0, 0.6], [0.5, 0]],
        "plays": 100,
        "seed": 1,
    }
    arguments.update(kwargs)
    with pytest.raises(InputError, match=message):
        cross_impact(**arguments)  # type: ignore[arg-type]
