"""Trend impact analysis over the panel's final (frozen) estimates.

Pure orchestration: each trend's baseline and the events' probabilities and impact profiles come
from the closed rounds' snapshots (result_inputs.py); the baseline's extrapolation, the Monte
Carlo and the assembly of its tables from analysis/ (analysis.baseline, analysis.tia,
analysis.trend_assembly). Every random procedure takes a seed and the result says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from sqlalchemy.orm import Session

from analysis.baseline import BaselineForecast, extrapolate_baseline
from analysis.errors import InputError
from analysis.jsonable import finite
from analysis.snapshot import ItemSummary
from analysis.tia import ImpactProfile, TrendEvent, trend_impact
from analysis.trend_assembly import (
    ForecastYear,
    TiaEvent,
    UsedEvent,
    clipped_forecast,
    expected_interval,
    forecast_years,
    tia_events,
    trend_event,
)
from app.definitions.model import ItemKind, QuestionKind
from app.messages import N_, Message
from app.models import Item, NotFoundError, Round, Study
from app.services import intervals
from app.services.analysis_settings import settings_of
from app.services.result_inputs import (
    EventInputs,
    closed_snapshots,
    event_inputs,
    latest_item_data,
    part_median,
)
from app.services.tidy import TREND_IMPACT_PARTS

#: the trend impact band
TIA_QUANTILES = (0.1, 0.5, 0.9)
#: the level of bootstrap intervals
BOOTSTRAP_LEVEL = 0.9


@dataclass(frozen=True)
class TrendImpact:
    """A trend's baseline adjusted by the events the panel expects to move it."""

    key: str
    title: dict[str, str]
    unit: dict[str, str]
    relative: bool
    round_number: int | None
    #: (year, value) as the facilitators gave it
    baseline: tuple[tuple[int, float], ...]
    start_year: int
    end_year: int
    events: tuple[TiaEvent, ...]
    forecast: tuple[ForecastYear, ...]
    #: the panel's own median estimate of the trend at the horizon (the middle quantile), if asked
    panel_estimate: float | None
    seed: int
    runs: int
    notes: tuple[Message, ...]

    @property
    def final(self) -> ForecastYear | None:
        """The forecast in the end year."""
        return self.forecast[-1] if self.forecast else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "key": self.key,
            "title": dict(self.title),
            "unit": dict(self.unit),
            "impacts": "relative" if self.relative else "absolute",
            "round": self.round_number,
            "baseline": [[y, v] for y, v in self.baseline],
            "start_year": self.start_year,
            "end_year": self.end_year,
            "events": [e.as_dict() for e in self.events],
            "forecast": [f.as_dict() for f in self.forecast],
            "panel_estimate": finite(self.panel_estimate),
            "seed": self.seed,
            "runs": self.runs,
            "notes": [str(n) for n in self.notes],
        }


def _profile(entry: ItemSummary, question: str) -> dict[str, float] | None:
    """Medians of an impact profile's parts, or None if any is not shown."""
    values = {part: part_median(entry, question, part) for part in TREND_IMPACT_PARTS}
    if any(v is None for v in values.values()):
        return None
    return {k: float(v) for k, v in values.items() if v is not None}


