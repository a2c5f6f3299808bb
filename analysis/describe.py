"""Item statistics per round: centre, spread, agreement and dissensus flags (methods.md section 1).

`describe` summarises one item's answers; `describe_long` does the same for every (round, item,
question[, group]) of long ("tidy") data at once, vectorised: values are sorted once within groups
and every statistic comes from the sorted array with numpy reductions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.dip import dip_p_value, dip_statistic
from analysis.errors import InputError
from analysis.quantiles import check_method, grouped_quantile

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.intp]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
ScaleKind: TypeAlias = Literal["likert", "probability", "continuous"]

#: probabilities are clipped to [LOGIT_EPS, 1 - LOGIT_EPS] before taking log-odds
LOGIT_EPS = 1e-3
#: default agreement distance from the median: 1 point on Likert scales, 10 points on 0-100 %
LIKERT_AGREE_WITHIN = 1.0
PROBABILITY_AGREE_WITHIN = 10.0
#: dissensus thresholds: SAS's bimodality benchmark (the uniform distribution's 5/9) and dip p
BIMODALITY_THRESHOLD = 5.0 / 9.0
DIP_ALPHA = 0.05
#: the dip test runs only when at least this share of the answers are distinct values
MIN_DISTINCT_SHARE_FOR_DIP = 0.5
#: answers must sit on a Likert grid to within this (float noise from CSV or division)
_GRID_TOLERANCE = 1e-9
# the variable names consensus rules may use, in display order
STAT_NAMES: tuple[str, ...] = (
    "n",
    "mean",
    "median",
    "sd",
    "q1",
    "q3",
    "iqr",
    "pct_agree",
    "pct_disagree",
    "cv",
    "rwg",
    "awg",
    "ipr",
    "iprcp",
    "ipras",
    "rand_disagreement",
    "tastle_wierman",
    "bimodality",
    "dip_p",
    "dissensus",
    "logit_median",
    "logit_q1",
    "logit_q3",
)
_BOOLEAN_STATS = ("rand_disagreement", "dissensus")


@dataclass(frozen=True)
class ScaleSpec:
    """What an answer scale is: its kind, ends, step, and what counts as agreement.

    Probability values are percentages 0..100 (the ends default to 0 and 100). Agreement is the
    share of answers inside `agree_region` (inclusive) when given, else within `agree_within` of
    the median; without either, within 1 point (Likert) or 10 points (probability) of the
    median; continuous scales then have no agreement share.
    """

    kind: ScaleKind
    low: float | None = None
    high: float | None = None
    step: float = 1.0
    bipolar: bool = False
    agree_region: tuple[float, float] | None = None
    agree_within: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("likert", "probability", "continuous"):
            raise InputError(f"scale kind must be likert, probability or continuous: {self.kind!r}")
        if self.kind == "probability":
            object.__setattr__(self, "low", 0.0 if self.low is None else self.low)
            object.__setattr__(self, "high", 100.0 if self.high is None else self.high)
            if self.low != 0.0 or self.high != 100.0:
                raise InputError("probability scales run from 0 to 100 (percent)")
        if self.kind == "likert" and (self.low is None or self.high is None):
            raise InputError("a likert scale needs its low and high ends")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise InputError(f"scale low ({self.low}) must be below high ({self.high})")
        if not (self.step > 0 and math.isfinite(self.step)):
            raise InputError(f"scale step must be positive: {self.step}")
        if self.kind == "likert" and self.low is not None and self.high is not None:
            points = (self.high - self.low) / self.step
            if abs(points - round(points)) > _GRID_TOLERANCE:
                raise InputError(
                    f"likert scale {self.low}..{self.high} is not a whole number of steps of {self.step}"
                )
        if self.agree_region is not None:
            lo, hi = self.agree_region
            if not lo <= hi:
                raise InputError(f"agree_region must be (low, high) with low <= high: {lo, hi}")
        if self.agree_within is not None and not self.agree_within >= 0:
            raise InputError(f"agree_within must be non-negative: {self.agree_within}")

    @property
    def points(self) -> int | None:
        """Number of answer points A of a Likert scale (None otherwise)."""
        if self.kind != "likert" or self.low is None or self.high is None:
            return None
        return round((self.high - self.low) / self.step) + 1

    @property
    def effective_agree_within(self) -> float | None:
        """The distance from the median that counts as agreement when no region is fixed."""
        if self.agree_region is not None:
            return None
        if self.agree_within is not None:
            return self.agree_within
        if self.kind == "likert":
            return LIKERT_AGREE_WITHIN
        if self.kind == "probability":
            return PROBABILITY_AGREE_WITHIN
        return None

    @property
    def has_ratio_zero(self) -> bool:
        """True when the coefficient of variation means something (no bipolar, no negatives)."""
        return not self.bipolar and (self.low is None or self.low >= 0)


@dataclass(frozen=True)
class ItemStats:
    """Statistics of one item's answers; None where a statistic is undefined.

    pct_agree / pct_disagree are shares 0..1 (pct_disagree: in the mirror image of the agree
    region about the scale's midpoint, e.g. 1-3 when 7-9 agrees). ipr, iprcp and ipras are on the
    RAND/UCLA 1..9 scale (other Likert scales rescaled linearly). logit_* are the log-odds of the
    probability quantiles (percent / 100 clipped to [LOGIT_EPS, 1 - LOGIT_EPS]).
    """

    n: int
    mean: float | None
    median: float | None
    sd: float | None
    q1: float | None
    q3: float | None
    iqr: float | None
    pct_agree: float | None
    pct_disagree: float | None
    cv: float | None
    rwg: float | None
    awg: float | None
    ipr: float | None
    iprcp: float | None
    ipras: float | None
    rand_disagreement: bool | None
    tastle_wierman: float | None
    bimodality_coefficient: float | None
    dip_p: float | None
    dissensus: bool | None
    logit_median: float | None = None
    logit_q1: float | None = None
    logit_q3: float | None = None
    quantile_method: str = field(default="type7")

    def as_dict(self) -> dict[str, float | bool | None]:
        """The statistics by the names consensus rules use (bimodality_coefficient as bimodality)."""
        values = asdict(self)
        values["bimodality"] = values.pop("bimodality_coefficient")
        return {name: values[name] for name in STAT_NAMES}


@dataclass(frozen=True)
class Bin:
    """One histogram bar: answers in [low, high] (a single point on Likert scales)."""

    low: float
    high: float
    label: str
    count: int


# ---------------------------------------------------------------------------------------------
# The vectorised core: statistics for many groups of one scale each


@dataclass(frozen=True)
class _ScaleArrays:
    """Per-group scale parameters (NaN where a scale lacks one)."""

    kind: npt.NDArray[np.str_]
    low: FloatArray
    high: FloatArray
    points: FloatArray
    region_low: FloatArray
    region_high: FloatArray
    within: FloatArray
    ratio: BoolArray

    @staticmethod
    def of(scales: Sequence[ScaleSpec], index: IntArray) -> _ScaleArrays:
        """Look up each group's scale (index: the group's position in `scales`)."""

        def column(values: list[float | None]) -> FloatArray:
            array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
            return array[index]

        return _ScaleArrays(
            kind=np.array([s.kind for s in scales])[index],
            low=column([s.low for s in scales]),
            high=column([s.high for s in scales]),
            points=column([s.points for s in scales]),
            region_low=column([s.agree_region[0] if s.agree_region else None for s in scales]),
            region_high=column([s.agree_region[1] if s.agree_region else None for s in scales]),
            within=column([s.effective_agree_within for s in scales]),
            ratio=np.array([s.has_ratio_zero for s in scales], dtype=bool)[index],
        )


def _grouped_stats(
    sorted_values: FloatArray,
    codes: IntArray,
    counts: IntArray,
    scale: _ScaleArrays,
    quantile_method: str,
    dip_test: bool,
) -> dict[str, npt.NDArray[np.float64] | npt.NDArray[np.object_]]:
    """All statistics per group; values sorted within groups, `codes` each value's group."""
    n_groups = len(counts)
    starts = np.zeros(n_groups, dtype=np.intp)
    np.cumsum(counts[:-1], out=starts[1:])
    n = counts.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.bincount(codes, weights=sorted_values, minlength=n_groups) / n
        deviation = sorted_values - mean[codes]
        squared = deviation * deviation
        m2 = np.bincount(codes, weights=squared, minlength=n_groups) / n
        m3 = np.bincount(codes, weights=squared * deviation, minlength=n_groups) / n
        m4 = np.bincount(codes, weights=squared * squared, minlength=n_groups) / n
        variance = np.where(n > 1, m2 * n / (n - 1), np.nan)
        sd = np.sqrt(variance)

        def q(p: float) -> FloatArray:
            return grouped_quantile(sorted_values, starts, counts, p, quantile_method)

        median, q1, q3, p30, p70 = q(0.5), q(0.25), q(0.75), q(0.3), q(0.7)
        iqr = q3 - q1

        # agreement: inside the declared region, else within a distance of the median
        has_region = ~np.isnan(scale.region_low)
        row_region = has_region[codes]
        inside = np.where(
            row_region,
            (sorted_values >= scale.region_low[codes] - _GRID_TOLERANCE)
            & (sorted_values <= scale.region_high[codes] + _GRID_TOLERANCE),
            np.abs(sorted_values - median[codes]) <= scale.within[codes] + _GRID_TOLERANCE,
        )
        pct_agree = np.bincount(codes, weights=inside, minlength=n_groups) / n
        pct_agree[~has_region & np.isnan(scale.within)] = np.nan
        mirror_low = scale.low + scale.high - scale.region_high
        mirror_high = scale.low + scale.high - scale.region_low
        opposite = (sorted_values >= mirror_low[codes] - _GRID_TOLERANCE) & (
            sorted_values <= mirror_high[codes] + _GRID_TOLERANCE
        )
        pct_disagree = np.bincount(codes, weights=opposite, minlength=n_groups) / n
        pct_disagree[~has_region | np.isnan(mirror_low)] = np.nan

        cv = np.where(scale.ratio & (mean != 0), sd / mean, np.nan)

        # rwg: observed variance against the uniform ("no agreement") variance
        uniform_variance = np.where(
            scale.kind == "likert",
            ((scale.high - scale.low) / (scale.points - 1)) ** 2 * (scale.points**2 - 1) / 12.0,
            (scale.high - scale.low) ** 2 / 12.0,
        )
        rwg = np.maximum(0.0, 1.0 - variance / uniform_variance)
        # awg (Brown & Hauenstein 2005): against the largest variance possible at this mean
        max_variance = (
            ((scale.high + scale.low) * mean - mean * mean - scale.high * scale.low) * n / (n - 1)
        )
        awg = np.where((n > 1) & (max_variance > 0), 1.0 - 2.0 * variance / max_variance, np.nan)

        # RAND/UCLA on the 1..9 scale
        is_likert = scale.kind == "likert"
        to_nine = 8.0 / (scale.high - scale.low)
        ipr = np.where(is_likert, (p70 - p30) * to_nine, np.nan)
        iprcp = np.where(is_likert, 1.0 + ((p30 + p70) / 2.0 - scale.low) * to_nine, np.nan)
        ipras = 2.35 + 1.5 * np.abs(5.0 - iprcp)
        rand = ipr > ipras

        # Tastle & Wierman (2007): mean of log2(1 - |x - mean| / width)
        width = scale.high - scale.low
        terms = np.log2(1.0 - np.abs(deviation) / width[codes])
        tastle = np.bincount(codes, weights=terms, minlength=n_groups) / n + 1.0

        # bimodality coefficient with the sample (bias-corrected) skewness and excess kurtosis
        usable = (n > 3) & (m2 > 1e-12 * np.maximum(1.0, mean * mean))
        g1 = m3 / m2**1.5
        g2 = m4 / (m2 * m2) - 3.0
        skew = np.sqrt(n * (n - 1)) / (n - 2) * g1
        kurt = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * g2 + 6.0)
        bimodality = (skew * skew + 1.0) / (kurt + 3.0 * (n - 1) ** 2 / ((n - 2) * (n - 3)))
        bimodality = np.where(usable, bimodality, np.nan)

        dip_p = np.full(n_groups, np.nan)
        #: False where the dip test does not apply (so it neither raises nor blurs the flag)
        dip_applies = np.ones(n_groups, dtype=bool)
        if dip_test:
            for g in np.flatnonzero(n >= 4):
                chunk = sorted_values[starts[g] : starts[g] + counts[g]]
                # Hartigan's dip assumes continuous data: on a few repeated points (Likert
                # answers, heavily rounded numbers) the jumps of the empirical CDF alone make
                # the dip large and p ~ 0, so the test is left out there (dip_p stays None)
                distinct = int(np.count_nonzero(np.diff(chunk))) + 1
                if is_likert[g] or distinct < MIN_DISTINCT_SHARE_FOR_DIP * len(chunk):
                    dip_applies[g] = False
                    continue
                dip_p[g] = dip_p_value(dip_statistic(chunk), int(counts[g]))

        is_probability = scale.kind == "probability"

        def logit(percent: FloatArray) -> FloatArray:
            share = np.clip(percent / 100.0, LOGIT_EPS, 1.0 - LOGIT_EPS)
            return np.where(is_probability, np.log(share / (1.0 - share)), np.nan)

        logit_median, logit_q1, logit_q3 = logit(median), logit(q1), logit(q3)

    empty = n == 0
    rand_known = ~np.isnan(ipr) & ~empty
    # Kleene "or" of the three flags; without the dip test the flag rests on the other two
    # (RAND/UCLA applies to Likert scales only: elsewhere it is left out, not "cannot tell")
    flags = [
        (bimodality > BIMODALITY_THRESHOLD, ~np.isnan(bimodality)),
        (rand & rand_known, rand_known | ~is_likert),
    ]
    if dip_test:
        flags.append((dip_p < DIP_ALPHA, ~np.isnan(dip_p) | ~dip_applies))
    any_true = np.zeros(n_groups, dtype=bool)
    any_unknown = np.zeros(n_groups, dtype=bool)
    for flag, known in flags:
        any_true |= flag & known
        any_unknown |= ~known
    dissensus = _nullable(any_true, any_true | ~(any_unknown | empty))

    return {
        "n": n,
        "mean": mean,
        "median": median,
        "sd": sd,
        "q1": q1,
        "q3": q3,
        "iqr": iqr,
        "pct_agree": pct_agree,
        "pct_disagree": pct_disagree,
        "cv": cv,
        "rwg": rwg,
        "awg": awg,
        "ipr": ipr,
        "iprcp": iprcp,
        "ipras": ipras,
        "rand_disagreement": _nullable(rand, rand_known),
        "tastle_wierman": tastle,
        "bimodality": bimodality,
        "dip_p": dip_p,
        "dissensus": dissensus,
        "logit_median": logit_median,
        "logit_q1": logit_q1,
        "logit_q3": logit_q3,
    }


