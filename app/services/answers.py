"""Saving answers: per item, idempotent per request, with history, and never losing what was
typed (drafts); keeping the previous round's answers; suggestions.

Every question of a saved item ends in one of three places: a new Answer revision (valid and
changed), nothing new (unchanged), or a draft (incomplete or breaking a rule, kept exactly as
typed until it is fixed). Checking that a round is complete is `round_progress`'s job;
reading answers and drafts is `answer_reads`' (re-exported here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.messages import Message
from app.models import (
    Answer,
    AnswerDraft,
    ConflictError,
    Item,
    Participation,
    ParticipationStatus,
    Question,
    Round,
    RoundItem,
    RoundProgress,
    SaveRequest,
    StateError,
    Suggestion,
    ValidationError,
)
from app.services import answer_writes
from app.services.answer_reads import (
    current_answers,
    current_by_round,
    current_of,
    draft_copies,
    drafts_of,
    previous_answers,
    statements,
    stored_answers,
    stored_answers_of_rounds,
)
from app.services.answer_values import (
    Normalised,
    ShapeError,
    answer_payload,
    clean_text,
    draft_payload,
    normalise,
    parse_number,
    payload_digest,
)
from app.services.burden import givens_of
from app.services.rounds import lock_round
from app.services.snapshots import previous_closed_round

__all__ = [
    "UNKNOWN",
    "ItemEntry",
    "Normalised",
    "SaveResult",
    "SavedItems",
    "Unknown",
    "add_suggestion",
    "clean_text",
    "current_answers",
    "current_of",
    "drafts_of",
    "keep_previous",
    "normalise",
    "parse_number",
    "previous_answers",
    "require_can_answer",
    "round_of_request",
    "save_item",
    "save_items",
    "stored_answers",
    "stored_answers_of_rounds",
    "touch_progress",
]

MAX_SUGGESTION_LENGTH = 2000


class Unknown(Enum):
    """The type of UNKNOWN (a one-member enum, so that type checkers narrow it)."""

    UNKNOWN = "unknown"


#: "not looked up yet" for an optional previous round (None is an answer: there is none)
UNKNOWN = Unknown.UNKNOWN


@dataclass(frozen=True)
class SaveResult:
    """What a save of one item did.

    `answers`: the stored answer of each question that has one (new or unchanged);
    `drafts`: the questions kept as drafts, with why they are not answers yet;
    `replay`: this request repeated an earlier one with the same key and body (nothing
    was written now).
    """

    answers: dict[str, Answer]
    replay: bool
    drafts: dict[str, Message | str] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemEntry:
    """One item's answers to save: question key -> payload, under the client's key if any."""

    item: Item
    payloads: Mapping[str, Mapping[str, Any]]
    idempotency_key: str | None = None


@dataclass(frozen=True)
class SavedItems:
    """What a save of several items did: results of the saved items, errors of the others."""

    results: dict[str, SaveResult]
    errors: dict[str, dict[str, list[Any]]]
    #: the expert's answers of the previous round to the questions saved (by question id),
    #: as the save read them (None for a replay, which reads nothing)
    previous: dict[int, Answer] | None = None
    #: the closed round before this one (whose answers `previous` are), as the save read it
    closed: Round | None = None
    #: after the save, the current answers and the drafts of the saved items' questions (by
    #: question id), so that the caller can tell the items' states without reading them again
    #: (None for a replay)
    answers_after: dict[int, Answer] | None = None
    drafts_after: dict[int, AnswerDraft] | None = None


def require_can_answer(participation: Participation) -> None:
    """Only consenting, non-withdrawn experts answer."""
    if participation.status == ParticipationStatus.WITHDRAWN:
        raise StateError("You have left this panel; your link no longer accepts answers.")
    if participation.consent_at is None:
        raise StateError("Please read and accept the consent page first.")


def save_item(
    session: Session,
    participation: Participation,
    round_: Round,
    item: Item,
    payloads: Mapping[str, Mapping[str, Any]],
    *,
    idempotency_key: str | None,
    now: datetime,
    synthetic: bool = False,
    drafts: bool = False,
) -> SaveResult:
    """Save one item's answers (question key -> payload).

    Without `drafts` the item is one unit: all valid or nothing saved (ValidationError).
    With `drafts`, valid questions are stored and the others kept as typed. A repeated
    `idempotency_key` with the same body returns what that request stored (replay), even
    after newer saves or the round's close; with another body it raises ConflictError.
    """
    saved = save_items(
        session,
        participation,
        round_,
        [ItemEntry(item, payloads, idempotency_key)],
        now=now,
        synthetic=synthetic,
        drafts=drafts,
    )
    if saved.errors:
        raise ValidationError(
            "Some answers are not valid; nothing was saved.", saved.errors[item.key]
        )
    return saved.results[item.key]


@dataclass
class _Plan:
    """What one item's save will do, worked out before anything is written."""

    entry: ItemEntry
    questions: dict[str, Question]
    answers: dict[str, Normalised] = field(default_factory=dict)
    drafts: dict[str, tuple[dict[str, Any], Message | str]] = field(default_factory=dict)


