"""All consistent scenarios of a CIB model: exhaustive for small models, branch and bound beyond.

Both searches grow partial scenarios one descriptor at a time, many at once as numpy arrays (a
frontier of partial scenarios and their partial impact balances), in chunks that bound memory.

The exhaustive search keeps every partial scenario and checks consistency at the end. The pruned
search (branch and bound) drops a partial scenario as soon as one of its chosen variants can no
longer be within the tolerance of its block's best balance, however the undecided descriptors are
set: for a decided descriptor j with chosen variant a and any rival variant b, the undecided
descriptors can add at most sum_i max_s (M[i s, j a] - M[i s, j b]) to the lead of a over b; those
bounds are precomputed for every level. Descriptors are ordered so that strongly linked ones are
decided together, which makes the bounds bite early.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.errors import InputError
from analysis.structural.cib import (
    FLOAT_SLACK,
    CibModel,
    IntArray,
    NumberArray,
    shortfalls_of,
    total_impact_scores,
)

SearchMethod: TypeAlias = Literal["auto", "exhaustive", "pruned"]

#: models up to this many configurations are searched exhaustively under method="auto"
EXHAUSTIVE_UP_TO = 20_000
#: the largest model the exhaustive search accepts (it checks every configuration)
EXHAUSTIVE_LIMIT = 50_000_000
#: the most partial-scenario balance cells held in one chunk (about 64 MB of int32)
CHUNK_CELLS = 16_000_000


@dataclass(frozen=True)
class ScenarioSet:
    """Consistent scenarios: variant indices, their inconsistency and total impact score."""

    model: CibModel
    #: scenarios x descriptors, 0-based variant indices
    scenarios: IntArray
    inconsistency: npt.NDArray[np.float64]
    total_impact_score: npt.NDArray[np.float64]
    tolerance: float
    method: str
    #: partial scenarios the search looked at (a measure of its work)
    visited: int

    def __len__(self) -> int:
        """How many scenarios the set holds."""
        return len(self.scenarios)

    def as_frame(self) -> pd.DataFrame:
        """One row per scenario: the variant names by descriptor, inconsistency and TIS."""
        frame = pd.DataFrame(
            {
                d: [self.model.variants[i][v] for v in self.scenarios[:, i]]
                for i, d in enumerate(self.model.descriptors)
            }
        )
        frame["inconsistency"] = self.inconsistency
        frame["total_impact_score"] = self.total_impact_score
        return frame

    def tuples(self) -> list[tuple[int, ...]]:
        """The scenarios as tuples of variant indices, in the set's order."""
        return [tuple(int(v) for v in row) for row in self.scenarios]


def descriptor_order(model: CibModel) -> list[int]:
    """A search order: start from the most linked descriptor, then add the one most linked to
    those already placed (ties: fewer variants first)."""
    n = len(model.descriptors)
    offsets, counts = model.offsets, model.counts
    strength = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j:
                block = np.asarray(
                    model.matrix[
                        offsets[i] : offsets[i] + counts[i], offsets[j] : offsets[j] + counts[j]
                    ],
                    dtype=np.float64,
                )
                # how much descriptor i can swing descriptor j's choice
                strength[i, j] = float((block.max(axis=0) - block.min(axis=0)).sum())
    link = strength + strength.T
    order = [int(np.argmax(link.sum(axis=1) - 1e-6 * np.asarray(counts)))]
    while len(order) < n:
        rest = [i for i in range(n) if i not in order]
        scores = [link[i, order].sum() - 1e-6 * counts[i] for i in rest]
        order.append(rest[int(np.argmax(scores))])
    return order


def _permuted(model: CibModel, order: list[int]) -> tuple[NumberArray, list[int], list[int]]:
    """The matrix with descriptors in search order, and the new offsets and counts."""
    index = np.concatenate(
        [np.arange(model.offsets[d], model.offsets[d] + model.counts[d]) for d in order]
    )
    counts = [model.counts[d] for d in order]
    offsets = [int(x) for x in np.concatenate([[0], np.cumsum(counts)[:-1]])]
    return model.matrix[np.ix_(index, index)], offsets, counts


def _lead_bounds(
    matrix: NumberArray, offsets: list[int], counts: list[int]
) -> list[list[NumberArray]]:
    """bounds[k][j][a, b]: the most the descriptors k.. (other than j) can add to a's lead over b."""
    n = len(counts)
    gain: list[list[NumberArray]] = []
    for i in range(n):
        rows = matrix[offsets[i] : offsets[i] + counts[i]]
        per_j = []
        for j in range(n):
            block = rows[:, offsets[j] : offsets[j] + counts[j]]
            # max over i's variants s of block[s, a] - block[s, b]
            lead = (block[:, :, None] - block[:, None, :]).max(axis=0)
            per_j.append(lead if i != j else np.zeros_like(lead))
        gain.append(per_j)
    bounds: list[list[NumberArray]] = [[np.zeros_like(gain[0][j]) for j in range(n)]]
    for k in range(n - 1, -1, -1):
        bounds.insert(0, [bounds[0][j] + gain[k][j] for j in range(n)])
    return bounds


