"""A panel's ratings of a structural matrix, pooled cell by cell.

Each expert rates some rows of a matrix (MICMAC: a variable's direct influence on the others,
0-3 or P; MACTOR: an actor's influence on the others, 0-4, or its positions on the
objectives, -4..+4). The pooled cell is the median of the ratings of the experts who rated it, so one
expert's extreme view cannot move it alone; a cell rated by fewer than `k` experts is withheld
(shown to nobody, read as 0 by the engines) as every other aggregate of the platform is.

A potential influence (P: none today, possibly later) counts as 0 in the median of the present
influence; the pooled cell is P when its median is 0 and at least half of its raters said P.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from analysis.errors import InputError

POTENTIAL = "P"
#: the ratings of a MICMAC cell, and of MACTOR's influence and position cells
INFLUENCE_RATINGS = frozenset({"0", "1", "2", "3", POTENTIAL})
ACTOR_RATINGS = frozenset({"0", "1", "2", "3", "4"})
POSITION_RATINGS = frozenset(str(point) for point in range(-4, 5))
CIB_RATINGS = frozenset(str(point) for point in range(-3, 4))


@dataclass(frozen=True)
class PooledCell:
    """One pooled cell: its value for the engines, and how it was reached."""

    row: str
    column: str
    #: the panel's median (P counted as 0); None when withheld or nobody rated it
    median: float | None
    #: experts who rated the cell
    n: int
    #: share of them who said P (potential)
    potential_share: float
    #: the cell as the engine reads it: a number, "P", or 0 where withheld
    value: float | str
    withheld: bool


@dataclass(frozen=True)
class PooledMatrix:
    """A matrix pooled from a panel's rows, with what was withheld."""

    names: tuple[str, ...]  #: the rows
    cells: tuple[tuple[PooledCell | None, ...], ...]  #: None on a square matrix's diagonal
    experts: int  #: experts who rated at least one cell
    k: int
    columns: tuple[str, ...] = ()  #: the columns (the rows' names for a square matrix)

    @property
    def withheld(self) -> int:
        """Off-diagonal cells rated by fewer than k experts (read as 0)."""
        return sum(1 for row in self.cells for cell in row if cell is not None and cell.withheld)

    def engine_cells(self) -> list[list[float | str]]:
        """The matrix as the engines read it (0 on the diagonal and where withheld)."""
        return [[0.0 if cell is None else cell.value for cell in row] for row in self.cells]


def pool_influence(
    names: Sequence[str], ratings: Sequence[Mapping[tuple[str, str], str]], k: int
) -> PooledMatrix:
    """Pool experts' influence ratings ((row, column) -> "0".."3" or "P") into one matrix."""
    if len(names) < 2 or len(set(names)) != len(names):
        raise InputError("a matrix needs at least two distinct variables")
    return pool_matrix(names, names, ratings, k, INFLUENCE_RATINGS)


def pool_matrix(
    rows: Sequence[str],
    columns: Sequence[str],
    ratings: Sequence[Mapping[tuple[str, str], str]],
    k: int,
    allowed: frozenset[str],
) -> PooledMatrix:
    """Pool experts' ratings ((row, column) -> one of `allowed`) into one matrix; where the
    rows are the columns (a square matrix) the diagonal is not rated."""
    if not rows or not columns or len(set(rows)) != len(rows) or len(set(columns)) != len(columns):
        raise InputError("a matrix needs distinct row and column names")
    if k < 1:
        raise InputError(f"k must be at least 1, not {k}")
    row_index, column_index = set(rows), set(columns)
    by_cell: dict[tuple[str, str], list[str]] = {}
    experts = 0
    for expert in ratings:
        rated = False
        for (row, column), rating in expert.items():
            if row not in row_index or column not in column_index or row == column:
                continue
            # most ratings are already written as allowed: only the others are normalised
            text = rating if rating in allowed else str(rating).strip().upper().lstrip("+")
            if text not in allowed:
                choices = ", ".join(sorted(allowed, key=lambda a: (a == POTENTIAL, a)))
                raise InputError(f"{row} -> {column}: {rating!r} is not one of {choices}")
            by_cell.setdefault((row, column), []).append(text)
            rated = True
        experts += rated
    cells = tuple(
        tuple(
            None if row == column else _pooled(row, column, by_cell.get((row, column), []), k)
            for column in columns
        )
        for row in rows
    )
    return PooledMatrix(tuple(rows), cells, experts, k, tuple(columns))


def _pooled(row: str, column: str, said: list[str], k: int) -> PooledCell:
    """One cell from its ratings."""
    n = len(said)
    if n < k:
        return PooledCell(row, column, None, n, 0.0, 0.0, True)
    numbers = [0.0 if s == POTENTIAL else float(s) for s in said]
    median = float(statistics.median(numbers))
    potential_share = said.count(POTENTIAL) / n
    value: float | str = POTENTIAL if median == 0 and potential_share >= 0.5 else median
    return PooledCell(row, column, median, n, potential_share, value, False)