def _check_keys(entries: Sequence[ItemEntry]) -> None:
    """Idempotency keys have 8 to 64 characters and are not reused within one request."""
    keys = [e.idempotency_key for e in entries if e.idempotency_key is not None]
    if any(not 8 <= len(key) <= 64 for key in keys):
        raise ValidationError(
            "An idempotency key has 8 to 64 characters.", {"idempotency_key": ["Bad length."]}
        )
    if len(set(keys)) != len(keys):
        raise ValidationError(
            "Each item needs its own idempotency key.", {"idempotency_key": ["Repeated."]}
        )


def _replays(
    session: Session, participation: Participation, entries: Sequence[ItemEntry]
) -> dict[str, SaveResult]:
    """Results of the entries whose key was seen before (item key -> result), from the ledger.

    Raises ConflictError when a key comes back with another item or body."""
    keys = {e.idempotency_key: e for e in entries if e.idempotency_key is not None}
    if not keys:
        return {}
    # plain rows: every autosave asks, and nearly every answer is "not seen before"
    seen = (
        session.connection()
        .execute(statements().request_rows, {"participation": participation.id, "keys": list(keys)})
        .all()
    )
    if not seen:
        return {}
    results: dict[str, SaveResult] = {}
    answer_ids = [
        int(o["answer_id"])
        for request in seen
        for o in request.outcome.values()
        if o.get("answer_id") is not None
    ]
    stored = (
        {a.id: a for a in session.scalars(select(Answer).where(Answer.id.in_(answer_ids)))}
        if answer_ids
        else {}
    )
    for request in seen:
        entry = keys[request.idempotency_key]
        if request.item_id != entry.item.id or request.body_digest != payload_digest(
            entry.payloads
        ):
            raise ConflictError(
                "This save was already made with different answers; reload the page."
            )
        answers = {
            key: stored[int(o["answer_id"])]
            for key, o in request.outcome.items()
            if o.get("answer_id") is not None and int(o["answer_id"]) in stored
        }
        kept_drafts: dict[str, Message | str] = {
            key: _message_of(o.get("message"))
            for key, o in request.outcome.items()
            if o["state"] == "draft"
        }
        results[entry.item.key] = SaveResult(answers, replay=True, drafts=kept_drafts)
    return results


def round_of_request(
    session: Session, participation: Participation, idempotency_key: str | None
) -> Round | None:
    """The round an acknowledged save with this key went to, if there was one: a retry
    arriving after that round closed is still a replay, answered from the ledger."""
    if not idempotency_key:
        return None
    return session.scalar(
        select(Round)
        .join(SaveRequest, SaveRequest.round_id == Round.id)
        .where(
            SaveRequest.participation_id == participation.id,
            SaveRequest.idempotency_key == idempotency_key,
        )
    )


