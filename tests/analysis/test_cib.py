"""CIB: Somewhereland and ScenarioWizard models against their published solutions, and the search.

Sources of the fixtures in tests/analysis/data/cib (see the README there):
- Somewhereland (Weimer-Jehle): the matrix of the ScenarioWizard 4.1 manual, fig. 2-2; its ten
  consistent scenarios as listed on cross-impact.de ("The CIB algorithm", part 4/4); the balances
  of [A2 B1 C3 D1 E1 F1] as in the manual's fig. 2-3.
- CIB_global and CIB_nested: ScenarioWizard 4.0 models and their saved solution lists from the
  sei-international/cibsa repository (MIT licence).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from analysis.errors import InputError
from analysis.structural.cib import (
    balance_table,
    cib_model,
    impact_balances,
    inconsistency,
    is_consistent,
    shortfalls_of,
    succession,
    total_impact_score,
)
from analysis.structural.cib_search import consistent_scenarios
from analysis.structural.cli import read_model
from analysis.structural.scw import read_scw, read_solution_list, write_scw

DATA = Path(__file__).parent / "data" / "cib"

SOMEWHERELAND_PUBLISHED = {
    "A3 B1 C3 D2 E1 F1",
    "A3 B2 C3 D2 E1 F1",
    "A2 B1 C3 D2 E2 F1",
    "A2 B2 C3 D2 E2 F1",
    "A3 B1 C2 D1 E1 F2",
    "A1 B2 C2 D1 E1 F2",
    "A3 B2 C2 D1 E1 F2",
    "A1 B3 C2 D1 E1 F2",
    "A1 B3 C2 D1 E1 F3",
    "A1 B3 C1 D2 E3 F3",
}


@pytest.fixture(scope="module")
def somewhereland():  # type: ignore[no-untyped-def]
    return read_model(str(DATA / "somewhereland.csv"))


def random_model(counts: list[int], seed: int, floats: bool = False):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    size = sum(counts)
    matrix = rng.integers(-3, 4, (size, size)).astype(float)
    matrix[rng.random((size, size)) < 0.4] = 0
    if floats:
        matrix = matrix * 0.5 + rng.normal(0, 0.01, matrix.shape)
    return cib_model(
        [f"D{i}" for i in range(len(counts))],
        [[f"v{j}" for j in range(c)] for c in counts],
        matrix,
    )


@pytest.mark.parametrize("method", ["exhaustive", "pruned"])
def test_somewhereland_has_the_ten_published_consistent_scenarios(somewhereland, method) -> None:
    found = consistent_scenarios(somewhereland, method=method)
    labels = {" ".join(somewhereland.label(k)) for k in found.tuples()}
    assert labels == SOMEWHERELAND_PUBLISHED
    assert (found.inconsistency == 0).all()


def test_somewhereland_balances_match_the_manual(somewhereland) -> None:
    scenario = [1, 0, 2, 0, 0, 0]  # A2 B1 C3 D1 E1 F1
    expected = [0, 3, -3, 2, 1, -3, -9, -1, 10, -7, 7, 4, -1, -3, 2, -1, -1]
    assert impact_balances(somewhereland, scenario).tolist() == expected
    # C3 is the economy's best variant; D1 falls 14 short of D2: the scenario is inconsistent
    assert inconsistency(somewhereland, scenario) == 14
    sheet = {row.descriptor: row for row in balance_table(somewhereland, scenario)}
    assert sheet["D"].best == ("D2",) and sheet["D"].shortfall == 14
    assert total_impact_score(somewhereland, scenario) == 3 + 2 + 10 - 7 + 4 + 2


def test_somewhereland_society_in_crisis_is_consistent_with_its_score(somewhereland) -> None:
    crisis = [0, 2, 0, 1, 2, 2]  # A1 B3 C1 D2 E3 F3
    assert is_consistent(somewhereland, crisis)
    balances = impact_balances(somewhereland, crisis)
    chosen = [0, 3 + 2, 6 + 0, 9 + 1, 11 + 2, 14 + 2]
    assert total_impact_score(somewhereland, crisis) == balances[chosen].sum()


@pytest.mark.parametrize("name", ["CIB_global", "CIB_nested"])
def test_scenariowizard_models_reproduce_their_solution_lists(name: str) -> None:
    model = read_scw((DATA / f"{name}.scw").read_text())
    listed_text = (DATA / f"{name}.sl").read_text()
    listed = read_solution_list(listed_text, model)
    found = consistent_scenarios(model)
    assert set(found.tuples()) == set(listed)
    assert len(found) == len(listed)
    # the fifth field of each .sl line is the scenario's total impact score
    scores = {
        tuple(int(v) - 1 for v in line.split('"')[1].split()): float(line.split(",")[4])
        for line in listed_text.splitlines()
        if line.startswith('"')
    }
    for key, score in zip(found.tuples(), found.total_impact_score, strict=True):
        assert score == scores[key]


def test_the_nested_model_is_large_and_searched_by_branch_and_bound() -> None:
    model = read_scw((DATA / "CIB_nested.scw").read_text())
    assert model.configurations == 408_146_688
    found = consistent_scenarios(model)
    assert found.method == "pruned"
    assert found.visited < model.configurations // 1000


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("tolerance", [0, 1, 3])
def test_pruned_search_finds_exactly_what_the_exhaustive_one_does(
    seed: int, tolerance: int
) -> None:
    model = random_model([3, 4, 2, 3, 3, 2, 4], seed, floats=seed % 3 == 2)
    exhaustive = consistent_scenarios(model, tolerance, "exhaustive")
    pruned = consistent_scenarios(model, tolerance, "pruned")
    assert exhaustive.tuples() == pruned.tuples()
    # and both agree with checking every scenario one by one
    every = np.array(list(itertools.product(*(range(c) for c in model.counts))))
    worst = shortfalls_of(model, every).max(axis=1)
    assert len(exhaustive) == int((worst <= tolerance + 1e-9).sum())


def test_results_are_sorted_most_consistent_then_highest_score() -> None:
    found = consistent_scenarios(random_model([3, 3, 3, 3, 2], 4), tolerance=2)
    order = list(zip(found.inconsistency, -found.total_impact_score, strict=True))
    assert order == sorted(order)
    assert list(found.as_frame().columns[-2:]) == ["inconsistency", "total_impact_score"]


@pytest.mark.parametrize("mode", ["global", "adjacent"])
def test_succession_ends_in_a_consistent_scenario_or_a_cycle(somewhereland, mode) -> None:
    ends = set()
    for start in itertools.product(*(range(c) for c in somewhereland.counts)):
        result = succession(somewhereland, start, mode)
        assert result.path[0] == start
        if result.end is not None:
            assert is_consistent(somewhereland, result.end)
            ends.add(" ".join(somewhereland.label(result.end)))
        else:
            assert len(result.cycle) >= 2
    assert ends <= SOMEWHERELAND_PUBLISHED and ends


def test_a_consistent_scenario_is_its_own_succession(somewhereland) -> None:
    crisis = (0, 2, 0, 1, 2, 2)
    assert succession(somewhereland, crisis).path == (crisis,)
    assert succession(somewhereland, crisis, "adjacent").end == crisis


def test_scw_round_trip_keeps_names_and_judgements(tmp_path: Path, somewhereland) -> None:
    text = write_scw(somewhereland)
    assert text.startswith("$ ScenarioWizard 4.0\n")
    again = read_scw(text)
    assert again.descriptors == somewhereland.descriptors
    assert again.variants == somewhereland.variants
    assert np.array_equal(again.matrix, somewhereland.matrix)
    nested = read_scw((DATA / "CIB_nested.scw").read_text())
    assert np.array_equal(read_scw(write_scw(nested)).matrix, nested.matrix)


def test_bad_models_are_refused_with_the_reason() -> None:
    with pytest.raises(InputError, match="must be 4 x 4"):
        cib_model(["A", "B"], [["a1", "a2"], ["b1", "b2"]], np.zeros((3, 3)))
    with pytest.raises(InputError, match="at least two variants"):
        cib_model(["A", "B"], [["a1"], ["b1", "b2"]], np.zeros((3, 3)))
    with pytest.raises(InputError, match="not a number"):
        cib_model(["A", "B"], [["a1", "a2"], ["b1", "b2"]], np.full((4, 4), np.nan))
    with pytest.raises(InputError, match="not a ScenarioWizard file"):
        read_scw("hello\n")
    with pytest.raises(InputError, match="no cross-impact matrix"):
        read_scw("$ ScenarioWizard 4.0\nx\n&A\n -a1\n -a2\n&B\n -b1\n -b2\n#\n#\n")
    with pytest.raises(InputError, match="has no variant 3"):
        inconsistency(cib_model(["A", "B"], [["a", "b"], ["c", "d"]], np.zeros((4, 4))), [2, 0])
    with pytest.raises(InputError, match="tolerance"):
        consistent_scenarios(random_model([2, 2], 1), tolerance=-1)


def test_judgements_of_a_descriptor_on_itself_are_ignored() -> None:
    matrix = np.zeros((4, 4))
    matrix[0, 1] = 5  # a1 on a2: meaningless, dropped
    model = cib_model(["A", "B"], [["a1", "a2"], ["b1", "b2"]], matrix)
    assert model.matrix[0, 1] == 0
    assert len(consistent_scenarios(model)) == 4


def test_exhaustive_search_refuses_models_too_large_to_check_one_by_one() -> None:
    model = read_scw((DATA / "CIB_nested.scw").read_text())
    with pytest.raises(InputError, match="too many to check one by one"):
        consistent_scenarios(model, method="exhaustive")


def test_succession_can_cycle_where_adjacent_settles() -> None:
    matrix = [[0, 0, 1, 0], [0, 0, 0, 1], [2, 0, 0, 0], [0, 1, 0, 0]]
    model = cib_model(["A", "B"], [["a1", "a2"], ["b1", "b2"]], matrix)
    swinging = succession(model, [1, 0])
    assert swinging.end is None and set(swinging.cycle) == {(1, 0), (0, 1)}
    assert succession(model, [1, 0], "adjacent").end == (0, 0)


def test_ensembles_count_members_and_keep_the_summed_matrix_view(somewhereland) -> None:
    from analysis.structural.cib_ensemble import noise_ensemble, panel_ensemble

    base = set(consistent_scenarios(somewhereland).tuples())
    quiet = noise_ensemble(somewhereland, runs=5, seed=1, change=0.0)
    assert set(quiet.table.attrs["scenarios"]) == base
    assert (quiet.table["share"] == 1).all() and quiet.per_member == (10,) * 5
    noisy = noise_ensemble(somewhereland, runs=40, seed=2, change=0.5)
    again = noise_ensemble(somewhereland, runs=40, seed=2, change=0.5)
    assert noisy.table.equals(again.table)
    assert noisy.table["consistent_in"].is_monotonic_decreasing
    # a member who reverses every judgement disagrees; the sum of the two cancels to zero
    reversed_member = -np.asarray(somewhereland.matrix)
    panel = panel_ensemble(somewhereland, [somewhereland.matrix, reversed_member])
    assert panel.members == 2 and panel.per_member[0] == 10
    assert panel.table["in_sum"].all()  # a zero matrix makes every scenario consistent
    with pytest.raises(InputError, match="member 2: matrix is 2 x 2"):
        panel_ensemble(somewhereland, [somewhereland.matrix, np.zeros((2, 2))])


@pytest.mark.parametrize("tolerance", [0.0, 1.0, 1.5])
@pytest.mark.parametrize("floats", [False, True])
def test_a_panel_is_checked_at_once_with_the_searchs_own_answers(
    tolerance: float, floats: bool
) -> None:
    # the batched check of a small model's every configuration (one pass for many members)
    # finds, member by member, exactly what the search finds for each member alone
    from analysis.structural.cib_ensemble import _consistent_by_member, panel_ensemble

    base = random_model([3, 2, 4, 3, 2], seed=11, floats=floats)
    rng = np.random.default_rng(5)
    matrices = [
        np.asarray(base.matrix, dtype=np.float64) + rng.integers(-1, 2, base.matrix.shape)
        for _ in range(30)
    ]
    members = [
        cib_model(base.descriptors, base.variants, m, f"member {i}") for i, m in enumerate(matrices)
    ]
    batched = _consistent_by_member(base, members, tolerance)
    for member, found in zip(members, batched, strict=True):
        expected = consistent_scenarios(member, tolerance, "pruned").tuples()
        assert sorted(found) == sorted(expected)
    ensemble = panel_ensemble(base, matrices, tolerance)
    searched = panel_ensemble(base, matrices, tolerance, method="pruned")
    assert ensemble.table.equals(searched.table)
    assert ensemble.per_member == searched.per_member
