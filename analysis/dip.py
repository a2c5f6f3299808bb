"""Hartigan's dip test of unimodality (Hartigan & Hartigan 1985, algorithm AS 217).

The statistic follows AS 217 with the later corrections (Maechler's R package `diptest`): the
largest distance between the empirical CDF and the closest unimodal CDF, with the minimum
1/(2n). The p-value interpolates a table of the dip's null distribution (uniform samples, the
least favourable unimodal case), made by seeded simulation with this very function (see
`analysis/dip_table.py` for how). Ties, common on Likert scales, make the test conservative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from analysis.dip_table import DIP_TABLE_N, DIP_TABLE_P, DIP_TABLE_SQRT_N_DIP


def _divide(numerator: float, denominator: float) -> float:
    """IEEE division as in the C original: ties can make the denominator zero."""
    if denominator != 0:
        return numerator / denominator
    if numerator == 0:
        return math.nan
    return math.copysign(math.inf, numerator)


def dip_statistic(sorted_values: Sequence[float] | npt.NDArray[np.float64]) -> float:
    """Hartigan's dip of a sample given in ascending order (0 < dip <= 1/4)."""
    x = [0.0, *(float(v) for v in sorted_values)]  # 1-based like the published algorithm
    n = len(x) - 1
    if n < 2 or x[n] == x[1]:
        return 0.5 / max(n, 1)
    # indices for the greatest convex minorant (mn) and least concave majorant (mj)
    mn = [0] * (n + 1)
    mn[1] = 1
    for j in range(2, n + 1):
        mn[j] = j - 1
        while True:
            mnj = mn[j]
            mnmnj = mn[mnj]
            if mnj == 1 or (x[j] - x[mnj]) * (mnj - mnmnj) < (x[mnj] - x[mnmnj]) * (j - mnj):
                break
            mn[j] = mnmnj
    mj = [0] * (n + 1)
    mj[n] = n
    for k in range(n - 1, 0, -1):
        mj[k] = k + 1
        while True:
            mjk = mj[k]
            mjmjk = mj[mjk]
            if mjk == n or (x[k] - x[mjk]) * (mjk - mjmjk) < (x[mjk] - x[mjmjk]) * (k - mjk):
                break
            mj[k] = mjmjk

    low, high = 1, n
    dip = 1.0
    gcm = [0] * (n + 2)
    lcm = [0] * (n + 2)
    while True:
        ic = 1
        gcm[1] = high
        while gcm[ic] > low:
            ic += 1
            gcm[ic] = mn[gcm[ic - 1]]
        l_gcm = ic
        ix = l_gcm - 1
        ic = 1
        lcm[1] = low
        while lcm[ic] < high:
            ic += 1
            lcm[ic] = mj[lcm[ic - 1]]
        l_lcm = ic
        iv = 2
        # largest distance between the GCM and the LCM from low to high
        ig, ih = l_gcm, l_lcm
        d = 0.0
        if l_gcm != 2 or l_lcm != 2:
            while True:
                gcmix = gcm[ix]
                lcmiv = lcm[iv]
                if gcmix > lcmiv:
                    gcmi1 = gcm[ix + 1]
                    dx = (lcmiv - gcmi1 + 1) - _divide(
                        (x[lcmiv] - x[gcmi1]) * (gcmix - gcmi1), x[gcmix] - x[gcmi1]
                    )
                    iv += 1
                    if dx >= d:
                        d, ig, ih = dx, ix + 1, iv - 1
                else:
                    lcmiv1 = lcm[iv - 1]
                    dx = _divide(
                        (x[gcmix] - x[lcmiv1]) * (lcmiv - lcmiv1), x[lcmiv] - x[lcmiv1]
                    ) - (gcmix - lcmiv1 - 1)
                    ix -= 1
                    if dx >= d:
                        d, ig, ih = dx, ix + 1, iv
                ix = max(ix, 1)
                iv = min(iv, l_lcm)
                if gcm[ix] == lcm[iv]:
                    break
        else:
            d = 1.0
        if d < dip:
            break
        # the dips of the convex minorant and of the concave majorant at this low/high
        dip_l = 0.0
        for j in range(ig, l_gcm):
            start, end = gcm[j + 1], gcm[j]
            segment_max = 1.0
            if end - start > 1 and x[end] != x[start]:
                slope = (end - start) / (x[end] - x[start])
                for jj in range(start, end + 1):
                    segment_max = max(segment_max, (jj - start + 1) - (x[jj] - x[start]) * slope)
            dip_l = max(dip_l, segment_max)
        dip_u = 0.0
        for j in range(ih, l_lcm):
            start, end = lcm[j], lcm[j + 1]
            segment_max = 1.0
            if end - start > 1 and x[end] != x[start]:
                slope = (end - start) / (x[end] - x[start])
                for jj in range(start, end + 1):
                    segment_max = max(segment_max, (x[jj] - x[start]) * slope - (jj - start - 1))
            dip_u = max(dip_u, segment_max)
        dip = max(dip, dip_l, dip_u)
        # without this check the cycle may never end (Maechler 1994)
        if low == gcm[ig] and high == lcm[ih]:
            break
        low, high = gcm[ig], lcm[ih]
    return dip / (2 * n)


def dip_p_value(dip: float, n: int) -> float:
    """P(dip >= observed) under a uniform null, by interpolation in the simulated table.

    sqrt(n) * dip is interpolated linearly between the tabulated sample sizes (beyond the
    largest, the largest is used: the limit distribution); the probability between tabulated
    quantiles. Below the smallest tabulated quantile p = 1; beyond the largest, p = 0.
    """
    if n < 1:
        raise ValueError("the dip test needs at least one value")
    sizes = DIP_TABLE_N
    scaled = math.sqrt(n) * dip
    if n >= sizes[-1]:
        row = np.asarray(DIP_TABLE_SQRT_N_DIP[-1])
    else:
        upper = int(np.searchsorted(sizes, n))
        if sizes[upper] == n or upper == 0:
            row = np.asarray(DIP_TABLE_SQRT_N_DIP[upper])
        else:
            lower = upper - 1
            weight = (n - sizes[lower]) / (sizes[upper] - sizes[lower])
            row = (1 - weight) * np.asarray(DIP_TABLE_SQRT_N_DIP[lower]) + weight * np.asarray(
                DIP_TABLE_SQRT_N_DIP[upper]
            )
    probabilities = np.asarray(DIP_TABLE_P)
    if scaled <= row[0]:
        return 1.0
    if scaled >= row[-1]:
        return 0.0
    return float(1.0 - np.interp(scaled, row, probabilities))


def dip_test(values: Sequence[float] | npt.NDArray[np.float64]) -> tuple[float, float]:
    """(dip, p-value) of a sample in any order."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    dip = dip_statistic(ordered)
    return dip, dip_p_value(dip, len(ordered))