def _stored_message(message: Message | str) -> dict[str, Any] | str:
    """A draft's message as the ledger keeps it: the template and its values, so that a
    replay answers in the language of the page that asks."""
    if isinstance(message, Message):
        return {"template": message.template, "params": dict(message.params)}
    return str(message)


def _message_of(stored: Any) -> Message | str:
    """A draft's message from the ledger."""
    if isinstance(stored, dict) and isinstance(stored.get("template"), str):
        return Message(stored["template"], dict(stored.get("params") or {}))
    return str(stored or "")


def _plan(
    entry: ItemEntry,
    round_number: int,
    drafts: bool,
    given: Mapping[int, Sequence[str]],
) -> tuple[_Plan, dict[str, list[Any]]]:
    """Validate one item's payloads: what becomes an answer, what a draft, what an error."""
    questions = {q.key: q for q in entry.item.questions_in(round_number)}
    unknown = [key for key in entry.payloads if key not in questions]
    if unknown:
        raise ValidationError(
            "Unknown questions: " + ", ".join(k[:40] for k in unknown),
            {k[:40]: ["Not asked in this round."] for k in unknown},
        )
    plan = _Plan(entry, questions)
    errors: dict[str, list[Any]] = {}
    for key, payload in entry.payloads.items():
        question = questions[key]
        try:
            plan.answers[key] = normalise(question, payload, given.get(question.id))
        except ShapeError as error:
            errors[key] = [error.args[0]]
        except ValueError as error:
            if not drafts:
                errors[key] = [error.args[0]]
                continue
            try:
                plan.drafts[key] = (draft_payload(question, payload), error.args[0])
            except ShapeError as shape:
                errors[key] = [shape.args[0]]
    return plan, errors


def save_items(
    session: Session,
    participation: Participation,
    round_: Round,
    entries: Sequence[ItemEntry],
    *,
    now: datetime,
    synthetic: bool = False,
    drafts: bool = False,
    given: Mapping[int, Sequence[str]] | None = None,
    versions: Mapping[int, int] | None = None,
    closed: Round | None | Unknown = UNKNOWN,
) -> SavedItems:
    """Save several items at once (a page of items, or one autosaved item).

    Items with errors are reported with their messages and leave nothing half-saved; the
    others are saved. With `drafts`, an incomplete or invalid question is kept as typed (a
    draft) instead of being an error; only a payload of the wrong shape is an error. `given`
    narrows conditional questions to the pairs this expert is asked (question id -> events).
    The round is locked once; every current answer, draft and earlier answer involved comes
    in a few queries, so a page of items costs a few statements, not a few per item.
    `versions` (item id -> the version the round asks) spares the query when the caller has
    the round's items at hand (an open round's items and versions never change), and
    `closed` (the closed round before this one, once closed never reopened) another.
    """
    _check_keys(entries)
    round_ = lock_round(session, round_)
    replayed = _replays(session, participation, entries)
    fresh = [e for e in entries if e.item.key not in replayed]
    if not fresh:  # a retry of acknowledged saves: answered even after the round closed
        return SavedItems(replayed, {})
    round_.require_open()
    require_can_answer(participation)
    if participation.study_id != round_.study_id:
        raise ValidationError("This round belongs to another study.")
    # only the items being saved: loading the round's whole item list (versions, questions,
    # scales) on every autosave cost more than the save itself
    asked_versions = (
        dict(versions)
        if versions is not None
        else dict(
            session.execute(
                select(RoundItem.item_id, RoundItem.item_version_id).where(
                    RoundItem.round_id == round_.id,
                    RoundItem.item_id.in_({entry.item.id for entry in fresh}),
                )
            )
            .tuples()
            .all()
        )
    )
    if given is None:  # the pairs this expert is asked, for the items saved
        given = givens_of(
            session,
            participation,
            [q for entry in fresh for q in entry.item.questions_in(round_.number)],
        )
    errors: dict[str, dict[str, list[Any]]] = {}
    plans: list[_Plan] = []
    for entry in fresh:
        if entry.item.id not in asked_versions:
            raise ValidationError(
                "This round does not ask that item.", {"item": ["Not in this round."]}
            )
        plan, item_errors = _plan(entry, round_.number, drafts, given)
        if item_errors:
            errors[entry.item.key] = item_errors
        else:
            plans.append(plan)

    question_ids = [q.id for plan in plans for q in plan.questions.values()]
    if closed is UNKNOWN:
        closed = previous_closed_round(session, round_)
    # this round's and the previous round's answers in one query
    both = current_by_round(
        session, participation, [round_] if closed is None else [round_, closed], question_ids
    )
    current = both[round_.id]
    previous = both[closed.id] if closed is not None else {}
    existing_drafts = draft_copies(session, participation, round_, question_ids)
    session.flush()  # what the caller left pending goes first: the writes below bypass the ORM

    results: dict[str, SaveResult] = dict(replayed)
    answers_after = dict(current)
    drafts_after = dict(existing_drafts)
    for plan in plans:
        results[plan.entry.item.key] = _apply(
            session,
            participation,
            round_,
            plan,
            version_id=asked_versions[plan.entry.item.id],
            current=current,
            existing_drafts=existing_drafts,
            previous=previous,
            now=now,
            synthetic=synthetic,
            answers_after=answers_after,
            drafts_after=drafts_after,
        )
    if plans:
        _note_save(session, participation, round_, now)
    return SavedItems(results, errors, previous, closed, answers_after, drafts_after)


