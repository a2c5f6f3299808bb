"""The panel's final estimates as the result services read them, from closed rounds' snapshots.

Each item's estimate comes from the latest closed round (up to the one asked for) whose snapshot
has it, so an item retired after reaching consensus keeps its last estimate; the inputs say
which round every estimate comes from. Scenario results (scenario_results.py) and trend impact
analysis (trend_results.py) start from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from analysis.snapshot import ItemSummary, SnapshotData
from app.definitions.model import ItemKind, QuestionKind, ScaleKind
from app.messages import N_
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
        # the JSON is parsed for every row fetched, even when the session holds the snapshot
        # (and its decoded content) already: read it only when a snapshot is new to the session
        .options(defer(Snapshot.data))
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


def pooled_probability(entry: ItemSummary, question: str, part: str) -> float | None:
    """The log-odds pooled probability (0-1) of a probability part, if shown."""
    found = entry.shown_part(question, part)
    value = found.pooled_logodds if found is not None else None
    return None if value is None else float(value) / 100.0


def part_median(entry: ItemSummary, question: str, part: str) -> float | None:
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
        value = pooled_probability(found[1], asked[0].key, asked[1]) if asked and found else None
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
            pooled = pooled_probability(entry, question.key, "" if part == "" else str(year))
            if pooled is not None:
                points.append((int(year), pooled))
        horizons[item.key] = tuple(points)
        for conditional in item.questions:
            if conditional.kind != QuestionKind.CONDITIONAL:
                continue
            for other in conditional.config.get("given", []):
                yes = pooled_probability(entry, conditional.key, f"{other}|given")
                no = pooled_probability(entry, conditional.key, f"{other}|given_not")
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
