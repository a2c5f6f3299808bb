"""Streamed exports on the demo study: the same bytes as the whole-table writers, and an answers
table longer than a sheet continued on further sheets with every row kept."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import threading
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.models import Round, Study, User
from app.reports import tables as report_tables
from app.reports.tables import workbook_bytes
from app.services import exports
from app.services.exports import archive_write, xlsx
from app.services.exports.archive_schema import canonical_json, to_data
from tests.conftest import NOW
from tests.demo_cache import cached_demo


@pytest.fixture
def demo_study(session: Session, first_study_definition: Any, facilitator_user: User) -> Study:
    """The demo study: two closed rounds of simulated answers, round 3 open."""
    links = cached_demo(session, first_study_definition, admin=facilitator_user, now=NOW)
    session.commit()
    return links.study


def _whole_archive(session: Session, study: Study) -> bytes:
    """The archive as it was written before streaming: every record in memory, answers sorted
    in Python, the whole envelope encoded at once, the record made data by the standard
    library's `asdict` (which the archive's own `to_data` must equal)."""
    record = exports.archive_record(session, study)
    payload = dataclasses.asdict(record)
    assert to_data(record) == payload
    digest = hashlib.sha256(canonical_json(payload)).hexdigest()
    envelope = {
        "format": exports.ARCHIVE_FORMAT,
        "version": exports.ARCHIVE_VERSION,
        "sha256": digest,
        "study": payload,
    }
    return canonical_json(envelope) + b"\n"


def test_streamed_csv_equals_the_whole_table_byte_for_byte(
    app: Flask, session: Session, demo_study: Study, tmp_path: Path
) -> None:
    columns = exports.answer_columns(False)
    rows = exports.answer_rows(session, demo_study)
    whole = exports.csv_text(rows, columns).encode("utf-8")
    # small chunks, so that the rows really cross many chunk boundaries
    chunks = list(
        exports.csv_chunks(exports.answer_cells(session, demo_study), columns, chunk_rows=7)
    )
    assert len(chunks) > 100
    assert b"".join(chunks) == whole
    # the export's own writer (cells converted once per person, key and part; on PostgreSQL
    # the lines written by the server a round and item at a time) gives the same
    fast = list(exports.answer_csv_chunks(session, demo_study, chunk_rows=7))
    assert len(fast) > 50
    assert b"".join(fast) == whole
    assert len(list(csv.reader(io.StringIO(whole.decode("utf-8"))))) == len(rows) + 1 > 9000
    out = tmp_path / "answers.csv"
    result = app.test_cli_runner().invoke(
        args=["report", demo_study.key, "--format", "csv", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == whole
    assert not (tmp_path / "answers.csv.part").exists()


def test_streamed_archive_equals_the_whole_archive_byte_for_byte(
    app: Flask, session: Session, demo_study: Study, tmp_path: Path, monkeypatch: Any
) -> None:
    whole = _whole_archive(session, demo_study)
    # spooled to disk and handed on in small pieces, as a large study's archive is
    monkeypatch.setattr(archive_write, "SPOOL_BYTES", 10_000)
    monkeypatch.setattr(archive_write, "CHUNK_BYTES", 4096)
    chunks = list(exports.archive_chunks(session, demo_study))
    assert len(chunks) > 10
    assert b"".join(chunks) == whole
    exports.read_archive(whole)  # the digest holds
    out = tmp_path / "archive.json"
    result = app.test_cli_runner().invoke(
        args=["report", demo_study.key, "--format", "json", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == whole


def test_the_archive_reads_its_rounds_at_once_or_one_by_one_to_the_same_bytes(
    session: Session, demo_study: Study, monkeypatch: Any
) -> None:
    whole = _whole_archive(session, demo_study)
    started: list[int] = []
    reader = archive_write._round_reader

    def counted_reader(engine: Any, round_id: int) -> Any:
        started.append(round_id)
        return reader(engine, round_id)

    monkeypatch.setattr(archive_write, "_round_reader", counted_reader)
    assert b"".join(exports.archive_chunks(session, demo_study)) == whole
    postgres = session.get_bind().dialect.name == "postgresql"
    # on PostgreSQL each round that may leave on a connection of its own (the demo's closed
    # rounds 1 and 2: its open round 3 leaves nothing and is not read)
    assert len(started) == (2 if postgres else 0)
    started.clear()
    monkeypatch.setattr(archive_write, "ROUNDS_AT_ONCE", 1)
    assert b"".join(exports.archive_chunks(session, demo_study)) == whole
    monkeypatch.setattr(archive_write, "ROUNDS_AT_ONCE", 2)
    if postgres:
        # a transaction that has written reads on its own connection only (only it sees
        # what it wrote); txid_current() gives it a transaction id as a write would
        session.execute(text("select txid_current()"))
        assert b"".join(exports.archive_chunks(session, demo_study)) == whole
    assert started == []
    if postgres:
        # rounds left midway: their readers' threads stop and their connections go
        session.rollback()  # a new transaction, which has written nothing
        round_ids = list(session.scalars(select(Round.id).where(Round.study_id == demo_study.id)))
        rounds = archive_write._rounds_rows(session, round_ids, True, set(round_ids))
        next(next(rounds))
        rounds.close()
        assert len(started) == 2
        assert not [t for t in threading.enumerate() if t.name == "archive-round"]


def test_answers_longer_than_a_sheet_continue_on_further_sheets(
    app: Flask, session: Session, demo_study: Study, monkeypatch: Any
) -> None:
    columns = exports.answer_columns(False)
    expected = [
        [exports.escape_formula(row[c]) for c in columns]
        for row in exports.answer_rows(session, demo_study)
    ]
    assert len(expected) > 8000
    # a sheet limit that spreads the demo's answers over three sheets, however many it has
    limit = len(expected) // 3 + 10
    monkeypatch.setattr(xlsx, "MAX_SHEET_ROWS", limit)
    monkeypatch.setattr(report_tables, "MAX_SHEET_ROWS", limit)
    table = exports.StreamedTable(
        "Answers", columns, lambda: exports.answer_cells(session, demo_study)
    )
    items = exports.Table("Items", exports.item_columns(demo_study), exports.item_rows(demo_study))
    with app.test_request_context():
        content = workbook_bytes([table, items])
    book = load_workbook(io.BytesIO(content), read_only=True)
    assert book.sheetnames == ["Answers", "Answers 2", "Answers 3", "Items", "Notes"]
    found: list[list[Any]] = []
    for name in ("Answers", "Answers 2", "Answers 3"):
        header, *rows = [list(r) for r in book[name].iter_rows(values_only=True)]
        assert tuple(header) == columns
        assert len(rows) <= limit
        found.extend(rows)
    # an empty cell reads back as None; the export writes "" and None alike as empty
    assert found == [[None if v == "" else v for v in row] for row in expected]
    notes = [r[0] for r in book["Notes"].iter_rows(values_only=True)]
    assert notes[0] == "note"
    assert f"{len(expected):,} rows" in notes[1]
    assert "Answers 2, Answers 3" in notes[1]


def test_a_short_workbook_has_no_notes(app: Flask) -> None:
    table = exports.Table("Items", ("a",), [{"a": 1}])
    with app.test_request_context():
        book = load_workbook(io.BytesIO(workbook_bytes([table])), read_only=True)
    assert book.sheetnames == ["Items"]
