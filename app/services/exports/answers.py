"""Answers, one row each (tidy CSV, JSON rows, the XLSX answers sheet).

Anonymous by default: an allow-list of columns (round, pseudonym, group, item, version,
question, part, value, "no answer", free text) with no names, emails, tokens, addresses,
languages or times. What the rows may show comes from the linkage model (app.services.linkage):
in an anonymous study only closed rounds, groups blank under k, and no participation pattern
fewer than k pseudonyms share. Names and emails are added only for a confidential study, for an
administrator, and every such export is audited.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.definitions.model import Anonymity, QuestionKind
from app.models import Expert, Participation, PermissionDeniedError, Study
from app.services.exports.answers_sql import (
    CSV_FORMAT,
    XML_FORMAT,
    LineFormat,
    Person,
    server_lines,
)
from app.services.exports.common import CSV_CHUNK_ROWS, FORMULA_STARTS, escape_formula
from app.services.exports.xlsx import row_xml
from app.services.linkage import Disclosure, disclosure
from app.services.tidy import AnswerRow, current_answers, part_value, study_questions

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


def _shown_answers(
    session: Session,
    study: Study,
    *,
    identified: bool,
    round_ids: Sequence[int] | None = None,
    question_ids: Sequence[int] | None = None,
    participation_ids: Sequence[int] | None = None,
) -> Iterator[tuple[Disclosure, AnswerRow]]:
    """The current answers an export may show (linkage: `disclosure`), in the exports' order,
    each with the disclosure that let it through (only these rounds' answers to these
    questions by these people, if given)."""
    shown = disclosure(session, study, identified=identified)
    if not shown.rounds:
        return
    rounds = shown.rounds if round_ids is None else [r for r in round_ids if r in shown.rounds]
    for answer in current_answers(
        session,
        study,
        rounds,
        by_item=True,
        identities=identified,
        question_ids=question_ids,
        participation_ids=participation_ids,
    ):
        if shown.keeps(answer.participation_id, answer.round_id):
            yield shown, answer


def _cells(
    session: Session,
    study: Study,
    *,
    identified: bool,
    round_ids: Sequence[int] | None = None,
    question_ids: Sequence[int] | None = None,
    participation_ids: Sequence[int] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """The rows of `answer_cells` (only these rounds' answers to these questions by these
    people, if given), read as they are asked for."""
    questions = study_questions(session, study)
    for shown, answer in _shown_answers(
        session,
        study,
        identified=identified,
        round_ids=round_ids,
        question_ids=question_ids,
        participation_ids=participation_ids,
    ):
        participation = answer.participation_id
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


def answer_csv_chunks(
    session: Session, study: Study, *, identified: bool = False, chunk_rows: int = CSV_CHUNK_ROWS
) -> Iterator[bytes]:
    """The bytes of `csv_chunks(answer_cells(...))`, written without a conversion per cell.

    The same CSV byte for byte (a test compares them): the cells that repeat (pseudonyms,
    groups, keys, parts, flags) are converted once, so a panel of thousands streams at the
    speed of the read rather than of a function call per cell. On PostgreSQL the server writes
    the lines, a (round, item) a piece (`answers_sql`); `chunk_rows` sizes the Python writer's.
    """
    if identified and study.anonymity != Anonymity.CONFIDENTIAL:
        raise PermissionDeniedError(
            "This study is anonymous: nobody can export names with answers."
        )
    return _csv_chunks(session, study, identified=identified, chunk_rows=chunk_rows)


def _csv_chunks(
    session: Session, study: Study, *, identified: bool, chunk_rows: int
) -> Iterator[bytes]:
    """The pieces of `answer_csv_chunks`, read as they are asked for."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(answer_columns(identified))
    if session.get_bind().dialect.name == "postgresql":
        # the server writes the lines, a (round, item) at a time
        yield out.getvalue().encode("utf-8")
        for lines, _count in _server_lines(session, study, identified=identified):
            yield lines.encode("utf-8")
        return
    pending = 0
    for row in _csv_rows(session, study, identified=identified):
        writer.writerow(row)
        pending += 1
        if pending >= chunk_rows:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
            pending = 0
    yield out.getvalue().encode("utf-8")


