"""Reports and spreadsheets built in the background and kept per snapshot, language and format:
served from the kept file, stale after an edit, built for every language and format at a close,
a progress page and its JSON, failures with a way to try again, and `flask report` on the cache.

Jobs run at commit in tests (the immediate queue); tests/reliability/test_report_worker.py runs
a real worker on Redis and kills it mid-build.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.jobs import reports as report_jobs
from app.jobs.runner import run_job
from app.models import AuditEvent, Job, JobStatus, ReportFile, Study, User
from app.services import report_files, resolutions, rounds
from tests.conftest import NOW, csrf_from, login
from tests.reports.helpers import ScriptedStudy, answer_item, scripted_study


@pytest.fixture
def scripted(session: Session, example_study: Study, facilitator_user: User) -> ScriptedStudy:
    """The example study with one closed round (small: its builds are quick)."""
    return scripted_study(session, example_study, facilitator_user, closed_rounds=1)


@pytest.fixture
def facilitator_client(client: FlaskClient, facilitator_user: User) -> FlaskClient:
    """A client logged in as the study's owner."""
    login(client)
    return client


@pytest.fixture
def builds_counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """Every real build made, as (language, format)."""
    made: list[tuple[str, str]] = []
    real = report_jobs.build_content

    def counting(*args: object, **kwargs: object) -> bytes:
        made.append((str(args[2]), str(args[3])))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(report_jobs, "build_content", counting)
    yield made


def _count(session: Session, model: type, *where: object) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_a_kept_report_is_served_again_without_building(
    facilitator_client: FlaskClient,
    session: Session,
    scripted: ScriptedStudy,
    builds_counted: list[tuple[str, str]],
) -> None:
    study = scripted.study
    url = f"/f/studies/{study.id}/results/report.html"
    first = facilitator_client.get(url)
    assert first.status_code == 200  # built at commit (immediate queue), served at once
    assert first.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert builds_counted == [("en", "html")]
    again = facilitator_client.get(url)
    assert again.status_code == 200 and again.get_data() == first.get_data()
    assert builds_counted == [("en", "html")], "the second download built nothing"
    assert _count(session, Job, Job.kind == "report") == 1
    kept = session.scalars(select(ReportFile)).one()
    assert (kept.language, kept.format, kept.size) == ("en", "html", len(first.get_data()))
    download = facilitator_client.get(url + "?download=1")
    assert (
        download.headers["Content-Disposition"] == f'attachment; filename="{study.key}-report.html"'
    )
    assert builds_counted == [("en", "html")]


def test_an_edit_makes_the_kept_file_stale_and_it_is_built_again(
    facilitator_client: FlaskClient,
    session: Session,
    scripted: ScriptedStudy,
    builds_counted: list[tuple[str, str]],
) -> None:
    study = scripted.study
    url = f"/f/studies/{study.id}/results/report.html"
    before = facilitator_client.get(url).get_data()
    old = session.scalars(select(ReportFile)).one()
    old_fingerprint = old.fingerprint
    assert report_files.cached_file(session, study, "en", "html") is not None
    study.answers_withdrawn += 1  # an expert withdrew: the report counts it
    session.commit()
    assert report_files.fingerprint(session, study) != old_fingerprint
    assert report_files.cached_file(session, study, "en", "html") is None, "stale: never served"
    after = facilitator_client.get(url)
    assert after.status_code == 200 and after.get_data() != before
    assert builds_counted == [("en", "html"), ("en", "html")]
    session.expire_all()
    kept = session.scalars(select(ReportFile)).one()  # replaced, not added
    assert kept.fingerprint == report_files.fingerprint(session, study)
    # the study record is read too: editing it makes the file stale again
    study.record = {**(study.record or {}), "funding": {"en": "A new grant"}}
    session.commit()
    assert report_files.cached_file(session, study, "en", "html") is None
    # and so does an outcome recorded after the close (the forecast scores use it)
    before_outcome = report_files.fingerprint(session, study)
    resolutions.record_outcome(
        session,
        study,
        "E01",
        occurred=True,
        on=NOW.date(),
        source="The city's water report",
        actor=None,
        now=NOW,
    )
    session.commit()
    assert report_files.fingerprint(session, study) != before_outcome
    # while what the report does not read changes nothing (an audit entry, a schedule setting)
    unchanged = report_files.fingerprint(session, study)
    study.reminder_days = [7, 2]
    session.commit()
    assert report_files.fingerprint(session, study) == unchanged


