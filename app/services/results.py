"""Scenario ranking and trend impact analysis over the panel's final (frozen) estimates.

Pure orchestration: the numbers come from the closed rounds' snapshots (pooled probabilities,
medians of impact profiles) and the methods from analysis/ (SMIC, the pairwise maximum-entropy
model, cross-impact Monte Carlo, trend impact analysis). Nothing here is cached; every random
procedure takes a seed and the result says which.

Each item's estimate comes from the latest closed round (up to the one asked for) whose snapshot
has it, so an item retired after reaching consensus keeps its last estimate; the result says
which round every estimate comes from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis.baseline import BaselineForecast, extrapolate_baseline
from analysis.bootstrap import Interval, ScenarioIntervals, expected_trend_intervals
from analysis.errors import InputError
from analysis.expert_coherence import Judgements, panel_coherence
from analysis.expressions import parse_expression
from analysis.scenarios import (
    MaxEntModel,
    cross_impact,
    fit_maxent,
    impacts_from_asked,
    model_from_parameters,
    pool_experts,
    run_smic,
    scenario_probabilities,
    smic_inputs,
)
from analysis.scenarios.experts import (
    POOLING_CHOICES,
    UNASKED_CHOICES,
    ScenarioPooling,
    UnaskedPairs,
    check_choice,
    pairwise_moments,
)
from analysis.scenarios.maxent import EXACT_LIMIT
from analysis.snapshot import ItemSummary, SnapshotData
from analysis.tia import ImpactProfile, TrendEvent, trend_impact
from app.definitions.model import ItemKind, QuestionKind, ScaleKind
from app.messages import N_, Message
from app.models import (
    Item,
    NotFoundError,
    Question,
    Round,
    RoundState,
    Snapshot,
    StateError,
    Study,
)
from app.services import intervals
from app.services.analysis_settings import settings_of
from app.services.expert_judgements import coherence_view, expert_judgements, judgements_on
from app.services.tidy import TREND_IMPACT_PARTS

#: scenarios listed per method
TOP_SCENARIOS = 10
#: the trend impact band
TIA_QUANTILES = (0.1, 0.5, 0.9)
#: the level of bootstrap intervals
BOOTSTRAP_LEVEL = 0.9


# ---------------------------------------------------------------------------------------------
# Inputs: the panel's pooled estimates, read from the snapshots


@dataclass(frozen=True)
class EventInputs:
    """Pooled probabilities (0-1) of the events and their conditionals, with where they come from."""

    round_number: int
    #: event key -> P(event by the study's horizon), log-odds pooled
    probabilities: dict[str, float]
    #: event key -> the round whose snapshot gave it
    rounds: dict[str, int]
    #: (i, j) -> P(i | j) and P(i | not j), where the panel was asked
    given: dict[tuple[str, str], float]
    given_not: dict[tuple[str, str], float]
    #: events the study defines whose probability is unknown (never asked, or fewer than k answers)
    missing: tuple[str, ...]
    #: event key -> the probability question's part used ("" or a horizon year)
    parts: dict[str, str]
    #: event key -> (year, P(by that year)) for every horizon asked
    horizons: dict[str, tuple[tuple[int, float], ...]]


def require_closed_round(session: Session, study: Study) -> None:
    """Raise StateError (409) while no round of the study has closed: results and exports
    are made from closed rounds' snapshots, so before the first close there is nothing yet."""
    closed = session.scalar(
        select(Round.id)
        .where(Round.study_id == study.id, Round.state == RoundState.CLOSED)
        .limit(1)
    )
    if closed is None:
        raise StateError(
            N_(
                "No round of this study has closed yet, so there is nothing to export. "
                "Exports hold closed rounds only; close the first round, then try again."
            )
        )


def closed_snapshots(
    session: Session, study: Study, round_: Round | int | None = None
) -> list[tuple[Round, SnapshotData]]:
    """Closed rounds up to `round_` (default: all) with their typed snapshots, oldest first."""
    query = (
        select(Round, Snapshot)
        .join(Snapshot, Snapshot.round_id == Round.id)
        .where(Round.study_id == study.id, Round.state == RoundState.CLOSED)
        .order_by(Round.number)
    )
    if round_ is not None:
        number = round_.number if isinstance(round_, Round) else int(round_)
        if number not in {
            r.number for r in session.scalars(select(Round).where(Round.study_id == study.id))
        }:
            raise NotFoundError(f"Round {number} does not exist.")
        query = query.where(Round.number <= number)
    return [(r, s.content) for r, s in session.execute(query).tuples()]


