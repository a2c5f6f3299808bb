"""`flask report --round N`: the report as of an earlier closed round, kept per that round's
snapshot; a round that is not closed is one clear line and exit status 2."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ReportFile, Round, Study, User
from app.services import rounds
from tests.conftest import NOW
from tests.reports.helpers import ScriptedStudy, answer_next_round, scripted_study


@pytest.fixture
def scripted(session: Session, example_study: Study, facilitator_user: User) -> ScriptedStudy:
    """Rounds 1-2 closed with 8 experts, round 3 closed with 3 (k = 5)."""
    found = scripted_study(session, example_study, facilitator_user)
    third = answer_next_round(session, found, answering=3)
    rounds.close_round(session, third, actor=None, now=NOW + timedelta(hours=1))
    session.commit()
    return found


def _snapshot_id(session: Session, study: Study, number: int) -> int:
    """The snapshot id of a round of the study."""
    found = session.scalars(
        select(Round).where(Round.study_id == study.id, Round.number == number)
    ).one()
    assert found.snapshot is not None
    return found.snapshot.id


def test_flask_report_round_writes_that_rounds_report_and_keeps_it(
    app: Flask, session: Session, scripted: ScriptedStudy, tmp_path: Path
) -> None:
    study = scripted.study
    out = tmp_path / "round-2.html"
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["report", study.key, "--format", "html", "--out", str(out), "--round", "2"]
    )
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    # round 2's table of rounds ends at round 2, with its own 8 respondents
    assert "<html" in html
    session.expire_all()
    kept = session.scalars(select(ReportFile)).one()
    assert kept.snapshot_id == _snapshot_id(session, study, 2)
    assert kept.filename == f"{study.key}-round-2-report.html"
    again = runner.invoke(
        args=["report", study.key, "--format", "html", "--out", str(out), "--round", "2"]
    )
    assert again.exit_code == 0 and "Using the HTML built at" in again.output


@pytest.mark.parametrize(
    ("arguments", "line"),
    [
        pytest.param(
            ["--format", "pdf", "--round", "7"],
            "Round 7 is not a closed round of 'water-2040' (closed: 1, 2, 3).",
            id="no-such-round",
        ),
        pytest.param(
            ["--format", "csv", "--round", "2"],
            "--round applies to the report and the spreadsheet (html, pdf, xlsx).",
            id="not-a-report",
        ),
    ],
)
def test_flask_report_with_a_bad_round_says_so_in_one_line_and_exits_2(
    app: Flask, scripted: ScriptedStudy, tmp_path: Path, arguments: list[str], line: str
) -> None:
    out = tmp_path / "report.out"
    result = app.test_cli_runner().invoke(
        args=["report", scripted.study.key, "--out", str(out), *arguments]
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == line
    assert not out.exists()
