"""What a consensus report shows, assembled from frozen snapshots and the results service.

Every figure comes from a closed round's snapshot (k-suppressed at close) or from the results
service (scenarios, trend impact); nothing here recomputes statistics from raw answers. Panel
and round-flow figures are counts of people, never of answers.
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session, selectinload

from analysis.snapshot import MISSING_PART, ItemSummary, PartSummary, SnapshotData
from app.collector import full_collections_held
from app.definitions.model import ItemKind, QuestionKind
from app.models import (
    Answer,
    Item,
    ItemVersion,
    NotFoundError,
    Participation,
    ParticipationStatus,
    Question,
    Round,
    RoundProgress,
    RoundState,
    Snapshot,
    Study,
)
from app.services import calibration, exports, forecast_scores, results, trend_scores
from app.services.analysis_settings import settings_of
from app.services.analysis_store import AnalysisStore, build_memo, kept
from app.services.calibration import WeightedPooling
from app.services.forecast_scores import ForecastScores
from app.services.ranking import EventRanking, event_ranking
from app.services.results import ScenarioResults, TrendImpact
from app.services.snapshots import POOLING_EPS, POOLING_METHODS
from app.services.structural import (
    CibPanel,
    MactorPanel,
    MicmacPanel,
    cib_panel,
    mactor_panel,
    micmac_panel,
)
from app.services.study_record import MeasuredRecord, measured_record, record_texts
from app.services.tidy import question_parts
from app.services.trend_scores import TrendScores

#: question kinds whose parts get a consensus verdict in the snapshot
RATED_KINDS = (QuestionKind.PROBABILITY, QuestionKind.LIKERT, QuestionKind.CONDITIONAL)


@dataclass(frozen=True)
class PartResult:
    """One number a question asks (e.g. the probability by 2035), in one round."""

    part: str
    n: int | None
    suppressed: bool
    stats: Mapping[str, Any]
    histogram: Sequence[Mapping[str, Any]]
    consensus: bool | None
    presets: Mapping[str, bool | None]
    pooled: Mapping[str, Any]
    groups: Mapping[str, Mapping[str, Any]]
    stability: Mapping[str, Any]
    #: the stability rule's verdict stored in the snapshot at close (None: cannot tell / none)
    stable: bool | None
    #: the stopping decision stored at close ("continue", "stop_consensus", ...), if any
    decision: str | None = None

    @property
    def dissent(self) -> bool:
        """Whether the snapshot flags dissensus (bimodality, dip test or RAND disagreement)."""
        return bool(self.stats.get("dissensus"))

    @property
    def median(self) -> float | None:
        """The median, if shown."""
        value = self.stats.get("median")
        return None if value is None else float(value)


@dataclass(frozen=True)
class QuestionResult:
    """A question of an item in one round, with its parts."""

    question: Question
    no_answer: int | None
    parts: tuple[PartResult, ...]

    @property
    def key(self) -> str:
        """The question's key."""
        return self.question.key

    def part(self, key: str = "") -> PartResult | None:
        """One part by key."""
        return next((p for p in self.parts if p.part == key), None)


@dataclass(frozen=True)
class ItemRound:
    """An item as one round asked it: the version shown and the panel's answers."""

    number: int
    version: int
    respondents: int | None
    questions: tuple[QuestionResult, ...]
    reasons: tuple[str, ...]
    reasons_withheld: bool

    def question(self, key: str) -> QuestionResult | None:
        """One question by key."""
        return next((q for q in self.questions if q.key == key), None)