def latest_item_data(
    snapshots: Sequence[tuple[Round, SnapshotData]],
) -> dict[str, tuple[int, ItemSummary]]:
    """Item key -> (round number, the item's snapshot entry) from the latest round that has it."""
    found: dict[str, tuple[int, ItemSummary]] = {}
    for round_, data in snapshots:
        for key, entry in data.items.items():
            found[key] = (round_.number, entry)
    return found


def _pooled(entry: ItemSummary, question: str, part: str) -> float | None:
    """The log-odds pooled probability (0-1) of a probability part, if shown."""
    found = entry.shown_part(question, part)
    value = found.pooled_logodds if found is not None else None
    return None if value is None else float(value) / 100.0


def _median(entry: ItemSummary, question: str, part: str) -> float | None:
    """The median of a part, if shown."""
    found = entry.shown_part(question, part)
    return None if found is None else found.median


def probability_question(item: Item, horizon: int) -> tuple[Question, str] | None:
    """The event's probability question and the part that means 'by the study's horizon'."""
    for question in item.questions:
        if question.kind != QuestionKind.PROBABILITY:
            continue
        if question.scale is not None and question.scale.kind != ScaleKind.PROBABILITY:
            continue
        years = [int(y) for y in question.config.get("horizons", [])]
        if not years:
            return question, ""
        return question, str(horizon if horizon in years else max(years))
    return None


def event_inputs(session: Session, study: Study, round_: Round | int | None = None) -> EventInputs:
    """The pooled probabilities and conditionals every scenario method starts from."""
    snapshots = closed_snapshots(session, study, round_)
    if not snapshots:
        raise NotFoundError("No round has closed yet: there are no results.")
    latest = latest_item_data(snapshots)
    probabilities: dict[str, float] = {}
    rounds: dict[str, int] = {}
    parts: dict[str, str] = {}
    horizons: dict[str, tuple[tuple[int, float], ...]] = {}
    given: dict[tuple[str, str], float] = {}
    given_not: dict[tuple[str, str], float] = {}
    missing: list[str] = []
    events = [item for item in study.items if item.kind == ItemKind.EVENT]
    for item in events:
        asked = probability_question(item, study.horizon)
        found = latest.get(item.key)
        value = _pooled(found[1], asked[0].key, asked[1]) if asked and found else None
        if asked is None or found is None or value is None:
            missing.append(item.key)
            continue
        question, part = asked
        round_number, entry = found
        probabilities[item.key] = value
        rounds[item.key] = round_number
        parts[item.key] = part
        points = []
        for year in question.config.get("horizons", []) or [study.horizon]:
            pooled = _pooled(entry, question.key, "" if part == "" else str(year))
            if pooled is not None:
                points.append((int(year), pooled))
        horizons[item.key] = tuple(points)
        for conditional in item.questions:
            if conditional.kind != QuestionKind.CONDITIONAL:
                continue
            for other in conditional.config.get("given", []):
                yes = _pooled(entry, conditional.key, f"{other}|given")
                no = _pooled(entry, conditional.key, f"{other}|given_not")
                if yes is not None and no is not None:
                    given[(item.key, other)] = yes
                    given_not[(item.key, other)] = no
    return EventInputs(
        round_number=snapshots[-1][0].number,
        probabilities=probabilities,
        rounds=rounds,
        given=given,
        given_not=given_not,
        missing=tuple(missing),
        parts=parts,
        horizons=horizons,
    )


# ---------------------------------------------------------------------------------------------
# Scenarios


@dataclass(frozen=True)
class RankedScenario:
    """One scenario (which events occur; the others do not) and its probability."""

    rank: int
    occurring: tuple[str, ...]
    probability: float
    lower: float | None
    upper: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "rank": self.rank,
            "occurring": list(self.occurring),
            "probability": _finite(self.probability),
            "lower": _finite(self.lower),
            "upper": _finite(self.upper),
        }


@dataclass(frozen=True)
class MethodSummary:
    """What one scenario method did: its events, its most likely scenarios and its settings."""

    method: str  #: smic | maxent | crossimpact
    events: tuple[str, ...]
    top: tuple[RankedScenario, ...]
    #: method-specific facts (objective, seed, plays, calibration error, ...)
    facts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "method": self.method,
            "events": list(self.events),
            "top": [s.as_dict() for s in self.top],
            "facts": {k: _finite(v) for k, v in self.facts.items()},
        }


@dataclass(frozen=True)
class ScenarioEstimate:
    """A named scenario's probability under one method, with bounds or an interval."""

    method: str
    probability: float
    lower: float
    upper: float
    note: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "method": self.method,
            "probability": _finite(self.probability),
            "lower": _finite(self.lower),
            "upper": _finite(self.upper),
            "note": self.note,
        }


