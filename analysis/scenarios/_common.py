"""Shared pieces of the scenario methods: input checks, event states and their labels.

A scenario (state) of n events is a 0/1 vector t; its index is k = sum_i t_i 2^i, so event i is
bit i of k. Its label is the bit string "t_0 t_1 ... t_{n-1}" (event order as given), e.g. "1101"
means events 1, 2 and 4 occur and event 3 does not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from analysis.errors import InputError

FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
IntArray: TypeAlias = npt.NDArray[np.int64]

#: the most events whose 2^n states are ever enumerated in memory at once
ENUMERATION_LIMIT = 26


def event_keys_for(n: int, event_keys: Sequence[str] | None) -> tuple[str, ...]:
    """The event keys, checked for count and uniqueness; E01, E02, ... when none are given."""
    if event_keys is None:
        width = max(2, len(str(n)))
        return tuple(f"E{i + 1:0{width}d}" for i in range(n))
    keys = tuple(str(k) for k in event_keys)
    if len(keys) != n:
        raise InputError(f"event_keys has {len(keys)} keys for {n} events")
    seen: set[str] = set()
    for key in keys:
        if not key.strip():
            raise InputError("event_keys contains an empty key")
        if key in seen:
            raise InputError(f"event key {key!r} appears twice")
        seen.add(key)
    return keys


def provisional_keys(
    values: npt.ArrayLike, event_keys: Sequence[str] | None
) -> tuple[str, ...] | None:
    """Keys to name entries in error messages before the input has been checked."""
    if event_keys is not None:
        return tuple(str(k) for k in event_keys)
    try:
        shape = np.shape(values)
    except ValueError:  # ragged lists
        return None
    return event_keys_for(shape[0], None) if len(shape) == 1 else None


def check_vector(
    values: npt.ArrayLike, *, name: str, keys: Sequence[str] | None = None
) -> FloatArray:
    """A 1-D array of probabilities in [0, 1]; InputError names the first bad entry."""
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numbers") from None
    if array.ndim != 1:
        raise InputError(f"{name} must be a list of probabilities, one per event")
    if array.size == 0:
        raise InputError(f"{name} is empty: there must be at least one event")
    bad = np.flatnonzero(~np.isfinite(array) | (array < 0.0) | (array > 1.0))
    if bad.size:
        i = int(bad[0])
        where = keys[i] if keys is not None and i < len(keys) else str(i)
        raise InputError(f"{name}[{where}] = {float(array[i])!r} is not a probability in [0, 1]")
    return array


def check_matrix(
    values: npt.ArrayLike, *, name: str, n: int, keys: Sequence[str] | None = None
) -> FloatArray:
    """An (n, n) matrix of probabilities off the diagonal; the diagonal is ignored (set to NaN)."""
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numbers") from None
    if array.shape != (n, n):
        raise InputError(f"{name} must be a {n} x {n} matrix, not {_shape_text(array.shape)}")
    off = ~np.eye(n, dtype=bool)
    bad = np.argwhere(off & (~np.isfinite(array) | (array < 0.0) | (array > 1.0)))
    if bad.size:
        i, j = (int(x) for x in bad[0])
        row = keys[i] if keys is not None else str(i)
        col = keys[j] if keys is not None else str(j)
        raise InputError(
            f"{name}[{row}, {col}] = {float(array[i, j])!r} is not a probability in [0, 1]"
        )
    array[~off] = np.nan
    return array


def _shape_text(shape: tuple[int, ...]) -> str:
    return " x ".join(str(s) for s in shape) if shape else "a single number"


def check_seed(seed: int) -> int:
    """A seed usable by numpy's default_rng; bools and negative numbers are refused."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, not {seed!r}")
    return int(seed)


