"""MICMAC: direct sums, indirect rankings by matrix powers, the map's quadrants and the movers.

One oracle is published: J. Catumba's MICMAC test in the networkx repository (2013), a
ten-variable 0/1 graph with the shares of MID^4 printed to four decimals; it is run through
`micmac` with the power capped at 4. The other examples are worked by hand from the definitions
(Godet, "Creating Futures", structural analysis chapter): row sums are influence, column sums
dependence, and MID^k ranks the variables by chains of influence; for a primitive matrix those
rankings converge to the ranking of its Perron vectors.
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


# J. Catumba (2013), networkx/algorithms/link_analysis/tests/test_micmac.py in the networkx
# repository (commit 026750e), testing micmac_alg.py: an edge (a, b) means a influences b
CATUMBA_EDGES = [
    (0, 5), (1, 0), (3, 0), (1, 2), (1, 9), (3, 1), (2, 9), (2, 3),
    (3, 5), (4, 3), (6, 3), (6, 5), (6, 7), (6, 8), (7, 9),
]  # fmt: skip
# the published shares of MID^4 for nodes 0..9 (the order Python 2 listed the nodes in)
CATUMBA_INFLUENCE = [0.0, 0.25, 0.1875, 0.1875, 0.1875, 0.0, 0.1875, 0.0, 0.0, 0.0]
CATUMBA_DEPENDENCE = [0.125, 0.0625, 0.0625, 0.1875, 0.0, 0.3125, 0.0, 0.0, 0.0, 0.25]


def test_indirect_shares_match_the_published_networkx_example() -> None:
    """Oracle: the indirect shares of Catumba's MICMAC test in the networkx repository (2013).

    That implementation takes a fixed power k = 4 of the 0/1 adjacency matrix (rows influence
    columns, as here) and divides the row and column sums by their total; our shares are the same
    ratios in per mille. We raise powers until the rankings settle instead, but this graph's only
    cycle (1 -> 2 -> 3 -> 1) makes its rankings change at every power, so capping the powers at 4
    through `max_power` yields exactly MID^4. The published values are dyadic fractions, so they
    are compared to rounding error, not to their four printed decimals.
    """
    matrix = np.zeros((10, 10))
    for source, target in CATUMBA_EDGES:
        matrix[source, target] = 1
    # the publication names its variables by node number, 0 to 9
    result = micmac(matrix, [str(node) for node in range(10)], max_power=4)
    assert result.power == 4 and not result.settled
    assert result.indirect.influence_share == pytest.approx(
        [1000 * x for x in CATUMBA_INFLUENCE], abs=1e-9
    )
    assert result.indirect.dependence_share == pytest.approx(
        [1000 * x for x in CATUMBA_DEPENDENCE], abs=1e-9
    )
    # the ranking the published shares imply: node 1 drives most, node 5 depends most
    assert result.indirect.influence_rank[1] == 1
    assert result.indirect.dependence_rank[5] == 1
    # the direct view stays the plain out- and in-degrees (node 6 acts on 3, 5, 7 and 8)
    assert result.direct.influence[6] == 4 and result.direct.dependence[9] == 3


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
    assert 2 <= result.power < 30 and result.settled


def test_rankings_that_cycle_for_ever_are_reported_as_unsettled() -> None:
    # Catumba's graph: its one cycle (1 -> 2 -> 3 -> 1) swaps the ranks every third power, so
    # no power settles them and the cap is reached; an acyclic chain settles when it runs out
    matrix = np.zeros((10, 10))
    for source, target in CATUMBA_EDGES:
        matrix[source, target] = 1
    cycling = micmac(matrix)
    assert cycling.power == 30 and not cycling.settled
    chain = micmac([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    assert chain.settled


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