@dataclass(frozen=True)
class ItemReport:
    """An item across the rounds that asked it."""

    item: Item
    rounds: tuple[ItemRound, ...]

    @property
    def key(self) -> str:
        """The item's key."""
        return self.item.key

    @property
    def final(self) -> ItemRound | None:
        """The latest closed round that asked it."""
        return self.rounds[-1] if self.rounds else None

    def version(self, number: int) -> ItemVersion:
        """The item's wording with this number."""
        return next(v for v in self.item.versions if v.number == number)

    def headline(self, question_key: str) -> PartResult | None:
        """The final round's main part of a question (the horizon's part for probabilities)."""
        final = self.final
        found = final.question(question_key) if final else None
        if found is None or not found.parts:
            return None
        horizon = str(self.item.study.horizon)
        return found.part(horizon) or found.part("") or found.parts[-1]

    def series(self, question_key: str, part_key: str) -> list[tuple[int, PartResult]]:
        """(round, part) for every round that asked this part."""
        found = []
        for item_round in self.rounds:
            question = item_round.question(question_key)
            part = question.part(part_key) if question else None
            if part is not None:
                found.append((item_round.number, part))
        return found

    @property
    def dissent(self) -> bool:
        """Whether any rated part of the final round is flagged for dissensus."""
        final = self.final
        return bool(
            final
            and any(
                p.dissent
                for q in final.questions
                if q.question.kind in RATED_KINDS
                for p in q.parts
                if not p.suppressed
            )
        )


@dataclass(frozen=True)
class RoundFlow:
    """A round's place in the study: when, what it asked, who answered (counts only)."""

    round: Round
    items: int
    panel: int
    respondents: int | None
    submitted: int
    left: int | None  #: answered the previous round but not this one
    joined: int | None  #: answered this round but not the previous one

    @property
    def response_rate(self) -> float | None:
        """Respondents as a share of the panel."""
        if self.respondents is None or not self.panel:
            return None
        return self.respondents / self.panel


@dataclass(frozen=True)
class Report:
    """Everything a consensus report shows."""

    study: Study
    generated_at: datetime
    language: str
    rounds: tuple[RoundFlow, ...]
    closed: tuple[int, ...]
    panel: Mapping[str, Mapping[str, int]]
    items: tuple[ItemReport, ...]
    headline_questions: tuple[str, ...]
    scenarios: ScenarioResults | None
    trends: tuple[TrendImpact, ...]
    software: Mapping[str, str]
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: experts who withdrew their answers (a count, never who)
    answers_withdrawn: int = 0
    #: how the latest snapshot computed Wilcoxon p-values ({"method", "exact_up_to"}; empty if
    #: it did not say)
    wilcoxon: Mapping[str, Any] = field(default_factory=dict)
    #: the events by expected impact (pooled probability x median impact), with quadrants
    ranking: EventRanking | None = None
    #: the study record the authors wrote: field -> language -> text
    record: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: what the platform measured of the study's conduct (reminders, non-response, attrition)
    measured: MeasuredRecord | None = None
    #: pooled probabilities under equal, self-rated and performance weights (Cooke)
    weighting: WeightedPooling | None = None
    #: Brier and log scores of forecasts whose outcomes are recorded
    forecast_scores: ForecastScores | None = None
    #: pinball loss and interval hits of trend estimates whose values are realised
    trend_scores: TrendScores | None = None
    #: the panel's MICMAC (pooled influence matrix, map), when the study rates variables
    structural: MicmacPanel | None = None
    #: the panel's MACTOR (balance of power, convergences), when the study rates actors
    mactor: MactorPanel | None = None
    #: the panel's CIB (consistent scenarios of the pooled judgements), when it rates descriptors
    cib: CibPanel | None = None
    #: the closed rounds and their snapshots, held so that later readers of the same session
    #: (the spreadsheet's tables, a round's `snapshot`) find them decoded already
    held: tuple[Round | Snapshot, ...] = field(default=(), repr=False, compare=False)
    #: where the build found its kept analyses, for later readers of the same build (the
    #: spreadsheet's weighting of earlier rounds)
    store: AnalysisStore | None = field(default=None, repr=False, compare=False)

    def of_kind(self, kind: str) -> list[ItemReport]:
        """Items of one kind (event, trend, calibration) that some closed round asked."""
        return [i for i in self.items if i.item.kind == kind and i.rounds]

    @property
    def final_round(self) -> int | None:
        """The latest closed round."""
        return self.closed[-1] if self.closed else None

    @property
    def panel_size(self) -> int:
        """Everyone invited to the panel."""
        return sum(sum(by_status.values()) for by_status in self.panel.values())

    def item(self, key: str) -> ItemReport | None:
        """One item by key."""
        return next((i for i in self.items if i.key == key), None)

    def question(self, key: str) -> Question | None:
        """A question (of any item) with this key, for prompts and scales."""
        for report in self.items:
            for question in report.item.questions:
                if question.key == key:
                    return question
        return None

    def consensus_count(self, question_key: str) -> tuple[int, int]:
        """(items with consensus, items with a verdict) on a headline question, final rounds."""
        reached = judged = 0
        for report in self.of_kind(ItemKind.EVENT):
            part = report.headline(question_key)
            if part is None or part.consensus is None:
                continue
            judged += 1
            reached += bool(part.consensus)
        return reached, judged