def check_positive_int(value: int, *, name: str, minimum: int = 1) -> int:
    """An integer >= minimum, or InputError naming the field."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return int(value)


def state_bits(n: int, indices: npt.ArrayLike | None = None) -> npt.NDArray[np.uint8]:
    """0/1 matrix (states x n): row r holds the events of state indices[r] (all 2^n if None)."""
    if indices is None:
        if n > ENUMERATION_LIMIT:
            raise InputError(f"{n} events have too many scenarios (2^{n}) to list them all")
        index = np.arange(2**n, dtype=np.int64)
    else:
        index = np.asarray(indices, dtype=np.int64)
    shifts = np.arange(n, dtype=np.int64)
    return ((index[:, None] >> shifts) & 1).astype(np.uint8)


def pack_states(bits: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    """State index of each row of a 0/1 matrix (up to 64 events)."""
    array = np.asarray(bits)
    n = array.shape[1]
    if n > 64:
        raise InputError(f"at most 64 events fit a packed state, not {n}")
    weights = np.left_shift(np.uint64(1), np.arange(n, dtype=np.uint64))
    packed: npt.NDArray[np.uint64] = (array.astype(np.uint64) * weights).sum(
        axis=1, dtype=np.uint64
    )
    return packed


def unpack_states(keys: npt.ArrayLike, n: int) -> npt.NDArray[np.uint8]:
    """0/1 matrix of packed state indices (inverse of pack_states)."""
    array = np.asarray(keys, dtype=np.uint64)
    shifts = np.arange(n, dtype=np.uint64)
    return ((array[:, None] >> shifts) & np.uint64(1)).astype(np.uint8)


def state_labels(bits: npt.NDArray[np.uint8]) -> list[str]:
    """Bit-string label of each row, event 1 first (e.g. '1101')."""
    if bits.shape[0] == 0:
        return []
    chars = np.where(np.asarray(bits, dtype=bool), "1", "0")
    return ["".join(row) for row in chars.tolist()]


def occurring_events(bits: npt.NDArray[np.uint8], keys: Sequence[str]) -> list[str]:
    """For each row, the keys of the events that occur, joined by ' + ' ('none' if none do)."""
    mask = np.asarray(bits, dtype=bool)
    out: list[str] = []
    for row in mask:
        names = [keys[int(i)] for i in np.flatnonzero(row)]
        out.append(" + ".join(names) if names else "none")
    return out


def states_from_labels(labels: Sequence[str], n: int) -> npt.NDArray[np.uint8]:
    """0/1 matrix from bit-string labels; InputError names a malformed label."""
    out = np.zeros((len(labels), n), dtype=np.uint8)
    for r, label in enumerate(labels):
        if len(label) != n or set(label) - {"0", "1"}:
            raise InputError(f"scenario label {label!r} is not a string of {n} zeros and ones")
        out[r] = np.frombuffer(label.encode(), dtype=np.uint8) - ord("0")
    return out


def as_states(states: npt.ArrayLike | Sequence[str], n: int) -> npt.NDArray[np.uint8]:
    """Accept a 0/1 matrix (rows = states), one 0/1 vector, or bit-string labels."""
    if isinstance(states, str):
        return states_from_labels([states], n)
    if isinstance(states, Sequence) and states and isinstance(states[0], str):
        return states_from_labels([str(s) for s in states], n)
    array = np.asarray(states)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != n:
        raise InputError(f"states must have {n} columns (one per event), not shape {array.shape}")
    if not np.isin(array, (0, 1)).all():
        raise InputError("states must hold only 0 and 1")
    return array.astype(np.uint8)


def logit(p: npt.ArrayLike) -> FloatArray:
    """Log-odds; callers clip away 0 and 1 first."""
    q = np.asarray(p, dtype=np.float64)
    return np.asarray(np.log(q) - np.log1p(-q), dtype=np.float64)


def wilson_interval(
    successes: npt.ArrayLike, trials: float, z: float = 1.959963984540054
) -> tuple[FloatArray, FloatArray]:
    """Wilson score interval for a binomial proportion (95 % by default)."""
    k = np.asarray(successes, dtype=np.float64)
    p = k / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2.0 * trials)) / denominator
    half = z * np.sqrt(p * (1.0 - p) / trials + z * z / (4.0 * trials * trials)) / denominator
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def pair_indices(n: int) -> tuple[IntArray, IntArray]:
    """Upper-triangle (i < j) index arrays in row order: the order of pairwise moments."""
    rows, cols = np.triu_indices(n, 1)
    return rows.astype(np.int64), cols.astype(np.int64)


def log_sum_exp(values: FloatArray) -> float:
    """log(sum(exp(values))) without overflow."""
    if values.size == 0:
        return -math.inf
    top = float(np.max(values))
    if not math.isfinite(top):
        return top
    return top + math.log(float(np.exp(values - top).sum()))
