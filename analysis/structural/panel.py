"""A panel's ratings of a structural matrix, pooled cell by cell.

Each expert rates some rows of a matrix (MICMAC: a variable's direct influence on the others,
0-3 or P). The pooled cell is the median of the ratings of the experts who rated it, so one
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
#: the ratings of a MICMAC cell
INFLUENCE_RATINGS = frozenset({"0", "1", "2", "3", POTENTIAL})


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
    """A square matrix pooled from a panel's rows, with what was withheld."""

    names: tuple[str, ...]
    cells: tuple[tuple[PooledCell | None, ...], ...]  #: None on the diagonal
    experts: int  #: experts who rated at least one cell
    k: int

    @property
    def withheld(self) -> int:
        """Off-diagonal cells rated by fewer than k experts (read as 0)."""
        return sum(1 for row in self.cells for cell in row if cell is not None and cell.withheld)

    def engine_cells(self) -> list[list[float | str]]:
        """The matrix as the MICMAC engine reads it (0 on the diagonal)."""
        return [[0.0 if cell is None else cell.value for cell in row] for row in self.cells]


def pool_influence(
    names: Sequence[str], ratings: Sequence[Mapping[tuple[str, str], str]], k: int
) -> PooledMatrix:
    """Pool experts' influence ratings ((row, column) -> "0".."3" or "P") into one matrix."""
    if len(names) < 2 or len(set(names)) != len(names):
        raise InputError("a matrix needs at least two distinct variables")
    if k < 1:
        raise InputError(f"k must be at least 1, not {k}")
    index = set(names)
    by_cell: dict[tuple[str, str], list[str]] = {}
    experts = 0
    for expert in ratings:
        rated = False
        for (row, column), rating in expert.items():
            if row not in index or column not in index or row == column:
                continue
            text = str(rating).strip().upper()
            if text not in INFLUENCE_RATINGS:
                raise InputError(f"{row} -> {column}: {rating!r} is not 0-3 or P")
            by_cell.setdefault((row, column), []).append(text)
            rated = True
        experts += rated
    cells = tuple(
        tuple(
            None if row == column else _pooled(row, column, by_cell.get((row, column), []), k)
            for column in names
        )
        for row in names
    )
    return PooledMatrix(tuple(names), cells, experts, k)


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
