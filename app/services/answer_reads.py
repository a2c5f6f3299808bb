"""Reading an expert's answers and drafts: current answers by question (as ORM rows to
revise, or as plain values for the pages), the previous round's, and drafts. The statements
every autosave and round page runs are built once per process with bound parameters."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from app.models import Answer, AnswerDraft, Participation, Round, SaveRequest
from app.services.answer_values import StoredAnswer
from app.services.snapshots import previous_closed_round

__all__ = [
    "current_answers",
    "current_by_round",
    "current_of",
    "draft_copies",
    "drafts_of",
    "previous_answers",
    "statements",
    "stored_answers",
    "stored_answers_of_rounds",
]


@dataclass(frozen=True)
class Statements:
    """The statements every autosave and round page runs, built once per process with bound
    parameters: building a select's clauses anew on each request cost more than running it."""

    requests: Select[tuple[SaveRequest]]
    request_rows: Select[Any]
    current: Select[Any]
    stored: Select[Any]
    stored_of_questions: Select[Any]
    drafts: Select[tuple[AnswerDraft]]
    drafts_of_questions: Select[tuple[AnswerDraft]]
    draft_rows: Select[Any]


@functools.cache
def statements() -> Statements:
    """The statements (built on first use, not at import)."""
    columns = Answer.__table__.c
    stored = select(
        columns.round_id,
        columns.id,
        columns.question_id,
        columns.value,
        columns.value_json,
        columns.text,
        columns.no_answer,
        columns.payload_hash,
    ).where(
        columns.participation_id == bindparam("participation"),
        columns.round_id.in_(bindparam("rounds", expanding=True)),
        columns.is_current.is_(True),
    )
    drafts = select(AnswerDraft).where(
        AnswerDraft.participation_id == bindparam("participation"),
        AnswerDraft.round_id == bindparam("round"),
    )
    requests = SaveRequest.__table__.c
    draft = AnswerDraft.__table__.c
    return Statements(
        requests=select(SaveRequest).where(
            SaveRequest.participation_id == bindparam("participation"),
            SaveRequest.idempotency_key.in_(bindparam("keys", expanding=True)),
        ),
        request_rows=select(
            requests.idempotency_key, requests.item_id, requests.body_digest, requests.outcome
        ).where(
            requests.participation_id == bindparam("participation"),
            requests.idempotency_key.in_(bindparam("keys", expanding=True)),
        ),
        current=select(*Answer.__table__.c).where(
            columns.participation_id == bindparam("participation"),
            columns.round_id.in_(bindparam("rounds", expanding=True)),
            columns.question_id.in_(bindparam("questions", expanding=True)),
            columns.is_current.is_(True),
        ),
        stored=stored,
        stored_of_questions=stored.where(
            columns.question_id.in_(bindparam("questions", expanding=True))
        ),
        drafts=drafts,
        drafts_of_questions=drafts.where(
            AnswerDraft.question_id.in_(bindparam("questions", expanding=True))
        ),
        draft_rows=select(*AnswerDraft.__table__.c).where(
            draft.participation_id == bindparam("participation"),
            draft.round_id == bindparam("round"),
            draft.question_id.in_(bindparam("questions", expanding=True)),
        ),
    )


def current_by_round(
    session: Session,
    participation: Participation,
    rounds: Sequence[Round],
    question_ids: Iterable[int],
) -> dict[int, dict[int, Answer]]:
    """The expert's current answers to these questions in some rounds: round id -> question
    id -> answer, as detached copies (not in the session): a save reads them to decide and
    writes its changes with plain statements, and loading them into the ORM cost more than
    the rest of the read."""
    found: dict[int, dict[int, Answer]] = {r.id: {} for r in rounds}
    ids = list(question_ids)
    if not ids:
        return found
    rows = session.connection().execute(
        statements().current,
        {"participation": participation.id, "rounds": list(found), "questions": ids},
    )
    for row in rows.mappings():
        found[row["round_id"]][row["question_id"]] = Answer(**row)
    return found


def draft_copies(
    session: Session, participation: Participation, round_: Round, question_ids: Iterable[int]
) -> dict[int, AnswerDraft]:
    """The expert's drafts of these questions in a round, by question id, as detached copies
    (see `current_by_round`)."""
    ids = list(question_ids)
    if not ids:
        return {}
    rows = session.connection().execute(
        statements().draft_rows,
        {"participation": participation.id, "round": round_.id, "questions": ids},
    )
    return {row["question_id"]: AnswerDraft(**row) for row in rows.mappings()}


def current_of(
    session: Session, participation: Participation, round_: Round, question_ids: Iterable[int]
) -> dict[int, Answer]:
    """The expert's current answers in the round to these questions, by question id."""
    ids = list(question_ids)
    if not ids:
        return {}
    rows = session.scalars(
        select(Answer).where(
            Answer.participation_id == participation.id,
            Answer.round_id == round_.id,
            Answer.question_id.in_(ids),
            Answer.is_current.is_(True),
        )
    )
    return {a.question_id: a for a in rows}


def stored_answers_of_rounds(
    session: Session,
    participation: Participation,
    round_ids: Sequence[int],
    question_ids: Iterable[int] | None = None,
) -> dict[int, dict[int, StoredAnswer]]:
    """The expert's current answers in some rounds as plain values (round id -> question id
    -> answer), in one query: what the round's pages read, without ORM objects."""
    found: dict[int, dict[int, StoredAnswer]] = {round_id: {} for round_id in round_ids}
    if not round_ids:
        return found
    params: dict[str, Any] = {"participation": participation.id, "rounds": list(round_ids)}
    query = statements().stored
    if question_ids is not None:
        params["questions"] = list(question_ids)
        if not params["questions"]:
            return found
        query = statements().stored_of_questions
    # a prepared Core statement on the session's connection: no ORM work per row
    rows = session.connection().execute(query, params)
    for round_id, id_, question_id, value, value_json, text, no_answer, digest in rows:
        found[round_id][question_id] = StoredAnswer(
            id_, question_id, value, value_json, text, no_answer, digest
        )
    return found


def stored_answers(
    session: Session,
    participation: Participation,
    round_: Round,
    question_ids: Iterable[int] | None = None,
) -> dict[int, StoredAnswer]:
    """The expert's current answers in a round as plain values, by question id."""
    return stored_answers_of_rounds(session, participation, [round_.id], question_ids)[round_.id]


def current_answers(
    session: Session, participation: Participation, round_: Round
) -> dict[int, Answer]:
    """The expert's current answers in a round, by question id."""
    rows = session.scalars(
        select(Answer).where(
            Answer.participation_id == participation.id,
            Answer.round_id == round_.id,
            Answer.is_current.is_(True),
        )
    )
    return {a.question_id: a for a in rows}


def previous_answers(
    session: Session, participation: Participation, round_: Round
) -> dict[int, Answer]:
    """The expert's answers in the previous closed round (what this round prefills), by
    question id; empty in the first round."""
    previous = previous_closed_round(session, round_)
    return {} if previous is None else current_answers(session, participation, previous)


def drafts_of(
    session: Session,
    participation: Participation,
    round_: Round,
    question_ids: Iterable[int] | None = None,
) -> list[AnswerDraft]:
    """The expert's drafts in a round (all, or for these questions)."""
    params: dict[str, Any] = {"participation": participation.id, "round": round_.id}
    if question_ids is None:
        return list(session.scalars(statements().drafts, params))
    params["questions"] = list(question_ids)
    if not params["questions"]:
        return []
    return list(session.scalars(statements().drafts_of_questions, params))
