"""The consensus report (PDF, HTML), the spreadsheet and the command line, on a small study."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analysis.pooling import pool
from app.models import Study, User, utcnow
from app.reports import render
from app.reports.data import Report, build_report
from app.reports.tables import study_tables, workbook_bytes
from app.services import exports
from app.services.snapshots import POOLING_EPS
from app.services.tidy import tidy_answers
from tests.reports.helpers import (
    CANARY_EMAIL_DOMAIN,
    CANARY_NAME,
    HOSTILE_REASONS,
    ScriptedStudy,
    scripted_study,
)


@pytest.fixture
def scripted(session: Session, example_study: Study, facilitator_user: User) -> ScriptedStudy:
    """The example study (k = 5) with two closed rounds answered by 8 scripted experts."""
    return scripted_study(session, example_study, facilitator_user)


@pytest.fixture
def report(app: Flask, session: Session, scripted: ScriptedStudy) -> Iterator[Report]:
    """The study's report data, inside a request context (as the web and CLI render it)."""
    with app.test_request_context():
        yield build_report(session, scripted.study, now=utcnow())


def _values(
    session: Session, study: Study, item: str, question: str, part: str = ""
) -> list[float]:
    """Raw answers of the last round to one part (to check the report against analysis/)."""
    frame = tidy_answers(session, study)
    rows = frame[
        (frame["round"] == frame["round"].max())
        & (frame["item"] == item)
        & (frame["question"] == question)
        & (frame["part"] == part)
        & frame["value"].notna()
    ]
    return rows["value"].astype(float).tolist()


def _forbidden(scripted: ScriptedStudy) -> list[str]:
    """Strings no anonymous output may contain: names, emails, tokens and their hashes."""
    return [
        CANARY_NAME,
        CANARY_EMAIL_DOMAIN,
        *scripted.tokens,
        *(hashlib.sha256(t.encode()).hexdigest() for t in scripted.tokens),
    ]


@pytest.mark.slow
def test_pdf_states_criteria_before_results_and_matches_the_analysis(
    session: Session, scripted: ScriptedStudy, report: Report
) -> None:
    pdf = render.render_pdf(report)
    pages = [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]
    text = "\n".join(pages)
    assert len(pages) >= 8
    assert "Water supply of a large city to 2040" in pages[0]
    assert "CONSENSUS REPORT" in pages[0].upper()
    assert re.search(rf"\b2 / {len(pages)}\b", pages[1]), "page numbers 'n / total'"
    contents = next(i for i, p in enumerate(pages) if "Contents" in p)
    criteria = next(i for i, p in enumerate(pages) if "2. Consensus criteria" in p and i > contents)
    results = next(i for i, p in enumerate(pages) if "4. Results at a glance" in p and i > contents)
    assert criteria < results
    assert "pct_agree >= 0.75 and iqr <= 1" in pages[criteria]
    # E01's pooled probability and median impact, recomputed with analysis/ from raw answers
    probability = pool(
        np.array(_values(session, scripted.study, "E01", "probability")) / 100,
        method="logodds",
        eps=POOLING_EPS,
    ).p
    impact = float(np.median(_values(session, scripted.study, "E01", "impact")))
    overview = "\n".join(pages[results : results + 2])
    e01 = overview[overview.index("\nE01 ") : overview.index("\nE02 ")]
    assert render.fmt(probability * 100) in e01
    assert render.fmt(impact) in e01
    # the scenario section names each method, and the methods appendix gives the seed
    assert "SMIC" in text and "Maximum entropy" in text and "Cross-impact" in text
    assert (
        f"Random seed: {report.scenarios.seed}" in text.replace("\n", " ")
        if report.scenarios
        else False
    )
    # wording appendix in every language of the study (Persian shaped, Russian in Cyrillic)
    assert "Опреснительная установка снабжает город" in text
    for forbidden in _forbidden(scripted):
        assert forbidden not in text
    # 3 academics (< k): no statistic of their group, nor (it could be subtracted out) the other
    assert not re.search(r"(Academia|Utility): [-−\d]", text)
    assert "Academia" in text  # counts of people per group are shown (panel composition)


