"""Scenario ranking over the panel's final (frozen) estimates: SMIC, the pairwise maximum-entropy
model and cross-impact Monte Carlo, with named scenarios, bootstrap intervals and coherence.

Pure orchestration: the numbers come from the closed rounds' snapshots (result_inputs.py) and the
methods from analysis/ (analysis.scenarios, with analysis.scenarios.assemble turning its tables
into the results). Nothing here is cached; every random procedure takes a seed and the result
says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from analysis.bootstrap import Interval, ScenarioIntervals
from analysis.expert_coherence import Judgements, panel_coherence
from analysis.jsonable import finite
from analysis.scenarios import (
    cross_impact,
    impacts_from_asked,
    pool_experts,
    run_smic,
    scenario_probabilities,
    smic_inputs,
)
from analysis.scenarios.assemble import (
    RankedScenario,
    ScenarioEstimate,
    block_maxent,
    estimates_by_name,
    expression_events,
    merge_estimates,
    ranked,
)
from analysis.scenarios.experts import (
    POOLING_CHOICES,
    UNASKED_CHOICES,
    ScenarioPooling,
    UnaskedPairs,
    check_choice,
    pairwise_moments,
)
from app.definitions.model import ItemKind, QuestionKind
from app.messages import N_, Message
from app.models import Round, Study
from app.services import intervals
from app.services.analysis_settings import settings_of
from app.services.expert_judgements import coherence_view, expert_judgements, judgements_on
from app.services.result_inputs import (
    EventInputs,
    closed_snapshots,
    event_inputs,
    probability_question,
)

#: scenarios listed per method
TOP_SCENARIOS = 10


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
            "facts": {k: finite(v) for k, v in self.facts.items()},
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
            "probability": finite(self.probability),
            "round": self.round_number,
            "coherent": finite(self.coherent),
            "coherent_experts": finite(self.coherent_experts),
            "simulated": finite(self.simulated),
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
            "coherence": {k: finite(v) for k, v in self.coherence.items()},
            "coherence_experts": [
                {k: finite(v) if not isinstance(v, list) else v for k, v in row.items()}
                for row in self.coherence_experts
            ],
        }


def _judgements(inputs: EventInputs) -> Judgements:
    """The panel's pooled judgements as analysis reads them."""
    return Judgements(inputs.probabilities, inputs.given, inputs.given_not)


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
        (s, expression_events(s.expression, order))
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
                    top=ranked(result.scenarios, TOP_SCENARIOS),
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
                merge_estimates(estimates, estimates_by_name(table))
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
                    top=ranked(pooled.scenarios, TOP_SCENARIOS),
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
                merge_estimates(estimates, estimates_by_name(table))
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
        model, restricted, facts = block_maxent(
            keys,
            inputs.probabilities,
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
                top=ranked(top.table, TOP_SCENARIOS),
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
            merge_estimates(estimates, estimates_by_name(table))

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
                top=ranked(simulation.scenarios(TOP_SCENARIOS), TOP_SCENARIOS, "frequency"),
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
            merge_estimates(estimates, estimates_by_name(table))
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