@dataclass(frozen=True)
class NamedScenario:
    """A scenario the survey file names (a Boolean expression over events) and its estimates."""

    key: str
    title: dict[str, str]
    description: dict[str, str]
    expression: str
    events: tuple[str, ...]
    estimates: tuple[ScenarioEstimate, ...]
    #: events the expression uses whose probability is unknown (then there are no estimates)
    missing_events: tuple[str, ...] = ()

    def estimate(self, method: str) -> ScenarioEstimate | None:
        """The estimate under one method, if there is one."""
        return next((e for e in self.estimates if e.method == method), None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "key": self.key,
            "title": dict(self.title),
            "description": dict(self.description),
            "expression": self.expression,
            "events": list(self.events),
            "estimates": [e.as_dict() for e in self.estimates],
            "missing_events": list(self.missing_events),
        }


@dataclass(frozen=True)
class EventEstimate:
    """One event's pooled probability and what the scenario methods made of it."""

    key: str
    probability: float
    round_number: int
    #: SMIC's coherent probability (None when the event is not in SMIC)
    coherent: float | None
    #: share of cross-impact plays in which it occurred
    simulated: float | None
    #: the probability under the average of the experts' own SMIC distributions
    coherent_experts: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "key": self.key,
            "probability": _finite(self.probability),
            "round": self.round_number,
            "coherent": _finite(self.coherent),
            "coherent_experts": _finite(self.coherent_experts),
            "simulated": _finite(self.simulated),
        }


