"""Panel-level agreement: Kendall's W (with the tie correction) and Krippendorff's alpha."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import scipy

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
    ranks = scipy.stats.rankdata(kept, axis=1)
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
        p=float(scipy.stats.chi2.sf(chi2, n - 1)),
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


@dataclass(frozen=True)
class FleissKappa:
    """Fleiss' kappa for m raters sorting N subjects into nominal categories."""

    kappa: float
    #: standard error under the null hypothesis of no agreement beyond chance (Fleiss, Nee and
    #: Landis 1979), the one the z test uses
    se: float
    z: float
    p: float
    #: mean observed agreement (P bar) and agreement expected by chance (P_e bar)
    observed: float
    expected: float
    subjects: int
    raters: int
    categories: int


def fleiss_kappa(counts: npt.ArrayLike) -> FleissKappa:
    """Fleiss' kappa from a subjects x categories table of how many raters chose each category.

    Every subject must have the same number m >= 2 of ratings. P_i = (sum_j n_ij^2 - m) /
    (m (m - 1)); kappa = (P bar - P_e) / (1 - P_e) with P_e = sum_j p_j^2. The standard error is
    sqrt(2) / (sum p_j q_j sqrt(N m (m - 1))) * sqrt((sum p_j q_j)^2 - sum p_j q_j (q_j - p_j)).
    """
    table = _as_matrix(counts, "category counts")
    if np.isnan(table).any() or (table < 0).any() or not np.array_equal(table, np.round(table)):
        raise InputError("category counts must be whole numbers >= 0")
    per_subject = table.sum(axis=1)
    n_subjects, n_categories = table.shape
    if n_subjects < 1 or n_categories < 2:
        raise InputError("Fleiss' kappa needs at least one subject and two categories")
    m = float(per_subject[0])
    if (per_subject != m).any():
        row = int(np.flatnonzero(per_subject != m)[0])
        raise InputError(
            f"subject {row + 1} has {int(per_subject[row])} ratings, subject 1 has {int(m)}: "
            "Fleiss' kappa needs the same number of raters for every subject"
        )
    if m < 2:
        raise InputError("Fleiss' kappa needs at least two ratings per subject")
    share = table.sum(axis=0) / (n_subjects * m)
    per_subject_agreement = ((table**2).sum(axis=1) - m) / (m * (m - 1))
    observed = float(per_subject_agreement.mean())
    expected = float((share**2).sum())
    spread = float((share * (1 - share)).sum())
    if expected >= 1.0 or spread <= 0:
        # every rating in one category: no variation to agree or disagree on
        nan = float("nan")
        return FleissKappa(nan, nan, nan, nan, observed, expected, n_subjects, int(m), n_categories)
    kappa = (observed - expected) / (1 - expected)
    variance_term = spread**2 - float((share * (1 - share) * (1 - 2 * share)).sum())
    se = float(np.sqrt(2.0 * variance_term / (n_subjects * m * (m - 1)))) / spread
    z = kappa / se if se > 0 else float("nan")
    p = float(2 * scipy.stats.norm.sf(abs(z))) if se > 0 else float("nan")
    return FleissKappa(kappa, se, z, p, observed, expected, n_subjects, int(m), n_categories)


def category_counts(ratings: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """A subjects x categories count table from a raters x subjects table of category codes.

    NaN marks a missing rating. Returns the table and the categories (sorted) it counts.
    """
    matrix = _as_matrix(ratings, "ratings")
    present = ~np.isnan(matrix)
    categories = np.unique(matrix[present])
    counts = np.zeros((matrix.shape[1], len(categories)))
    raters, subjects = np.nonzero(present)
    codes = np.searchsorted(categories, matrix[raters, subjects])
    np.add.at(counts, (subjects, codes), 1.0)
    return counts, categories
