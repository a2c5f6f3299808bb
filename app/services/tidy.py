"""Answers as tidy ("long") data: one row per answer value, with pseudonyms, never identities."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd
from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from app import jsoncodec
from app.definitions.model import QuestionKind, ScaleKind
from app.models import (
    Answer,
    Expert,
    Item,
    ItemVersion,
    Participation,
    Question,
    Round,
    Scale,
    Study,
)

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

#: questions that answer one row of a structural matrix: a part per column
ROW_KINDS = frozenset(
    {
        QuestionKind.INFLUENCE,
        QuestionKind.ACTOR_INFLUENCE,
        QuestionKind.POSITIONS,
        QuestionKind.CROSS_IMPACT,
    }
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
    if kind in ROW_KINDS:
        return [Part(question.key, column, kind, None) for column in config.get("columns", [])]
    return [Part(question.key, "", kind, scale)]


class AnswerParts(Protocol):
    """What part_value reads of an answer: an Answer, or a row with these three columns."""

    @property
    def no_answer(self) -> bool:
        """Whether the expert chose 'no answer'."""

    @property
    def value(self) -> float | None:
        """The single number, for a one-part question."""

    @property
    def value_json(self) -> dict[str, Any] | None:
        """The numbers by part, for a question with several."""


def part_value(answer: AnswerParts, part: Part) -> float | None:
    """The number an answer holds for one part (None if absent or 'no answer')."""
    if answer.no_answer:
        return None
    return _value_of(answer.value, answer.value_json, part)


def is_probability_part(part: Part) -> bool:
    """Whether a part's values are probabilities in percent."""
    return part.scale is not None and part.scale.kind == ScaleKind.PROBABILITY


#: rows fetched from the database at a time when answers are streamed (a server-side cursor on
#: PostgreSQL): large enough that round trips cost little, small enough to stay constant memory
STREAM_ROWS = 2000


@dataclass(frozen=True, slots=True)
class AnswerRow:
    """One current answer as plain columns: what every tidy table, export and snapshot reads."""

    question_id: int
    value: float | None
    value_json: dict[str, Any] | None
    text: str | None
    no_answer: bool
    kept: bool
    synthetic: bool
    participation_id: int
    pseudonym: str
    group: str | None
    round_id: int
    round_number: int
    version: int
    #: the expert's name and email, read only for an identified export
    name: str | None = None
    email: str | None = None


def current_answers(
    session: Session,
    study: Study,
    round_ids: Collection[int] | None = None,
    *,
    by_item: bool = False,
    identities: bool = False,
    question_ids: Collection[int] | None = None,
    participation_ids: Collection[int] | None = None,
) -> Iterator[AnswerRow]:
    """The study's current answers, one row each, streamed in a fixed order.

    The one query behind the tidy table, the exports and the snapshots: columns only (no ORM
    objects), read `STREAM_ROWS` at a time. By round, question and pseudonym; `by_item` orders
    as the exports do (round, item position and key, pseudonym, question position).
    `identities` adds the expert's name and email (identified exports only); `question_ids`
    keeps only the answers to those questions, `participation_ids` those of these people.
    """
    columns: list[Any] = [
        Answer.question_id,
        Answer.value,
        # as text: decoded below a chunk of rows in one call, not one call per row
        cast(Answer.value_json, Text),
        Answer.text,
        Answer.no_answer,
        Answer.kept,
        Answer.synthetic,
        Answer.participation_id,
        Participation.pseudonym,
        Participation.group,
        Round.id,
        Round.number,
        ItemVersion.number,
    ]
    query = (
        select(*columns)
        .join(Participation, Answer.participation_id == Participation.id)
        .join(Round, Answer.round_id == Round.id)
        .join(ItemVersion, Answer.item_version_id == ItemVersion.id)
        .where(Round.study_id == study.id, Answer.is_current.is_(True))
    )
    if identities:
        query = query.add_columns(Participation.name, Expert.email).join(
            Expert, Participation.expert_id == Expert.id
        )
    if round_ids is not None:
        query = query.where(Answer.round_id.in_(list(round_ids)))
    if question_ids is not None:
        query = query.where(Answer.question_id.in_(list(question_ids)))
    if participation_ids is not None:
        query = query.where(Answer.participation_id.in_(list(participation_ids)))
    if by_item:
        query = (
            query.join(Question, Answer.question_id == Question.id)
            .join(Item, Question.item_id == Item.id)
            .order_by(
                Round.number,
                Item.position,
                Item.key,
                Participation.pseudonym,
                Question.position,
                Question.id,
            )
        )
    else:
        query = query.order_by(Round.number, Answer.question_id, Participation.pseudonym)
    # on the connection, as Core rows: the ORM's result handling cost more than decoding the
    # rows (an export reads every current answer); flushed first, as the session would
    session.flush()
    result = session.connection().execute(query, execution_options={"yield_per": STREAM_ROWS})
    for rows in result.partitions():
        documents = jsoncodec.loads_all([row[2] for row in rows])
        for row, document in zip(rows, documents, strict=True):
            yield AnswerRow(row[0], row[1], document, *row[3:])