def stored_stability(part: PartSummary) -> tuple[bool | None, str | None]:
    """(stable, decision) of a part: the verdict its snapshot stored at close, (None, None)
    without one.

    The verdict is the only source of truth: it applied the rule in force when the round closed,
    and no rule is re-applied here (every snapshot stores a verdict with its stability figures).
    """
    if part.verdict is None:
        return None, None
    return part.verdict.stable, part.verdict.decision


def _part_result(key: str, part: PartSummary) -> PartResult:
    """A part from its snapshot entry."""
    stable, decision = stored_stability(part)
    # the report's templates and tables take plain mappings, as stored
    return PartResult(
        part=key,
        n=part.n,
        suppressed=part.suppressed,
        stats=dict(part.stats or {}),
        histogram=tuple(b.to_dict() for b in part.histogram or ()),
        consensus=part.reached,
        presets=dict(part.consensus.presets) if part.consensus is not None else {},
        pooled=part.pooled.to_dict() if part.pooled is not None else {},
        groups={g: entry.to_dict() for g, entry in (part.groups or {}).items()},
        stability=part.stability.to_dict() if part.stability is not None else {},
        stable=stable,
        decision=decision,
    )


def _item_round(item: Item, number: int, entry: ItemSummary) -> ItemRound:
    """An item's snapshot entry of one round."""
    questions = []
    for question in item.questions:
        found = entry.questions.get(question.key)
        if found is None:
            continue
        parts = tuple(
            _part_result(p.part, found.part(p.part) or MISSING_PART)
            for p in question_parts(question)
        )
        questions.append(QuestionResult(question, found.no_answer, parts))
    return ItemRound(
        number=number,
        version=entry.version or 1,
        respondents=entry.respondents,
        questions=tuple(questions),
        reasons=entry.reasons,
        reasons_withheld=entry.reasons_withheld,
    )


def _wilcoxon(content: SnapshotData) -> dict[str, Any]:
    """How the latest round's Wilcoxon p-values were computed ({} in older snapshots)."""
    return content.wilcoxon.to_dict() if content.wilcoxon is not None else {}


def _round_flows(
    session: Session,
    study: Study,
    snapshots: Mapping[int, SnapshotData],
    panel: int,
    up_to: int | None = None,
) -> tuple[RoundFlow, ...]:
    """Every round with counts of respondents, submissions, leavers and joiners."""
    # a report as of round N tells the rounds up to N only: a later round's counts are not its
    rounds = [
        round_
        for round_ in session.scalars(
            select(Round).where(Round.study_id == study.id).order_by(Round.number)
        )
        if up_to is None or round_.number <= up_to
    ]
    answered: dict[int, set[int]] = {}
    for round_id, participation_id in session.execute(
        select(Answer.round_id, Answer.participation_id)
        .join(Round, Answer.round_id == Round.id)
        .where(Round.study_id == study.id, Answer.is_current.is_(True))
        .group_by(Answer.round_id, Answer.participation_id)
    ).tuples():
        answered.setdefault(round_id, set()).add(participation_id)
    submitted: dict[int, int] = dict(
        session.execute(
            select(RoundProgress.round_id, func.count(distinct(RoundProgress.participation_id)))
            .join(Round, RoundProgress.round_id == Round.id)
            .where(Round.study_id == study.id, RoundProgress.submitted_at.is_not(None))
            .group_by(RoundProgress.round_id)
        )
        .tuples()
        .all()
    )
    flows = []
    previous: set[int] | None = None
    for round_ in rounds:
        closed = round_.state == RoundState.CLOSED
        people = answered.get(round_.id, set())
        snapshot = snapshots.get(round_.number)
        flows.append(
            RoundFlow(
                round=round_,
                items=len(round_.items),
                panel=panel,
                respondents=(snapshot.respondents if snapshot is not None else len(people))
                if closed
                else None,
                submitted=int(submitted.get(round_.id, 0)) if closed else 0,
                left=len(previous - people) if closed and previous is not None else None,
                joined=len(people - previous) if closed and previous is not None else None,
            )
        )
        if closed:
            previous = people
    return tuple(flows)


