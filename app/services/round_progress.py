"""Where an expert stands in a round: each item's state, exactly what is still missing, and
submitting (revisable until the round closes)."""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    CompoundSelect,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from app.definitions.model import QuestionKind
from app.messages import N_, Message
from app.models import (
    Answer,
    AnswerDraft,
    Item,
    Participation,
    Question,
    Round,
    RoundItem,
    RoundProgress,
    RoundState,
    Study,
    ValidationError,
)
from app.services.answer_values import AnswerValues, normalise
from app.services.answers import (
    UNKNOWN,
    Unknown,
    drafts_of,
    require_can_answer,
    stored_answers_of_rounds,
    touch_progress,
)
from app.services.burden import asked_givens
from app.services.rounds import lock_round, open_round_of
from app.services.snapshots import previous_closed_round


class ItemState(StrEnum):
    """An item's state for the expert, as the overview shows it."""

    NOT_STARTED = "not_started"
    DRAFT = "draft"  #: something is missing, or a typed value is not a valid answer yet
    NEEDS_REASON = "needs_reason"  #: complete, but outside the panel's middle half: say why
    OUTSIDE_EXPERTISE = "outside_expertise"  #: every rated question answered "outside"
    COMPLETE = "complete"


#: states that count as done (a submit accepts them)
DONE_STATES = frozenset({ItemState.COMPLETE, ItemState.OUTSIDE_EXPERTISE})
#: states with every required answer given (the progress count)
ANSWERED_STATES = DONE_STATES | {ItemState.NEEDS_REASON}


class ProblemKind(StrEnum):
    """Why a question stops a submit."""

    MISSING = "missing"  #: a required answer is not given
    INVALID = "invalid"  #: what was typed is kept as a draft but is not a valid answer
    REASON = "reason"  #: the answer lies outside the panel's middle half and needs a reason


@dataclass(frozen=True)
class Problem:
    """One question that stops the round from being submitted."""

    item_key: str
    question_key: str
    kind: ProblemKind
    message: Message | str | None = None  #: why a draft is not an answer (INVALID only)


@dataclass(frozen=True)
class ItemStatus:
    """One item of the round, for the expert: its state, its problems, and whether the
    previous round's answers can be kept with one click."""

    item_id: int
    item_key: str
    state: ItemState
    problems: tuple[Problem, ...]
    #: the expert answered it in the previous round and has not touched it in this one
    keepable: bool

    @property
    def done(self) -> bool:
        """Whether a submit accepts this item as it is."""
        return self.state in DONE_STATES


@dataclass(frozen=True)
class RoundStatus:
    """Every item's status, in the round's order."""

    items: tuple[ItemStatus, ...]

    @property
    def done(self) -> int:
        """How many items a submit accepts as they are."""
        return sum(1 for status in self.items if status.done)

    @property
    def answered(self) -> int:
        """How many items have every required answer and no draft left (a missing reason
        aside): the progress count, as `item_progress` counts it."""
        return sum(1 for status in self.items if status.state in ANSWERED_STATES)

    @property
    def total(self) -> int:
        """How many items the round asks."""
        return len(self.items)

    @property
    def problems(self) -> list[Problem]:
        """Everything that stops a submit, item by item."""
        return [problem for status in self.items for problem in status.problems]

    @property
    def keepable(self) -> list[int]:
        """Ids of the items whose previous answers can be kept with one click."""
        return [status.item_id for status in self.items if status.keepable]

    def of(self, item_id: int) -> ItemStatus:
        """The status of one item of the round (KeyError for an item it does not ask)."""
        return self._by_item[item_id]

    @functools.cached_property
    def _by_item(self) -> dict[int, ItemStatus]:
        """Item id -> status (pages look up every item's)."""
        return {status.item_id: status for status in self.items}


def is_answered(answer: AnswerValues | None) -> bool:
    """Whether an answer holds something (a value, values, text or 'no answer')."""
    return answer is not None and (
        answer.no_answer
        or answer.value is not None
        or bool(answer.value_json)
        or bool(answer.text and answer.text.strip())
    )


