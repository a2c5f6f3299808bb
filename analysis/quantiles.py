"""Sample quantiles by the nine definitions of Hyndman & Fan (1996), R's `quantile(type=1..9)`.

Vectorised over many groups at once: values sorted within groups and laid end to end, each group
given by its start offset and size. "type7" is R's default and numpy's "linear"; "type6" is
SPSS's and numpy's "weibull".
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from analysis.errors import InputError

QuantileMethod: TypeAlias = Literal[
    "type1", "type2", "type3", "type4", "type5", "type6", "type7", "type8", "type9"
]
QUANTILE_METHODS: tuple[str, ...] = tuple(f"type{i}" for i in range(1, 10))

#: numpy's name for each type, for readers who know numpy
NUMPY_NAMES = {
    "type1": "inverted_cdf",
    "type2": "averaged_inverted_cdf",
    "type3": "closest_observation",
    "type4": "interpolated_inverted_cdf",
    "type5": "hazen",
    "type6": "weibull",
    "type7": "linear",
    "type8": "median_unbiased",
    "type9": "normal_unbiased",
}

# (alpha, beta) of the continuous types: m = alpha + p (1 - alpha - beta)
_CONTINUOUS = {
    "type4": (0.0, 1.0),
    "type5": (0.5, 0.5),
    "type6": (0.0, 0.0),
    "type7": (1.0, 1.0),
    "type8": (1.0 / 3.0, 1.0 / 3.0),
    "type9": (3.0 / 8.0, 3.0 / 8.0),
}
# R compares the fractional part with a fuzz, so that 0.3 * 10 counts as exactly 3
_FUZZ = 4 * np.finfo(np.float64).eps

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.intp]


def check_method(method: str) -> QuantileMethod:
    """The method name, or InputError listing the accepted names."""
    if method not in QUANTILE_METHODS:
        raise InputError(
            f"unknown quantile method {method!r}; use one of {', '.join(QUANTILE_METHODS)}"
        )
    return method  # type: ignore[return-value]  # checked just above


def grouped_quantile(
    sorted_values: FloatArray, starts: IntArray, counts: IntArray, p: float, method: str
) -> FloatArray:
    """The p-quantile of each group (NaN for an empty group) from group-sorted values."""
    method = check_method(method)
    n = counts.astype(np.float64)
    result = np.full(len(counts), np.nan)
    present = counts > 0
    if not present.any():
        return result
    n = n[present]
    first = starts[present]
    last = first + counts[present] - 1

    def at(position: npt.NDArray[np.float64]) -> FloatArray:
        """x_position (1-based), clamped to the group."""
        index = first + np.clip(position, 1, n).astype(np.intp) - 1
        picked: FloatArray = sorted_values[np.minimum(index, last)]
        return picked

    if method in _CONTINUOUS:
        alpha, beta = _CONTINUOUS[method]
        h = n * p + alpha + p * (1.0 - alpha - beta)
        j = np.floor(h + _FUZZ)
        g = h - j
        g[np.abs(g) < _FUZZ] = 0.0
        low, high = at(j), at(j + 1)
        # (1 - g) x_j + g x_{j+1}, written so that equal neighbours give exactly that value
        result[present] = low + g * (high - low)
        return result
    m = -0.5 if method == "type3" else 0.0
    h = n * p + m
    j = np.floor(h + _FUZZ)
    g = h - j
    exact = np.abs(g) < _FUZZ
    low, high = at(j), at(j + 1)
    if method == "type1":
        chosen = np.where(exact, low, high)
    elif method == "type2":
        chosen = np.where(exact, (low + high) / 2.0, high)
    else:  # type3: round half to even on the order statistic
        chosen = np.where(exact & (j % 2 == 0), low, high)
    result[present] = chosen
    return result


def quantile(values: npt.ArrayLike, p: float, method: str = "type7") -> float:
    """The p-quantile of one sample (NaN when empty)."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    starts = np.zeros(1, dtype=np.intp)
    counts = np.array([len(ordered)], dtype=np.intp)
    return float(grouped_quantile(ordered, starts, counts, p, method)[0])
