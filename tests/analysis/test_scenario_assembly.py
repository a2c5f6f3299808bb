"""Scenario assembly: the block max-entropy model against exact sums, and the table readers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.jsonable import finite
from analysis.scenarios import model_from_parameters
from analysis.scenarios.assemble import (
    RankedScenario,
    ScenarioEstimate,
    block_maxent,
    estimates_by_name,
    expression_events,
    logit,
    merge_estimates,
    occurring,
    ranked,
    restricted_model,
)
from analysis.scenarios.maxent import MaxEntModel


def _truth(n: int, seed: int) -> MaxEntModel:
    """A coupled pairwise model whose moments the block is given."""
    rng = np.random.default_rng(seed)
    h = rng.normal(-0.3, 0.8, n)
    J = np.triu(rng.normal(0.0, 0.7, (n, n)), 1)
    return model_from_parameters(h, J + J.T, event_keys=[f"B{i}" for i in range(n)])


def _exact(model: MaxEntModel) -> MaxEntModel:
    """The same model with its normalising constant left to be summed exactly."""
    return MaxEntModel(event_keys=model.event_keys, h=model.h, J=model.J)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_model_keeps_the_block_moments_and_the_other_events_independent(seed: int) -> None:
    truth = _truth(3, seed)
    block = list(truth.event_keys)
    keys = ["A", *block, "C"]
    probabilities = {"A": 0.3, "C": 0.8, **dict.fromkeys(block, 0.5)}
    full, restricted, facts = block_maxent(
        keys, probabilities, block, truth.moments(), set(), blend=0.0
    )
    marginal, joint = full.moments()
    block_p, block_joint = truth.moments()
    picks = [keys.index(k) for k in block]
    # the block reproduces the moments it was given (the block's own P(i) win over the inputs')
    assert marginal[picks] == pytest.approx(block_p, abs=1e-7)
    assert joint[np.ix_(picks, picks)] == pytest.approx(block_joint, abs=1e-7)
    # the other events keep their pooled probabilities and are independent of everything
    assert marginal[[0, 4]] == pytest.approx([0.3, 0.8], abs=1e-12)
    assert joint[0, 1:] == pytest.approx(0.3 * marginal[1:], abs=1e-12)
    # the log partition added up block by block equals the one summed over all 2^5 states
    assert full.all_probabilities() == pytest.approx(_exact(full).all_probabilities(), abs=1e-12)
    assert full.all_probabilities().sum() == pytest.approx(1.0, abs=1e-12)
    assert facts["block"] == block and facts["events"] == 5 and facts["blend"] == 0.0
    assert facts["max_moment_error"] < 1e-6
    # summing out the independent events leaves the block's own model
    assert restricted.event_keys == tuple(block)
    assert restricted.moments()[1] == pytest.approx(block_joint, abs=1e-7)


def test_full_blend_makes_the_block_independent_with_its_marginals() -> None:
    truth = _truth(3, 5)
    block = list(truth.event_keys)
    full, _restricted, facts = block_maxent(
        block, dict.fromkeys(block, 0.5), block, truth.moments(), set(), blend=1.0
    )
    assert facts["blend"] == 1.0
    assert np.allclose(full.J, 0.0, atol=1e-6)
    assert full.moments()[0] == pytest.approx(truth.moments()[0], abs=1e-7)


def test_without_moments_every_event_is_independent_at_its_pooled_probability() -> None:
    keys = ["E1", "E2", "E3"]
    probabilities = {"E1": 0.2, "E2": 0.0, "E3": 1.0}
    full, restricted, facts = block_maxent(keys, probabilities, keys, None, {"E1"}, blend=0.5)
    assert full.independent
    # 0 and 1 are held 1e-6 from the ends so that the log-odds are finite
    assert full.moments()[0] == pytest.approx([0.2, 1e-6, 1 - 1e-6], abs=1e-12)
    assert facts == {"blend": 0.0, "block": keys, "events": 3}
    assert restricted.event_keys == ("E1",)
    assert restricted.moments()[0] == pytest.approx([0.2], abs=1e-12)


def test_restricted_model_is_the_full_model_when_nothing_is_left_out() -> None:
    model = _truth(3, 7)
    assert restricted_model(model, set(model.event_keys)) is model
    assert restricted_model(model, {"B0", "elsewhere"}).event_keys == ("B0",)


def test_logit_is_the_log_odds() -> None:
    assert logit(0.5) == 0.0
    assert logit(0.8) == pytest.approx(math.log(4.0))


def test_table_readers() -> None:
    table = pd.DataFrame(
        {
            "rank": [1, 2, 3],
            "occurring": ["E01 + E06", "none", ("E02",)],
            "probability": [0.5, 0.3, 0.2],
            "frequency": [0.4, 0.35, 0.25],
            "lower": [0.4, np.nan, 0.1],
            "upper": [0.6, np.nan, 0.3],
        }
    )
    assert ranked(table, 2) == (
        RankedScenario(1, ("E01", "E06"), 0.5, 0.4, 0.6),
        RankedScenario(2, (), 0.3, None, None),
    )
    assert [r.probability for r in ranked(table, 5, "frequency")] == [0.4, 0.35, 0.25]
    # tables without bounds give none
    assert ranked(table.drop(columns=["lower", "upper"]), 1)[0].lower is None
    assert occurring("") == () and occurring(["E1", "E2"]) == ("E1", "E2")

    named = pd.DataFrame(
        {
            "name": ["S1", "S2", "S1"],
            "method": ["smic", "smic", "maxent"],
            "probability": [0.1, 0.2, 0.15],
            "lower": [0.0, 0.1, 0.15],
            "upper": [0.3, 0.4, 0.15],
            "note": ["", "", "exact"],
        }
    )
    found = estimates_by_name(named)
    assert [e.method for e in found["S1"]] == ["smic", "maxent"]
    merged: dict[str, list[ScenarioEstimate]] = {"S1": [found["S1"][0]]}
    merge_estimates(merged, {"S1": [found["S1"][1]], "S2": found["S2"]})
    assert {k: len(v) for k, v in merged.items()} == {"S1": 2, "S2": 1}


def test_expression_events_in_study_order_then_unknown_names() -> None:
    assert expression_events("E3 and not (E1 or X9)", ["E1", "E2", "E3"]) == ("E1", "E3", "X9")


def test_finite_makes_numbers_json_ready() -> None:
    assert finite(np.float64(float("nan"))) is None
    assert finite(float("inf")) is None
    assert type(finite(np.int64(3))) is int
    assert finite(0.25) == 0.25 and finite("x") == "x" and finite(None) is None
    assert RankedScenario(1, (), float("nan"), None, 0.5).as_dict()["probability"] is None
