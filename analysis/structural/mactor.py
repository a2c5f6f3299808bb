"""MACTOR actor analysis (Godet): balance of power, positions on objectives, convergences.

Inputs: MID, the actors' direct influences on each other (0 none, 1 procedures, 2 projects,
3 missions, 4 existence; rows act on columns; diagonal ignored), and 2MAO, each actor's position
on each objective (-4 .. +4: sign = for or against, size = how much the objective matters to it).

- MIDI (direct and indirect influence): MIDI_ij = MID_ij + sum_k min(MID_ik, MID_kj), the
  indirect part taking the weaker link of each two-step chain. The diagonal MIDI_ii (the actor's
  influence on itself through others) is reported but left out of the sums.
- Mi = sum_{j != i} MIDI_ij (influence), Di = sum_{j != i} MIDI_ji (dependence),
  ri = (Mi / sum_k Mk) * Mi / (Mi + Di), and the balance-of-power coefficient
  Ri* = n ri / sum_k rk (mean 1).
- 1MAO = sign(2MAO); 3MAO_ij = 2MAO_ij * Ri*_i (positions weighted by power).
- Convergences between actors i and k over the objectives j where they take the same side:
  1CAA = number of such objectives; 2CAA and 3CAA = sum of (|XMAO_ij| + |XMAO_kj|) / 2 on them.
  Divergences (1DAA, 2DAA, 3DAA) likewise over the objectives where they take opposite sides.
- Mobilisation of each objective: the sums of the positive and of the negative 3MAO entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analysis.errors import InputError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class MactorResult:
    """The MACTOR matrices and indicators, as plain arrays in the actors' order."""

    actors: tuple[str, ...]
    objectives: tuple[str, ...]
    mid: FloatArray
    midi: FloatArray
    #: Mi and Di: direct and indirect influence and dependence (diagonal left out)
    influence: FloatArray
    dependence: FloatArray
    #: Ri*: balance of power, mean 1
    power: FloatArray
    mao1: FloatArray
    mao2: FloatArray
    mao3: FloatArray
    caa1: FloatArray
    caa2: FloatArray
    caa3: FloatArray
    daa1: FloatArray
    daa2: FloatArray
    daa3: FloatArray
    #: per objective: the sum of the positive and of the negative 3MAO entries
    agreement: FloatArray
    disagreement: FloatArray


def _matrix(values: npt.ArrayLike, what: str) -> FloatArray:
    """A finite 2-D float matrix or a clear error."""
    try:
        matrix = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} must hold numbers") from None
    if matrix.ndim != 2:
        raise InputError(f"{what} must be a table (rows x columns)")
    if not np.isfinite(matrix).all():
        r, c = (int(i) for i in np.argwhere(~np.isfinite(matrix))[0])
        raise InputError(f"{what}: row {r + 1}, column {c + 1} is not a number")
    return matrix


def midi_of(mid: FloatArray) -> FloatArray:
    """MIDI_ij = MID_ij + sum_k min(MID_ik, MID_kj) (k other than i and j)."""
    chains = np.minimum(mid[:, :, None], mid[None, :, :])  # [i, k, j] = min(MID_ik, MID_kj)
    n = len(mid)
    for k in range(n):
        chains[k, k, :] = 0  # k == i
        chains[:, k, k] = 0  # k == j
    return np.asarray(mid + chains.sum(axis=1))


def _pair_sums(positions: FloatArray, same_side: bool, count: bool) -> FloatArray:
    """Convergence (same side) or divergence (opposite sides) of every pair of actors."""
    product = positions[:, None, :] * positions[None, :, :]
    mask = product > 0 if same_side else product < 0
    if count:
        out = mask.sum(axis=2).astype(np.float64)
    else:
        weight = (np.abs(positions)[:, None, :] + np.abs(positions)[None, :, :]) / 2.0
        out = (weight * mask).sum(axis=2)
    np.fill_diagonal(out, 0.0)
    return np.asarray(out)


def mactor(
    mid: npt.ArrayLike,
    positions: npt.ArrayLike,
    actors: Sequence[str] | None = None,
    objectives: Sequence[str] | None = None,
) -> MactorResult:
    """MACTOR from the actors' direct influences (MID, 0-4) and positions (2MAO, -4..+4)."""
    influence_matrix = _matrix(mid, "MID")
    mao2 = _matrix(positions, "2MAO")
    n = len(influence_matrix)
    if influence_matrix.shape != (n, n) or n < 2:
        raise InputError(f"MID must be square with at least 2 actors, got {influence_matrix.shape}")
    if mao2.shape[0] != n:
        raise InputError(f"2MAO has {mao2.shape[0]} rows for {n} actors")
    if (influence_matrix < 0).any():
        raise InputError("MID influences are 0-4, never negative")
    influence_matrix = influence_matrix.copy()
    np.fill_diagonal(influence_matrix, 0.0)
    names = tuple(actors) if actors is not None else tuple(f"A{i + 1}" for i in range(n))
    goals = (
        tuple(objectives)
        if objectives is not None
        else tuple(f"O{j + 1}" for j in range(mao2.shape[1]))
    )
    if len(names) != n or len(set(names)) != n:
        raise InputError(f"give {n} distinct actor names")
    if len(goals) != mao2.shape[1] or len(set(goals)) != len(goals):
        raise InputError(f"give {mao2.shape[1]} distinct objective names")
    midi = midi_of(influence_matrix)
    off_diagonal = midi - np.diag(np.diag(midi))
    m = off_diagonal.sum(axis=1)
    d = off_diagonal.sum(axis=0)
    if m.sum() <= 0:
        raise InputError("MID has no influence at all: no balance of power to compute")
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(m + d > 0, (m / m.sum()) * m / (m + d), 0.0)
    power = n * r / r.sum()
    mao1 = np.sign(mao2)
    mao3 = mao2 * power[:, None]
    return MactorResult(
        names,
        goals,
        influence_matrix,
        midi,
        m,
        d,
        power,
        mao1,
        mao2,
        mao3,
        _pair_sums(mao1, True, True),
        _pair_sums(mao2, True, False),
        _pair_sums(mao3, True, False),
        _pair_sums(mao1, False, True),
        _pair_sums(mao2, False, False),
        _pair_sums(mao3, False, False),
        np.where(mao3 > 0, mao3, 0.0).sum(axis=0),
        np.where(mao3 < 0, mao3, 0.0).sum(axis=0),
    )