def _headline_questions(study: Study) -> tuple[str, ...]:
    """Question keys most events ask (rated, single-valued or by horizon), in their order."""
    events = [i for i in study.items if i.kind == ItemKind.EVENT]
    counts: dict[str, int] = {}
    order: list[str] = []
    for item in events:
        for question in item.questions:
            if question.kind in (QuestionKind.PROBABILITY, QuestionKind.LIKERT):
                if question.key not in counts:
                    order.append(question.key)
                counts[question.key] = counts.get(question.key, 0) + 1
    return tuple(k for k in order if counts[k] * 3 >= len(events))


def software_versions() -> dict[str, str]:
    """Versions of the software that computed the report (for the methods appendix)."""
    return dict(_installed_versions())


@functools.cache
def _installed_versions() -> dict[str, str]:
    """The versions this process runs with, read once (each lookup scans the installed
    packages' metadata: a tenth of a second per report)."""
    found = {"python": platform.python_version()}
    for name in (
        "delphi-platform",
        "delphi-analysis",
        "numpy",
        "scipy",
        "pandas",
        "matplotlib",
        "weasyprint",
    ):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def build_report(
    session: Session,
    study: Study,
    *,
    now: datetime,
    language: str | None = None,
    with_results: bool = True,
    seed: int | None = None,
    up_to: int | None = None,
    store: AnalysisStore | None = None,
) -> Report:
    """Assemble a study's report from its closed rounds' snapshots (up to round `up_to`, default
    all) and, with_results, the scenario and trend impact results of those rounds.

    With a store, the heavy analyses kept for the latest snapshot are read instead of computed
    (and what is missing or stale is computed and kept, when the store keeps)."""
    with build_memo(session), full_collections_held():
        return _build_report(
            session,
            study,
            now=now,
            language=language,
            with_results=with_results,
            seed=seed,
            up_to=up_to,
            store=store,
        )


