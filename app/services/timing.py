"""An honest time estimate for an expert's round, measured from the study's earlier rounds.

Every save is timestamped, so the panel's earlier rounds say how long an item really takes:
per expert, the time between consecutive saves (breaks of more than `DEFAULT_IDLE` left out)
is work on the item saved (`analysis.timing`); per item, the median over at least k experts.
The estimate for one expert is that median for each of this round's items they have not
completed yet. Only medians of k or more experts are used, as for any statistic the panel
sees, so no one expert's pace shows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis.timing import DEFAULT_IDLE, active_seconds, typical_item_times, whole_minutes
from app.definitions.model import QuestionKind
from app.models import Answer, Participation, Question, Round, RoundItem
from app.services.burden import asked_givens


@dataclass(frozen=True)
class TimeEstimate:
    """How long this round takes an expert, from how long the panel took before."""

    minutes_total: int  #: the whole round, rounded up
    minutes_left: int  #: the items this expert has not completed yet, rounded up
    items_left: int
    experts: int  #: experts the measurement comes from (at least k)
    rounds: int  #: earlier rounds it comes from
    #: item id -> typical seconds (measured, or the median of measured items like it)
    seconds_by_item: Mapping[int, float]


def _questions_asked(round_item: RoundItem, number: int) -> frozenset[str]:
    """The keys of the questions an item asks in round `number`."""
    return frozenset(q.key for q in round_item.item.questions_in(number))


def _kind_of(round_item: RoundItem, number: int) -> tuple[tuple[str, int], ...]:
    """What an item asks, for comparing items: its question kinds (with the number of events
    of a conditional question), in order. An unmeasured key event is then assumed to take as
    long as the measured key events, not as long as a plain one."""
    return tuple(
        (q.kind, len(q.config.get("given", [])) if q.kind == QuestionKind.CONDITIONAL else 0)
        for q in round_item.item.questions_in(number)
    )


def _is_answered(answer: Answer) -> bool:
    """Whether a current answer holds something (a value, values, text or "no answer")."""
    return (
        answer.no_answer
        or answer.value is not None
        or bool(answer.value_json)
        or bool(answer.text and answer.text.strip())
    )


def completed_items(session: Session, participation: Participation, round_: Round) -> set[int]:
    """The round's items whose every required question this expert has answered.

    A conditional question with no pair asked of this expert (the burden budget) is not
    required of them.
    """
    answered = {
        answer.question_id
        for answer in session.scalars(
            select(Answer).where(
                Answer.participation_id == participation.id,
                Answer.round_id == round_.id,
                Answer.is_current.is_(True),
            )
        )
        if _is_answered(answer)
    }
    givens = asked_givens(session, participation, round_)
    done: set[int] = set()
    for round_item in round_.items:
        required = [
            q
            for q in round_item.item.questions_in(round_.number)
            if q.required and not (q.kind == QuestionKind.CONDITIONAL and not givens.get(q.id))
        ]
        if all(q.id in answered for q in required):
            done.add(round_item.item_id)
    return done


def _saves(session: Session, round_: Round) -> dict[int, list[tuple[int, datetime]]]:
    """Participation -> (item id, saved at) of every save in a round, synthetic ones too."""
    rows = session.execute(
        select(Answer.participation_id, Question.item_id, Answer.created_at)
        .join(Question, Answer.question_id == Question.id)
        .where(Answer.round_id == round_.id)
        # one save writes several questions at one moment: one row each is enough
        .distinct()
    ).tuples()
    saves: dict[int, list[tuple[int, datetime]]] = {}
    for participation_id, item_id, moment in rows:
        saves.setdefault(participation_id, []).append((item_id, moment))
    return saves


def round_time_estimate(
    session: Session,
    participation: Participation,
    round_: Round,
    *,
    completed: Collection[int] | None = None,
    idle: timedelta = DEFAULT_IDLE,
) -> TimeEstimate | None:
    """The time this round takes this expert, or None before any round could be measured.

    None in round 1, and when fewer than k experts were measured on any of this round's
    items. An item is measured from the latest earlier round that asked it with the same
    questions; items not measured (new this round, asked differently, or always the first
    an expert saved) count as the median of the measured items asking the same kinds of
    questions, else of all measured items. `completed` (item ids) overrides which items count as done; by default,
    those whose every required question has an answer in this round.
    """
    if round_.number <= 1:
        return None
    earlier = list(
        session.scalars(
            select(Round)
            .where(Round.study_id == round_.study_id, Round.number < round_.number)
            .order_by(Round.number.desc())
        )
    )
    study_k = participation.study.k
    now_asked = {ri.item_id: _questions_asked(ri, round_.number) for ri in round_.items}
    unmeasured = set(now_asked)
    observations: list[dict[int, dict[int, float]]] = []
    for old in earlier:  # the latest first; earlier rounds only for items still unmeasured
        if not unmeasured:
            break
        # an item that asked other questions then (e.g. the conditionals start in round 2)
        # took a different time: it is not a measurement of this round's item
        same = {
            ri.item_id
            for ri in old.items
            if ri.item_id in now_asked and _questions_asked(ri, old.number) == now_asked[ri.item_id]
        }
        by_expert: dict[int, dict[int, float]] = {}
        measured: Counter[int] = Counter()
        for participation_id, expert_saves in _saves(session, old).items():
            work = active_seconds(expert_saves, idle=idle)
            kept = {item: seconds for item, seconds in work.items() if item in same}
            if kept:
                by_expert[participation_id] = kept
                measured.update(kept.keys())
        observations.insert(0, by_expert)
        unmeasured -= {item for item, experts in measured.items() if experts >= study_k}
    kinds = {ri.item_id: _kind_of(ri, round_.number) for ri in round_.items}
    times = typical_item_times(observations, k=study_k, groups=kinds)
    if times is None or times.experts < study_k:
        return None
    done = (
        set(completed) if completed is not None else completed_items(session, participation, round_)
    )
    seconds = {item_id: times.seconds_for(item_id) for item_id in now_asked}
    left = [item_id for item_id in now_asked if item_id not in done]
    return TimeEstimate(
        minutes_total=whole_minutes(sum(seconds.values())),
        minutes_left=whole_minutes(sum(seconds[item_id] for item_id in left)),
        items_left=len(left),
        experts=times.experts,
        rounds=times.rounds,
        seconds_by_item=MappingProxyType(seconds),
    )