def _panel_level(item: Item, entry: ItemSummary | None) -> float | None:
    """The median of the panel's middle-quantile estimate of a trend (e.g. its 50 % value)."""
    if entry is None:
        return None
    for question in item.questions:
        if question.kind == QuestionKind.QUANTILES:
            levels = [str(q) for q in question.config.get("quantiles", [])]
            if levels:
                return part_median(entry, question.key, levels[len(levels) // 2])
    return None


def tia_results(
    session: Session,
    study: Study,
    round_: Round | int | None = None,
    *,
    seed: int | None = None,
    runs: int | None = None,
    resamples: int | None = None,
) -> list[TrendImpact]:
    """Trend impact analysis of every trend item from the panel's final estimates.

    The seed, number of runs and bootstrap resamples come from the study's analysis settings
    unless given here."""
    settings = settings_of(study)
    seed = settings.seed if seed is None else seed
    runs = settings.tia_runs if runs is None else runs
    resamples = settings.bootstrap_resamples if resamples is None else resamples
    snapshots = closed_snapshots(session, study, round_)
    if not snapshots:
        raise NotFoundError("No round has closed yet: there are no results.")
    latest = latest_item_data(snapshots)
    inputs = event_inputs(session, study, round_)
    frame = intervals.closed_tidy(session, study, [r for r, _data in snapshots])
    results = []
    for trend in (item for item in study.items if item.kind == ItemKind.TREND):
        results.append(
            _trend(
                study, trend, latest, inputs, seed=seed, runs=runs, frame=frame, resamples=resamples
            )
        )
    return results


def _trend_bounds(trend: Item) -> tuple[float | None, float | None]:
    """The ends of the scale the panel estimates the trend on, if the survey gives them."""
    for question in trend.questions:
        if question.kind == QuestionKind.QUANTILES and question.scale is not None:
            return question.scale.min, question.scale.max
    return None, None


def _trend(
    study: Study,
    trend: Item,
    latest: Mapping[str, tuple[int, ItemSummary]],
    inputs: EventInputs,
    *,
    seed: int,
    runs: int,
    frame: pd.DataFrame | None = None,
    resamples: int = 0,
) -> TrendImpact:
    """One trend's analysis (or an empty one with notes saying why not)."""
    notes: list[Message] = []
    baseline = sorted((int(y), float(v)) for y, v in (trend.baseline or {}).items())
    found = latest.get(trend.key)
    panel = _panel_level(trend, found[1] if found else None)
    empty = TrendImpact(
        key=trend.key,
        title=dict(trend.current_version.title),
        unit=dict(trend.unit or {}),
        relative=bool(trend.relative_impacts),
        round_number=found[0] if found else None,
        baseline=tuple(baseline),
        start_year=baseline[-1][0] if baseline else study.horizon,
        end_year=study.horizon,
        events=(),
        forecast=(),
        panel_estimate=panel,
        seed=seed,
        runs=runs,
        notes=(),
    )
    if not baseline:
        return _with_notes(empty, N_("No baseline is given for this trend: no forecast."))
    start = baseline[-1][0]
    if start >= study.horizon:
        return _with_notes(
            empty, N_("The baseline reaches the horizon already: nothing is left to forecast.")
        )
    kind: Literal["relative", "absolute"] = "relative" if trend.relative_impacts else "absolute"
    events: list[TrendEvent] = []
    used: list[UsedEvent] = []
    named_profiles: dict[str, dict[str, ImpactProfile]] = {}
    for item in study.items:
        if item.kind != ItemKind.EVENT:
            continue
        for question in item.questions:
            if (
                question.kind != QuestionKind.TREND_IMPACT
                or question.config.get("trend") != trend.key
            ):
                continue
            entry = latest.get(item.key)
            profile = _profile(entry[1], question.key) if entry else None
            points = tuple((y, p) for y, p in inputs.horizons.get(item.key, ()) if y > start)
            if profile is None or not points:
                notes.append(
                    N_(
                        "%(event)s is left out: its impact profile or probability has fewer than "
                        "k answers.",
                        event=item.key,
                    )
                )
                continue
            by_expert = (
                intervals.expert_profile_map(frame, item.key, entry[0], question.key, kind)
                if frame is not None and entry is not None
                else {}
            )
            named_profiles[item.key] = by_expert
            event, row = trend_event(item.key, profile, points, tuple(by_expert.values()), kind)
            events.append(event)
            used.append(row)
    if not events:
        notes.append(
            N_(
                "No development's impact on this trend was asked (or none has k answers): the "
                "forecast is the extrapolated baseline alone, and its band is the baseline's "
                "prediction interval."
            )
        )
    try:
        extrapolated: BaselineForecast | None = extrapolate_baseline(
            dict(baseline),
            start_year=start,
            end_year=study.horizon,
            level=TIA_QUANTILES[-1] - TIA_QUANTILES[0],
            bounds=_trend_bounds(trend),
        )
    except InputError:
        extrapolated = None
    if extrapolated is None:
        if not events:
            return _with_notes(
                empty,
                *notes,
                N_(
                    "Too little history to extrapolate the baseline (%(n)s points; 3 are needed) "
                    "and no development moves it: no forecast.",
                    n=len(baseline),
                ),
            )
        series = dict(baseline)
        series[study.horizon] = baseline[-1][1]
        notes.append(
            N_(
                "Too little history to extrapolate (%(n)s points; 3 are needed): the baseline is "
                "held at its last value (%(year)s) up to %(horizon)s.",
                n=len(baseline),
                year=start,
                horizon=study.horizon,
            )
        )
    else:
        series = extrapolated.as_mapping()
        if extrapolated.logistic:
            notes.append(
                N_(
                    "Baseline: a logistic trend (a straight line on the logit of the scale, so it "
                    "flattens towards the scale's ends) fitted to the %(n)s history points, with "
                    "its prediction interval carried into the band.",
                    n=extrapolated.points,
                )
            )
        else:
            notes.append(
                N_(
                    "Baseline: a straight-line trend fitted to the %(n)s history points (%(slope)s "
                    "per year), with its prediction interval carried into the band.",
                    n=extrapolated.points,
                    slope=f"{extrapolated.slope:+.3g}",
                )
            )
        if extrapolated.clipped:
            notes.append(N_("The extrapolated baseline is held within the ends of the scale."))
        elif _trend_bounds(trend) == (None, None):
            notes.append(
                N_(
                    "The survey gives no ends for this trend's scale, so the straight line is not "
                    "held within any: check the extrapolated values against the scale's limits "
                    "(a minimum and maximum on the trend's estimate scale would hold it there)."
                )
            )
    if any(e.profiles for e in events):
        notes.append(
            N_(
                "Each simulated future draws one expert's impact profile per development, so the "
                "band shows the panel's disagreement about impacts as well as uncertain timing."
            )
        )
    result = trend_impact(
        series,
        events,
        start_year=start,
        end_year=study.horizon,
        seed=seed,
        runs=runs,
        quantiles=TIA_QUANTILES,
        baseline_se=extrapolated.se_mapping() if extrapolated else None,
        baseline_df=extrapolated.df if extrapolated else None,
    )
    bounds = _trend_bounds(trend)
    table = clipped_forecast(result.forecast, bounds)
    low_expected, high_expected = expected_interval(
        table["baseline"].to_numpy(),
        result.occurrence,
        events,
        named_profiles,
        relative=kind == "relative",
        resamples=resamples,
        seed=seed,
        bounds=bounds,
        level=BOOTSTRAP_LEVEL,
    )
    last = result.contributions.iloc[-1]
    return TrendImpact(
        key=empty.key,
        title=empty.title,
        unit=empty.unit,
        relative=empty.relative,
        round_number=empty.round_number,
        baseline=empty.baseline,
        start_year=start,
        end_year=study.horizon,
        events=tia_events(used, last),
        forecast=forecast_years(table, low_expected, high_expected),
        panel_estimate=panel,
        seed=result.seed,
        runs=result.runs,
        notes=tuple(notes),
    )


def _with_notes(result: TrendImpact, *notes: Message) -> TrendImpact:
    """The same result with notes."""
    return TrendImpact(**{**result.__dict__, "notes": tuple(notes)})