@pytest.mark.slow
def test_closing_a_round_builds_every_language_and_format(
    app: Flask,
    facilitator_client: FlaskClient,
    session: Session,
    scripted: ScriptedStudy,
    facilitator_user: User,
    builds_counted: list[tuple[str, str]],
) -> None:
    study = scripted.study
    moment = NOW - timedelta(days=5)
    round_ = rounds.create_round(session, study, actor=facilitator_user, now=moment)
    rounds.open_round(session, round_, actor=facilitator_user, now=moment)
    rng = random.Random(3)
    for index, (participation, _token) in enumerate(scripted.members):
        for round_item in round_.items:
            answer_item(session, participation, round_, round_item.item, index, rng)
    session.commit()
    app.config["BUILD_REPORTS_ON_CLOSE"] = True
    page = facilitator_client.get(f"/f/studies/{study.id}/rounds/2/close")
    closed = facilitator_client.post(
        f"/f/studies/{study.id}/rounds/2/close",
        data={"csrf_token": csrf_from(page.get_data(as_text=True))},
    )
    assert closed.status_code == 303
    expected = {(language, fmt) for language in study.languages for fmt in report_files.FORMATS}
    assert set(builds_counted) == expected and len(builds_counted) == len(expected)
    session.expire_all()
    snapshot = round_.snapshot
    assert snapshot is not None
    files = session.scalars(select(ReportFile)).all()
    assert {(f.language, f.format) for f in files} == expected
    assert {f.snapshot_id for f in files} == {snapshot.id}
    jobs = session.scalars(select(Job).where(Job.kind == "report")).all()
    assert {j.status for j in jobs} == {JobStatus.DONE} and len(jobs) == len(expected)
    # the overview lists them, and downloads come from them without building
    overview = facilitator_client.get(f"/f/studies/{study.id}/results").get_data(as_text=True)
    assert "Built files of round 2" in overview and "not built" not in overview
    pdf = facilitator_client.get(f"/f/studies/{study.id}/results/report.pdf?language=en")
    assert pdf.status_code == 200 and pdf.get_data().startswith(b"%PDF")
    xlsx_page = facilitator_client.get(f"/f/studies/{study.id}/results")
    xlsx = facilitator_client.post(
        f"/f/studies/{study.id}/results/export",
        data={"csrf_token": csrf_from(xlsx_page.get_data(as_text=True)), "format": "xlsx"},
    )
    assert xlsx.status_code == 200
    assert load_workbook(io.BytesIO(xlsx.get_data())).sheetnames
    assert len(builds_counted) == len(expected), "served from the kept files"
    # still audited like any download
    assert _count(session, AuditEvent, AuditEvent.action == "export") == 1