def _nullable(flag: BoolArray, known: BoolArray) -> npt.NDArray[np.object_]:
    """True/False where known, None elsewhere."""
    out = np.full(len(flag), None, dtype=object)
    out[known] = flag[known]
    return out


def _check_on_scale(
    values: FloatArray, scale: ScaleSpec, describe_row: Sequence[object] | None = None
) -> None:
    """InputError naming the first answer that is off the scale (outside the ends or the grid)."""
    bad = np.zeros(len(values), dtype=bool)
    if scale.low is not None:
        bad |= values < scale.low - _GRID_TOLERANCE
    if scale.high is not None:
        bad |= values > scale.high + _GRID_TOLERANCE
    if scale.kind == "likert" and scale.low is not None:
        steps = (values - scale.low) / scale.step
        bad |= np.abs(steps - np.round(steps)) > 1e-6
    bad |= np.isinf(values)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        where = f"row {describe_row[first]}" if describe_row is not None else f"value {first}"
        ends = f"{_fmt(scale.low)}..{_fmt(scale.high)}"
        grid = f" in steps of {_fmt(scale.step)}" if scale.kind == "likert" else ""
        raise InputError(
            f"{where}: {_fmt(float(values[first]))} is off the {scale.kind} scale {ends}{grid}"
        )


