"""The exports' fast writers against the plain ones, on the demo with awkward answers: numbers
the database and Python print differently, JSON values that are not numbers, text a
spreadsheet or a CSV reader would misread, identities with commas. The CSV's lines come from
the server on PostgreSQL (the Python writer takes over for whatever it would print otherwise),
the archive's answers from orjson (the standard library for whatever orjson prints otherwise);
every byte must be the plain writers'."""

from __future__ import annotations

import hashlib
import io
import re
from typing import Any

import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.definitions.model import Anonymity, QuestionKind
from app.models import Answer, Participation, Question, Round, RoundState, Study, User
from app.reports.tables import workbook_bytes
from app.services import exports
from app.services.exports import answers_sql
from app.services.exports.archive_schema import canonical_json, to_data
from tests.conftest import NOW
from tests.demo_cache import cached_demo

#: single values the server and Python print alike, and some they do not (10^15 and past)
VALUES = (1e-05, 0.30000000000000004, 1234.5, -0.0, 3e15, 2500000000000000.5, 7e-300, 1e22)
#: free text that needs a leading apostrophe, quoting, or both
TEXTS = (
    "=1+1",
    '-say "no", then stop',
    "@home\r\nnext line",
    "\tindented",
    "plain, with a comma",
    'a "quoted" word',
    "",
    "ordinary",
    " <b>bold</b> & edges ",
    "carriage\rreturn",
)
#: free text a spreadsheet writer must escape in its own ways (a separate (round, item) each,
#: so that the one the database leaves to Python does not take the others with it)
SHEET_TEXTS = ("looks like an escape _x0041_ here", "a bell \x07 inside")


@pytest.fixture
def awkward_study(session: Session, first_study_definition: Any, facilitator_user: User) -> Study:
    """The demo study with awkward values written into its closed rounds' current answers
    (as an import or an older version could have left them)."""
    study = cached_demo(session, first_study_definition, admin=facilitator_user, now=NOW).study
    closed = select(Round.id).where(Round.study_id == study.id, Round.state == RoundState.CLOSED)
    by_kind: dict[str, list[tuple[int, Any]]] = {}
    for answer_id, kind, value_json in session.execute(
        select(Answer.id, Question.kind, Answer.value_json)
        .join(Question, Answer.question_id == Question.id)
        .where(Answer.round_id.in_(closed), Answer.is_current, ~Answer.no_answer)
        .order_by(Answer.id)
    ).tuples():
        by_kind.setdefault(kind, []).append((answer_id, value_json))
    changes: list[tuple[int, dict[str, Any]]] = []
    for (answer_id, _), text in zip(by_kind[QuestionKind.TEXT], TEXTS, strict=False):
        changes.append((answer_id, {"text": text}))
    for (answer_id, _), text in zip(by_kind[QuestionKind.TEXT][-2:], SHEET_TEXTS, strict=True):
        changes.append((answer_id, {"text": text}))
    for (answer_id, _), value in zip(by_kind[QuestionKind.PROBABILITY], VALUES, strict=False):
        changes.append((answer_id, {"value": value}))
    quantiles = by_kind[QuestionKind.QUANTILES]
    awkward = (3e-07, "0.5", 2**70, 12345678.125)
    for (answer_id, value_json), number in zip(quantiles, awkward, strict=False):
        first = sorted(value_json)[0]
        changes.append((answer_id, {"value_json": {**value_json, first: number}}))
    conditional = by_kind[QuestionKind.CONDITIONAL]
    for (answer_id, value_json), number in zip(conditional, (4e-06, 0.125), strict=False):
        event = sorted(value_json)[0]
        changes.append(
            (answer_id, {"value_json": {**value_json, event: {"given": number, "given_not": 50}}})
        )
    assert len(changes) == len(TEXTS) + len(SHEET_TEXTS) + len(VALUES) + len(awkward) + 2
    for answer_id, values in changes:
        session.execute(update(Answer).where(Answer.id == answer_id).values(**values))
    session.commit()
    return study


def _plain_csv(session: Session, study: Study, *, identified: bool = False) -> bytes:
    """The CSV of the whole table in memory, through the csv module."""
    rows = exports.answer_rows(session, study, identified=identified)
    return exports.csv_text(rows, exports.answer_columns(identified)).encode("utf-8")


def test_the_fast_csv_writes_awkward_answers_as_the_plain_writer(
    session: Session, awkward_study: Study
) -> None:
    fast = b"".join(exports.answer_csv_chunks(session, awkward_study))
    assert fast == _plain_csv(session, awkward_study)
    # the awkward cells are there, as a spreadsheet must read them
    assert b"'=1+1" in fast
    assert b'"\'-say ""no"", then stop"' in fast
    assert b'"\'@home\r\nnext line"' in fast
    assert b",1e-05," in fast and b",3000000000000000," in fast
    assert b",10000000000000000000000," in fast and b",0.5," in fast


def _confidential(session: Session, study: Study, *, first_name: str) -> None:
    """Make the study confidential and give its first member this awkward name."""
    study.anonymity = Anonymity.CONFIDENTIAL
    first = session.scalars(
        select(Participation).where(Participation.study_id == study.id).order_by(Participation.id)
    ).first()
    assert first is not None
    first.name = first_name
    session.commit()


def test_the_fast_identified_csv_writes_identities_as_the_plain_writer(
    session: Session, awkward_study: Study
) -> None:
    _confidential(session, awkward_study, first_name='=Doe, "Jane"')
    fast = b"".join(exports.answer_csv_chunks(session, awkward_study, identified=True))
    assert fast == _plain_csv(session, awkward_study, identified=True)
    assert b'"\'=Doe, ""Jane"""' in fast


