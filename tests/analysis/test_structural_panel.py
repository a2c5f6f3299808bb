"""Pooling a panel's influence ratings cell by cell (analysis.structural.panel)."""

from __future__ import annotations

import pytest

from analysis.errors import InputError
from analysis.structural.panel import pool_influence

NAMES = ["A", "B", "C"]


def _experts(*rows: dict[tuple[str, str], str]) -> list[dict[tuple[str, str], str]]:
    return list(rows)


def test_each_cell_is_the_median_of_its_raters() -> None:
    ratings = _experts(
        {("A", "B"): "3", ("B", "A"): "0"},
        {("A", "B"): "1", ("B", "A"): "1"},
        {("A", "B"): "2", ("B", "A"): "1"},
        {("A", "B"): "2"},
    )
    pooled = pool_influence(NAMES, ratings, k=3)
    a_b = pooled.cells[0][1]
    b_a = pooled.cells[1][0]
    assert a_b is not None and a_b.median == 2.0 and a_b.n == 4 and a_b.value == 2.0
    assert b_a is not None and b_a.median == 1.0 and b_a.n == 3
    assert pooled.cells[0][0] is None  # the diagonal
    assert pooled.experts == 4


def test_cells_under_k_are_withheld_and_read_as_no_influence() -> None:
    ratings = _experts({("A", "C"): "3"}, {("A", "C"): "3"}, {("B", "C"): "1"})
    pooled = pool_influence(NAMES, ratings, k=3)
    a_c = pooled.cells[0][2]
    assert a_c is not None and a_c.withheld and a_c.median is None and a_c.value == 0.0
    assert a_c.n == 2  # the count is kept for the facilitator's note, never the ratings
    assert pooled.withheld == 6  # no cell reached three raters
    assert pooled.engine_cells()[0] == [0.0, 0.0, 0.0]


def test_a_cell_is_potential_when_its_median_is_zero_and_half_said_p() -> None:
    potential = _experts({("A", "B"): "P"}, {("A", "B"): "p"}, {("A", "B"): "0"})
    assert pool_influence(NAMES, potential, k=3).cells[0][1].value == "P"  # type: ignore[union-attr]
    present = _experts({("A", "B"): "P"}, {("A", "B"): "2"}, {("A", "B"): "2"})
    cell = pool_influence(NAMES, present, k=3).cells[0][1]
    assert cell is not None and cell.value == 2.0 and cell.potential_share == pytest.approx(1 / 3)


def test_a_rating_that_is_not_0_3_or_p_is_refused() -> None:
    with pytest.raises(InputError, match=r"A -> B: .5. is not one of 0, 1, 2, 3, P"):
        pool_influence(NAMES, _experts({("A", "B"): "5"}), k=1)
    with pytest.raises(InputError, match="two distinct variables"):
        pool_influence(["A"], [], k=1)
