"""Trend impact analysis (methods.md section 5): a baseline trend adjusted by uncertain events.

Conventions (so that every number can be recomputed by hand):

- Years are whole numbers from `start_year` to `end_year`. The baseline y0(t) is given as
  year -> value points (data or a panel estimate) and interpolated linearly; the points must
  cover the forecast years.
- Each event has cumulative probabilities P_e(h) of having occurred by horizon years h. P_e is 0
  at the start year (nothing occurs in the start year) and is interpolated between the points:
  "linear" (straight lines in P) or "hazard" (a constant yearly hazard between points, i.e.
  1 - P falls geometrically). After the last horizon P_e stays flat: the panel said nothing
  beyond it. The chance of occurring in year tau is q_e(tau) = P_e(tau) - P_e(tau - 1).
- Impact profile, by years since occurrence d (d = 0 in the year of occurrence): 0 for d < t1;
  rising linearly from 0 at t1 to i_max at t2 (a jump to i_max at t1 when t1 = t2); moving
  linearly to i_ss at t3; i_ss after t3. "relative" impacts are fractions of the baseline
  (0.1 = +10 %), "absolute" ones are in the trend's units. Impacts of several events add.
- Expected change: E[D_e(t)] = sum_{tau <= t} q_e(tau) I_e(t - tau); the expected forecast is
  y0(t) (1 + sum_relative E[D_e(t)]) + sum_absolute E[D_e(t)].
- Monte Carlo: each run decides, year by year, whether each not-yet-occurred event occurs,
  with the yearly hazard (P_e(t) - P_e(t-1)) / (1 - P_e(t-1)); the 10/50/90 % band (or any
  quantiles) of the runs' trajectories uses numpy's "linear" quantile (R type 7).
- Cross-impacts (optional): "if A occurs, P(B by end_year) becomes p". From the year after A
  occurs, B's yearly hazard odds are multiplied by odds(p) / odds(P_B(end_year)) (probabilities
  clipped to [1e-6, 1 - 1e-6]); events occurring in the same year do not affect each other.
  With cross-impacts the expected forecast is the Monte Carlo mean.
- Events are simulated in the order of their keys, so listing them in another order gives the
  same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.errors import InputError

FloatArray = npt.NDArray[np.float64]
Interpolation = Literal["linear", "hazard"]
ImpactKind = Literal["relative", "absolute"]

EPS = 1e-6
MAX_YEARS = 500
MAX_RUNS = 10_000_000


@dataclass(frozen=True)
class ImpactProfile:
    """Impact of an event on the trend by years since it occurred (see module doc)."""

    t1: float
    t2: float
    t3: float
    i_max: float
    i_ss: float
    kind: ImpactKind = "relative"

    def __post_init__(self) -> None:
        for name in ("t1", "t2", "t3", "i_max", "i_ss"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                raise InputError(f"{name} must be a finite number, not {value!r}")
        if not 0 <= self.t1 <= self.t2 <= self.t3:
            raise InputError(
                f"impact times must satisfy 0 <= t1 <= t2 <= t3, not t1={self.t1}, "
                f"t2={self.t2}, t3={self.t3}"
            )
        if self.kind not in ("relative", "absolute"):
            raise InputError(f"impact kind must be 'relative' or 'absolute', not {self.kind!r}")

    def at(self, years_since: npt.ArrayLike) -> FloatArray:
        """Impact after d years (d < 0: the event has not occurred yet, impact 0)."""
        d = np.asarray(years_since, dtype=np.float64)
        out = np.zeros(d.shape)
        rising = (d >= self.t1) & (d <= self.t2)
        if self.t2 > self.t1:
            out[rising] = self.i_max * (d[rising] - self.t1) / (self.t2 - self.t1)
        else:
            out[rising] = self.i_max
        falling = (d > self.t2) & (d <= self.t3)
        if self.t3 > self.t2:
            share = (d[falling] - self.t2) / (self.t3 - self.t2)
            out[falling] = self.i_max + (self.i_ss - self.i_max) * share
        out[d > self.t3] = self.i_ss
        return out


@dataclass(frozen=True)
class TrendEvent:
    """An event: key, cumulative probabilities by horizon year, impact profile."""

    key: str
    #: (year, P(occurred by the end of that year)) pairs
    probabilities: tuple[tuple[int, float], ...]
    impact: ImpactProfile
    label: str = ""
    #: the experts' own profiles (or bootstrap resamples' median profiles): when given, each
    #: Monte Carlo run draws one of them at random (equal chances) instead of using `impact`,
    #: so disagreement about the impact widens the band; the expected forecast uses their mean
    profiles: tuple[ImpactProfile, ...] = ()


@dataclass(frozen=True)
class CrossImpact:
    """If `trigger` occurs, P(`target` occurs by end_year) becomes `p_given`."""

    trigger: str
    target: str
    p_given: float


@dataclass(frozen=True, eq=False)
class TiaResult:
    """Forecast table, per-event contributions and occurrence probabilities, by year."""

    #: year, baseline, expected, mean, then one column per quantile (p10, p50, p90 by default)
    forecast: pd.DataFrame
    #: year, then per event its expected change to the trend in the trend's units
    contributions: pd.DataFrame
    #: year, then per event P(occurred by that year) as interpolated from the panel, and with
    #: cross-impacts also "<key> simulated": the share of runs in which it had occurred
    occurrence: pd.DataFrame
    seed: int
    runs: int
    interpolation: str
    quantiles: tuple[float, ...]
    cross_impacts: bool
    quantile_method: str = "linear (R type 7)"


def cumulative_probability(
    points: Mapping[int, float] | Sequence[tuple[int, float]],
    years: npt.ArrayLike,
    *,
    start_year: int,
    interpolation: Interpolation = "linear",
    name: str = "probabilities",
) -> FloatArray:
    """P(occurred by the end of each year): 0 at start_year, interpolated, flat after the last point."""
    pairs = sorted((points.items() if isinstance(points, Mapping) else points), key=lambda x: x[0])
    if not pairs:
        raise InputError(f"{name}: at least one (year, probability) point is needed")
    known_years = [start_year]
    known_p = [0.0]
    for year, p in pairs:
        if isinstance(year, bool) or not isinstance(year, (int, np.integer)):
            raise InputError(f"{name}: year {year!r} is not a whole number")
        if year <= start_year:
            raise InputError(f"{name}: year {year} is not after the start year {start_year}")
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise InputError(f"{name}[{year}] = {p!r} is not a probability in [0, 1]")
        if year == known_years[-1]:
            raise InputError(f"{name}: year {year} is given twice")
        if p < known_p[-1]:
            raise InputError(
                f"{name}: cumulative probability falls from {known_p[-1]} by {known_years[-1]} "
                f"to {p} by {year}; it can only grow"
            )
        known_years.append(int(year))
        known_p.append(float(p))
    t = np.asarray(years, dtype=np.float64)
    xs = np.asarray(known_years, dtype=np.float64)
    ps = np.asarray(known_p)
    if interpolation == "linear":
        return np.asarray(np.interp(t, xs, ps), dtype=np.float64)
    if interpolation == "hazard":
        # interpolate log(1 - P) linearly: a constant yearly hazard between points
        with np.errstate(divide="ignore"):
            survival = np.log1p(-ps)
        finite = np.isfinite(survival)
        if not finite.all():
            # once P reaches 1 it stays 1: interpolate up to the first such point, then hold
            first = int(np.argmin(finite))
            result = np.interp(t, xs[: first + 1], np.where(finite, survival, -745.0)[: first + 1])
            result[t >= xs[first]] = -np.inf
            return np.asarray(-np.expm1(result), dtype=np.float64)
        return np.asarray(-np.expm1(np.interp(t, xs, survival)), dtype=np.float64)
    raise InputError(f"interpolation must be 'linear' or 'hazard', not {interpolation!r}")


def _baseline_values(baseline: Mapping[int, float], years: FloatArray) -> FloatArray:
    if not baseline:
        raise InputError("baseline: at least one (year, value) point is needed")
    pairs = []
    for year, value in baseline.items():
        if isinstance(year, bool) or not isinstance(year, (int, np.integer)):
            raise InputError(f"baseline: year {year!r} is not a whole number")
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise InputError(f"baseline[{year}] = {value!r} is not a finite number")
        pairs.append((int(year), float(value)))
    pairs.sort()
    first, last = pairs[0][0], pairs[-1][0]
    if first > years[0] or last < years[-1]:
        raise InputError(
            f"baseline covers {first}-{last} but the forecast runs {int(years[0])}-{int(years[-1])}; "
            "give baseline values for the first and last forecast years"
        )
    return np.asarray(
        np.interp(years, [p[0] for p in pairs], [p[1] for p in pairs]), dtype=np.float64
    )


def trend_impact(
    baseline: Mapping[int, float],
    events: Sequence[TrendEvent],
    *,
    start_year: int,
    end_year: int,
    seed: int,
    runs: int = 10_000,
    cross_impacts: Sequence[CrossImpact] = (),
    interpolation: Interpolation = "linear",
    quantiles: Sequence[float] = (0.1, 0.5, 0.9),
    baseline_se: Mapping[int, float] | None = None,
    baseline_df: float | None = None,
) -> TiaResult:
    """Expected and Monte Carlo trend forecasts (with a quantile band) adjusted for events.

    With `baseline_se` (year -> standard error of a new observation, e.g. from
    analysis.baseline.extrapolate_baseline) each run also draws its own baseline path,
    y0(t) + T se(t) with one T per run from Student's t with `baseline_df` degrees of freedom
    (normal when None): the baseline's prediction interval enters the band. Profile and baseline
    draws come from a second stream of the seed, so runs without them keep their numbers.
    """
    for name, value in (
        ("start_year", start_year),
        ("end_year", end_year),
        ("seed", seed),
        ("runs", runs),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise InputError(f"{name} must be a whole number, not {value!r}")
    if end_year <= start_year:
        raise InputError(f"end_year ({end_year}) must be after start_year ({start_year})")
    if end_year - start_year > MAX_YEARS:
        raise InputError(f"at most {MAX_YEARS} years can be forecast, not {end_year - start_year}")
    if not 1 <= runs <= MAX_RUNS:
        raise InputError(f"runs must be between 1 and {MAX_RUNS}, not {runs}")
    if seed < 0:
        raise InputError(f"seed must be a non-negative integer, not {seed}")
    if interpolation not in ("linear", "hazard"):
        raise InputError(f"interpolation must be 'linear' or 'hazard', not {interpolation!r}")
    levels = tuple(float(q) for q in quantiles)
    if not levels or any(not 0.0 <= q <= 1.0 for q in levels):
        raise InputError(f"quantiles must be numbers in [0, 1], not {list(quantiles)!r}")
    keys = [e.key for e in events]
    if len(set(keys)) != len(keys):
        duplicate = next(k for k in keys if keys.count(k) > 1)
        raise InputError(f"event key {duplicate!r} appears twice")

    years = np.arange(start_year, end_year + 1, dtype=np.float64)
    y0 = _baseline_values(baseline, years)
    # simulate in key order so that the order events are listed in cannot change the draws
    ordered = sorted(range(len(events)), key=lambda i: keys[i])
    cumulative = np.array(
        [
            cumulative_probability(
                events[i].probabilities,
                years,
                start_year=start_year,
                interpolation=interpolation,
                name=f"events[{i}] ({keys[i]}).probabilities",
            )
            for i in ordered
        ]
    ).reshape(len(ordered), years.size)
    profiles = [events[i].impact for i in ordered]
    relative = np.array([p.kind == "relative" for p in profiles], dtype=bool)
    delays = np.arange(years.size, dtype=np.float64)
    # per event, its candidate profiles (the experts' when given): impact by delay for each
    candidates = [events[i].profiles or (events[i].impact,) for i in ordered]
    for i, options in zip(ordered, candidates, strict=True):
        if any(o.kind != events[i].impact.kind for o in options):
            raise InputError(f"event {keys[i]!r}: every profile must have the same kind")
    per_profile = [np.array([o.at(delays) for o in options]) for options in candidates]
    impact_by_delay = np.array([table.mean(axis=0) for table in per_profile]).reshape(
        len(ordered), years.size
    )
    extra = np.random.default_rng([seed, 1])
    choice = np.array(
        [extra.integers(0, len(options), runs) for options in candidates], dtype=np.int64
    ).reshape(len(ordered), runs)
    baseline_shift = np.zeros((1, years.size))
    if baseline_se is not None:
        se = _baseline_values(baseline_se, years) if baseline_se else np.zeros(years.size)
        if (se < 0).any():
            raise InputError("baseline_se must not be negative")
        draws = (
            extra.standard_t(baseline_df, runs)
            if baseline_df is not None
            else extra.standard_normal(runs)
        )
        baseline_shift = draws[:, None] * se[None, :]

    log_multiplier = _cross_impact_matrix(cross_impacts, [keys[i] for i in ordered], cumulative)
    occurrence_index = _simulate_occurrences(
        cumulative, log_multiplier, runs, np.random.default_rng(seed)
    )

    # expected change per event: sum_tau q(tau) I(t - tau), a causal convolution
    q = np.diff(cumulative, axis=1, prepend=0.0)
    expected_change = np.array(
        [np.convolve(q[e], impact_by_delay[e])[: years.size] for e in range(len(ordered))]
    ).reshape(len(ordered), years.size)

    # Monte Carlo trajectories: impact of each event given its simulated year of occurrence
    relative_sum = np.zeros((runs, years.size))
    absolute_sum = np.zeros((runs, years.size))
    simulated_cumulative = np.zeros((len(ordered), years.size))
    year_index = np.arange(years.size)
    for e in range(len(ordered)):
        when = occurrence_index[:, e]
        since = year_index[None, :] - when[:, None]
        table = per_profile[e]
        effect = np.where(
            since >= 0, table[choice[e][:, None], np.clip(since, 0, years.size - 1)], 0.0
        )
        effect[when < 0] = 0.0
        (relative_sum if relative[e] else absolute_sum)[:] += effect
        occurred_by = (when[:, None] >= 0) & (since >= 0)
        simulated_cumulative[e] = occurred_by.mean(axis=0)
    trajectories = (y0[None, :] + baseline_shift) * (1.0 + relative_sum) + absolute_sum
    mean = trajectories.mean(axis=0)

    has_cross = bool(np.any(log_multiplier))
    closed_form = y0 * (1.0 + expected_change[relative].sum(axis=0)) + expected_change[
        ~relative
    ].sum(axis=0)
    forecast = pd.DataFrame({"year": years.astype(np.int64), "baseline": y0})
    forecast["expected"] = mean if has_cross else closed_form
    if has_cross:
        forecast["expected_without_cross_impacts"] = closed_form
    forecast["mean"] = mean
    band = np.quantile(trajectories, levels, axis=0, method="linear")
    for level, row in zip(levels, band, strict=True):
        forecast[_quantile_name(level)] = row

    contributions = pd.DataFrame({"year": years.astype(np.int64)})
    occurrence = pd.DataFrame({"year": years.astype(np.int64)})
    position = {original: e for e, original in enumerate(ordered)}
    for original, key in enumerate(keys):
        e = position[original]
        if has_cross:
            change = _simulated_change(occurrence_index[:, e], impact_by_delay[e], years.size)
        else:
            change = expected_change[e]
        contributions[key] = y0 * change if relative[e] else change
        occurrence[key] = cumulative[e]
    if has_cross:
        for original, key in enumerate(keys):
            occurrence[f"{key} simulated"] = simulated_cumulative[position[original]]
    return TiaResult(
        forecast=forecast,
        contributions=contributions,
        occurrence=occurrence,
        seed=int(seed),
        runs=int(runs),
        interpolation=interpolation,
        quantiles=levels,
        cross_impacts=has_cross,
    )


def _quantile_name(level: float) -> str:
    percent = level * 100.0
    return f"p{percent:g}".replace(".", "_")


def _simulated_change(when: npt.NDArray[np.int64], impact: FloatArray, size: int) -> FloatArray:
    """Mean impact over runs given each run's occurrence index (-1 = never)."""
    counts = np.bincount(when[when >= 0], minlength=size).astype(np.float64) / when.size
    return np.asarray(np.convolve(counts, impact)[:size], dtype=np.float64)


