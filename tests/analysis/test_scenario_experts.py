"""Unasked pairs as unknown, SMIC per expert with the experts' distributions averaged, and
cross-impact read in the asked direction only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from analysis.cli import main
from analysis.errors import InputError
from analysis.expert_coherence import Judgements
from analysis.scenarios import (
    cross_impact,
    impacts_from_asked,
    pool_experts,
    run_smic,
    scenario_probabilities,
    smic,
    smic_inputs,
)

KEYS = ("A", "B", "C")


def _joint(pi: list[float], n: int) -> np.ndarray:
    """pi by state index (event i is bit i) as an array summing to 1."""
    out = np.asarray(pi, dtype=float)
    assert out.size == 2**n
    return out / out.sum()


def _judgements(pi: np.ndarray, keys: tuple[str, ...], pairs: set[tuple[str, str]]) -> Judgements:
    """Marginals of pi and the conditionals P(a | b), P(a | not b) for the listed pairs."""
    n = len(keys)
    t = np.array([[(s >> i) & 1 for i in range(n)] for s in range(2**n)], dtype=bool)
    p = {k: float(pi[t[:, i]].sum()) for i, k in enumerate(keys)}
    given, given_not = {}, {}
    for a, b in pairs:
        i, j = keys.index(a), keys.index(b)
        both = float(pi[t[:, i] & t[:, j]].sum())
        given[(a, b)] = both / p[b]
        given_not[(a, b)] = (p[a] - both) / (1.0 - p[b])
    return Judgements(p, given, given_not)


def test_independent_mode_is_the_old_filled_in_smic() -> None:
    judgements = Judgements({"A": 0.5, "B": 0.4, "C": 0.3}, {("A", "B"): 0.8}, {("A", "B"): 0.3})
    inputs = smic_inputs(KEYS, judgements, unasked="independent")
    assert inputs.asked is None
    assert len(inputs.unasked) == 5
    p = np.array([0.5, 0.4, 0.3])
    given = np.tile(p[:, None], (1, 3))
    given_not = given.copy()
    given[0, 1], given_not[0, 1] = 0.8, 0.3
    old = smic(p, given, given_not, event_keys=KEYS, bounds_for="all")
    new = run_smic(inputs, bounds_for="all")  # type: ignore[arg-type]
    assert new.objective == pytest.approx(old.objective, abs=1e-15)
    np.testing.assert_allclose(new.probabilities, old.probabilities, atol=1e-12)
    np.testing.assert_allclose(new.scenarios["lower"], old.scenarios["lower"], atol=1e-12)
    np.testing.assert_allclose(new.scenarios["upper"], old.scenarios["upper"], atol=1e-12)


def test_unknown_pairs_widen_the_bounds() -> None:
    # a coherent panel asked about A and B both ways; C was asked about nothing
    pi = _joint([0.2, 0.1, 0.05, 0.15, 0.1, 0.15, 0.1, 0.15], 3)
    judgements = _judgements(pi, KEYS, {("A", "B"), ("B", "A")})
    independent = run_smic(smic_inputs(KEYS, judgements, unasked="independent"), bounds_for=8)
    unknown = run_smic(smic_inputs(KEYS, judgements, unasked="unknown"), bounds_for=8)
    # the unknown pairs (A, C), (B, C) are free: no judgement is broken, none invented
    assert unknown.objective == pytest.approx(0.0, abs=1e-12)
    assert list(unknown.constrained) == [True, True, True, True, False, False]
    old = independent.scenarios.set_index("state")
    new = unknown.scenarios.set_index("state")
    assert (new["lower"] <= old.loc[new.index, "lower"] + 1e-9).all()
    assert (new["upper"] >= old.loc[new.index, "upper"] - 1e-9).all()
    width_old = float((old["upper"] - old["lower"]).sum())
    width_new = float((new["upper"] - new["lower"]).sum())
    assert width_new > width_old + 0.1
    # C and not-C split each (A, B) cell in any proportion: state "001" (only C) can take all
    # of P(not A, not B) = 0.2 + 0.1 = 0.3 or nothing (P(C) = 0.5 is no tighter)
    only_c = new.loc[4]
    assert only_c["lower"] == pytest.approx(0.0, abs=1e-9)
    assert only_c["upper"] == pytest.approx(0.3, abs=1e-9)
    # the fixed moments still hold: P(A and B) of the max-entropy pi is the panel's
    assert unknown.p_given_star[0, 1] == pytest.approx(judgements.given[("A", "B")], abs=1e-9)


def test_a_one_way_question_is_not_overruled_by_an_invented_reverse() -> None:
    # only P(A | B) was asked: under "independent" the filled-in P(B | A) = P(B) pulls the joint
    # towards independence; under "unknown" the asked answer stands
    judgements = Judgements({"A": 0.5, "B": 0.4}, {("A", "B"): 0.8}, {("A", "B"): 0.3})
    keys = ("A", "B")
    independent = run_smic(smic_inputs(keys, judgements, unasked="independent"))
    unknown = run_smic(smic_inputs(keys, judgements, unasked="unknown"))
    assert unknown.objective == pytest.approx(0.0, abs=1e-12)
    assert unknown.p_given_star[0, 1] == pytest.approx(0.8, abs=1e-9)
    assert independent.objective > 1e-3
    assert independent.p_given_star[0, 1] < 0.79


def test_experts_pooling_averages_each_expert_s_own_distribution() -> None:
    # with two events and every cell asked, the moments fix the distribution: each expert's
    # SMIC distribution is their own joint, and the pool is the plain mixture of the joints
    keys = ("A", "B")
    first = _joint([0.4, 0.1, 0.1, 0.4], 2)
    second = _joint([0.1, 0.4, 0.4, 0.1], 2)
    experts = {
        "x": _judgements(first, keys, {("A", "B"), ("B", "A")}),
        "y": _judgements(second, keys, {("A", "B"), ("B", "A")}),
    }
    pooled = pool_experts(keys, experts, fallback_p={"A": 0.5, "B": 0.5}, top=4)
    np.testing.assert_allclose(pooled.probabilities, (first + second) / 2, atol=1e-9)
    table = pooled.scenarios.set_index("state")
    np.testing.assert_allclose(table["lower"], table["probability"], atol=1e-9)
    np.testing.assert_allclose(table["upper"], table["probability"], atol=1e-9)
    assert [f.objective for f in pooled.experts] == pytest.approx([0.0, 0.0], abs=1e-12)
    # pooling the cells first gives another answer: positive and negative association cancel
    # (P(A | B) averages to 0.5 = P(A)), so the pooled inputs say "independent"
    mean = Judgements(
        {"A": 0.5, "B": 0.5},
        {k: (experts["x"].given[k] + experts["y"].given[k]) / 2 for k in experts["x"].given},
        {
            k: (experts["x"].given_not[k] + experts["y"].given_not[k]) / 2
            for k in experts["x"].given_not
        },
    )
    inputs_first = run_smic(smic_inputs(keys, mean))
    np.testing.assert_allclose(inputs_first.probabilities, [0.25] * 4, atol=1e-9)
    # named scenarios under the experts' pool: "A and B" = (0.4 + 0.1) / 2
    table = scenario_probabilities({"both": "A and B"}, event_keys=keys, experts=pooled)
    assert table.loc[0, "method"] == "smic_experts"
    assert table.loc[0, "probability"] == pytest.approx(0.25, abs=1e-9)


def test_an_expert_without_a_marginal_borrows_the_panel_s() -> None:
    experts = {"x": Judgements({"A": 0.6}, {("A", "B"): 0.9}, {("A", "B"): 0.2})}
    pooled = pool_experts(("A", "B"), experts, fallback_p={"A": 0.5, "B": 0.4})
    assert pooled.experts[0].borrowed == ("B",)
    assert pooled.experts[0].p_star["B"] == pytest.approx(
        (0.6 - 0.2) / (0.9 - 0.2), abs=0.2
    )  # SMIC moves P(B) towards the value the expert's conditionals imply
    with pytest.raises(InputError):
        pool_experts(("A", "B"), {}, fallback_p={"A": 0.5, "B": 0.4})
    with pytest.raises(InputError, match="unasked_pairs"):
        smic_inputs(("A", "B"), experts["x"], unasked="maybe")  # type: ignore[arg-type]


def test_cross_impact_reads_each_conditional_in_the_direction_asked() -> None:
    # A's question asked P(A | B) = 0.9 (B strongly raises A); nobody asked P(B | A)
    p = np.array([0.5, 0.5])
    given = np.array([[np.nan, 0.9], [0.5, np.nan]])
    given_not = np.array([[np.nan, 0.1], [0.5, np.nan]])
    asked = np.array([[False, True], [False, False]])
    yes, no = impacts_from_asked(p, given, given_not, asked)
    # row = the event that occurs: B (row 1) moves A (column 0); A moves nothing
    assert yes[1, 0] == pytest.approx(0.9)
    assert no[1, 0] == pytest.approx(0.1)
    assert yes[0, 1] == pytest.approx(0.5)
    assert no[0, 1] == pytest.approx(0.5)
    one_way = cross_impact(p, yes, p_given_not=no, plays=40_000, seed=3, calibrate=False)
    # SMIC's coherent table is symmetric in the joint: P(B | A) = 0.9 * 0.5 / 0.5 = 0.9 as well;
    # read as impacts both ways, A would also push B, which nobody said
    both_ways = cross_impact(
        p,
        np.array([[np.nan, 0.9], [0.9, np.nan]]),
        p_given_not=np.array([[np.nan, 0.1], [0.1, np.nan]]),
        plays=40_000,
        seed=3,
        calibrate=False,
    )
    # one way: B is decided on its own P(B) whenever it comes first, and only moves A; A's
    # frequency rises and B's stays at 0.5, whereas both ways push both
    assert one_way.frequency[1] == pytest.approx(0.5, abs=0.02)
    assert abs(one_way.co_occurrence[0, 1] - both_ways.co_occurrence[0, 1]) > 0.05


DATA = Path(__file__).parent / "data" / "expert_judgements.csv"


def test_the_command_line_reports_coherence_and_both_poolings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["experts", "--judgements", str(DATA), "--top", "0"]) == 0
    document = json.loads(capsys.readouterr().out)
    rows = {row["expert"]: row for row in document["coherence"]["experts"]}
    assert rows["x"]["score"] == 1.0
    assert rows["y"]["score"] == pytest.approx(0.76)
    assert document["coherence"]["panel"]["max_violation"] == pytest.approx(40.0)
    assert document["settings"] == {"scenario_pooling": "both", "unasked_pairs": "unknown"}
    # x and y each as a SMIC run, averaged: the same as pool_experts on the same judgements
    experts = {
        "x": Judgements({"A": 0.5, "B": 0.4, "C": 0.3}, {("A", "B"): 0.8}, {("A", "B"): 0.3}),
        "y": Judgements({"A": 0.9, "B": 0.4, "C": 0.2}, {("A", "B"): 0.8}, {("A", "B"): 0.3}),
    }
    direct = pool_experts(KEYS, experts, fallback_p={}, top=8)
    listed = {row["state"]: row["probability"] for row in document["experts"]["scenarios"]}
    for state, value in enumerate(direct.probabilities):
        assert listed[state] == pytest.approx(float(value), abs=1e-9)
    assert sum(row["probability"] for row in document["inputs"]["scenarios"]) == pytest.approx(1)
    assert main(["experts", "--judgements", str(DATA), "--pooling", "inputs"]) == 0
    assert "experts" not in json.loads(capsys.readouterr().out)
    with pytest.raises(SystemExit):
        main(["experts", "--judgements", str(DATA), "--unasked", "maybe"])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.lists(st.floats(min_value=0.02, max_value=1.0), min_size=8, max_size=8))
def test_for_a_coherent_panel_unknown_ranges_contain_the_independent_ones(
    weights: list[float],
) -> None:
    pairs = {("A", "B"), ("B", "A"), ("C", "A"), ("A", "C")}
    judgements = _judgements(_joint(weights, 3), KEYS, pairs)
    independent = run_smic(smic_inputs(KEYS, judgements, unasked="independent"), bounds_for=8)
    # when declaring (B, C) independent contradicts what was asked, the filled-in optimum moves
    # away from the answers and nothing is nested; otherwise its optimal set is a subset
    assume(independent.objective < 1e-12)
    unknown = run_smic(smic_inputs(KEYS, judgements, unasked="unknown"), bounds_for=8)
    old = independent.scenarios.set_index("state").sort_index()
    new = unknown.scenarios.set_index("state").sort_index()
    assert unknown.objective == pytest.approx(0.0, abs=1e-10)
    assert (new["lower"] <= old["lower"] + 1e-7).all()
    assert (new["upper"] >= old["upper"] - 1e-7).all()
