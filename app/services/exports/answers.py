"""Answers, one row each (tidy CSV, JSON rows, the XLSX answers sheet).

Anonymous by default: an allow-list of columns (round, pseudonym, group, item, version,
question, part, value, "no answer", free text) with no names, emails, tokens, addresses,
languages or times. What the rows may show comes from the linkage model (app.services.linkage):
in an anonymous study only closed rounds, groups blank under k, and no participation pattern
fewer than k pseudonyms share. Names and emails are added only for a confidential study, for an
administrator, and every such export is audited.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy.orm import Session

from app.definitions.model import Anonymity, QuestionKind
from app.models import PermissionDeniedError, Study
from app.services.linkage import disclosure
from app.services.tidy import current_answers, part_value, study_questions

#: the only columns an anonymous answer export has, in order
ANONYMOUS_COLUMNS = (
    "round",
    "expert",
    "group",
    "item",
    "item_version",
    "question",
    "part",
    "value",
    "no_answer",
    "text",
    "kept",
    "synthetic",
)
#: added for an identified export (confidential studies, administrators only)
IDENTITY_COLUMNS = ("name", "email")


def answer_columns(identified: bool) -> tuple[str, ...]:
    """The columns of an answer export."""
    return ANONYMOUS_COLUMNS + (IDENTITY_COLUMNS if identified else ())


def answer_rows(
    session: Session, study: Study, *, identified: bool = False
) -> list[dict[str, Any]]:
    """The study's current answers, one row per number or text (anonymous unless identified).

    Identified rows need a confidential study; the caller checks the user (authorize_export).
    The whole table in memory: for small studies and tests; exports stream `answer_cells`.
    """
    columns = answer_columns(identified)
    return [
        dict(zip(columns, cells, strict=True))
        for cells in answer_cells(session, study, identified=identified)
    ]


def answer_cells(
    session: Session, study: Study, *, identified: bool = False
) -> Iterator[tuple[Any, ...]]:
    """The rows of `answer_rows` as tuples in `answer_columns` order, produced as they are read.

    Raw values (not escaped against formulas: each writer does that for its format). Refuses
    an identified export of an anonymous study at once, before any row is read.
    """
    if identified and study.anonymity != Anonymity.CONFIDENTIAL:
        raise PermissionDeniedError(
            "This study is anonymous: nobody can export names with answers."
        )
    return _cells(session, study, identified=identified)


def _cells(session: Session, study: Study, *, identified: bool) -> Iterator[tuple[Any, ...]]:
    """The rows of `answer_cells`, read as they are asked for."""
    shown = disclosure(session, study, identified=identified)
    if not shown.rounds:
        return
    questions = study_questions(session, study)
    for answer in current_answers(
        session, study, shown.rounds, by_item=True, identities=identified
    ):
        participation = answer.participation_id
        if not shown.keeps(participation, answer.round_id):
            continue
        question, item_key, parts = questions[answer.question_id]
        head = (
            answer.round_number,
            answer.pseudonym,
            shown.group(participation),
            item_key,
            answer.version,
            question.key,
        )
        # the expert kept the previous round's answer (stability: kept, not revised)
        flags = (bool(answer.kept), bool(answer.synthetic))
        tail = flags + ((answer.name, answer.email) if identified else ())
        no_answer = bool(answer.no_answer)
        if question.kind == QuestionKind.TEXT:
            yield (*head, "", None, no_answer, answer.text or "", *tail)
            continue
        for part in parts:
            yield (*head, part.part, part_value(answer, part), no_answer, "", *tail)