@dataclass(frozen=True)
class ScenarioResults:
    """Scenario probabilities of a study from its final estimates, under every method."""

    round_number: int
    seed: int
    events: tuple[EventEstimate, ...]
    #: events with conditional (cross-impact) judgements
    key_events: tuple[str, ...]
    #: pairs (i, j) without a panel judgement of P(i | j): filled in as independent (only
    #: with unasked_pairs = "independent")
    independent_pairs: tuple[tuple[str, str], ...]
    methods: tuple[MethodSummary, ...]
    named: tuple[NamedScenario, ...]
    notes: tuple[Message, ...]
    #: bootstrap over experts: scenario probabilities and rank ranges (fast log-linear method)
    bootstrap: ScenarioIntervals | None = None
    #: event key -> pooling method -> bootstrap interval of its pooled probability (0-1)
    pooled_intervals: dict[str, dict[str, Interval]] = field(default_factory=dict)
    #: pairs (i, j) among SMIC's events without a panel judgement of P(i | j)
    unasked_pairs: tuple[tuple[str, str], ...] = ()
    #: scenario_pooling and unasked_pairs as used
    settings: dict[str, str] = field(default_factory=dict)
    #: the panel's coherence summary (analysis.expert_coherence.PanelCoherence.summary)
    coherence: dict[str, Any] = field(default_factory=dict)
    #: per pseudonym: coherence checks and score, SMIC's distance to the expert's nearest
    #: coherent distribution; empty when an anonymous study has fewer than k experts
    coherence_experts: tuple[dict[str, Any], ...] = ()

    def method(self, name: str) -> MethodSummary | None:
        """One method's summary, if it ran."""
        return next((m for m in self.methods if m.method == name), None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (probabilities from 0 to 1)."""
        return {
            "round": self.round_number,
            "seed": self.seed,
            "events": [e.as_dict() for e in self.events],
            "key_events": list(self.key_events),
            "independent_pairs": [list(p) for p in self.independent_pairs],
            "methods": [m.as_dict() for m in self.methods],
            "named": [n.as_dict() for n in self.named],
            "notes": [str(n) for n in self.notes],
            "bootstrap": None if self.bootstrap is None else self.bootstrap.as_dict(),
            "pooled_intervals": {
                k: {m: i.as_dict() for m, i in v.items()} for k, v in self.pooled_intervals.items()
            },
            "unasked_pairs": [list(p) for p in self.unasked_pairs],
            "settings": dict(self.settings),
            "coherence": {k: _finite(v) for k, v in self.coherence.items()},
            "coherence_experts": [
                {k: _finite(v) if not isinstance(v, list) else v for k, v in row.items()}
                for row in self.coherence_experts
            ],
        }


def _finite(value: Any) -> Any:
    """Numbers as plain floats, NaN and infinities as None."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _logit(p: float) -> float:
    """log(p / (1 - p))."""
    return math.log(p / (1.0 - p))


def _expression_events(expression: str, keys: Sequence[str]) -> tuple[str, ...]:
    """The event keys an expression uses, in study order."""
    names = parse_expression(expression).names
    return tuple(k for k in keys if k in names) + tuple(sorted(n for n in names if n not in keys))


def _judgements(inputs: EventInputs) -> Judgements:
    """The panel's pooled judgements as analysis reads them."""
    return Judgements(inputs.probabilities, inputs.given, inputs.given_not)


def _ranked(
    table: pd.DataFrame, limit: int, value: str = "probability"
) -> tuple[RankedScenario, ...]:
    """The first `limit` rows of an analysis scenario table."""
    rows = []
    for _, row in table.head(limit).iterrows():
        lower = row.get("lower")
        upper = row.get("upper")
        rows.append(
            RankedScenario(
                rank=int(row["rank"]),
                occurring=_occurring(row["occurring"]),
                probability=float(row[value]),
                lower=None if lower is None or pd.isna(lower) else float(lower),
                upper=None if upper is None or pd.isna(upper) else float(upper),
            )
        )
    return tuple(rows)


def _occurring(label: Any) -> tuple[str, ...]:
    """Event keys from analysis' 'E01 + E06' labels ('none' when no event occurs)."""
    if isinstance(label, str):
        return () if label in ("", "none") else tuple(label.split(" + "))
    return tuple(str(k) for k in label)


def _estimates(table: pd.DataFrame) -> dict[str, list[ScenarioEstimate]]:
    """Named-scenario rows grouped by scenario name."""
    found: dict[str, list[ScenarioEstimate]] = {}
    for _, row in table.iterrows():
        found.setdefault(str(row["name"]), []).append(
            ScenarioEstimate(
                method=str(row["method"]),
                probability=float(row["probability"]),
                lower=float(row["lower"]),
                upper=float(row["upper"]),
                note=str(row["note"]),
            )
        )
    return found


def scenario_results(
    session: Session,
    study: Study,
    round_: Round | int | None = None,
    *,
    seed: int | None = None,
    plays: int | None = None,
    resamples: int | None = None,
    scenario_pooling: ScenarioPooling | None = None,
    unasked_pairs: UnaskedPairs | None = None,
) -> ScenarioResults:
    """Scenario probabilities under SMIC, maximum entropy and cross-impact, from the final estimates.

    The seed, plays, bootstrap resamples (0: no bootstrap), limits, scenario pooling and unasked
    pairs come from the study's analysis settings unless given here. scenario_pooling: SMIC on
    the pooled inputs ("inputs"), SMIC per expert with the experts' scenario probabilities
    averaged ("experts"), or both side by side. unasked_pairs: a pair nobody was asked is
    "unknown" (no constraint) or "independent"."""
    settings = settings_of(study)
    seed = settings.seed if seed is None else seed
    plays = settings.cross_impact_plays if plays is None else plays
    resamples = settings.bootstrap_resamples if resamples is None else resamples
    max_events = settings.smic_max_events
    pooling = cast(
        ScenarioPooling,
        check_choice(
            settings.scenario_pooling if scenario_pooling is None else scenario_pooling,
            POOLING_CHOICES,
            "scenario_pooling",
        ),
    )
    unasked_mode = cast(
        UnaskedPairs,
        check_choice(
            settings.unasked_pairs if unasked_pairs is None else unasked_pairs,
            UNASKED_CHOICES,
            "unasked_pairs",
        ),
    )
    inputs = event_inputs(session, study, round_)
    notes: list[Message] = []
    order = [item.key for item in study.items if item.kind == ItemKind.EVENT]
    keys = [k for k in order if k in inputs.probabilities]
    if inputs.missing:
        notes.append(
            N_(
                "No pooled probability for %(events)s (not asked, or fewer than k answers): left out.",
                events=", ".join(inputs.missing),
            )
        )
    named_specs = [
        (s, _expression_events(s.expression, order))
        for s in sorted(study.scenarios, key=lambda s: s.position)
    ]
    named_events = {k for _, events in named_specs for k in events if k in inputs.probabilities}
    key_events = [k for k in keys if any(k in pair for pair in inputs.given)]
    if len(key_events) + len(named_events - set(key_events)) <= max_events:
        smic_events = [k for k in keys if k in set(key_events) | named_events]
    else:
        smic_events = key_events[:max_events]
        if len(key_events) > max_events:
            notes.append(
                N_(
                    "SMIC lists all 2^n scenarios; it used the first %(n)s key events only.",
                    n=max_events,
                )
            )
    methods: list[MethodSummary] = []
    estimates: dict[str, list[ScenarioEstimate]] = {}
    independent_pairs: list[tuple[str, str]] = []
    unasked: list[tuple[str, str]] = []
    coherent: dict[str, float] = {}
    coherent_experts: dict[str, float] = {}
    smic_moments: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None
    asked_questions = {
        item.key: (found[0].key, inputs.parts[item.key])
        for item in study.items
        if item.key in inputs.parts and (found := probability_question(item, study.horizon))
    }
    panel = expert_judgements(session, study, inputs.rounds, asked_questions)
    coherence = panel_coherence(judgements_on(panel, keys))
    coherence_summary, coherence_rows = coherence_view(coherence, study)

    if not key_events:
        notes.append(
            N_(
                "No cross-impact judgements are available: every method treats the events as "
                "independent."
            )
        )
    if len(smic_events) >= 2 and key_events:
        pooled_inputs = smic_inputs(smic_events, _judgements(inputs), unasked=unasked_mode)
        unasked = list(pooled_inputs.unasked)
        if unasked_mode == "independent":
            independent_pairs = unasked
        usable = {
            s.key: text
            for s, events in named_specs
            if set(events) <= set(smic_events) and (text := s.expression)
        }
        if pooling in ("inputs", "both"):
            result = run_smic(pooled_inputs, bounds_for=TOP_SCENARIOS)
            coherent = dict(zip(smic_events, (float(v) for v in result.p_star), strict=True))
            smic_moments = pairwise_moments(result.probabilities, len(smic_events))
            methods.append(
                MethodSummary(
                    method="smic",
                    events=tuple(smic_events),
                    top=_ranked(result.scenarios, TOP_SCENARIOS),
                    facts={
                        "objective": float(result.objective),
                        "support_size": int(result.support_size),
                        "include_marginals": bool(result.include_marginals),
                        "independent_pairs": len(independent_pairs),
                        "unasked_pairs": len(unasked),
                    },
                )
            )
            if usable:
                table = scenario_probabilities(usable, event_keys=smic_events, smic=result)
                _merge(estimates, _estimates(table))
        per_expert = judgements_on(panel, smic_events)
        if pooling in ("experts", "both") and per_expert:
            pooled = pool_experts(
                smic_events,
                per_expert,
                fallback_p=inputs.probabilities,
                unasked=unasked_mode,
                top=TOP_SCENARIOS,
            )
            coherent_experts = dict(
                zip(smic_events, (float(v) for v in pooled.p_star), strict=True)
            )
            if smic_moments is None:
                smic_moments = pairwise_moments(pooled.probabilities, len(smic_events))
            objectives = [f.objective for f in pooled.experts]
            methods.append(
                MethodSummary(
                    method="smic_experts",
                    events=tuple(smic_events),
                    top=_ranked(pooled.scenarios, TOP_SCENARIOS),
                    facts={
                        "experts": len(pooled.experts),
                        "mean_objective": float(np.mean(objectives)),
                        "max_objective": float(np.max(objectives)),
                        "borrowed_probabilities": sum(len(f.borrowed) for f in pooled.experts),
                    },
                )
            )
            if usable:
                table = scenario_probabilities(usable, event_keys=smic_events, experts=pooled)
                _merge(estimates, _estimates(table))
            if coherence_rows:
                fits = {f.expert: f.objective for f in pooled.experts}
                coherence_rows = [
                    {**row, "smic_objective": fits.get(str(row["expert"]))}
                    for row in coherence_rows
                ]
        if unasked and unasked_mode == "independent":
            notes.append(
                N_(
                    "%(n)s of %(total)s conditional probabilities in SMIC were not asked and were "
                    "filled in as if the events were independent (P(i | j) = P(i | not j) = P(i)).",
                    n=len(unasked),
                    total=len(smic_events) * (len(smic_events) - 1),
                )
            )
        elif unasked:
            notes.append(
                N_(
                    "%(n)s of %(total)s conditional probabilities in SMIC were not asked: they are "
                    "unknown, not independent, and SMIC's ranges cover every value they could take.",
                    n=len(unasked),
                    total=len(smic_events) * (len(smic_events) - 1),
                )
            )

    if keys:
        model, restricted, facts = _maxent(
            keys,
            inputs,
            smic_events if smic_moments else [],
            smic_moments,
            named_events,
            blend=settings.independence_blend,
        )
        top = model.top_k(min(TOP_SCENARIOS, 2 ** len(keys)), seed=seed)
        methods.append(
            MethodSummary(
                method="maxent",
                events=tuple(keys),
                top=_ranked(top.table, TOP_SCENARIOS),
                facts={**facts, "search": top.method, "exact": bool(top.exact)},
            )
        )
        usable = {
            s.key: s.expression
            for s, events in named_specs
            if set(events) <= set(restricted.event_keys)
        }
        if usable:
            table = scenario_probabilities(
                usable, event_keys=restricted.event_keys, maxent=restricted, seed=seed
            )
            _merge(estimates, _estimates(table))

    if len(keys) >= 1:
        # each conditional is an impact in the direction it was asked only; unasked: none
        asked = smic_inputs(keys, _judgements(inputs), unasked="unknown")
        impact_yes, impact_no = impacts_from_asked(
            asked.p, asked.given, asked.given_not, asked.asked_cells
        )
        simulation = cross_impact(
            asked.p, impact_yes, p_given_not=impact_no, plays=plays, seed=seed, event_keys=keys
        )
        simulated = dict(zip(keys, (float(v) for v in simulation.frequency), strict=True))
        methods.append(
            MethodSummary(
                method="crossimpact",
                events=tuple(keys),
                top=_ranked(simulation.scenarios(TOP_SCENARIOS), TOP_SCENARIOS, "frequency"),
                facts={
                    "plays": simulation.plays,
                    "seed": simulation.seed,
                    "calibrated": bool(simulation.calibrated),
                    "calibration_iterations": int(simulation.calibration_iterations),
                    "calibration_error": float(simulation.calibration_error),
                },
            )
        )
        usable = {s.key: s.expression for s, events in named_specs if set(events) <= set(keys)}
        if usable:
            table = scenario_probabilities(usable, event_keys=keys, crossimpact=simulation)
            _merge(estimates, _estimates(table))
    else:
        simulated = {}

    named = []
    for scenario, events in named_specs:
        missing = tuple(e for e in events if e not in inputs.probabilities)
        named.append(
            NamedScenario(
                key=scenario.key,
                title=dict(scenario.title),
                description=dict(scenario.description),
                expression=scenario.expression,
                events=events,
                estimates=tuple(estimates.get(scenario.key, [])),
                missing_events=missing,
            )
        )
        if missing:
            notes.append(
                N_(
                    "Scenario %(key)s uses %(events)s, whose probability is unknown: not estimated.",
                    key=scenario.key,
                    events=", ".join(missing),
                )
            )
    bootstrap, pooled_intervals = _bootstrap(
        session, study, round_, inputs, smic_events or keys, named_specs, seed, resamples
    )
    return ScenarioResults(
        round_number=inputs.round_number,
        seed=seed,
        events=tuple(
            EventEstimate(
                key=k,
                probability=inputs.probabilities[k],
                round_number=inputs.rounds[k],
                coherent=coherent.get(k),
                simulated=simulated.get(k),
                coherent_experts=coherent_experts.get(k),
            )
            for k in keys
        ),
        key_events=tuple(key_events),
        independent_pairs=tuple(independent_pairs),
        methods=tuple(methods),
        named=tuple(named),
        notes=tuple(notes),
        bootstrap=bootstrap,
        pooled_intervals=pooled_intervals,
        unasked_pairs=tuple(unasked),
        settings={"scenario_pooling": pooling, "unasked_pairs": unasked_mode},
        coherence=coherence_summary,
        coherence_experts=tuple(coherence_rows),
    )


def _bootstrap(
    session: Session,
    study: Study,
    round_: Round | int | None,
    inputs: EventInputs,
    events: Sequence[str],
    named_specs: Sequence[tuple[Any, tuple[str, ...]]],
    seed: int,
    resamples: int,
) -> tuple[ScenarioIntervals | None, dict[str, dict[str, Interval]]]:
    """Bootstrap over experts of the pooled probabilities and of the scenarios (intervals.py)."""
    if resamples <= 0 or not inputs.probabilities:
        return None, {}
    rounds = [r for r, _data in closed_snapshots(session, study, round_)]
    frame = intervals.closed_tidy(session, study, rounds)
    if frame.empty:
        return None, {}
    cells: dict[str, tuple[str, int, str, str]] = {}
    conditional: dict[tuple[str, str], tuple[tuple[str, int, str, str], ...]] = {}
    for item in study.items:
        if item.key not in inputs.probabilities:
            continue
        asked = probability_question(item, study.horizon)
        number = inputs.rounds[item.key]
        if asked is not None:
            cells[item.key] = (item.key, number, asked[0].key, asked[1])
        for question in item.questions:
            if question.kind == QuestionKind.CONDITIONAL:
                for other in question.config.get("given", []):
                    conditional[(item.key, other)] = (
                        (item.key, number, question.key, f"{other}|given"),
                        (item.key, number, question.key, f"{other}|given_not"),
                    )
    _pooled_result, by_key = intervals.pooled_probability_intervals(
        frame, cells, resamples=resamples, seed=seed, eps=settings_of(study).pooling_eps
    )
    scenarios = intervals.scenario_bootstrap(
        frame,
        list(events),
        cells,
        conditional,
        {s.key: s.expression for s, _events in named_specs},
        resamples=resamples,
        seed=seed,
        top=TOP_SCENARIOS,
    )
    return scenarios, by_key


def _merge(
    into: dict[str, list[ScenarioEstimate]], new: Mapping[str, list[ScenarioEstimate]]
) -> None:
    """Append estimates per scenario."""
    for key, rows in new.items():
        into.setdefault(key, []).extend(rows)


def _maxent(
    keys: Sequence[str],
    inputs: EventInputs,
    block: Sequence[str],
    moments: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None,
    needed: set[str],
    *,
    blend: float,
) -> tuple[MaxEntModel, MaxEntModel, dict[str, Any]]:
    """The pairwise max-entropy model over all events: the SMIC events' coherent pairwise
    probabilities (a block), every other event independent. Returns the full model, the model
    restricted to the block and the events named scenarios use (exact), and facts."""
    p = {k: inputs.probabilities[k] for k in keys}
    h = {k: _logit(min(max(p[k], 1e-6), 1 - 1e-6)) for k in keys}
    couplings: dict[tuple[str, str], float] = {}
    facts: dict[str, Any] = {"blend": 0.0, "block": list(block)}
    log_block = 0.0
    if moments is not None and len(block) >= 2:
        marginal, joint = moments
        marginal = np.clip(marginal, 1e-6, 1 - 1e-6)
        independent = np.outer(marginal, marginal)
        blended = (1.0 - blend) * joint + blend * independent
        np.fill_diagonal(blended, marginal)
        fitted = fit_maxent(marginal, blended, event_keys=block)
        facts["blend"] = blend
        facts["max_moment_error"] = float(fitted.max_moment_error)
        for i, a in enumerate(block):
            h[a] = float(fitted.h[i])
            for j, b in enumerate(block):
                if i != j and fitted.J[i, j] != 0.0:
                    couplings[(a, b)] = float(fitted.J[i, j])
        log_block = float(fitted.log_partition or 0.0)
    else:
        block = []
    index = {k: i for i, k in enumerate(keys)}
    fields = np.array([h[k] for k in keys])
    matrix = np.zeros((len(keys), len(keys)))
    for (a, b), value in couplings.items():
        matrix[index[a], index[b]] = value
    outside = [h[k] for k in keys if k not in set(block)]
    log_z = log_block + float(sum(np.logaddexp(0.0, v) for v in outside))
    full = MaxEntModel(
        event_keys=tuple(keys), h=fields, J=matrix, log_partition=log_z, method="block"
    )
    facts["events"] = len(keys)
    return full, _restricted(full, set(block) | set(needed)), facts


def _restricted(model: MaxEntModel, needed: set[str]) -> MaxEntModel:
    """The model over the events named scenarios use and the coupled block. The other events
    are independent of these, so summing them out leaves these events' model unchanged; with
    at most EXACT_LIMIT events it is summed exactly, else the full model is sampled."""
    keys = list(model.event_keys)
    chosen = [k for k in keys if k in needed]
    if len(chosen) > EXACT_LIMIT or len(chosen) == len(keys):
        return model
    picks = [keys.index(k) for k in chosen]
    return model_from_parameters(model.h[picks], model.J[np.ix_(picks, picks)], event_keys=chosen)


# ---------------------------------------------------------------------------------------------
# Trend impact analysis


@dataclass(frozen=True)
class TiaEvent:
    """An event as it enters a trend's impact analysis."""

    key: str
    #: (year, P(occurred by then)) from the pooled estimates
    probabilities: tuple[tuple[int, float], ...]
    #: medians of the panel's impact profile: years to first impact, to maximum, to steady state
    t1: float
    t2: float
    t3: float
    i_max: float
    i_ss: float
    #: expected change of the trend by the end year, in the trend's units
    contribution: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "key": self.key,
            "probabilities": [[y, _finite(p)] for y, p in self.probabilities],
            "t1": self.t1,
            "t2": self.t2,
            "t3": self.t3,
            "i_max": self.i_max,
            "i_ss": self.i_ss,
            "contribution": _finite(self.contribution),
        }