def study_questions(session: Session, study: Study) -> dict[int, tuple[Question, str, list[Part]]]:
    """Every question of the study by id, with its item's key and its parts (one query)."""
    rows = session.execute(
        select(Question, Item.key)
        .join(Item, Question.item_id == Item.id)
        .where(Item.study_id == study.id)
    )
    return {question.id: (question, key, question_parts(question)) for question, key in rows}


def tidy_answers(
    session: Session,
    study: Study,
    rounds: Sequence[Round] | None = None,
    *,
    matrices: bool = True,
) -> pd.DataFrame:
    """The study's current numeric answers as a tidy DataFrame (TIDY_COLUMNS).

    `matrices` False leaves out the structural matrices' rows (ROW_KINDS), which the
    structural analyses read on their own: a row answer is a row per cell, most of a large
    panel's table. Within a report build (analysis_store.build_memo) the same rounds are read
    once; each caller gets its own copy."""
    from app.services.analysis_store import current_memo

    memo = current_memo(session)
    key = (None if rounds is None else tuple(sorted(r.id for r in rounds)), matrices)
    if memo is not None:
        found = memo.tidy.get(key)
        if found is None:
            found = memo.tidy[key] = _read_tidy(session, study, rounds, matrices)
            memo.tidy_reads += 1
        return found.copy()
    return _read_tidy(session, study, rounds, matrices)


def _read_tidy(
    session: Session, study: Study, rounds: Sequence[Round] | None, matrices: bool
) -> pd.DataFrame:
    """The tidy answers as the database holds them now."""
    return _frame(_tidy_columns(session, study, rounds, matrices))


def _tidy_columns(
    session: Session, study: Study, rounds: Sequence[Round] | None, matrices: bool
) -> tuple[list[Any], ...]:
    """The tidy answers as one list per column (TIDY_COLUMNS)."""
    questions = study_questions(session, study)
    ids = None if rounds is None else [r.id for r in rounds]
    wanted = None
    if not matrices:
        wanted = [
            q for q, (question, _key, _parts) in questions.items() if question.kind not in ROW_KINDS
        ]
    # a list per column rather than a tuple per row: a large panel's table is millions of
    # rows, and a tuple each held more than the frame itself while it was built
    columns: tuple[list[Any], ...] = tuple([] for _ in TIDY_COLUMNS)
    rounds_, experts, groups, items, questions_, parts_, values, refused, versions, synthetic = (
        columns
    )
    for answer in current_answers(session, study, ids, question_ids=wanted):
        _question, item_key, parts = questions[answer.question_id]
        no_answer = answer.no_answer
        for part in parts:
            rounds_.append(answer.round_number)
            experts.append(answer.pseudonym)
            groups.append(answer.group)
            items.append(item_key)
            questions_.append(part.question_key)
            parts_.append(part.part)
            values.append(None if no_answer else _value_of(answer.value, answer.value_json, part))
            refused.append(no_answer)
            versions.append(answer.version)
            synthetic.append(answer.synthetic)
    return columns


def _frame(columns: Sequence[list[Any]]) -> pd.DataFrame:
    """The tidy table of these column lists, typed as `DataFrame.from_records` types rows."""
    if not columns[0]:
        return pd.DataFrame.from_records([], columns=list(TIDY_COLUMNS))
    return pd.DataFrame(dict(zip(TIDY_COLUMNS, columns, strict=True)))


def tidy_row_answers(
    session: Session, study: Study, rounds: Sequence[Round] | None = None
) -> pd.DataFrame:
    """The structural matrices' row answers as tidy rows, one per answer rather than per cell:
    part "" and value 1.0 when any cell holds a number (None otherwise). Enough to count who
    answered an item, at a cell's share of the memory."""
    questions = study_questions(session, study)
    wanted = [q for q, (question, _key, _parts) in questions.items() if question.kind in ROW_KINDS]
    ids = None if rounds is None else [r.id for r in rounds]
    records: list[tuple[Any, ...]] = []
    if wanted:
        for answer in current_answers(session, study, ids, question_ids=wanted):
            question, item_key, parts = questions[answer.question_id]
            no_answer = answer.no_answer
            answered = not no_answer and any(
                _value_of(answer.value, answer.value_json, part) is not None for part in parts
            )
            records.append(
                (
                    answer.round_number,
                    answer.pseudonym,
                    answer.group,
                    item_key,
                    question.key,
                    "",
                    1.0 if answered else None,
                    no_answer,
                    answer.version,
                    answer.synthetic,
                )
            )
    return pd.DataFrame.from_records(records, columns=list(TIDY_COLUMNS))


def _value_of(value: float | None, value_json: dict[str, Any] | None, part: Part) -> float | None:
    """The number an answer's stored fields hold for one part."""
    if not part.part:
        return value
    data = value_json or {}
    if part.kind == QuestionKind.CONDITIONAL:
        event, _, side = part.part.partition("|")
        found = (data.get(event) or {}).get(side)
    else:
        found = data.get(part.part)
    return None if found is None else float(found)


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
    # on the connection: plain rows, without the ORM's result handling (a panel of thousands
    # gives hundreds of thousands of reasons)
    for number, key, text in session.connection().execute(query):
        if text and not text.isspace():
            found.setdefault((number, key), []).append(text)
    return found