def _server_lines(
    session: Session, study: Study, *, identified: bool, line: LineFormat = CSV_FORMAT
) -> Iterator[tuple[str, int]]:
    """The lines after the header as PostgreSQL writes them in this format (`answers_sql`),
    in pieces with their number of lines."""
    shown = disclosure(session, study, identified=identified)
    if not shown.rounds:
        return
    identities: dict[int, tuple[str | None, str | None]] = {}
    if identified:
        identities = {
            participation: (name, email)
            for participation, name, email in session.execute(
                select(Participation.id, Participation.name, Expert.email)
                .join(Expert, Participation.expert_id == Expert.id)
                .where(Participation.study_id == study.id)
            ).tuples()
        }
    # in the database's order of pseudonyms, which the lines keep by rank (a sort by an
    # integer, where a collation's text comparisons cost the server more than the rest)
    people: list[Person] = []
    for rank, (participation, pseudonym) in enumerate(
        session.execute(
            select(Participation.id, Participation.pseudonym)
            .where(Participation.study_id == study.id)
            .order_by(Participation.pseudonym, Participation.id)
        ).tuples()
    ):
        if identified and participation not in identities:
            continue  # as the row query, which joins the expert
        cells: tuple[str | None, ...] = (pseudonym, shown.group(participation))
        people.append((participation, rank, cells, identities.get(participation, ())))

    def python_lines(
        round_id: int, question_ids: Sequence[int], participations: Sequence[int]
    ) -> Iterator[tuple[str, int]]:
        """One (round, item)'s lines of these people the Python way (the csv module, or
        `xlsx.row_xml`)."""
        if line is XML_FORMAT:
            rows = [
                row_xml([escape_formula(v) if type(v) is str else v for v in row])
                for row in _cells(
                    session,
                    study,
                    identified=identified,
                    round_ids=[round_id],
                    question_ids=question_ids,
                    participation_ids=participations,
                )
            ]
            yield "".join(rows), len(rows)
            return
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        count = 0
        for row in _csv_rows(
            session,
            study,
            identified=identified,
            round_ids=[round_id],
            question_ids=question_ids,
            participation_ids=participations,
        ):
            writer.writerow(row)
            count += 1
        yield out.getvalue(), count

    yield from server_lines(session, study, shown, people, _text_cell, python_lines, line)


def answer_sheet_rows(
    session: Session, study: Study, *, identified: bool = False
) -> Iterator[tuple[str, int]] | None:
    """The answers sheet's rows (`answer_cells`) as the workbook's XML, written by PostgreSQL
    a (round, item) at a time with their number of rows; None where the database cannot
    (SQLite: the workbook then writes `answer_cells` itself)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    if identified and study.anonymity != Anonymity.CONFIDENTIAL:
        raise PermissionDeniedError(
            "This study is anonymous: nobody can export names with answers."
        )
    return _server_lines(session, study, identified=identified, line=XML_FORMAT)


def _text_cell(value: str | None) -> str:
    """A text cell as CSV writes it: empty for None, escaped against formulas."""
    if value is None:
        return ""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


#: booleans as the CSV writes them
_BOOL_CELLS = {False: "false", True: "true"}


def _csv_rows(
    session: Session,
    study: Study,
    *,
    identified: bool,
    round_ids: Sequence[int] | None = None,
    question_ids: Sequence[int] | None = None,
    participation_ids: Sequence[int] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """The rows of `_cells` with every cell already as `_csv_cell` would write it (only
    these rounds' answers to these questions by these people, if given)."""
    # per question: (item key, question key, kind, [(part name, part)]) converted once
    questions = {
        question_id: (
            question,
            _text_cell(item_key),
            _text_cell(question.key),
            [(_text_cell(part.part), part) for part in parts],
        )
        for question_id, (question, item_key, parts) in study_questions(session, study).items()
    }
    people: dict[int, tuple[str, str]] = {}
    flag_cells = {
        (kept, synthetic): (_BOOL_CELLS[kept], _BOOL_CELLS[synthetic])
        for kept in (False, True)
        for synthetic in (False, True)
    }
    text_kind = QuestionKind.TEXT
    for shown, answer in _shown_answers(
        session,
        study,
        identified=identified,
        round_ids=round_ids,
        question_ids=question_ids,
        participation_ids=participation_ids,
    ):
        participation = answer.participation_id
        person = people.get(participation)
        if person is None:
            person = people[participation] = (
                _text_cell(answer.pseudonym),
                _text_cell(shown.group(participation)),
            )
        question, item_cell, question_cell, parts = questions[answer.question_id]
        head = (answer.round_number, *person, item_cell, answer.version, question_cell)
        tail: tuple[str, ...] = flag_cells[bool(answer.kept), bool(answer.synthetic)]
        if identified:
            tail = (*tail, _text_cell(answer.name), _text_cell(answer.email))
        no_answer = bool(answer.no_answer)
        if question.kind == text_kind:
            yield (*head, "", "", _BOOL_CELLS[no_answer], _text_cell(answer.text or ""), *tail)
            continue
        no_answer_cell = _BOOL_CELLS[no_answer]
        for part_cell, part in parts:
            value = part_value(answer, part)
            if value is None:
                cell: Any = ""
            elif type(value) is float and value.is_integer():
                cell = str(int(value))
            else:
                cell = value
            yield (*head, part_cell, cell, no_answer_cell, "", *tail)