def test_html_report_is_self_contained_escaped_and_has_real_charts(
    scripted: ScriptedStudy, report: Report
) -> None:
    html = render.render_html(report)
    assert html.startswith("<!doctype html>")
    assert "<script" not in html
    assert "&lt;script&gt;alert" in html  # the hostile reason is shown as text
    assert "{{7*7}}" in html  # and never evaluated as a template
    images = re.findall(r'<img src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert len(images) >= 10
    for encoded in images:
        svg = ET.fromstring(base64.b64decode(encoded))  # noqa: S314 - SVG the report made
        assert svg.tag.endswith("svg")
        assert svg.find("{http://www.w3.org/2000/svg}title") is not None
    assert 'src="http' not in html and 'href="http' not in html.replace(
        'href="http://www.w3.org', ""
    )
    for forbidden in _forbidden(scripted):
        assert forbidden not in html


def test_xlsx_has_one_sheet_per_table_matching_the_data(
    session: Session, scripted: ScriptedStudy, report: Report
) -> None:
    content = workbook_bytes(study_tables(session, report))
    book = load_workbook(io.BytesIO(content))
    assert book.sheetnames[:4] == ["Answers", "Items", "Statistics", "Groups"]
    assert {"Rounds", "Panel", "Scenarios", "Scenario ranking", "Trend impact", "Methods"} <= set(
        book.sheetnames
    )
    answers = list(book["Answers"].iter_rows(values_only=True))
    assert answers[0] == exports.ANONYMOUS_COLUMNS
    expected = exports.answer_rows(session, scripted.study)
    assert len(answers) - 1 == len(expected)
    header = answers[0]
    by_key = {(r[0], r[1], r[3], r[5], r[6] or ""): r for r in answers[1:]}
    for row in expected:
        cells = by_key[(row["round"], row["expert"], row["item"], row["question"], row["part"])]
        if row["value"] is not None:
            assert cells[header.index("value")] == pytest.approx(row["value"])
            assert isinstance(cells[header.index("value")], (int, float))
    texts = {
        r[header.index("text")] for r in answers[1:] if r[header.index("question")] == "reason"
    }
    assert {"'" + t for t in HOSTILE_REASONS[:4]} <= texts
    statistics = list(book["Statistics"].iter_rows(values_only=True))
    columns = statistics[0]
    e01 = next(
        r
        for r in statistics[1:]
        if r[columns.index("round")] == 2
        and r[columns.index("item")] == "E01"
        and r[columns.index("question")] == "probability"
    )
    values = _values(session, scripted.study, "E01", "probability")
    assert e01[columns.index("median")] == pytest.approx(float(np.median(values)))
    assert e01[columns.index("pooled_logodds")] == pytest.approx(
        100 * pool(np.array(values) / 100, method="logodds", eps=POOLING_EPS).p
    )
    every_cell = " ".join(
        str(c)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for c in row
    )
    for forbidden in _forbidden(scripted):
        assert forbidden not in every_cell


def test_cli_writes_every_format(app: Flask, scripted: ScriptedStudy, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    for fmt in ("csv", "json", "xlsx", "html"):
        out = tmp_path / f"report.{fmt}"
        result = runner.invoke(args=["report", "water-2040", "--format", fmt, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert f"Wrote {out}" in result.output
        content = out.read_bytes()
        assert content
        for forbidden in _forbidden(scripted):
            assert forbidden.encode() not in content
    assert (tmp_path / "report.json").read_bytes().startswith(b'{"format":"delphi-study-archive"')
    missing = runner.invoke(
        args=["report", "no-such-study", "--format", "csv", "--out", str(tmp_path / "x")]
    )
    assert missing.exit_code == 1 and "No study" in missing.output
    refused = runner.invoke(
        args=[
            "report",
            "water-2040",
            "--format",
            "csv",
            "--identified",
            "--out",
            str(tmp_path / "y"),
        ]
    )
    assert refused.exit_code == 1
    assert not (tmp_path / "y").exists()


def test_cli_import_refuses_a_damaged_archive(
    app: Flask, session: Session, scripted: ScriptedStudy, tmp_path: Path
) -> None:
    raw = exports.export_archive(session, scripted.study)
    damaged = tmp_path / "damaged.json"
    damaged.write_bytes(raw.replace(b'"k":5', b'"k":3', 1))
    result = app.test_cli_runner().invoke(args=["archive", "import", str(damaged)])
    assert result.exit_code == 1
    assert "checksum" in result.output and "Nothing was imported" in result.output
    assert session.scalar(select(func.count()).select_from(Study)) == 1


def test_report_shows_coherence_by_pseudonym_and_both_scenario_poolings(
    session: Session, scripted: ScriptedStudy, report: Report
) -> None:
    assert report.scenarios is not None
    pseudonyms = {row["expert"] for row in report.scenarios.coherence_experts}
    assert pseudonyms == set(tidy_answers(session, scripted.study)["expert"])
    html = render.render_html(report)
    assert "Coherence of each expert" in html
    for pseudonym in pseudonyms:
        assert f'<td class="key">{pseudonym}</td>' in html
    # the named scenarios table has a column per pooling, side by side
    assert "SMIC per expert" in html
    assert "Unasked conditional pairs are unknown" in html
    for forbidden in _forbidden(scripted):
        assert forbidden not in html
    book = load_workbook(io.BytesIO(workbook_bytes(study_tables(session, report))))
    rows = list(book["Expert coherence"].iter_rows(values_only=True))
    assert rows[0][:3] == ("expert", "checks", "violations")
    assert {r[0] for r in rows[1:]} == pseudonyms | {"panel"}
    methods = {r[0] for r in list(book["Scenario ranking"].iter_rows(values_only=True))[1:]}
    assert {"smic", "smic_experts"} <= methods