def _fmt(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _optional(value: object) -> float | None:
    number = float(value)  # type: ignore[arg-type]  # numpy scalars
    return None if math.isnan(number) else number


def describe(
    values: npt.ArrayLike, scale: ScaleSpec, *, quantile_method: str = "type7"
) -> ItemStats:
    """Statistics of one item's answers (NaN answers are skipped as "no answer").

    RAND/UCLA measures (ipr, iprcp, ipras, rand_disagreement) are defined for 9-point scales;
    other Likert scales are rescaled linearly to 1..9 first, and other scale kinds get None.
    cv is None on bipolar scales (declared, or with a negative low end) and when the mean is 0.
    Hartigan's dip test needs at least 4 answers.
    """
    return describe_many([values], [scale], quantile_method=quantile_method)[0]


def describe_many(
    answer_sets: Sequence[npt.ArrayLike],
    scales: Sequence[ScaleSpec],
    *,
    quantile_method: str = "type7",
) -> list[ItemStats]:
    """`describe` of many sets of answers, each on its own scale, in one vectorised pass.

    The same figures as one `describe` per set, bit for bit (each set's sums run over its own
    values in the same order), without a round of array calls per set: a round's snapshot
    describes thousands of parts and groups.
    """
    check_method(quantile_method)
    if len(answer_sets) != len(scales):
        raise InputError(f"{len(answer_sets)} sets of answers but {len(scales)} scales")
    ordered: list[FloatArray] = []
    for values, scale in zip(answer_sets, scales, strict=True):
        try:
            array = np.asarray(values, dtype=np.float64).ravel()
        except (TypeError, ValueError) as error:
            raise InputError(f"answers must be numbers: {error}") from None
        array = array[~np.isnan(array)]
        _check_on_scale(array, scale)
        ordered.append(np.sort(array))
    if not ordered:
        return []
    counts = np.array([len(chunk) for chunk in ordered], dtype=np.intp)
    table = _grouped_stats(
        np.concatenate(ordered),
        np.repeat(np.arange(len(ordered), dtype=np.intp), counts),
        counts,
        _ScaleArrays.of(scales, np.arange(len(scales), dtype=np.intp)),
        quantile_method,
        dip_test=True,
    )
    columns = {name: column.tolist() for name, column in table.items()}
    return [
        _item_stats(columns, g, int(count), quantile_method)
        for g, count in enumerate(counts.tolist())
    ]


def _item_stats(
    columns: Mapping[str, list[object]], g: int, n: int, quantile_method: str
) -> ItemStats:
    """Group g's row of `_grouped_stats`'s table (as lists) as an ItemStats of n answers."""

    def number(name: str) -> float | None:
        return _optional(columns[name][g])

    def boolean(name: str) -> bool | None:
        value = columns[name][g]
        return None if value is None else bool(value)

    return ItemStats(
        n=n,
        mean=number("mean"),
        median=number("median"),
        sd=number("sd"),
        q1=number("q1"),
        q3=number("q3"),
        iqr=number("iqr"),
        pct_agree=number("pct_agree"),
        pct_disagree=number("pct_disagree"),
        cv=number("cv"),
        rwg=number("rwg"),
        awg=number("awg"),
        ipr=number("ipr"),
        iprcp=number("iprcp"),
        ipras=number("ipras"),
        rand_disagreement=boolean("rand_disagreement"),
        tastle_wierman=number("tastle_wierman"),
        bimodality_coefficient=number("bimodality"),
        dip_p=number("dip_p"),
        dissensus=boolean("dissensus"),
        logit_median=number("logit_median"),
        logit_q1=number("logit_q1"),
        logit_q3=number("logit_q3"),
        quantile_method=quantile_method,
    )


def histogram(values: npt.ArrayLike, scale: ScaleSpec) -> list[Bin]:
    """Counts for feedback charts: one bar per Likert point, 10 bars of 10 points for
    probabilities (100 goes in the last), about 10 equal bars over the range otherwise."""
    array = np.asarray(values, dtype=np.float64).ravel()
    array = array[~np.isnan(array)]
    _check_on_scale(array, scale)
    if scale.kind == "likert":
        if scale.low is None or scale.points is None:  # pragma: no cover - ScaleSpec checks
            raise InputError("a likert scale needs its low and high ends")
        index = np.round((array - scale.low) / scale.step).astype(np.intp)
        counts = np.bincount(index, minlength=scale.points)
        bins = []
        for i in range(scale.points):
            point = scale.low + i * scale.step
            bins.append(Bin(point, point, _fmt(point), int(counts[i])))
        return bins
    if scale.kind == "probability":
        edges = np.linspace(0.0, 100.0, 11)
    else:
        low = scale.low if scale.low is not None else (float(array.min()) if len(array) else 0.0)
        high = scale.high if scale.high is not None else (float(array.max()) if len(array) else 1.0)
        if high <= low:
            high = low + 1.0
        edges = np.linspace(low, high, 11)
    counts, _ = np.histogram(array, bins=edges)
    return [
        Bin(float(lo), float(hi), f"{_fmt(float(lo))}-{_fmt(float(hi))}", int(c))
        for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True)
    ]


