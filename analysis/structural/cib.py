"""Cross-impact balance analysis (CIB, Weimer-Jehle 2006): the model, its balances and succession.

A CIB model has descriptors, each with a few variants, and a square judgement matrix over all
variants: `matrix[r, c]` is the influence of variant r (of one descriptor) on variant c (of
another), usually an integer in -3..+3, rows acting on columns as in ScenarioWizard. Judgements of
a descriptor on itself have no meaning and are set to zero.

A scenario picks one variant per descriptor (0-based indices, descriptor order). Its impact
balance for variant c is the sum of the rows of its chosen variants at column c. A descriptor is
consistent when its chosen variant's balance is the largest in its block, within the tolerance;
the scenario's inconsistency is the largest shortfall over its descriptors, and its total impact
score (TIS) is the sum of its chosen variants' balances.

The search for all consistent scenarios lives in analysis.structural.cib_search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from analysis.errors import InputError

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
NumberArray: TypeAlias = npt.NDArray[np.number[Any]]
SuccessionMode: TypeAlias = Literal["global", "adjacent"]

#: rounding slack when judgements are not integers (balances are sums of floats)
FLOAT_SLACK = 1e-9


@dataclass(frozen=True)
class CibModel:
    """Descriptors, their variants and the cross-impact judgement matrix (rows act on columns)."""

    descriptors: tuple[str, ...]
    variants: tuple[tuple[str, ...], ...]
    #: variants x variants judgements; int32 when every judgement is an integer, else float64
    matrix: NumberArray
    name: str = ""

    @property
    def counts(self) -> tuple[int, ...]:
        """How many variants each descriptor has."""
        return tuple(len(v) for v in self.variants)

    @property
    def offsets(self) -> tuple[int, ...]:
        """The matrix row (and column) of each descriptor's first variant."""
        return tuple(int(x) for x in np.concatenate([[0], np.cumsum(self.counts)[:-1]]))

    @property
    def configurations(self) -> int:
        """How many scenarios the model has (the product of the variant counts)."""
        return int(np.prod(self.counts, dtype=object))

    @property
    def is_integer(self) -> bool:
        """True when every judgement is an integer (balances are then exact)."""
        return bool(self.matrix.dtype.kind == "i")

    def label(self, scenario: Sequence[int]) -> tuple[str, ...]:
        """The chosen variants' names, descriptor by descriptor."""
        return tuple(self.variants[d][int(v)] for d, v in enumerate(scenario))


def cib_model(
    descriptors: Sequence[str],
    variants: Sequence[Sequence[str]],
    matrix: npt.ArrayLike,
    name: str = "",
) -> CibModel:
    """A checked CibModel: names unique, one variant block per descriptor, a square finite matrix."""
    names = tuple(str(d).strip() for d in descriptors)
    blocks = tuple(tuple(str(v).strip() for v in block) for block in variants)
    if not names:
        raise InputError("a CIB model needs at least one descriptor")
    if len(blocks) != len(names):
        raise InputError(f"{len(names)} descriptors but {len(blocks)} variant lists")
    if len(set(names)) != len(names) or any(not n for n in names):
        raise InputError("descriptor names must be non-empty and unique")
    for descriptor, block in zip(names, blocks, strict=True):
        if len(block) < 2:
            raise InputError(f"descriptor {descriptor!r} needs at least two variants")
        if len(set(block)) != len(block):
            raise InputError(f"descriptor {descriptor!r} names a variant twice")
    try:
        values = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("the cross-impact matrix must hold numbers") from None
    size = sum(len(b) for b in blocks)
    if values.shape != (size, size):
        raise InputError(
            f"the cross-impact matrix must be {size} x {size} (one row and column per variant), "
            f"got {' x '.join(str(s) for s in values.shape)}"
        )
    if not np.isfinite(values).all():
        r, c = (int(i) for i in np.argwhere(~np.isfinite(values))[0])
        raise InputError(f"cross-impact matrix row {r + 1}, column {c + 1} is not a number")
    start = 0
    for block in blocks:
        values[start : start + len(block), start : start + len(block)] = 0.0
        start += len(block)
    typed: NumberArray
    if np.array_equal(values, np.round(values)) and np.abs(values).max(initial=0) < 2**20:
        typed = values.astype(np.int32)
    else:
        typed = values
    return CibModel(names, blocks, typed, name)


def check_scenario(model: CibModel, scenario: Sequence[int]) -> IntArray:
    """The scenario as an index array, each index within its descriptor's variants."""
    chosen = np.asarray(scenario, dtype=np.int64)
    if chosen.shape != (len(model.descriptors),):
        raise InputError(
            f"a scenario picks one variant for each of the {len(model.descriptors)} descriptors"
        )
    for d, (v, n) in enumerate(zip(chosen, model.counts, strict=True)):
        if not 0 <= v < n:
            raise InputError(f"descriptor {model.descriptors[d]!r} has no variant {int(v) + 1}")
    return chosen


def balances_of(model: CibModel, scenarios: npt.ArrayLike) -> FloatArray:
    """Impact balances of many scenarios at once: (n scenarios x variants)."""
    chosen = np.atleast_2d(np.asarray(scenarios, dtype=np.int64))
    rows = chosen + np.asarray(model.offsets, dtype=np.int64)
    return np.asarray(model.matrix[rows].sum(axis=1), dtype=np.float64)