def _survivors(
    chosen: IntArray,
    balance: NumberArray,
    rows: NumberArray,
    blocks: list[tuple[int, int]],
    ceilings: list[NumberArray] | None,
    slack: float,
) -> tuple[IntArray, IntArray]:
    """Which (partial scenario, next variant) pairs stay within reach of consistency.

    Works on each decided descriptor's block only (N x m x m_j), newest descriptor first, and
    drops partial scenarios with no surviving extension as it goes, so the full balance rows are
    built only for survivors.
    """
    level = chosen.shape[1]
    m = len(rows)
    alive = np.arange(len(chosen))
    keep = np.ones((len(chosen), m), dtype=bool)
    for j in range(level, -1, -1):
        start, width = blocks[j]
        block = (
            balance[alive, start : start + width][:, None, :] + rows[None, :, start : start + width]
        )
        if j == level:
            # the new descriptor: its own variant is the one being added
            picks = np.arange(m)
            own = block[:, picks, picks][:, :, None]
            room = ceilings[j][picks][None, :, :] if ceilings is not None else 0
        else:
            mine = chosen[alive, j].astype(np.intp)
            own = np.take_along_axis(block, mine[:, None, None], axis=2)
            room = ceilings[j][mine][:, None, :] if ceilings is not None else 0
        keep[alive] &= (block <= own + room + slack).all(axis=2)
        still = keep[alive].any(axis=1)
        if not still.all():
            alive = alive[still]
            if not len(alive):
                break
    frontier, variant = np.nonzero(keep)
    return frontier, variant


def _search(
    model: CibModel, tolerance: float, prune: bool, order: list[int]
) -> tuple[IntArray, int]:
    """Every scenario (in model order) within the tolerance; also the partial scenarios visited."""
    matrix, offsets, counts = _permuted(model, order)
    if model.is_integer and np.abs(matrix).sum(axis=0).max(initial=0) < 2**15:
        matrix = matrix.astype(np.int16)  # halves the memory traffic; balances cannot overflow
    n = len(counts)
    slack = tolerance + (0 if model.is_integer else FLOAT_SLACK)
    if model.is_integer:
        slack = float(np.floor(slack))
    bounds = _lead_bounds(matrix, offsets, counts) if prune else []
    blocks = list(zip(offsets, counts, strict=True))
    width = matrix.shape[1]
    found: list[IntArray] = []
    visited = 0
    start_balance = np.zeros((1, width), dtype=matrix.dtype)
    stack: list[tuple[IntArray, NumberArray]] = [(np.zeros((1, 0), dtype=np.int8), start_balance)]
    chunk_rows = max(1, CHUNK_CELLS // width)
    while stack:
        chosen, balance = stack.pop()
        level = chosen.shape[1]
        m = counts[level]
        if len(chosen) * m > chunk_rows and len(chosen) > 1:
            half = len(chosen) // 2
            stack.append((chosen[half:], balance[half:]))
            stack.append((chosen[:half], balance[:half]))
            continue
        rows = matrix[offsets[level] : offsets[level] + m]
        visited += len(chosen) * m
        last = level == n - 1
        if prune or last:
            ceilings = bounds[level + 1] if prune and not last else None
            frontier, variant = _survivors(chosen, balance, rows, blocks, ceilings, slack)
        else:
            frontier = np.repeat(np.arange(len(chosen)), m)
            variant = np.tile(np.arange(m), len(chosen))
        chosen = np.concatenate([chosen[frontier], variant.astype(np.int8)[:, None]], axis=1)
        if last:
            if len(chosen):
                found.append(chosen)
        elif len(chosen):
            stack.append((chosen, balance[frontier] + rows[variant]))
    if not found:
        return np.zeros((0, n), dtype=np.int64), visited
    permuted = np.concatenate(found).astype(np.int64)
    scenarios = np.empty_like(permuted)
    scenarios[:, order] = permuted
    return scenarios, visited


def consistent_scenarios(
    model: CibModel, tolerance: float = 0.0, method: SearchMethod = "auto"
) -> ScenarioSet:
    """Every scenario whose inconsistency is at most `tolerance`, most consistent first.

    Sorted by inconsistency, then total impact score (highest first), then variant indices.
    `method`: exhaustive, pruned (branch and bound), or auto (exhaustive up to
    EXHAUSTIVE_UP_TO configurations).
    """
    if tolerance < 0 or not np.isfinite(tolerance):
        raise InputError(f"the inconsistency tolerance must be a number >= 0, not {tolerance}")
    if method not in ("auto", "exhaustive", "pruned"):
        raise InputError(f"search method must be auto, exhaustive or pruned, not {method!r}")
    if max(model.counts) > 127:
        raise InputError("a descriptor may have at most 127 variants")
    if method == "exhaustive" and model.configurations > EXHAUSTIVE_LIMIT:
        raise InputError(
            f"{model.configurations:,} configurations are too many to check one by one "
            f"(limit {EXHAUSTIVE_LIMIT:,}): use method pruned or auto"
        )
    chosen_method = method
    if method == "auto":
        chosen_method = "exhaustive" if model.configurations <= EXHAUSTIVE_UP_TO else "pruned"
    order = descriptor_order(model) if chosen_method == "pruned" else list(range(len(model.counts)))
    scenarios, visited = _search(model, tolerance, chosen_method == "pruned", order)
    if len(scenarios):
        shortfall = shortfalls_of(model, scenarios).max(axis=1)
        score = total_impact_scores(model, scenarios)
    else:
        shortfall = np.zeros(0)
        score = np.zeros(0)
    keys = [scenarios[:, i] for i in range(scenarios.shape[1] - 1, -1, -1)]
    rank = np.lexsort([*keys, -score, np.round(shortfall, 9)])
    return ScenarioSet(
        model,
        scenarios[rank],
        shortfall[rank],
        score[rank],
        float(tolerance),
        str(chosen_method),
        visited,
    )