#: whole-number answers spanning at most this many values get one bar per value
INTEGER_POINTS = 12
#: bar widths of whole-number answers: these times a power of ten
_NICE_WIDTHS = (1, 2, 2.5, 5)


def _whole(values: npt.NDArray[np.float64]) -> bool:
    """Whether every value is a whole number."""
    return bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))


def _integer_width(span: int, bars: int = 10) -> int:
    """The smallest round whole width (1, 2, 5, 10, 20, 25, 50, ...) giving at most `bars` bars."""
    need = max(span / bars, 1.0)
    magnitude = 1
    while True:
        for factor in _NICE_WIDTHS:
            width = factor * magnitude
            if width >= need and float(width).is_integer():
                return int(width)
        magnitude *= 10


def integer_histogram(values: npt.ArrayLike, low: int, high: int) -> list[Bin]:
    """Bars for whole-number answers in [low, high]: one per value when there are few values,
    else bars of a round whole width starting at a multiple of it (the top value, when it ends
    a bar exactly, goes in the last bar, as 100 does on probability scales)."""
    array = np.asarray(values, dtype=np.float64).ravel()
    array = array[~np.isnan(array)]
    if high < low:
        low, high = high, low
    if high - low + 1 <= INTEGER_POINTS:
        counts = np.bincount((array - low).astype(np.intp), minlength=high - low + 1)
        return [
            Bin(float(low + i), float(low + i), str(low + i), int(counts[i]))
            for i in range(high - low + 1)
        ]
    width = _integer_width(high - low)
    start = (low // width) * width
    # enough bars to reach the top value; when it ends the last bar exactly it belongs to it
    bars = max(1, -(-(high - start) // width))
    index = np.minimum((array - start) // width, bars - 1).astype(np.intp)
    counts = np.bincount(index, minlength=bars)
    found = []
    for i in range(bars):
        a = start + i * width
        last = a + width if i == bars - 1 and a + width == high else a + width - 1
        found.append(Bin(float(a), float(a + width), f"{a}-{last}", int(counts[i])))
    return found


def chart_histogram(values: npt.ArrayLike, scale: ScaleSpec) -> list[Bin]:
    """The bars feedback charts draw: `histogram`'s, except that whole-number answers on a
    continuous scale (years, counts) get whole-number bars (integer_histogram), never "0-0.2".

    Stability (Scheibe's change) keeps `histogram`'s equal bands, so that its verdicts do not
    depend on whether a round's answers happen to be whole."""
    array = np.asarray(values, dtype=np.float64).ravel()
    array = array[~np.isnan(array)]
    if scale.kind == "continuous" and len(array):
        _check_on_scale(array, scale)
        low = scale.low if scale.low is not None else float(array.min())
        high = scale.high if scale.high is not None else float(array.max())
        if _whole(array) and _whole(np.asarray([low, high])):
            return integer_histogram(array, int(low), int(high))
    return histogram(array, scale)


LONG_COLUMNS = ("round", "expert", "item", "question", "value")


def describe_long(
    df: pd.DataFrame,
    scales: Mapping[str, ScaleSpec],
    *,
    by: Sequence[str] = ("round", "item", "question"),
    group: str | None = None,
    k: int = 5,
    quantile_method: str = "type7",
    dip_test: bool = False,
) -> pd.DataFrame:
    """Statistics for every (by..., group) cell of long data: one row each, sorted by the keys.

    `df` has columns round, expert, item, question, value (and `group` when given); `scales`
    maps each question to its ScaleSpec. Missing values are "no answer" and skipped; a value off
    its question's scale, or an expert answering the same cell twice, is an InputError naming
    the row. Cells with fewer than `k` answers are suppressed: every statistic, and n itself
    (a small count narrows who answered), is missing, and `suppressed` is True.

    Hartigan's dip test costs about 1 ms per cell of 1,000 answers, so it runs only with
    `dip_test=True`; otherwise dip_p is NaN and the dissensus flag rests on the bimodality
    coefficient and the RAND/UCLA rule alone.
    """
    check_method(quantile_method)
    if k < 1:
        raise InputError(f"k must be at least 1: {k}")
    keys = [*by, *([group] if group else [])]
    needed = list(dict.fromkeys([*LONG_COLUMNS, *keys]))
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise InputError(f"missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    if "question" not in keys:
        raise InputError("`by` must include question: each question has its own scale")
    if len(set(keys)) != len(keys):
        raise InputError(f"repeated grouping columns: {', '.join(keys)}")

    values = _numeric_values(df["value"])
    answered = ~np.isnan(values)
    frame = df.loc[answered, needed] if not answered.all() else df[needed]
    values = values[answered]
    row_labels = frame.index.to_numpy()

    # one factorisation per key column, sorted, so that combined codes order like the keys
    key_codes: list[IntArray] = []
    key_values: list[pd.Index] = []
    for key in keys:
        codes_k, uniques_k = pd.factorize(frame[key], sort=True)
        if (codes_k < 0).any():
            label = row_labels[int(np.flatnonzero(codes_k < 0)[0])]
            raise InputError(f"row {label}: missing {key}")
        key_codes.append(codes_k.astype(np.int64))
        key_values.append(pd.Index(uniques_k))
    questions = key_values[keys.index("question")]
    question_codes = key_codes[keys.index("question")]
    unknown = [str(q) for q in questions if str(q) not in scales]
    if unknown:
        raise InputError(
            f"no scale for question{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}"
        )
    question_scales = [scales[str(q)] for q in questions]
    for index, scale in enumerate(question_scales):
        mask = question_codes == index
        _check_on_scale(values[mask], scale, row_labels[mask])

    codes, cell_keys = _cell_codes(key_codes, [len(v) for v in key_values])
    n_groups = len(cell_keys)
    key_frame = pd.DataFrame(
        {key: key_values[i].take(cell_keys[:, i]) for i, key in enumerate(keys)}
    )
    _check_no_repeats(frame, keys, codes, n_groups)

    sorted_values, sorted_codes = _sort_within_cells(values, codes, n_groups)
    counts = np.bincount(codes, minlength=n_groups).astype(np.intp)
    scale_index = cell_keys[:, keys.index("question")].astype(np.intp)

    table = _grouped_stats(
        sorted_values,
        sorted_codes,
        counts,
        _ScaleArrays.of(question_scales, scale_index),
        quantile_method,
        dip_test,
    )
    suppressed = counts < k
    out = key_frame.copy()
    out["suppressed"] = suppressed
    for name in STAT_NAMES:
        column = table[name]
        if name in _BOOLEAN_STATS:
            series = pd.Series(column, dtype="boolean")
            series[suppressed] = pd.NA
        elif name == "n":
            series = pd.Series(counts, dtype="Int64")
            series[suppressed] = pd.NA
        else:
            series = pd.Series(np.where(suppressed, np.nan, column.astype(np.float64)))
        out[name] = series.to_numpy() if series.dtype == np.float64 else series.array
    return out


def _numeric_values(column: pd.Series) -> FloatArray:
    """The value column as floats; InputError naming the first row that is not a number."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    converted = pd.to_numeric(column, errors="coerce")
    bad = converted.isna() & column.notna() & (column.astype(str).str.strip() != "")
    if bad.any():
        label = bad.index[int(np.flatnonzero(bad.to_numpy())[0])]
        raise InputError(f"row {label}: value {column[label]!r} is not a number")
    return converted.to_numpy(dtype=np.float64, na_value=np.nan)


def _sort_within_cells(
    values: FloatArray, codes: IntArray, n_groups: int
) -> tuple[FloatArray, IntArray]:
    """Values ordered by cell, ascending within each cell, and the cell of each.

    Rating scales have few distinct values, so a counting sort over (cell, value) bins does it
    in linear time; many distinct values fall back to a comparison sort.
    """
    level_codes, levels = pd.factorize(values, sort=True)
    n_levels = len(levels)
    if n_groups * n_levels <= 4 * len(values) + 1_000_000:
        bins = codes.astype(np.int64) * n_levels + level_codes
        per_bin = np.bincount(bins, minlength=n_groups * n_levels)
        sorted_values = np.repeat(np.tile(np.asarray(levels, dtype=np.float64), n_groups), per_bin)
        sorted_codes = np.repeat(np.repeat(np.arange(n_groups, dtype=np.intp), n_levels), per_bin)
        return sorted_values, sorted_codes
    by_value = np.argsort(values, kind="quicksort")
    code_dtype = np.int16 if n_groups <= np.iinfo(np.int16).max else np.int64
    # a stable sort by cell keeps the value order within cells (radix sort for int16)
    order = by_value[np.argsort(codes[by_value].astype(code_dtype), kind="stable")]
    return values[order], codes[order]


def _cell_codes(key_codes: list[IntArray], sizes: list[int]) -> tuple[IntArray, IntArray]:
    """Dense cell code of every row (in key order) and each cell's per-key codes."""
    combined = np.zeros(len(key_codes[0]), dtype=np.int64)
    for codes_k, size in zip(key_codes, sizes, strict=True):
        combined = combined * size + codes_k
    space = math.prod(sizes)
    if space <= 4 * len(combined) + 1_000_000:
        # few possible cells: a lookup table instead of a sort
        present = np.bincount(combined, minlength=space) > 0
        dense = np.cumsum(present) - 1
        cells = np.flatnonzero(present)
        codes = dense[combined]
    else:
        cells, codes = np.unique(combined, return_inverse=True)
    per_key = np.empty((len(cells), len(sizes)), dtype=np.int64)
    rest = cells.astype(np.int64)
    for i in range(len(sizes) - 1, -1, -1):
        rest, per_key[:, i] = np.divmod(rest, sizes[i])
    return codes.astype(np.intp), per_key


def _check_no_repeats(frame: pd.DataFrame, keys: list[str], codes: IntArray, n_groups: int) -> None:
    """InputError when one expert answers the same cell twice (the latest answer must be chosen
    before analysis)."""
    expert_codes, experts = pd.factorize(frame["expert"])
    cell_expert = codes.astype(np.int64) * max(len(experts), 1) + expert_codes
    space = n_groups * max(len(experts), 1)
    if space <= 4 * len(cell_expert) + 1_000_000:
        seen = np.bincount(cell_expert, minlength=space)
        repeated = np.flatnonzero(seen > 1)
    else:
        unique, counts = np.unique(cell_expert, return_counts=True)
        repeated = unique[counts > 1]
    if len(repeated):
        rows = np.flatnonzero(cell_expert == repeated[0])
        labels = frame.index.to_numpy()[rows[:2]]
        first = frame.iloc[rows[0]]
        cell = ", ".join(f"{key}={first[key]}" for key in keys)
        raise InputError(
            f"rows {labels[0]} and {labels[1]}: expert {first['expert']} answered {cell} twice"
        )