def test_progress_page_and_json_follow_a_build(
    facilitator_client: FlaskClient, session: Session, scripted: ScriptedStudy
) -> None:
    study = scripted.study
    # a build someone else asked for, not yet taken by a worker
    job = report_files.request_build(session, study, "en", "pdf", None, NOW)
    session.info.pop(report_files.RUN_AFTER_COMMIT, None)  # no worker takes it in this test
    session.commit()
    response = facilitator_client.get(f"/f/studies/{study.id}/results/report.pdf")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/f/studies/{study.id}/jobs/{job.id}")
    page = facilitator_client.get(f"/f/studies/{study.id}/jobs/{job.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'http-equiv="refresh"' in html and "js/job.js" in html
    assert "Waiting for a worker" in html
    state = facilitator_client.get(f"/f/studies/{study.id}/jobs/{job.id}.json").get_json()
    assert state["status"] == "queued" and state["progress"] == 0 and state["download"] is None
    run_job(job.id)  # a worker takes it
    session.rollback()  # the test's session is the requests' one: end its reading transaction
    state = facilitator_client.get(f"/f/studies/{study.id}/jobs/{job.id}.json").get_json()
    assert state["status"] == "done" and state["progress"] == 100
    assert state["download"].startswith(f"/f/studies/{study.id}/results/report.pdf")
    done = facilitator_client.get(f"/f/studies/{study.id}/jobs/{job.id}").get_data(as_text=True)
    assert "Ready." in done and 'http-equiv="refresh"' not in done
    assert facilitator_client.get(state["download"]).get_data().startswith(b"%PDF")
    # another study's job is not found
    assert facilitator_client.get(f"/f/studies/{study.id + 1}/jobs/{job.id}").status_code == 404


def test_a_failed_build_shows_its_message_and_can_be_tried_again(
    facilitator_client: FlaskClient,
    session: Session,
    scripted: ScriptedStudy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    study = scripted.study

    def broken(*_args: object, **_kwargs: object) -> bytes:
        raise report_jobs.JobError("The charts could not be drawn: the disk is full.")

    monkeypatch.setattr(report_jobs, "build_content", broken)
    response = facilitator_client.get(f"/f/studies/{study.id}/results/report.html")
    assert response.status_code == 303
    session.rollback()  # the test's session is the requests' one: end its reading transaction
    job = session.scalars(select(Job)).one()
    session.refresh(job)
    assert job.status == JobStatus.QUEUED and job.attempts == 1  # retried later
    run_job(job.id)
    run_job(job.id)  # out of attempts
    session.rollback()
    session.refresh(job)
    assert job.status == JobStatus.FAILED and job.attempts == 3
    page = facilitator_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "the disk is full" in page and "Try again" in page
    assert report_files.cached_file(session, study, "en", "html") is None
    monkeypatch.undo()
    again = facilitator_client.post(
        f"/f/studies/{study.id}/results/builds",
        data={"csrf_token": csrf_from(page), "language": "en", "format": "html"},
    )
    assert again.status_code == 303
    follow = facilitator_client.get(again.headers["Location"]).get_data(as_text=True)
    assert "Ready." in follow
    assert report_files.cached_file(session, study, "en", "html") is not None
    bad = facilitator_client.post(
        f"/f/studies/{study.id}/results/builds",
        data={"csrf_token": csrf_from(page), "language": "xx", "format": "html"},
    )
    assert bad.status_code == 400


def test_flask_report_uses_the_kept_file_and_prints_stages(
    app: Flask,
    session: Session,
    scripted: ScriptedStudy,
    tmp_path: Path,
    builds_counted: list[tuple[str, str]],
) -> None:
    runner = app.test_cli_runner()
    out = tmp_path / "report.html"
    first = runner.invoke(
        args=["report", scripted.study.key, "--format", "html", "--out", str(out)]
    )
    assert first.exit_code == 0, first.output
    assert "Collecting the data" in first.stderr and "Drawing the charts" in first.stderr
    assert builds_counted == [("en", "html")]
    built = out.read_bytes()
    second = runner.invoke(
        args=["report", scripted.study.key, "--format", "html", "--out", str(out)]
    )
    assert second.exit_code == 0 and "Using the HTML built at" in second.stderr
    assert out.read_bytes() == built and builds_counted == [("en", "html")]
    forced = runner.invoke(
        args=["report", scripted.study.key, "--format", "html", "--out", str(out), "--rebuild"]
    )
    assert forced.exit_code == 0 and len(builds_counted) == 2
    session.expire_all()
    assert _count(session, ReportFile) == 1


def test_builds_after_a_close_are_skipped_when_the_setting_is_off(
    app: Flask,
    session: Session,
    scripted: ScriptedStudy,
    builds_counted: list[tuple[str, str]],
) -> None:
    # the scheduled close at the deadline calls the hook without looking at the setting
    assert app.config["BUILD_REPORTS_ON_CLOSE"] is False
    snapshot = scripted.rounds[-1].snapshot
    assert snapshot is not None
    jobs = report_files.request_builds_after_close(session, scripted.study, snapshot, NOW)
    assert len(jobs) == len(scripted.study.languages) * len(report_files.FORMATS)
    session.commit()
    session.expire_all()
    assert builds_counted == [] and _count(session, ReportFile) == 0
    assert {j.status for j in session.scalars(select(Job))} == {JobStatus.DONE}
    # asked for on its own, the file is built
    report_files.request_build(session, scripted.study, "en", "html", None, NOW)
    session.commit()
    assert builds_counted == [("en", "html")]