def draft_problem(
    question: Question, draft: AnswerDraft, given: Sequence[str] | None = None
) -> Message | str:
    """Why a draft is not an answer yet (the message its payload gets from `normalise`)."""
    try:
        normalise(question, draft.payload, given)
    except ValueError as error:
        message: Message | str = error.args[0]
        return message
    # valid now (the rules or the pairs asked changed since it was typed): say so plainly
    return N_("This answer is not saved yet: open the item and save it again.")


def item_status(
    item: Item,
    questions: Sequence[Question],
    answers: Mapping[int, AnswerValues],
    drafts: Mapping[int, AnswerDraft],
    *,
    previous_ids: Iterable[int] = (),
    outside_iqr: Sequence[str] = (),
    given: Mapping[int, Sequence[str]] | None = None,
) -> ItemStatus:
    """The status of one item from the expert's answers and drafts for its questions.

    `outside_iqr` names the item's questions whose answers lie outside the previous round's
    middle half (when the study asks for a reason then); `given` narrows conditional
    questions to the pairs this expert is asked.
    """
    problems: list[Problem] = []
    touched = False
    # a conditional question whose pairs all went to other experts is not asked of this one
    questions = [q for q in questions if given is None or given.get(q.id, True)]
    for question in questions:
        answer = answers.get(question.id)
        touched = touched or answer is not None or question.id in drafts
        if question.id in drafts:
            message = draft_problem(question, drafts[question.id], (given or {}).get(question.id))
            problems.append(Problem(item.key, question.key, ProblemKind.INVALID, message))
        elif question.required and not is_answered(answer):
            problems.append(Problem(item.key, question.key, ProblemKind.MISSING))
    reasons = [q for q in questions if q.kind == QuestionKind.TEXT]
    needs_reason = bool(
        outside_iqr
        and reasons
        and reasons[0].id not in drafts
        and not is_answered(answers.get(reasons[0].id))
    )
    if needs_reason:
        problems.append(Problem(item.key, reasons[0].key, ProblemKind.REASON))
    rated = [q for q in questions if q.kind != QuestionKind.TEXT and is_answered(answers.get(q.id))]
    if not touched:
        state = ItemState.NOT_STARTED
    elif any(p.kind is not ProblemKind.REASON for p in problems):
        state = ItemState.DRAFT
    elif needs_reason:
        state = ItemState.NEEDS_REASON
    elif rated and all(answers[q.id].no_answer for q in rated):
        state = ItemState.OUTSIDE_EXPERTISE
    else:
        state = ItemState.COMPLETE
    # a page asks this for every item with the same ids (a dict's keys): no copy each time
    previous = previous_ids if isinstance(previous_ids, AbstractSet) else set(previous_ids)
    keepable = not touched and any(q.id in previous for q in questions)
    return ItemStatus(item.id, item.key, state, tuple(problems), keepable)


def round_status(
    session: Session,
    participation: Participation,
    round_: Round,
    *,
    outside_iqr: Mapping[int, Sequence[str]] | None = None,
    given: Mapping[int, Sequence[str]] | None = None,
    loaded: RoundAnswers | None = None,
) -> RoundStatus:
    """Every item's status for this expert (three queries: answers, drafts, previous;
    none when the caller has `loaded` them)."""
    return statuses_from(
        round_,
        loaded if loaded is not None else RoundAnswers.load(session, participation, round_),
        outside_iqr=outside_iqr,
        given=given,
    )


