"""How a save writes: plain statements built once, not the ORM's unit of work.

An autosave writes one item: the revision it replaces stops being current, the new revision
arrives, a draft goes or comes, the request's ledger row and the progress row follow. Through
the ORM's flush that cost more than everything else the save does; here each is one statement.
What the session may already hold of a row written this way is expired, so a caller that
loaded it reads it afresh, and the flush's last check on text (control characters) is made
here, before anything is written.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Delete, Insert, Table, Update, bindparam, delete, insert, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.dml import ReturningInsert

from app.models import Answer, AnswerDraft, RoundProgress, SaveRequest, ValidationError
from app.models.text import text_problem


@dataclass(frozen=True)
class Writes:
    """The statements a save writes with, built once (with bound parameters)."""

    retire: Update
    insert_answers: ReturningInsert[tuple[int]]
    delete_drafts: Delete
    insert_drafts: Insert
    insert_request: Insert
    touch: Update


#: the columns of a new answer (all but its id, which the database gives)
_ANSWER_COLUMNS = tuple(c.key for c in Answer.__table__.c if c.key != "id")
_DRAFT_COLUMNS = tuple(c.key for c in AnswerDraft.__table__.c)
_REQUEST_COLUMNS = tuple(c.key for c in SaveRequest.__table__.c if c.key != "id")


@functools.cache
def writes() -> Writes:
    """The statements (built on first use, not at import)."""
    answers = cast(Table, Answer.__table__)
    drafts = cast(Table, AnswerDraft.__table__)
    progress = cast(Table, RoundProgress.__table__)
    return Writes(
        retire=update(answers)
        .where(answers.c.id.in_(bindparam("ids", expanding=True)))
        .values(is_current=False),
        insert_answers=insert(answers).returning(answers.c.id, sort_by_parameter_order=True),
        delete_drafts=delete(drafts).where(
            drafts.c.participation_id == bindparam("participation"),
            drafts.c.round_id == bindparam("round"),
            drafts.c.question_id.in_(bindparam("questions", expanding=True)),
        ),
        insert_drafts=insert(drafts),
        insert_request=insert(cast(Table, SaveRequest.__table__)),
        touch=update(progress)
        .where(
            progress.c.participation_id == bindparam("participation"),
            progress.c.round_id == bindparam("round"),
        )
        .values(last_saved_at=bindparam("now", type_=progress.c.last_saved_at.type)),
    )


def write_answers(session: Session, new_rows: Sequence[Answer], *, retired: Sequence[int]) -> None:
    """Retire the revisions `retired` (answer ids), then insert `new_rows` (transient answers,
    which get their ids): the old revisions stop being current before the new ones arrive."""
    connection = session.connection()
    if retired:
        connection.execute(writes().retire, {"ids": list(retired)})
        _expire(session, Answer, [(id_,) for id_ in retired])
    if new_rows:
        ids = connection.execute(
            writes().insert_answers, [_columns(row, _ANSWER_COLUMNS) for row in new_rows]
        ).scalars()
        for row, id_ in zip(new_rows, ids, strict=True):
            row.id = id_


def write_drafts(
    session: Session,
    participation_id: int,
    round_id: int,
    drafts: Sequence[AnswerDraft],
    *,
    dropped: Sequence[int],
) -> None:
    """Delete the drafts of the questions `dropped` (now answered) and store `drafts`
    (transient): a draft written again is deleted and inserted, one way on every database."""
    gone = list(dropped) + [draft.question_id for draft in drafts]
    if not gone:
        return
    connection = session.connection()
    connection.execute(
        writes().delete_drafts,
        {"participation": participation_id, "round": round_id, "questions": gone},
    )
    _expire(session, AnswerDraft, [(participation_id, round_id, q) for q in gone])
    if drafts:
        connection.execute(writes().insert_drafts, [_columns(d, _DRAFT_COLUMNS) for d in drafts])


def record_request(session: Session, request: SaveRequest) -> None:
    """Insert the request's ledger row (transient `request`; its id is not read back)."""
    session.connection().execute(writes().insert_request, _columns(request, _REQUEST_COLUMNS))


def touch_progress_row(
    session: Session, participation_id: int, round_id: int, now: datetime
) -> bool:
    """Note a save on the expert's progress row; False when there is no row yet."""
    updated = session.connection().execute(
        writes().touch, {"participation": participation_id, "round": round_id, "now": now}
    )
    if updated.rowcount == 0:
        return False
    _expire(session, RoundProgress, [(participation_id, round_id)])
    return True


def refuse_forbidden_text(
    answers: Sequence[Answer], drafts: Sequence[AnswerDraft], outcome: Mapping[str, Any]
) -> None:
    """The flush's last check on text (see app.database), for the writes that bypass it:
    the new answers, the drafts and the request's outcome (a draft's message may quote what
    was typed). Raises ValidationError before anything is written."""
    errors: dict[str, list[Any]] = {}
    if problem := text_problem(outcome):
        errors["save_requests.outcome"] = [problem]
    for answer in answers:
        for name in ("text", "value_json"):
            if problem := text_problem(getattr(answer, name)):
                errors[f"answers.{name}"] = [problem]
    for draft in drafts:
        if problem := text_problem(draft.payload):
            errors["answer_drafts.payload"] = [problem]
    if errors:
        raise ValidationError("Nothing was saved: some text holds a control character.", errors)


def _columns(row: Any, names: Sequence[str]) -> dict[str, Any]:
    """A transient row's columns, as an INSERT takes them."""
    return {name: getattr(row, name) for name in names}


def _expire(session: Session, model: type[Any], keys: Sequence[tuple[int, ...]]) -> None:
    """Expire what the session holds of rows a plain statement changed (a caller that loaded
    them earlier reads them afresh)."""
    for key in keys:
        held = session.identity_map.get(identity_key(model, key))
        if held is not None:
            session.expire(held)