def _cross_impact_matrix(
    cross_impacts: Sequence[CrossImpact], keys: Sequence[str], cumulative: FloatArray
) -> FloatArray:
    """log odds multipliers [trigger, target] on yearly hazards (0 where there is no impact)."""
    index = {k: i for i, k in enumerate(keys)}
    matrix = np.zeros((len(keys), len(keys)))
    seen: set[tuple[str, str]] = set()
    for number, item in enumerate(cross_impacts):
        where = f"cross_impacts[{number}]"
        for role, key in (("trigger", item.trigger), ("target", item.target)):
            if key not in index:
                raise InputError(f"{where}: unknown {role} event {key!r}")
        if item.trigger == item.target:
            raise InputError(f"{where}: an event cannot impact itself ({item.trigger!r})")
        if (item.trigger, item.target) in seen:
            raise InputError(f"{where}: {item.trigger} -> {item.target} is given twice")
        seen.add((item.trigger, item.target))
        p = item.p_given
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise InputError(f"{where}.p = {p!r} is not a probability in [0, 1]")
        target = index[item.target]
        base = float(np.clip(cumulative[target, -1], EPS, 1.0 - EPS))
        given = float(np.clip(p, EPS, 1.0 - EPS))
        matrix[index[item.trigger], target] = (math.log(given) - math.log1p(-given)) - (
            math.log(base) - math.log1p(-base)
        )
    return matrix


