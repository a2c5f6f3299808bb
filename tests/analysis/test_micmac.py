"""MICMAC: direct sums, indirect rankings by matrix powers, the map's quadrants and the movers.

No published MICMAC run with its full input matrix was at hand, so the worked example below is
computed by hand from the definitions (Godet, "Creating Futures", structural analysis chapter):
row sums are influence, column sums dependence, and MID^k ranks the variables by chains of
influence; for a primitive matrix those rankings converge to the ranking of its Perron vectors.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import InputError
from analysis.structural.micmac import micmac

# four variables: V1 drives V2 and V3, V2 and V3 feed each other and V4, V4 barely acts
WORKED = [
    [0, 3, 2, 0],
    [0, 0, 2, 3],
    [1, 2, 0, 3],
    [0, 1, 0, 0],
]


def test_direct_sums_shares_ranks_and_quadrants_of_the_worked_example() -> None:
    result = micmac(WORKED, ["V1", "V2", "V3", "V4"])
    assert result.direct.influence == (5, 5, 6, 1)
    assert result.direct.dependence == (1, 6, 4, 6)
    assert result.direct.influence_share[2] == pytest.approx(6 / 17 * 1000)
    assert result.direct.influence_rank == (2, 2, 1, 4)
    assert result.direct.dependence_rank == (4, 1, 3, 1)
    # means: influence 4.25, dependence 4.25
    assert result.direct.quadrant == ("influential", "relay", "influential", "dependent")


def test_indirect_rankings_are_the_perron_vectors_rankings() -> None:
    rng = np.random.default_rng(5)
    matrix = rng.integers(0, 4, (9, 9)).astype(float)
    np.fill_diagonal(matrix, 0)
    result = micmac(matrix)
    values, right = np.linalg.eig(matrix)
    _, left = np.linalg.eig(matrix.T)
    top = int(np.argmax(values.real))
    influence = np.abs(right[:, top].real)
    dependence = np.abs(left[:, top].real)
    assert (
        np.argsort(-np.array(result.indirect.influence)).tolist() == np.argsort(-influence).tolist()
    )
    assert (
        np.argsort(-np.array(result.indirect.dependence)).tolist()
        == np.argsort(-dependence).tolist()
    )
    assert 2 <= result.power < 30


def test_a_quiet_variable_that_drives_the_hub_moves_up_indirectly() -> None:
    # V1 acts only on V2, the hub that acts on everything; V5 acts weakly on three leaves
    matrix = np.zeros((6, 6))
    matrix[0, 1] = 3
    matrix[1, 2:] = 3
    matrix[2:, 1] = 1
    matrix[4, [2, 3, 5]] = 1
    result = micmac(matrix)
    assert result.direct.influence_rank[0] > result.indirect.influence_rank[0]
    moved = {(m.variable, m.measure) for m in result.movers}
    assert ("V1", "influence") in moved


def test_potential_influences_count_only_in_the_potential_reading() -> None:
    cells = [["0", "3", "P"], ["1", "0", "0"], ["0", "2", "0"]]
    result = micmac(cells, ["A", "B", "C"])
    assert result.direct.influence == (3, 1, 2)
    assert result.potential is not None
    assert result.potential.direct.influence == (6, 1, 2)
    assert micmac([[0, 1], [1, 0]]).potential is None


def test_bad_matrices_are_refused() -> None:
    with pytest.raises(InputError, match="square"):
        micmac([[0, 1, 2], [1, 0, 2]])
    with pytest.raises(InputError, match="row 1, column 2: 'x' is not 0-3 or P"):
        micmac([[0, "x"], [1, 0]])
    with pytest.raises(InputError, match="distinct variable names"):
        micmac([[0, 1], [1, 0]], ["A", "A"])