def impact_balances(model: CibModel, scenario: Sequence[int]) -> FloatArray:
    """The impact balance of every variant under one scenario."""
    balances: FloatArray = balances_of(model, check_scenario(model, scenario)[None, :])[0]
    return balances


def shortfalls_of(model: CibModel, scenarios: npt.ArrayLike) -> FloatArray:
    """Per scenario and descriptor: the best balance in the block minus the chosen one's (>= 0)."""
    chosen = np.atleast_2d(np.asarray(scenarios, dtype=np.int64))
    balances = balances_of(model, chosen)
    out = np.empty(chosen.shape, dtype=np.float64)
    for d, (start, n) in enumerate(zip(model.offsets, model.counts, strict=True)):
        block = balances[:, start : start + n]
        out[:, d] = block.max(axis=1) - block[np.arange(len(chosen)), chosen[:, d]]
    return out


def inconsistency(model: CibModel, scenario: Sequence[int]) -> float:
    """The scenario's inconsistency: its largest shortfall over descriptors (0 = consistent)."""
    return float(shortfalls_of(model, check_scenario(model, scenario)[None, :])[0].max())


def is_consistent(model: CibModel, scenario: Sequence[int], tolerance: float = 0.0) -> bool:
    """True when no descriptor falls more than `tolerance` below its block's best balance."""
    return inconsistency(model, scenario) <= tolerance + FLOAT_SLACK


def total_impact_scores(model: CibModel, scenarios: npt.ArrayLike) -> FloatArray:
    """Total impact score of each scenario: the sum of its chosen variants' balances."""
    chosen = np.atleast_2d(np.asarray(scenarios, dtype=np.int64))
    columns = chosen + np.asarray(model.offsets, dtype=np.int64)
    balances = balances_of(model, chosen)
    return np.asarray(np.take_along_axis(balances, columns, axis=1).sum(axis=1), dtype=np.float64)


def total_impact_score(model: CibModel, scenario: Sequence[int]) -> float:
    """Total impact score of one scenario."""
    return float(total_impact_scores(model, check_scenario(model, scenario)[None, :])[0])


@dataclass(frozen=True)
class BalanceRow:
    """One descriptor under a scenario: its balances, the chosen and the best variants."""

    descriptor: str
    chosen: str
    balances: tuple[float, ...]
    best: tuple[str, ...]
    shortfall: float


def balance_table(model: CibModel, scenario: Sequence[int]) -> tuple[BalanceRow, ...]:
    """The impact balance sheet of a scenario, descriptor by descriptor."""
    chosen = check_scenario(model, scenario)
    balances = impact_balances(model, chosen.tolist())
    rows = []
    for d, (start, n) in enumerate(zip(model.offsets, model.counts, strict=True)):
        block = balances[start : start + n]
        top = block.max()
        rows.append(
            BalanceRow(
                model.descriptors[d],
                model.variants[d][int(chosen[d])],
                tuple(float(b) for b in block),
                tuple(model.variants[d][i] for i in np.flatnonzero(block >= top - FLOAT_SLACK)),
                float(top - block[int(chosen[d])]),
            )
        )
    return tuple(rows)


@dataclass(frozen=True)
class Succession:
    """Where a succession from a start scenario leads: a consistent end point or a cycle."""

    #: the scenarios visited, the start first
    path: tuple[tuple[int, ...], ...]
    #: the end point (consistent at tolerance 0), or None when the succession cycles
    end: tuple[int, ...] | None
    #: the scenarios of the cycle when it does not settle
    cycle: tuple[tuple[int, ...], ...]


def _best_in_block(block: FloatArray, current: int) -> int:
    """The variant with the top balance; the current one wins a tie, then the first."""
    top = block.max()
    if block[current] >= top - FLOAT_SLACK:
        return current
    return int(np.flatnonzero(block >= top - FLOAT_SLACK)[0])


def succession_step(model: CibModel, scenario: Sequence[int], mode: SuccessionMode) -> IntArray:
    """One succession step: every descriptor at once (global) or one after another (adjacent)."""
    chosen = check_scenario(model, scenario).copy()
    if mode not in ("global", "adjacent"):
        raise InputError(f"succession must be global or adjacent, not {mode!r}")
    balances = balances_of(model, chosen[None, :])[0]
    for d, (start, n) in enumerate(zip(model.offsets, model.counts, strict=True)):
        if mode == "adjacent":
            # each descriptor sees the changes made before it in this step
            balances = balances_of(model, chosen[None, :])[0]
        chosen[d] = _best_in_block(balances[start : start + n], int(chosen[d]))
    return chosen


def succession(
    model: CibModel,
    start: Sequence[int],
    mode: SuccessionMode = "global",
    max_steps: int = 1000,
) -> Succession:
    """Succession from a start scenario until it settles on a consistent scenario or cycles."""
    current = tuple(int(v) for v in check_scenario(model, start))
    path = [current]
    seen = {current: 0}
    for _ in range(max_steps):
        following = tuple(int(v) for v in succession_step(model, current, mode))
        if following == current:
            return Succession(tuple(path), current, ())
        if following in seen:
            return Succession(tuple(path), None, tuple(path[seen[following] :]))
        seen[following] = len(path)
        path.append(following)
        current = following
    raise InputError(f"succession did not settle or cycle within {max_steps} steps")