def _apply(
    session: Session,
    participation: Participation,
    round_: Round,
    plan: _Plan,
    *,
    version_id: int,
    current: Mapping[int, Answer],
    existing_drafts: Mapping[int, AnswerDraft],
    previous: Mapping[int, Answer],
    now: datetime,
    synthetic: bool,
    answers_after: dict[int, Answer],
    drafts_after: dict[int, AnswerDraft],
) -> SaveResult:
    """Write one item's plan: new revisions, drafts kept or dropped, and the request's key
    (`answers_after` and `drafts_after` are brought up to date with what it writes).

    The writes are plain statements, a few per item, not the ORM's unit of work (which cost
    more than everything else an autosave does); `current`, `existing_drafts` and `previous`
    are detached copies, and what the session may hold of the rows written is expired."""
    key = plan.entry.idempotency_key
    stored: dict[str, Answer] = {}
    outcome: dict[str, dict[str, Any]] = {}
    new_rows: list[Answer] = []
    retired: list[int] = []
    dropped: list[int] = []
    for question_key, answer in plan.answers.items():
        question = plan.questions[question_key]
        if question.id in existing_drafts:
            dropped.append(question.id)
            drafts_after.pop(question.id, None)
        digest = answer.digest()
        now_current = current.get(question.id)
        if now_current is not None and now_current.payload_hash == digest:
            stored[question_key] = now_current
            outcome[question_key] = {"state": "saved", "answer_id": now_current.id}
            continue
        if now_current is None and answer.is_empty:
            outcome[question_key] = {"state": "empty"}
            continue
        if now_current is not None:
            retired.append(now_current.id)
        earlier = previous.get(question.id)
        new = Answer(
            participation_id=participation.id,
            round_id=round_.id,
            item_version_id=version_id,
            question_id=question.id,
            value=answer.value,
            value_json=answer.value_json,
            text=answer.text,
            no_answer=answer.no_answer,
            revision=(now_current.revision + 1) if now_current is not None else 1,
            is_current=True,
            idempotency_key=f"{key}:{question.id}" if key else None,
            payload_hash=digest,
            synthetic=synthetic,
            kept=earlier is not None and not answer.is_empty and earlier.payload_hash == digest,
            created_at=now,
        )
        stored[question_key] = new
        new_rows.append(new)
    draft_messages: dict[str, Message | str] = {}
    written_drafts: list[AnswerDraft] = []
    for question_key, (typed, message) in plan.drafts.items():
        question = plan.questions[question_key]
        draft = AnswerDraft(
            participation_id=participation.id,
            round_id=round_.id,
            question_id=question.id,
            payload=typed,
            updated_at=now,
        )
        written_drafts.append(draft)
        drafts_after[question.id] = draft
        draft_messages[question_key] = message
        outcome[question_key] = {"state": "draft", "message": _stored_message(message)}
    answer_writes.refuse_forbidden_text(new_rows, written_drafts, outcome)
    answer_writes.write_answers(session, new_rows, retired=retired)
    answer_writes.write_drafts(
        session, participation.id, round_.id, written_drafts, dropped=dropped
    )
    for question_key, answer_row in stored.items():
        outcome[question_key] = {"state": "saved", "answer_id": answer_row.id}
        answers_after[plan.questions[question_key].id] = answer_row
    if key is not None:
        answer_writes.record_request(
            session,
            SaveRequest(
                participation_id=participation.id,
                round_id=round_.id,
                item_id=plan.entry.item.id,
                idempotency_key=key,
                body_digest=payload_digest(plan.entry.payloads),
                outcome=outcome,
                created_at=now,
            ),
        )
    return SaveResult(stored, replay=False, drafts=draft_messages)