@dataclass(frozen=True)
class RoundAnswers:
    """Everything the expert has in a round: answers, drafts, and last round's answers."""

    answers: dict[int, AnswerValues]
    drafts: dict[int, AnswerDraft]
    previous: dict[int, AnswerValues]
    #: the closed round before this one (whose answers `previous` are), if any
    closed: Round | None = None

    @classmethod
    def load(
        cls,
        session: Session,
        participation: Participation,
        round_: Round,
        closed: Round | None | Unknown = UNKNOWN,
    ) -> RoundAnswers:
        """The expert's answers, drafts and previous answers, by question id (the answers of
        both rounds in one query, as plain values). `closed` is the closed round before
        `round_` when the caller has looked it up (see `open_round_and_previous`)."""
        if closed is UNKNOWN:
            closed = previous_closed_round(session, round_)
        rounds = [round_.id] if closed is None else [round_.id, closed.id]
        stored = stored_answers_of_rounds(session, participation, rounds)
        return cls(
            dict(stored[round_.id]),
            {d.question_id: d for d in drafts_of(session, participation, round_)},
            dict(stored[closed.id]) if closed is not None else {},
            closed,
        )


def statuses_from(
    round_: Round,
    loaded: RoundAnswers,
    *,
    outside_iqr: Mapping[int, Sequence[str]] | None = None,
    given: Mapping[int, Sequence[str]] | None = None,
) -> RoundStatus:
    """Every item's status from what the expert has in the round."""
    return RoundStatus(
        tuple(
            item_status(
                round_item.item,
                round_item.item.questions_in(round_.number),
                loaded.answers,
                loaded.drafts,
                previous_ids=loaded.previous.keys(),
                outside_iqr=(outside_iqr or {}).get(round_item.item.id, ()),
                given=given,
            )
            for round_item in round_.items
        )
    )


def item_progress(
    session: Session,
    participation: Participation,
    round_: Round,
    *,
    round_items: Sequence[RoundItem] | None = None,
    answered: Collection[int] | None = None,
    drafted: Collection[int] | None = None,
    asked: Sequence[AskedQuestion] | None = None,
) -> tuple[int, int]:
    """(items with every required answer and no draft left, items asked), in two light
    queries: every autosave answers with these counts. `asked` (see `asked_questions`) or
    `round_items` (the round's items, loaded), `answered` and `drafted` (the questions
    answered, and those with a draft: see `answered_and_drafted`) spare them."""
    if asked is not None:
        pass
    elif round_items is not None:
        asked = asked_questions(round_items, round_.number)
    else:
        asked = (
            session.execute(
                select(RoundItem.item_id, Question.id, Question.required)
                .outerjoin(
                    Question,
                    and_(
                        Question.item_id == RoundItem.item_id,
                        Question.from_round <= round_.number,
                    ),
                )
                .where(RoundItem.round_id == round_.id)
            )
            .tuples()
            .all()
        )
    if answered is None or drafted is None:
        answered, drafted = answered_and_drafted(session, participation, round_)
    items = {item_id for item_id, _question, _required in asked}
    incomplete = {
        item_id
        for item_id, question, required in asked
        if question is not None and (question in drafted or (required and question not in answered))
    }
    return len(items - incomplete), len(items)


#: (item id, question id, required) of each question a round asks; (item id, None, None) for
#: an item without questions
AskedQuestion = tuple[int, int | None, bool | None]


def asked_questions(round_items: Sequence[RoundItem], number: int) -> list[AskedQuestion]:
    """The questions round `number` asks of these items, as `item_progress` counts them."""
    listed: list[AskedQuestion] = []
    for round_item in round_items:
        questions = round_item.item.questions_in(number)
        listed += [(round_item.item_id, q.id, q.required) for q in questions] or [
            (round_item.item_id, None, None)
        ]
    return listed


def answered_and_drafted(
    session: Session, participation: Participation, round_: Round
) -> tuple[set[int], set[int]]:
    """The questions the expert answered in the round (as `is_answered` says) and those with
    a draft, in one query of ids: every autosave's counts read them, and decoding each
    answer's values for that cost more than the rest of the count."""
    done: set[int] = set()
    drafted: set[int] = set()
    rows = session.connection().execute(
        _answered_and_drafted(), {"participation": participation.id, "round": round_.id}
    )
    for question_id, is_draft in rows:
        (drafted if is_draft else done).add(question_id)
    return done, drafted


