"""Panel-level agreement: Kendall's W (with the tie correction) and Krippendorff's alpha."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy import stats

from analysis.errors import InputError

FloatArray: TypeAlias = npt.NDArray[np.float64]
Level: TypeAlias = Literal["nominal", "ordinal", "interval", "ratio"]


@dataclass(frozen=True)
class KendallW:
    """Kendall's coefficient of concordance for m raters ranking n items."""

    w: float
    #: W with the tie correction (the one chi2 and p use; equals scipy's Friedman statistic)
    w_corrected: float
    chi2: float
    df: int
    p: float
    m: int
    n: int
    #: sum over raters and tie groups of t^3 - t
    tie_term: float
    #: raters left out because they missed an item (W needs complete rankings)
    raters_dropped: int
    items_dropped: int


def _as_matrix(ratings: npt.ArrayLike, what: str) -> FloatArray:
    try:
        matrix = np.asarray(ratings, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numbers (use NaN for a missing rating)") from None
    if matrix.ndim != 2:
        raise InputError(f"{what} must be a raters x items table, got {matrix.ndim} dimension(s)")
    if np.isinf(matrix).any():
        r, c = (int(v) for v in np.argwhere(np.isinf(matrix))[0])
        raise InputError(f"{what}: rater {r}, item {c} is infinite")
    return matrix


def kendall_w(ratings: npt.ArrayLike) -> KendallW:
    """Kendall's W from a raters x items table of ratings or ranks (ranked within each rater).

    Missing ratings (NaN): items nobody rated are left out first, then every rater who missed
    any remaining item (listwise deletion, as in R's irr); both counts are reported. Ties get
    average ranks. W = 12 S / (m^2 (n^3 - n)); the corrected W subtracts m T from the
    denominator; chi2 = m (n - 1) W_corrected on n - 1 degrees of freedom.
    """
    matrix = _as_matrix(ratings, "ratings")
    rated = ~np.isnan(matrix).all(axis=0)
    matrix = matrix[:, rated]
    complete = ~np.isnan(matrix).any(axis=1)
    kept = matrix[complete]
    m, n = kept.shape
    if m < 2 or n < 2:
        raise InputError(
            f"Kendall's W needs at least 2 raters and 2 items with complete ratings (have {m} x {n})"
        )
    ranks = stats.rankdata(kept, axis=1)
    column_sums = ranks.sum(axis=0)
    s = float(((column_sums - column_sums.mean()) ** 2).sum())
    tie_term = 0.0
    for row in kept:
        _, counts = np.unique(row, return_counts=True)
        tie_term += float((counts**3 - counts).sum())
    denominator = m * m * (n**3 - n)
    w = 12.0 * s / denominator
    corrected_denominator = denominator - m * tie_term
    # every rater tying every item: no ranking at all, so no concordance to measure
    w_corrected = 12.0 * s / corrected_denominator if corrected_denominator > 0 else float("nan")
    chi2 = m * (n - 1) * w_corrected
    return KendallW(
        w=w,
        w_corrected=w_corrected,
        chi2=chi2,
        df=n - 1,
        p=float(stats.chi2.sf(chi2, n - 1)),
        m=m,
        n=n,
        tie_term=tie_term,
        raters_dropped=int((~complete).sum()),
        items_dropped=int((~rated).sum()),
    )


@dataclass(frozen=True)
class KrippendorffAlpha:
    """Krippendorff's alpha with the counts it rests on."""

    alpha: float
    level: Level
    #: pairable values (in units with at least two ratings)
    n_pairable: int
    units_used: int


def krippendorff_alpha(ratings: npt.ArrayLike, level: Level = "ordinal") -> KrippendorffAlpha:
    """Krippendorff's alpha from a raters x units table; NaN marks a missing rating.

    Units with fewer than two ratings cannot be paired and are left out. Built on the
    coincidence matrix with the difference functions of Krippendorff (2011): nominal (0/1),
    ordinal (on the cumulative frequencies of the values used), interval (squared difference)
    and ratio (squared difference over the squared sum).
    """
    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise InputError(f"level must be nominal, ordinal, interval or ratio: {level!r}")
    matrix = _as_matrix(ratings, "ratings")
    if level == "ratio" and (matrix[~np.isnan(matrix)] < 0).any():
        raise InputError("ratio-level alpha needs non-negative values")
    present = ~np.isnan(matrix)
    pairable_units = present.sum(axis=0) >= 2
    matrix = matrix[:, pairable_units]
    present = present[:, pairable_units]
    by_unit = matrix.T  # units x raters
    unit_of, _ = np.nonzero(present.T)
    values, codes = np.unique(by_unit[present.T], return_inverse=True)
    if len(values) == 0:
        raise InputError("Krippendorff's alpha needs at least one unit rated twice")
    n_units = by_unit.shape[0]
    # counts[u, v]: how many raters gave unit u the value v
    counts = np.zeros((n_units, len(values)))
    np.add.at(counts, (unit_of, codes), 1.0)
    per_unit = counts.sum(axis=1)
    scaled = counts / (per_unit - 1.0)[:, None]
    coincidence = scaled.T @ counts - np.diag(scaled.sum(axis=0))
    marginals = coincidence.sum(axis=1)
    total = float(marginals.sum())
    delta = _difference(values, marginals, level)
    observed = float((coincidence * delta).sum())
    expected = float((np.outer(marginals, marginals) * delta).sum())
    # a single value used throughout leaves no variation to agree or disagree on: NaN
    alpha = float("nan") if expected == 0 else 1.0 - (total - 1.0) * observed / expected
    return KrippendorffAlpha(alpha, level, int(total), int(n_units))


def _difference(values: FloatArray, marginals: FloatArray, level: Level) -> FloatArray:
    """Squared difference delta^2(c, k) between every pair of values."""
    c, k = values[:, None], values[None, :]
    if level == "nominal":
        nominal: FloatArray = (c != k).astype(np.float64)
        return nominal
    if level == "interval":
        return np.asarray((c - k) ** 2, dtype=np.float64)
    if level == "ratio":
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = ((c - k) / (c + k)) ** 2
        return np.nan_to_num(np.asarray(ratio, dtype=np.float64))  # 0/0 when both are 0
    cumulative = np.cumsum(marginals)
    # sum of n_g for g from c to k, minus half of n_c and n_k
    low = np.minimum(np.arange(len(values))[:, None], np.arange(len(values))[None, :])
    high = np.maximum(np.arange(len(values))[:, None], np.arange(len(values))[None, :])
    between = cumulative[high] - cumulative[low] + marginals[low]
    return np.asarray((between - (marginals[:, None] + marginals[None, :]) / 2.0) ** 2)