def _build_report(
    session: Session,
    study: Study,
    *,
    now: datetime,
    language: str | None,
    with_results: bool,
    seed: int | None,
    up_to: int | None,
    store: AnalysisStore | None,
) -> Report:
    """build_report, inside the build's memo."""
    # The services called below each read the closed rounds' snapshots again. The session
    # holds its objects weakly, so without a reference the decoded snapshots would be dropped
    # and decoded again by every one of them (the demo's two, a dozen times per report).
    held = closed_snapshot_objects(session, study)
    snapshots = results.closed_snapshots(session, study, up_to)
    if not snapshots:
        raise NotFoundError("No round has closed yet: there is nothing to report.")
    by_number = {r.number: data for r, data in snapshots}
    panel = exports.panel_counts(session, study)
    panel_size = sum(sum(v.values()) for v in panel.values())
    items = []
    for item in study.items:
        item_rounds = [
            _item_round(item, number, data.items[item.key])
            for number, data in sorted(by_number.items())
            if item.key in data.items
        ]
        items.append(ItemReport(item=item, rounds=tuple(item_rounds)))
    scenarios: ScenarioResults | None = None
    trends: tuple[TrendImpact, ...] = ()
    # the seed the analyses ran with names what is kept (another seed: another result)
    used_seed = settings_of(study).seed if seed is None else seed
    if with_results:
        scenarios = kept(
            session,
            study,
            store,
            f"scenarios:seed={used_seed}",
            up_to,
            lambda: results.scenario_results(session, study, up_to, seed=seed),
        )
        trends = kept(
            session,
            study,
            store,
            f"tia:seed={used_seed}",
            up_to,
            lambda: tuple(results.tia_results(session, study, up_to, seed=seed)),
        )
    weighting, scored, trends_scored = _weights_and_scores(session, study, by_number, store)
    return Report(
        study=study,
        generated_at=now,
        language=language or study.default_language,
        rounds=_round_flows(session, study, by_number, panel_size, up_to),
        closed=tuple(sorted(by_number)),
        panel=panel,
        items=tuple(items),
        headline_questions=_headline_questions(study),
        scenarios=scenarios,
        trends=trends,
        software=software_versions(),
        answers_withdrawn=study.answers_withdrawn,
        wilcoxon=_wilcoxon(by_number[max(by_number)]),
        ranking=kept(
            session,
            study,
            store,
            "ranking:expected_impact",
            up_to,
            lambda: event_ranking(session, study, up_to, rank_by="expected_impact"),
        ),
        weighting=weighting,
        forecast_scores=scored,
        trend_scores=trends_scored,
        record=record_texts(study),
        measured=kept(
            session, study, store, "measured", up_to, lambda: measured_record(session, study, up_to)
        ),
        # the panel's matrices are read cell by cell from every expert's rows: at thousands
        # of experts the three take most of a minute, so they are kept with the snapshot too
        structural=kept(
            session, study, store, "micmac", up_to, lambda: micmac_panel(session, study, up_to)
        ),
        mactor=kept(
            session, study, store, "mactor", up_to, lambda: mactor_panel(session, study, up_to)
        ),
        cib=kept(session, study, store, "cib", up_to, lambda: cib_panel(session, study, up_to)),
        held=held,
        store=store,
    )


def closed_snapshot_objects(session: Session, study: Study) -> tuple[Round | Snapshot, ...]:
    """The study's closed rounds and their snapshots, as the session's (identity-mapped)
    objects, each round's `snapshot` loaded: a round's snapshot read later (the weighting,
    the scores) would otherwise be selected and its JSON decoded again, only to be dropped
    for the object the session already holds."""
    rounds = session.scalars(
        select(Round)
        .where(Round.study_id == study.id, Round.state == RoundState.CLOSED)
        .options(selectinload(Round.snapshot))
    ).all()
    snapshots = [round_.snapshot for round_ in rounds if round_.snapshot is not None]
    return (*rounds, *snapshots)


def _weights_and_scores(
    session: Session,
    study: Study,
    by_number: Mapping[int, Any],
    store: AnalysisStore | None = None,
) -> tuple[WeightedPooling | None, ForecastScores | None, TrendScores | None]:
    """The three weightings, the forecast scores and the trend scores of the latest closed
    round shown."""
    if not by_number:
        return None, None, None
    number = max(by_number)
    round_ = session.scalar(select(Round).where(Round.study_id == study.id, Round.number == number))
    if round_ is None or round_.snapshot is None:
        return None, None, None
    weighting = kept(
        session,
        study,
        store,
        "weighting",
        number,
        lambda: calibration.weighted_pooling(session, study, round_),
    )
    return (
        weighting,
        forecast_scores.score_round(session, study, round_, weighting),
        trend_scores.score_trends(session, study, round_),
    )


def active_panel(session: Session, study: Study) -> int:
    """Panel members who have not withdrawn."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Participation)
            .where(
                Participation.study_id == study.id,
                Participation.status != ParticipationStatus.WITHDRAWN,
            )
        )
        or 0
    )


__all__ = [
    "POOLING_EPS",
    "POOLING_METHODS",
    "ItemReport",
    "ItemRound",
    "PartResult",
    "QuestionResult",
    "Report",
    "RoundFlow",
    "build_report",
    "stored_stability",
]