def test_the_archive_encodes_awkward_answers_as_the_standard_library(
    session: Session, awkward_study: Study
) -> None:
    payload = to_data(exports.archive_record(session, awkward_study))
    envelope = {
        "format": exports.ARCHIVE_FORMAT,
        "version": exports.ARCHIVE_VERSION,
        "sha256": hashlib.sha256(canonical_json(payload)).hexdigest(),
        "study": payload,
    }
    archive = exports.export_archive(session, awkward_study)
    assert archive == canonical_json(envelope) + b"\n"
    # numbers orjson would print otherwise are there as the standard library prints them
    assert b'"value":1e-05' in archive and b":3e-07" in archive
    assert b'"value":1e+22' in archive
    # an integer past 64 bits stays the integer that was stored
    assert b":1180591620717411303424" in archive and b"e+21" not in archive


def test_the_fast_csv_reads_what_its_own_transaction_wrote(
    session: Session, awkward_study: Study
) -> None:
    # on PostgreSQL the lines are read on connections of their own only when the export's
    # transaction has written nothing; here it has, and the export must show it
    closed = select(Round.id).where(
        Round.study_id == awkward_study.id, Round.state == RoundState.CLOSED
    )
    answer_id = session.scalars(
        select(Answer.id)
        .join(Question, Answer.question_id == Question.id)
        .where(Answer.round_id.in_(closed), Answer.is_current, Question.kind == QuestionKind.TEXT)
        .order_by(Answer.id.desc())
    ).first()
    session.execute(
        update(Answer).where(Answer.id == answer_id).values(text="=written, not committed")
    )
    fast = b"".join(exports.answer_csv_chunks(session, awkward_study))
    assert b'"\'=written, not committed"' in fast
    assert fast == _plain_csv(session, awkward_study)
    session.rollback()


def _sheet_rows(session: Session, study: Study, *, identified: bool) -> list[list[Any]]:
    """The answers sheet of the study's workbook as openpyxl reads it back (header dropped)."""
    columns = exports.answer_columns(identified)
    table = exports.StreamedTable(
        "Answers",
        columns,
        lambda: exports.answer_cells(session, study, identified=identified),
        xml_rows=lambda: exports.answer_sheet_rows(session, study, identified=identified),
        widths=[10] * len(columns),
    )
    book = load_workbook(io.BytesIO(workbook_bytes([table])), read_only=True)
    header, *rows = [list(r) for r in book["Answers"].iter_rows(values_only=True)]
    assert tuple(header) == columns
    return rows


@pytest.mark.parametrize("identified", [False, True])
def test_the_answers_sheet_reads_back_as_the_plain_rows(
    app: Flask, session: Session, awkward_study: Study, identified: bool
) -> None:
    """On PostgreSQL the server writes the answers sheet's rows as XML: read back, every cell
    is the plain writer's (an empty cell as None), awkward text and numbers included."""
    if identified:
        _confidential(session, awkward_study, first_name="<Doe> & =Jane ")
    on_server = exports.answer_sheet_rows(session, awkward_study, identified=identified)
    assert (on_server is not None) == (session.get_bind().dialect.name == "postgresql")
    columns = exports.answer_columns(identified)
    expected = [
        [None if v == "" or v is None else exports.escape_formula(v) for v in row]
        for row in (
            [r[c] for c in columns]
            for r in exports.answer_rows(session, awkward_study, identified=identified)
        )
    ]
    with app.test_request_context():
        found = _sheet_rows(session, awkward_study, identified=identified)
    assert len(found) == len(expected) > 1000
    assert found == [[_as_read(v) for v in row] for row in expected]
    texts = {row[columns.index("text")] for row in found}
    written = ("'=1+1", " <b>bold</b> & edges ", "carriage\rreturn", *SHEET_TEXTS)
    assert {_as_read(text) for text in written} <= texts
    assert "a bell  inside" in texts and "looks like an escape _x005F_x0041_ here" in texts


def _as_read(value: Any) -> Any:
    """A cell as openpyxl reads the workbook back: text without the characters XML cannot
    hold and with the writer's escapes left as written (a carriage return, text that looks
    like an escape: Excel decodes them, openpyxl does not); numbers as a spreadsheet holds
    them (Python writes 16 significant digits as XlsxWriter does, the server every digit)."""
    if type(value) is float:
        return pytest.approx(value, rel=1e-15)
    if type(value) is not str:
        return value
    value = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", "", value)
    value = re.sub("(_x[0-9a-fA-F]{4}_)", r"_x005F\1", value)
    return value.replace("\r", "_x000D_")


def test_a_few_people_per_query_write_the_same_csv_and_sheet(
    app: Flask, session: Session, awkward_study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's queries take an item's people a slice at a time (a matrix item's lines
    would otherwise come back as one string of many megabytes); slices of a few people, some
    of them left to Python for an awkward answer, write the same bytes and cells."""
    monkeypatch.setattr(answers_sql, "LINES_PER_QUERY", 40)
    fast = b"".join(exports.answer_csv_chunks(session, awkward_study))
    assert fast == _plain_csv(session, awkward_study)
    columns = exports.answer_columns(False)
    expected = [
        [_as_read(None if r[c] == "" else exports.escape_formula(r[c])) for c in columns]
        for r in exports.answer_rows(session, awkward_study)
    ]
    with app.test_request_context():
        assert _sheet_rows(session, awkward_study, identified=False) == expected