def keep_previous(
    session: Session,
    participation: Participation,
    round_: Round,
    items: Sequence[Item],
    *,
    now: datetime,
    given: Mapping[int, Sequence[str]] | None = None,
) -> SavedItems:
    """Record the expert's previous-round answers as this round's, for these items ("keep
    my round N answers"). Each kept answer is marked `kept`; questions without a previous
    answer are left as they are; a previous answer that no longer fits (a pair asked now
    that was not asked then) is kept as a draft to complete."""
    previous = previous_answers(session, participation, round_)
    entries = []
    for item in items:
        payloads = {
            question.key: answer_payload(previous[question.id])
            for question in item.questions_in(round_.number)
            if question.id in previous
        }
        if payloads:
            entries.append(ItemEntry(item, payloads))
    if not entries:
        return SavedItems({}, {})
    return save_items(session, participation, round_, entries, now=now, drafts=True, given=given)


def touch_progress(
    session: Session, participation: Participation, round_: Round, now: datetime
) -> RoundProgress:
    """Create or update the expert's progress row for the round."""
    progress = session.get(RoundProgress, (participation.id, round_.id))
    if progress is None:  # first save of the round
        progress = RoundProgress(
            participation_id=participation.id, round_id=round_.id, started_at=now
        )
        session.add(progress)
    progress.last_saved_at = now
    session.flush()
    return progress


def _note_save(
    session: Session, participation: Participation, round_: Round, now: datetime
) -> None:
    """`touch_progress` for a save: one UPDATE of the progress row (an INSERT on the round's
    first save), without loading it."""
    if not answer_writes.touch_progress_row(session, participation.id, round_.id, now):
        touch_progress(session, participation, round_, now)


def add_suggestion(
    session: Session, participation: Participation, round_: Round, text: str, *, now: datetime
) -> Suggestion:
    """Record a suggested new development (round 1), without linking it to the expert."""
    round_.require_open()
    require_can_answer(participation)
    if not participation.study.suggestions_enabled or round_.number != 1:
        raise StateError("Suggestions are collected in round 1 only.")
    try:
        cleaned = clean_text(text, MAX_SUGGESTION_LENGTH)
    except ValueError as error:
        raise ValidationError(str(error), {"suggestion": [str(error)]}) from None
    if not cleaned:
        raise ValidationError("Write the development you suggest.", {"suggestion": ["Empty."]})
    suggestion = Suggestion(
        study_id=participation.study_id,
        round_id=round_.id,
        text=cleaned,
        language=participation.language,
        created_at=now,
    )
    session.add(suggestion)
    session.flush()
    return suggestion
