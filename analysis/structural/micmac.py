"""MICMAC structural analysis (Godet): direct and indirect influence and dependence of variables.

The direct influence matrix MID holds, for each ordered pair of variables, the direct influence
of the row on the column: 0 (none), 1 (weak), 2 (moderate), 3 (strong) or P (potential: none
today, possibly tomorrow). The diagonal is ignored. A variable's influence (motricity) is its row
sum, its dependence its column sum.

Indirect influences count the chains of influence: MID^k holds the weighted paths of length k.
The powers are raised until the influence and dependence rankings stop changing from one power to
the next (usually 4 to 8 powers); each power is rescaled by its largest entry, which leaves the
rankings unchanged and keeps the numbers finite.

Potential influences: the potential matrix reads every P as `potential_value` (3 by default, as
in the MICMAC software), the plain matrix reads P as 0.

The map plots dependence (x) against influence (y), each as a share of the total (per mille), and
splits it at the means into influential (high influence, low dependence), relay (both high),
dependent (low influence, high dependence) and autonomous (both low) variables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analysis.errors import InputError

#: quadrant names, by (high influence, high dependence)
QUADRANTS = {
    (True, False): "influential",
    (True, True): "relay",
    (False, True): "dependent",
    (False, False): "autonomous",
}
DEFAULT_MAX_POWER = 30


@dataclass(frozen=True)
class MicmacView:
    """One reading of the system (direct or indirect): sums, shares, ranks and quadrants."""

    influence: tuple[float, ...]
    dependence: tuple[float, ...]
    #: influence and dependence as per mille of their total (the map's coordinates)
    influence_share: tuple[float, ...]
    dependence_share: tuple[float, ...]
    #: 1 = most influential (ties share the best rank)
    influence_rank: tuple[int, ...]
    dependence_rank: tuple[int, ...]
    quadrant: tuple[str, ...]


@dataclass(frozen=True)
class Mover:
    """A variable whose rank differs between the direct and indirect readings."""

    variable: str
    measure: str
    direct_rank: int
    indirect_rank: int


@dataclass(frozen=True)
class MicmacResult:
    """MICMAC on one matrix: the direct and indirect views, the power used, and the movers."""

    variables: tuple[str, ...]
    direct: MicmacView
    indirect: MicmacView
    #: the power of MID at which both rankings stopped changing (or max_power, see settled)
    power: int
    movers: tuple[Mover, ...]
    #: the same analysis with potential influences counted (None when the matrix has no P)
    potential: MicmacResult | None = None
    #: False when the rankings were still changing at max_power: a matrix whose chains of
    #: influence run in cycles (a periodic matrix) can swap ranks at every power for ever
    settled: bool = True


def parse_influence_matrix(
    cells: Sequence[Sequence[object]], potential_value: float = 3.0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The plain and potential matrices from cells 0-3 or P (blank = 0)."""
    rows = [list(r) for r in cells]
    n = len(rows)
    if n < 2 or any(len(r) != n for r in rows):
        raise InputError(f"the influence matrix must be square with at least 2 variables ({n})")
    plain = np.zeros((n, n))
    potential = np.zeros((n, n))
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            text = str(cell).strip().upper() if cell is not None else ""
            if i == j:
                continue
            if text == "P":
                potential[i, j] = potential_value
                continue
            try:
                value = float(text) if text not in ("", "NAN") else 0.0
            except ValueError:
                raise InputError(f"row {i + 1}, column {j + 1}: {cell!r} is not 0-3 or P") from None
            if value < 0 or not np.isfinite(value):
                raise InputError(f"row {i + 1}, column {j + 1}: influences are >= 0, not {cell}")
            plain[i, j] = value
            potential[i, j] = value
    return plain, potential


def _ranks(values: npt.NDArray[np.float64]) -> tuple[int, ...]:
    """Competition ranks, highest first (1, 2, 2, 4)."""
    rounded = np.round(values, 9)
    return tuple(int((rounded > v).sum()) + 1 for v in rounded)


def _view(matrix: npt.NDArray[np.float64]) -> MicmacView:
    """Sums, shares, ranks and quadrants of one matrix."""
    influence = matrix.sum(axis=1)
    dependence = matrix.sum(axis=0)
    total = float(influence.sum())
    scale = 1000.0 / total if total > 0 else 0.0
    mean_influence, mean_dependence = influence.mean(), dependence.mean()
    quadrant = tuple(
        QUADRANTS[(bool(i >= mean_influence - 1e-12), bool(d >= mean_dependence - 1e-12))]
        for i, d in zip(influence, dependence, strict=True)
    )
    return MicmacView(
        tuple(float(x) for x in influence),
        tuple(float(x) for x in dependence),
        tuple(float(x) * scale for x in influence),
        tuple(float(x) * scale for x in dependence),
        _ranks(influence),
        _ranks(dependence),
        quadrant,
    )


def _indirect(
    matrix: npt.NDArray[np.float64], max_power: int
) -> tuple[npt.NDArray[np.float64], int, bool]:
    """MID^k (rescaled) for the first k whose rankings equal those of k - 1, and whether such
    a k was found before max_power."""
    current = matrix / max(float(matrix.max()), 1e-300)
    previous = _view(current)
    for power in range(2, max_power + 1):
        current = current @ matrix
        top = float(current.max())
        if top <= 0:
            # no chains this long (an acyclic system): the last non-empty power stands
            return current, power, True
        current = current / top
        view = _view(current)
        if (view.influence_rank, view.dependence_rank) == (
            previous.influence_rank,
            previous.dependence_rank,
        ):
            return current, power, True
        previous = view
    return current, max_power, False


def micmac(
    matrix: Sequence[Sequence[object]] | npt.ArrayLike,
    variables: Sequence[str] | None = None,
    potential_value: float = 3.0,
    max_power: int = DEFAULT_MAX_POWER,
) -> MicmacResult:
    """MICMAC of a direct influence matrix (0-3, P for potential), rows influencing columns."""
    cells = np.asarray(matrix, dtype=object).tolist()
    plain, potential = parse_influence_matrix(cells, potential_value)
    n = len(plain)
    names = tuple(variables) if variables is not None else tuple(f"V{i + 1}" for i in range(n))
    if len(names) != n or len(set(names)) != n:
        raise InputError(f"give {n} distinct variable names, one per row of the matrix")
    if max_power < 2:
        raise InputError("max_power must be at least 2")
    result = _analyse(plain, names, max_power)
    if not np.array_equal(plain, potential):
        return MicmacResult(
            result.variables,
            result.direct,
            result.indirect,
            result.power,
            result.movers,
            _analyse(potential, names, max_power),
            result.settled,
        )
    return result


def _analyse(
    matrix: npt.NDArray[np.float64], names: tuple[str, ...], max_power: int
) -> MicmacResult:
    """Direct and indirect views of one matrix, and the variables that move between them."""
    direct = _view(matrix)
    indirect_matrix, power, settled = _indirect(matrix, max_power)
    indirect = _view(indirect_matrix)
    movers = []
    for measure, before, after in (
        ("influence", direct.influence_rank, indirect.influence_rank),
        ("dependence", direct.dependence_rank, indirect.dependence_rank),
    ):
        for name, b, a in zip(names, before, after, strict=True):
            if a != b:
                movers.append(Mover(name, measure, b, a))
    movers.sort(key=lambda m: (-abs(m.direct_rank - m.indirect_rank), m.measure, m.variable))
    return MicmacResult(names, direct, indirect, power, tuple(movers), settled=settled)