@dataclass(frozen=True)
class ForecastYear:
    """The trend in one year: baseline, expected forecast and the Monte Carlo band."""

    year: int
    baseline: float
    expected: float
    low: float  #: 10 % quantile of the simulated trajectories
    median: float
    high: float  #: 90 % quantile
    #: bootstrap interval of the expected forecast (the experts resampled), if there are profiles
    expected_lower: float | None = None
    expected_upper: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "year": self.year,
            "baseline": _finite(self.baseline),
            "expected": _finite(self.expected),
            "p10": _finite(self.low),
            "p50": _finite(self.median),
            "p90": _finite(self.high),
            "expected_lower": _finite(self.expected_lower),
            "expected_upper": _finite(self.expected_upper),
        }


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
            "panel_estimate": _finite(self.panel_estimate),
            "seed": self.seed,
            "runs": self.runs,
            "notes": [str(n) for n in self.notes],
        }


def _profile(entry: ItemSummary, question: str) -> dict[str, float] | None:
    """Medians of an impact profile's parts, or None if any is not shown."""
    values = {part: _median(entry, question, part) for part in TREND_IMPACT_PARTS}
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
                return _median(entry, question.key, levels[len(levels) // 2])
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
    used: list[tuple[str, dict[str, float], tuple[tuple[int, float], ...]]] = []
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
            t1 = max(0.0, profile["t1"])
            t2 = max(t1, profile["t2"])
            t3 = max(t2, profile["t3"])
            by_expert = (
                intervals.expert_profile_map(frame, item.key, entry[0], question.key, kind)
                if frame is not None and entry is not None
                else {}
            )
            experts = tuple(by_expert.values())
            named_profiles[item.key] = by_expert
            events.append(
                TrendEvent(
                    key=item.key,
                    probabilities=tuple(sorted(points)),
                    impact=ImpactProfile(
                        t1=t1, t2=t2, t3=t3, i_max=profile["i_max"], i_ss=profile["i_ss"], kind=kind
                    ),
                    profiles=experts,
                )
            )
            used.append(
                (item.key, {"t1": t1, "t2": t2, "t3": t3, **profile}, tuple(sorted(points)))
            )
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
    if bounds != (None, None):
        for column in ("expected", "mean", "p10", "p50", "p90"):
            result.forecast[column] = result.forecast[column].clip(bounds[0], bounds[1])
    table = result.forecast
    low_expected, high_expected = _expected_interval(
        result.forecast["baseline"].to_numpy(),
        result.occurrence,
        events,
        named_profiles,
        relative=kind == "relative",
        resamples=resamples,
        seed=seed,
        bounds=bounds,
    )
    forecast = tuple(
        ForecastYear(
            year=int(row["year"]),
            baseline=float(row["baseline"]),
            expected=float(row["expected"]),
            low=float(row["p10"]),
            median=float(row["p50"]),
            high=float(row["p90"]),
            expected_lower=None if low_expected is None else float(low_expected[i]),
            expected_upper=None if high_expected is None else float(high_expected[i]),
        )
        for i, (_, row) in enumerate(table.iterrows())
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
        events=tuple(
            TiaEvent(
                key=key,
                probabilities=points,
                t1=profile["t1"],
                t2=profile["t2"],
                t3=profile["t3"],
                i_max=profile["i_max"],
                i_ss=profile["i_ss"],
                contribution=float(last[key]),
            )
            for key, profile, points in used
        ),
        forecast=forecast,
        panel_estimate=panel,
        seed=result.seed,
        runs=result.runs,
        notes=tuple(notes),
    )


def _expected_interval(
    baseline: npt.NDArray[np.float64],
    occurrence: pd.DataFrame,
    events: Sequence[TrendEvent],
    named_profiles: Mapping[str, Mapping[str, ImpactProfile]],
    *,
    relative: bool,
    resamples: int,
    seed: int,
    bounds: tuple[float | None, float | None],
) -> tuple[npt.NDArray[np.float64] | None, npt.NDArray[np.float64] | None]:
    """Bootstrap interval (over experts) of the expected forecast, or (None, None)."""
    chosen = [e for e in events if named_profiles.get(e.key)]
    if resamples <= 0 or not chosen or len(chosen) != len(events):
        return None, None
    _whole, lower, upper, _info = expected_trend_intervals(
        baseline,
        occurrence[[e.key for e in chosen]].to_numpy().T,
        [tuple(named_profiles[e.key].values()) for e in chosen],
        [tuple(named_profiles[e.key]) for e in chosen],
        relative=relative,
        resamples=resamples,
        seed=seed,
        level=BOOTSTRAP_LEVEL,
        statistic="mean",
    )
    if bounds != (None, None):
        lower, upper = np.clip(lower, *bounds), np.clip(upper, *bounds)
    return lower, upper


def _with_notes(result: TrendImpact, *notes: Message) -> TrendImpact:
    """The same result with notes."""
    return TrendImpact(**{**result.__dict__, "notes": tuple(notes)})
