"""MACTOR: MIDI, the balance of power Ri*, weighted positions, convergences and divergences.

No published MACTOR run printing both its full inputs (MID and 2MAO) and its numeric results
(MIDI, Ri*, 3MAO) was found: applied studies such as R. Samna Soumana's thesis (Lyon 2, 2010,
ch. III) print the MID, but show their results (mobilisation, convergences) as charts. The
three-actor example is therefore worked by hand from the definitions in the module (Godet's
MACTOR: MIDI_ij = MID_ij + sum_k min(MID_ik, MID_kj); Ri* = n ri / sum r with
ri = Mi / sum M * Mi / (Mi + Di)).

One part is published: the simple convergences and divergences (1CAA, 1DAA) of the "Aéroport de
Paris" example shipped with LIPSOR's Mactor program, whose inputs (MID, 2MAO) are in the
`llosimura/tio` repository (mactor/test.rb, 2013) and whose 1CAA and 1DAA tables, with their
column totals, are printed in the `pedroYair/prospectiva` repository
(tecnicas/static/matriz1CAA.html and matriz1DAA.html, 2017).
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import InputError
from analysis.structural.mactor import mactor

MID = [
    [0, 3, 2],
    [1, 0, 1],
    [0, 2, 0],
]
MAO = [
    [2, -1, 0, 3],
    [1, 2, -2, 1],
    [-3, 1, 1, 0],
]


def test_midi_adds_the_weaker_link_of_every_two_step_chain() -> None:
    result = mactor(MID, MAO, ["A", "B", "C"])
    # A->C: 2 + min(A->B 3, B->C 1) = 3; C->A: 0 + min(C->B 2, B->A 1) = 1
    assert result.midi[0, 2] == 3 and result.midi[2, 0] == 1
    # A->B: 3 + min(A->C 2, C->B 2) = 5; diagonal A->A: min(3, 1) + min(2, 0) = 1
    assert result.midi[0, 1] == 5 and result.midi[0, 0] == 1
    expected = np.array([[1, 5, 3], [1, 2, 2], [1, 2, 1]])
    assert result.midi.tolist() == expected.tolist()


def test_balance_of_power_from_influence_and_dependence() -> None:
    result = mactor(MID, MAO)
    m = np.array([8.0, 3.0, 3.0])  # off-diagonal row sums of MIDI
    d = np.array([2.0, 7.0, 5.0])  # off-diagonal column sums
    assert result.influence.tolist() == m.tolist()
    assert result.dependence.tolist() == d.tolist()
    r = m / m.sum() * m / (m + d)
    assert result.power == pytest.approx(3 * r / r.sum())
    assert result.power.mean() == pytest.approx(1.0)
    assert int(np.argmax(result.power)) == 0


def test_positions_weighted_by_power_and_pairwise_convergence() -> None:
    result = mactor(MID, MAO)
    assert result.mao1.tolist() == np.sign(MAO).tolist()
    assert result.mao3 == pytest.approx(np.array(MAO) * result.power[:, None])
    # A and B agree on O1 and O4, disagree on O2
    assert result.caa1[0, 1] == 2 and result.daa1[0, 1] == 1
    assert result.caa2[0, 1] == (2 + 1) / 2 + (3 + 1) / 2
    assert result.daa2[0, 1] == (1 + 2) / 2
    assert np.array_equal(result.caa3, result.caa3.T) and result.caa3[0, 0] == 0
    assert result.agreement[0] == pytest.approx(2 * result.power[0] + result.power[1])
    assert result.disagreement[0] == pytest.approx(-3 * result.power[2])


# LIPSOR's "Aéroport de Paris": aircraft makers, scheduled airlines, charter airlines, the
# State, the airport authority, residents' associations; objectives: aircraft design, market,
# traffic rights, organised flights, noise standards
AIRPORT_ACTORS = ["Makers", "Scheduled", "Charter", "State", "Airport", "Residents"]
AIRPORT_MID = [
    [0, 1, 1, 3, 0, 2],
    [2, 0, 3, 2, 1, 1],
    [1, 2, 0, 1, 1, 0],
    [2, 3, 3, 0, 3, 2],
    [0, 2, 3, 1, 0, 2],
    [0, 1, 1, 3, 2, 0],
]
AIRPORT_MAO = [
    [2, 3, 0, 0, 1],
    [-2, 0, 3, -1, -3],
    [-1, 0, -3, 3, -2],
    [0, 3, 2, 0, 1],
    [-1, 0, -2, 2, -2],
    [0, 0, 0, 0, 3],
]


def test_simple_convergences_and_divergences_of_the_airport_example() -> None:
    result = mactor(AIRPORT_MID, AIRPORT_MAO, AIRPORT_ACTORS)
    printed_caa1 = [
        [0, 0, 0, 2, 0, 1],
        [0, 0, 2, 1, 2, 0],
        [0, 2, 0, 0, 4, 0],
        [2, 1, 0, 0, 0, 1],
        [0, 2, 4, 0, 0, 0],
        [1, 0, 0, 1, 0, 0],
    ]
    assert result.caa1.tolist() == printed_caa1
    assert result.caa1.sum(axis=0).tolist() == [3, 5, 6, 4, 6, 2]
    printed_daa1 = [
        [0, 2, 2, 2, 2, 0],
        [2, 0, 2, 1, 2, 1],
        [2, 2, 0, 2, 0, 1],
        [0, 1, 2, 0, 2, 0],
        [2, 2, 0, 2, 0, 1],
        [0, 1, 1, 0, 1, 0],
    ]
    # the printed table has 2 for makers-State but 0 for State-makers, and its own total of
    # the State's column (5) holds only with 0: the two share a side on the market and on
    # noise and neither opposes the other, so 0 (a misprint)
    printed_daa1[0][3] = 0
    assert result.daa1.tolist() == printed_daa1
    assert result.daa1.sum(axis=0).tolist() == [6, 8, 7, 5, 7, 3]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InputError, match="2MAO has 2 rows for 3 actors"):
        mactor(MID, MAO[:2])
    with pytest.raises(InputError, match="never negative"):
        mactor([[0, -1], [1, 0]], [[1], [1]])
    with pytest.raises(InputError, match="no influence at all"):
        mactor([[0, 0], [0, 0]], [[1], [1]])
