"""CIB ensembles: how often each scenario is consistent across panel members or judgement noise.

Panel ensemble: every member judges the same descriptors and variants; each member's matrix is
solved, and every scenario consistent for at least one member is counted. The sum of the members'
matrices (Weimer-Jehle's ensemble matrix, equivalent to their mean up to the tolerance) is solved
too, and the table says which scenarios it keeps.

Noise ensemble: the model's matrix is perturbed `runs` times with a seeded generator; each
non-zero judgement moves one step down or up with probability `change` / 2 each (zeros, "no
influence", stay unless `include_zeros`), and the perturbed matrices are solved like a panel.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.errors import InputError
from analysis.structural.cib import FLOAT_SLACK, CibModel, cib_model
from analysis.structural.cib_search import EXHAUSTIVE_UP_TO, SearchMethod, consistent_scenarios

#: (members x configurations x descriptors x variants) cells gathered at once by the batched
#: check (8 bytes each): a few tens of MB
_BATCH_CELLS = 4_000_000


@dataclass(frozen=True)
class Ensemble:
    """Scenarios consistent in at least one member, with how often they are."""

    model: CibModel
    #: how many matrices were solved
    members: int
    #: one row per scenario: variant names, `consistent_in` (count), `share`, `in_sum` (panel
    #: ensembles: consistent under the summed matrix; None for noise ensembles), most frequent first
    table: pd.DataFrame
    #: how many consistent scenarios each member's matrix has, member by member
    per_member: tuple[int, ...]


def _member_model(model: CibModel, matrix: npt.ArrayLike, which: int) -> CibModel:
    """A member's matrix on the shared descriptors, its shape checked."""
    values = np.asarray(matrix, dtype=np.float64)
    if values.shape != model.matrix.shape:
        raise InputError(
            f"member {which + 1}: matrix is {' x '.join(map(str, values.shape))}, "
            f"expected {model.matrix.shape[0]} x {model.matrix.shape[1]}"
        )
    return cib_model(model.descriptors, model.variants, values, model.name)


def _consistent_by_member(
    model: CibModel, members: Sequence[CibModel], tolerance: float
) -> list[list[tuple[int, ...]]]:
    """Each member's consistent scenarios, by checking every configuration of the (small)
    model for many members at once: the same scenarios as `consistent_scenarios` member by
    member (the same balances, slack and test), without a search per member, which for a panel
    of thousands cost most of its analysis."""
    configs = np.indices(model.counts).reshape(len(model.counts), -1).T  # C x D, in order
    rows = configs + np.asarray(model.offsets, dtype=np.int64)
    width = model.matrix.shape[1]
    at_once = max(1, _BATCH_CELLS // (len(configs) * width * len(model.counts)))
    every = np.arange(len(configs))
    found: list[list[tuple[int, ...]]] = []
    for start in range(0, len(members), at_once):
        chunk = members[start : start + at_once]
        stack = np.stack([np.asarray(m.matrix, dtype=np.float64) for m in chunk])
        balances = stack[:, rows, :].sum(axis=2)  # members x configurations x variants
        worst = np.zeros((len(chunk), len(configs)))
        for d, (offset, count) in enumerate(zip(model.offsets, model.counts, strict=True)):
            block = balances[:, :, offset : offset + count]
            own = block[:, every, configs[:, d]]
            np.maximum(worst, block.max(axis=2) - own, out=worst)
        # the search's slack: whole numbers compare exactly, others with FLOAT_SLACK
        slack = np.array(
            [float(np.floor(tolerance)) if m.is_integer else tolerance + FLOAT_SLACK for m in chunk]
        )
        consistent = worst <= slack[:, None]
        found.extend([tuple(c) for c in configs[consistent[i]].tolist()] for i in range(len(chunk)))
    return found


def _tally(
    model: CibModel,
    members: Sequence[CibModel],
    tolerance: float,
    method: SearchMethod,
    in_sum: set[tuple[int, ...]] | None,
) -> Ensemble:
    """Solve every member and count the scenarios."""
    counts: Counter[tuple[int, ...]] = Counter()
    per_member = []
    if method != "pruned" and model.configurations <= EXHAUSTIVE_UP_TO:
        solved = _consistent_by_member(model, members, tolerance)
    else:
        solved = [consistent_scenarios(m, tolerance, method).tuples() for m in members]
    for found in solved:
        per_member.append(len(found))
        counts.update(found)
    keys = sorted(counts, key=lambda k: (-counts[k], k))
    frame = pd.DataFrame(
        {d: [model.variants[i][k[i]] for k in keys] for i, d in enumerate(model.descriptors)}
    )
    frame["consistent_in"] = [counts[k] for k in keys]
    frame["share"] = frame["consistent_in"] / max(len(members), 1)
    frame["in_sum"] = [(k in in_sum) if in_sum is not None else None for k in keys]
    frame.attrs["scenarios"] = keys
    return Ensemble(model, len(members), frame, tuple(per_member))


def panel_ensemble(
    model: CibModel,
    matrices: Sequence[npt.ArrayLike],
    tolerance: float = 0.0,
    method: SearchMethod = "auto",
) -> Ensemble:
    """Consistent scenarios member by member, and under the members' summed matrix."""
    if not matrices:
        raise InputError("a panel ensemble needs at least one member's matrix")
    members = [_member_model(model, m, i) for i, m in enumerate(matrices)]
    summed = cib_model(
        model.descriptors,
        model.variants,
        np.sum([np.asarray(m.matrix, dtype=np.float64) for m in members], axis=0),
        model.name,
    )
    in_sum = set(consistent_scenarios(summed, tolerance, method).tuples())
    return _tally(model, members, tolerance, method, in_sum)


def noisy_matrices(
    model: CibModel, runs: int, seed: int, change: float = 0.3, include_zeros: bool = False
) -> list[npt.NDArray[np.int32]]:
    """`runs` perturbed copies of the matrix: judgements one step down or up, each with change/2."""
    if not model.is_integer:
        raise InputError("judgement noise needs integer judgements")
    if not 0 <= change <= 1:
        raise InputError(f"change must be a probability in 0..1, not {change}")
    if runs < 1:
        raise InputError("runs must be at least 1")
    rng = np.random.default_rng(seed)
    base = np.asarray(model.matrix, dtype=np.int32)
    movable = np.ones(base.shape, dtype=bool) if include_zeros else base != 0
    out = []
    for _ in range(runs):
        draw = rng.random(base.shape)
        step = np.where(draw < change / 2, -1, np.where(draw < change, 1, 0)).astype(np.int32)
        out.append(base + step * movable)
    return out


def noise_ensemble(
    model: CibModel,
    runs: int,
    seed: int,
    change: float = 0.3,
    include_zeros: bool = False,
    tolerance: float = 0.0,
    method: SearchMethod = "auto",
) -> Ensemble:
    """How robust each consistent scenario is to one-step changes of the judgements."""
    matrices = noisy_matrices(model, runs, seed, change, include_zeros)
    members = [cib_model(model.descriptors, model.variants, m, model.name) for m in matrices]
    return _tally(model, members, tolerance, method, None)