@functools.cache
def _answered_and_drafted() -> CompoundSelect:
    """The statement of `answered_and_drafted`, built once (with bound parameters)."""
    answer = Answer.__table__.c
    draft = AnswerDraft.__table__.c
    json_text = cast(answer.value_json, Text)
    answered = or_(
        answer.no_answer.is_(True),
        answer.value.is_not(None),
        and_(answer.value_json.is_not(None), json_text.not_in(["{}", "[]", "null"])),
        # stored texts are trimmed (clean_text), so an empty one is ''
        and_(answer.text.is_not(None), func.trim(answer.text) != ""),
    )
    answers = select(answer.question_id, literal(False)).where(
        answer.participation_id == bindparam("participation"),
        answer.round_id == bindparam("round"),
        answer.is_current.is_(True),
        answered,
    )
    drafts = select(draft.question_id, literal(True)).where(
        draft.participation_id == bindparam("participation"),
        draft.round_id == bindparam("round"),
    )
    return union_all(answers, drafts)


def open_round_and_previous(session: Session, study: Study) -> tuple[Round | None, Round | None]:
    """The study's open round and the closed round just before it (whose snapshot is the
    open round's feedback), in one query: every round page needs both."""
    latest = session.scalars(_latest_two_rounds(), {"study": study.id}).all()
    if not latest or latest[0].state != RoundState.OPEN:
        # rounds open in order, so this does not happen; if it did, ask plainly
        found = open_round_of(session, study)
        return found, previous_closed_round(session, found) if found is not None else None
    open_ = latest[0]
    before = latest[1] if len(latest) > 1 else None
    if (
        before is not None
        and before.number == open_.number - 1
        and before.state == RoundState.CLOSED
    ):
        return open_, before
    return open_, None


@functools.cache
def _latest_two_rounds() -> Select[tuple[Round]]:
    """A study's two latest open or closed rounds (built once, with a bound parameter)."""
    return (
        select(Round)
        .where(
            Round.study_id == bindparam("study"),
            Round.state.in_([RoundState.OPEN, RoundState.CLOSED]),
        )
        .order_by(Round.number.desc())
        .limit(2)
    )


def answered_item_count(session: Session, participation: Participation, round_: Round) -> int:
    """How many of the round's items a submit accepts as they are (see `item_progress`)."""
    return item_progress(session, participation, round_)[0]


def problems_by_item(problems: Iterable[Problem]) -> dict[str, list[str]]:
    """Problems as item key -> question keys, flagged `:outside_iqr` or `:draft` (the API's
    and ValidationError's shape)."""
    result: dict[str, list[str]] = {}
    for problem in problems:
        suffix = {
            ProblemKind.MISSING: "",
            ProblemKind.REASON: ":outside_iqr",
            ProblemKind.INVALID: ":draft",
        }[problem.kind]
        result.setdefault(problem.item_key, []).append(problem.question_key + suffix)
    return result


def submit_round(
    session: Session,
    participation: Participation,
    round_: Round,
    *,
    now: datetime,
    outside_iqr: Mapping[int, Sequence[str]] | None = None,
    loaded: RoundAnswers | None = None,
    given: Mapping[int, Sequence[str]] | None = None,
) -> RoundProgress:
    """Submit the round (revisable until it closes): every required answer must be there and
    no typed value may be left as a draft.

    `outside_iqr` maps item ids to the questions whose answers lie outside the previous
    round's interquartile range; when the study asks for it, those items need a reason.
    Raises ValidationError naming each item and question that stops the submit. `loaded`
    and `given` are the expert's answers and pairs when the caller (the review it submits
    from) has read them in this transaction: the lock orders the submit against the round's
    close, not against the expert's own saves.
    """
    round_ = lock_round(session, round_)
    round_.require_open()
    require_can_answer(participation)
    status = round_status(
        session,
        participation,
        round_,
        outside_iqr=outside_iqr,
        given=given if given is not None else asked_givens(session, participation, round_),
        loaded=loaded,
    )
    if status.problems:
        raise ValidationError("Some answers are missing.", problems_by_item(status.problems))
    progress = touch_progress(session, participation, round_, now)
    progress.submitted_at = now
    progress.submit_count += 1
    session.flush()
    return progress
