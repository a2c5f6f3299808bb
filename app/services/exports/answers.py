"""Answers, one row each (tidy CSV, JSON rows, the XLSX answers sheet).

Anonymous by default: an allow-list of columns (round, pseudonym, group, item, version,
question, part, value, "no answer", free text) with no names, emails, tokens, addresses,
languages or times. What the rows may show comes from the linkage model (app.services.linkage):
in an anonymous study only closed rounds, groups blank under k, and no participation pattern
fewer than k pseudonyms share. Names and emails are added only for a confidential study, for an
administrator, and every such export is audited.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.definitions.model import Anonymity, QuestionKind
from app.models import (
    Answer,
    Expert,
    Item,
    ItemVersion,
    Participation,
    PermissionDeniedError,
    Question,
    Round,
    Study,
)
from app.services.linkage import disclosure
from app.services.tidy import Part, part_value, question_parts

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
    """
    if identified and study.anonymity != Anonymity.CONFIDENTIAL:
        raise PermissionDeniedError(
            "This study is anonymous: nobody can export names with answers."
        )
    shown = disclosure(session, study, identified=identified)
    if not shown.rounds:
        return []
    # columns, not whole rows as objects: the export reads a few fields of every answer, and
    # building an object per answer (and per joined row) took most of its time
    query = (
        select(
            Answer.no_answer,
            Answer.value,
            Answer.value_json,
            Answer.text,
            Answer.kept,
            Answer.synthetic,
            Answer.question_id,
            Participation.id.label("participation_id"),
            Participation.pseudonym,
            Participation.name,
            Round.id.label("round_id"),
            Round.number.label("round_number"),
            Item.key.label("item_key"),
            ItemVersion.number.label("version"),
            Expert.email,
        )
        .join(Participation, Answer.participation_id == Participation.id)
        .join(Expert, Participation.expert_id == Expert.id)
        .join(Round, Answer.round_id == Round.id)
        .join(Question, Answer.question_id == Question.id)
        .join(Item, Question.item_id == Item.id)
        .join(ItemVersion, Answer.item_version_id == ItemVersion.id)
        .where(
            Round.study_id == study.id,
            Round.id.in_(shown.rounds),
            Answer.is_current.is_(True),
        )
        .order_by(Round.number, Item.position, Item.key, Participation.pseudonym, Question.position)
    )
    questions: dict[int, tuple[Question, list[Part]]] = {}
    rows: list[dict[str, Any]] = []
    for answer in session.execute(query):
        if not shown.keeps(answer.participation_id, answer.round_id):
            continue
        if answer.question_id not in questions:
            question = session.get_one(Question, answer.question_id)
            questions[answer.question_id] = (question, question_parts(question))
        question, parts = questions[answer.question_id]
        base: dict[str, Any] = {
            "round": answer.round_number,
            "expert": answer.pseudonym,
            "group": shown.group(answer.participation_id),
            "item": answer.item_key,
            "item_version": answer.version,
            "question": question.key,
            "no_answer": bool(answer.no_answer),
            # the expert kept the previous round's answer (stability: kept, not revised)
            "kept": bool(answer.kept),
            "synthetic": bool(answer.synthetic),
        }
        if identified:
            base.update({"name": answer.name, "email": answer.email})
        if question.kind == QuestionKind.TEXT:
            rows.append({**base, "part": "", "value": None, "text": answer.text or ""})
            continue
        for part in parts:
            rows.append({**base, "part": part.part, "value": part_value(answer, part), "text": ""})
    columns = answer_columns(identified)
    return [{c: row.get(c) for c in columns} for row in rows]
