"""Answers as tidy ("long") data: one row per answer value, with pseudonyms, never identities."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.definitions.model import QuestionKind, ScaleKind
from app.models import Answer, Item, Participation, Question, Round, Scale, Study

#: the columns of the tidy answer table, in order
TIDY_COLUMNS = (
    "round",
    "expert",
    "group",
    "item",
    "question",
    "part",
    "value",
    "no_answer",
    "item_version",
    "synthetic",
)

#: trend impact profile fields, in their natural order
TREND_IMPACT_PARTS = ("t1", "t2", "i_max", "t3", "i_ss")


@dataclass(frozen=True)
class Part:
    """One number inside a question's answer (a question may hold several: quantiles, years)."""

    question_key: str
    part: str  #: "" for single-valued questions, else e.g. "5", "2030", "E08|given", "i_max"
    kind: str  #: the question's kind
    scale: Scale | None

    @property
    def label(self) -> str:
        """'question' or 'question@part', as used in analysis tables."""
        return self.question_key if not self.part else f"{self.question_key}@{self.part}"


def question_parts(question: Question) -> list[Part]:
    """The numbers a question's answers hold, in display order (text questions hold none)."""
    kind = QuestionKind(question.kind)
    scale = question.scale
    config = question.config
    if kind is QuestionKind.TEXT:
        return []
    if kind is QuestionKind.PROBABILITY and config.get("horizons"):
        return [Part(question.key, str(y), kind, scale) for y in config["horizons"]]
    if kind is QuestionKind.QUANTILES:
        return [Part(question.key, str(q), kind, scale) for q in config["quantiles"]]
    if kind is QuestionKind.CONDITIONAL:
        return [
            Part(question.key, f"{event}|{side}", kind, scale)
            for event in config.get("given", [])
            for side in ("given", "given_not")
        ]
    if kind is QuestionKind.TREND_IMPACT:
        return [Part(question.key, field, kind, None) for field in TREND_IMPACT_PARTS]
    return [Part(question.key, "", kind, scale)]


def part_value(answer: Answer, part: Part) -> float | None:
    """The number an answer holds for one part (None if absent or 'no answer')."""
    if answer.no_answer:
        return None
    if not part.part:
        return answer.value
    data = answer.value_json or {}
    if part.kind == QuestionKind.CONDITIONAL:
        event, _, side = part.part.partition("|")
        value = (data.get(event) or {}).get(side)
    else:
        value = data.get(part.part)
    return None if value is None else float(value)


def is_probability_part(part: Part) -> bool:
    """Whether a part's values are probabilities in percent."""
    return part.scale is not None and part.scale.kind == ScaleKind.PROBABILITY


def _answer_rows(
    session: Session, study: Study, rounds: Sequence[Round] | None
) -> Iterator[tuple[Answer, Participation, Round, Question, Item, int]]:
    """Current answers of the study joined with what the tidy table needs."""
    from app.models import ItemVersion

    query = (
        select(Answer, Participation, Round, Question, Item, ItemVersion.number)
        .join(Participation, Answer.participation_id == Participation.id)
        .join(Round, Answer.round_id == Round.id)
        .join(Question, Answer.question_id == Question.id)
        .join(Item, Question.item_id == Item.id)
        .join(ItemVersion, Answer.item_version_id == ItemVersion.id)
        .where(Round.study_id == study.id, Answer.is_current.is_(True))
        .order_by(Round.number, Item.position, Question.position, Participation.pseudonym)
    )
    if rounds is not None:
        query = query.where(Answer.round_id.in_([r.id for r in rounds]))
    for row in session.execute(query):
        yield row[0], row[1], row[2], row[3], row[4], row[5]


def tidy_answers(
    session: Session, study: Study, rounds: Sequence[Round] | None = None
) -> pd.DataFrame:
    """The study's current numeric answers as a tidy DataFrame (TIDY_COLUMNS)."""
    records: list[dict[str, Any]] = []
    for answer, participation, round_, question, item, version in _answer_rows(
        session, study, rounds
    ):
        for part in question_parts(question):
            records.append(
                {
                    "round": round_.number,
                    "expert": participation.pseudonym,
                    "group": participation.group,
                    "item": item.key,
                    "question": question.key,
                    "part": part.part,
                    "value": part_value(answer, part),
                    "no_answer": answer.no_answer,
                    "item_version": version,
                    "synthetic": answer.synthetic,
                }
            )
    return pd.DataFrame.from_records(records, columns=list(TIDY_COLUMNS))


def reasons(
    session: Session, study: Study, rounds: Iterable[Round]
) -> dict[tuple[int, str], list[str]]:
    """Free-text answers per (round number, item key), in no meaningful order."""
    found: dict[tuple[int, str], list[str]] = {}
    ids = [r.id for r in rounds]
    query = (
        select(Round.number, Item.key, Answer.text)
        .join(Round, Answer.round_id == Round.id)
        .join(Question, Answer.question_id == Question.id)
        .join(Item, Question.item_id == Item.id)
        .where(
            Answer.round_id.in_(ids),
            Answer.is_current.is_(True),
            Question.kind == QuestionKind.TEXT,
            Answer.text.is_not(None),
        )
    )
    for number, key, text in session.execute(query):
        if text and text.strip():
            found.setdefault((number, key), []).append(text)
    return found
