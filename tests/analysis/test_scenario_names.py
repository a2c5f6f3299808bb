"""Named scenarios (Boolean expressions over events) under SMIC, max-entropy and cross-impact."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import InputError
from analysis.scenarios import cross_impact, model_from_parameters, scenario_probabilities, smic
from analysis.scenarios._common import state_bits

P = np.array([0.5, 0.2, 0.9])
KEYS = ["A", "B", "C"]


def independent_smic():
    given = np.tile(P[:, None], (1, 3))
    return smic(P, given, given, event_keys=KEYS)


def test_smic_named_scenarios_have_hand_derived_bounds() -> None:
    # independent events (see test_smic): one free direction eps * prod(2t - 1), |eps| <= 0.01.
    # "A or (B and not C)" = P(A) + P(not A, B, not C) = 0.5 + 0.01, and only the state 010
    # moves with eps inside this set (A alone fixes the rest), so it ranges over [0.50, 0.52]. "A and B" is a
    # pairwise moment, fixed at 0.1.
    table = scenario_probabilities(
        {"either": "A or (B and not C)", "both": "A and B", "never": "A and not A"},
        event_keys=KEYS,
        smic=independent_smic(),
    ).set_index("name")
    assert table.loc["either", ["probability", "lower", "upper"]].tolist() == pytest.approx(
        [0.51, 0.50, 0.52], abs=1e-9
    )
    assert table.loc["both", ["probability", "lower", "upper"]].tolist() == pytest.approx(
        [0.1, 0.1, 0.1], abs=1e-9
    )
    assert table.loc["never", ["probability", "lower", "upper"]].tolist() == [0.0, 0.0, 0.0]
    assert set(table["method"]) == {"smic"}


def test_max_entropy_named_scenarios_are_exact_sums() -> None:
    rng = np.random.default_rng(0)
    J = np.triu(rng.normal(0, 0.7, (6, 6)), 1)
    model = model_from_parameters(rng.normal(0, 1, 6), J + J.T)
    keys = model.event_keys
    probabilities = model.all_probabilities()
    bits = state_bits(6).astype(bool)
    table = scenario_probabilities(
        {"first two": f"{keys[0]} and {keys[1]}", "not last": f"not {keys[5]}"},
        event_keys=keys,
        maxent=model,
    ).set_index("name")
    assert table.loc["first two", "probability"] == pytest.approx(
        probabilities[bits[:, 0] & bits[:, 1]].sum(), abs=1e-12
    )
    assert table.loc["not last", "probability"] == pytest.approx(
        probabilities[~bits[:, 5]].sum(), abs=1e-12
    )
    assert (table["lower"] == table["probability"]).all()


def test_max_entropy_named_scenarios_by_monte_carlo_for_many_events() -> None:
    # 24 independent events: beyond exact enumeration, so sampled; the truth is a product
    rng = np.random.default_rng(1)
    h = rng.normal(0, 1, 24)
    model = model_from_parameters(h, np.zeros((24, 24)))
    p = 1 / (1 + np.exp(-h))
    keys = model.event_keys
    first = scenario_probabilities(
        {"pair": f"{keys[0]} and not {keys[3]}"},
        event_keys=keys,
        maxent=model,
        seed=2,
        samples=100_000,
    )
    row = first.iloc[0]
    truth = p[0] * (1 - p[3])
    assert row["lower"] <= truth <= row["upper"]
    assert row["upper"] - row["lower"] < 0.02
    assert "seed 2" in row["note"]
    again = scenario_probabilities(
        {"pair": f"{keys[0]} and not {keys[3]}"},
        event_keys=keys,
        maxent=model,
        seed=2,
        samples=100_000,
    )
    assert again.equals(first)


def test_cross_impact_named_scenarios_count_plays() -> None:
    given = [[np.nan, 0.4, 0.95], [0.7, np.nan, 0.9], [0.5, 0.2, np.nan]]
    result = cross_impact(P, given, plays=20_000, seed=9, event_keys=KEYS)
    table = scenario_probabilities({"bc": "B and C"}, event_keys=KEYS, crossimpact=result)
    assert table["probability"].iloc[0] == pytest.approx(result.co_occurrence[1, 2])
    assert table["lower"].iloc[0] < table["probability"].iloc[0] < table["upper"].iloc[0]


def test_every_method_in_one_table() -> None:
    given = np.tile(P, (3, 1))
    table = scenario_probabilities(
        {"a": "A"},
        event_keys=KEYS,
        smic=independent_smic(),
        maxent=model_from_parameters(np.log(P / (1 - P)), np.zeros((3, 3)), event_keys=KEYS),
        crossimpact=cross_impact(P, given, plays=10_000, seed=1, event_keys=KEYS),
    )
    assert table["method"].tolist() == ["smic", "maxent", "crossimpact"]
    assert table["probability"].iloc[:2].tolist() == pytest.approx([0.5, 0.5])


def test_bad_scenarios_are_named() -> None:
    result = independent_smic()
    with pytest.raises(InputError, match="scenario 'x': unknown name D"):
        scenario_probabilities({"x": "A and D"}, event_keys=KEYS, smic=result)
    with pytest.raises(InputError, match="scenario 'y'"):
        scenario_probabilities({"y": "A and"}, event_keys=KEYS, smic=result)
    with pytest.raises(InputError, match="same events, same order"):
        scenario_probabilities({"x": "A"}, event_keys=["B", "A", "C"], smic=result)
    with pytest.raises(InputError, match="at least one of"):
        scenario_probabilities({"x": "A"}, event_keys=KEYS)
    with pytest.raises(InputError, match="no named scenarios"):
        scenario_probabilities({}, event_keys=KEYS, smic=result)