def _simulate_occurrences(
    cumulative: FloatArray, log_multiplier: FloatArray, runs: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Year index of occurrence per run and event (-1 = not within the forecast)."""
    events, size = cumulative.shape
    when = np.full((runs, events), -1, dtype=np.int64)
    shift = np.zeros((runs, events))
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(
            cumulative[:, :-1] < 1.0,
            (cumulative[:, 1:] - cumulative[:, :-1]) / (1.0 - cumulative[:, :-1]),
            0.0,
        )
    hazard = np.clip(hazard, 0.0, 1.0)
    for t in range(1, size):
        uniforms = rng.random((runs, events))
        h = hazard[:, t - 1][None, :]
        multiplier = np.exp(shift)
        # odds times multiplier, written so that hazards of exactly 0 or 1 stay 0 or 1
        adjusted = h * multiplier / (1.0 - h + h * multiplier)
        occurs = (when < 0) & (uniforms < adjusted)
        when[occurs] = t
        if occurs.any() and np.any(log_multiplier):
            # float32: float64 BLAS products of this shape stall on busy cores
            shift += occurs.astype(np.float32) @ log_multiplier.astype(np.float32)
    return when


# ---------------------------------------------------------------------------------------------
# JSON specification


def _require(mapping: Mapping[str, Any], name: str, where: str) -> Any:
    if name not in mapping:
        raise InputError(f"{where}: missing field {name!r}")
    return mapping[name]


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{where} must be a finite number, not {value!r}")
    return float(value)


def _year(value: Any, where: str) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{where}: {value!r} is not a year")
    return int(value)


def _year_map(value: Any, where: str) -> dict[int, float]:
    if not isinstance(value, Mapping) or not value:
        raise InputError(f"{where} must be an object of year: value pairs")
    return {_year(k, where): _number(v, f"{where}[{k}]") for k, v in value.items()}


def tia_from_spec(
    spec: Mapping[str, Any], *, seed: int | None = None, runs: int | None = None
) -> TiaResult:
    """Run trend_impact from a JSON-style specification (see analysis/README.md); InputError names the field."""
    if not isinstance(spec, Mapping):
        raise InputError("the TIA specification must be a JSON object")
    known = {
        "title", "start_year", "end_year", "baseline", "events", "cross_impacts",
        "interpolation", "runs", "seed", "quantiles", "units",
    }  # fmt: skip
    unknown = sorted(set(spec) - known)
    if unknown:
        raise InputError(f"unknown field(s) {', '.join(unknown)} in the TIA specification")
    start_year = _year(_require(spec, "start_year", "spec"), "start_year")
    end_year = _year(_require(spec, "end_year", "spec"), "end_year")
    baseline = _year_map(_require(spec, "baseline", "spec"), "baseline")
    raw_events = _require(spec, "events", "spec")
    if not isinstance(raw_events, list):
        raise InputError("events must be a list")
    events = []
    for i, raw in enumerate(raw_events):
        where = f"events[{i}]"
        if not isinstance(raw, Mapping):
            raise InputError(f"{where} must be an object")
        key = _require(raw, "key", where)
        if not isinstance(key, str) or not key.strip():
            raise InputError(f"{where}.key must be a non-empty text")
        probabilities = _year_map(_require(raw, "probabilities", where), f"{where}.probabilities")
        impact = _require(raw, "impact", where)
        if not isinstance(impact, Mapping):
            raise InputError(f"{where}.impact must be an object")
        values = {
            name: _number(_require(impact, name, f"{where}.impact"), f"{where}.impact.{name}")
            for name in ("t1", "t2", "t3", "i_max", "i_ss")
        }
        try:
            profile = ImpactProfile(**values, kind=impact.get("kind", "relative"))
        except InputError as error:
            raise InputError(f"{where}.impact: {error}") from None
        label = raw.get("label", "")
        events.append(
            TrendEvent(
                key=key,
                probabilities=tuple(probabilities.items()),
                impact=profile,
                label=str(label),
            )
        )
    cross = []
    raw_cross = spec.get("cross_impacts", [])
    if not isinstance(raw_cross, list):
        raise InputError("cross_impacts must be a list")
    for i, raw in enumerate(raw_cross):
        where = f"cross_impacts[{i}]"
        if not isinstance(raw, Mapping):
            raise InputError(f"{where} must be an object with 'if', 'then' and 'p'")
        cross.append(
            CrossImpact(
                trigger=str(_require(raw, "if", where)),
                target=str(_require(raw, "then", where)),
                p_given=_number(_require(raw, "p", where), f"{where}.p"),
            )
        )
    chosen_seed = seed if seed is not None else spec.get("seed", 0)
    chosen_runs = runs if runs is not None else spec.get("runs", 10_000)
    quantiles = spec.get("quantiles", [0.1, 0.5, 0.9])
    if not isinstance(quantiles, list):
        raise InputError("quantiles must be a list of numbers in [0, 1]")
    return trend_impact(
        baseline,
        events,
        start_year=start_year,
        end_year=end_year,
        seed=chosen_seed,
        runs=chosen_runs,
        cross_impacts=cross,
        interpolation=spec.get("interpolation", "linear"),
        quantiles=[_number(q, "quantiles") for q in quantiles],
    )
