"""The facilitator's pages between rounds: the close page says what k would withhold and asks
for the round number, the round limit is raised on the rounds page (audited), and results,
reports and spreadsheets exist for any closed round, counted as of that round."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditEvent, ReportFile, Round, RoundState, Study, User
from app.services import report_files, rounds, studies
from tests.conftest import NOW, csrf_from, make_user
from tests.facilitator_world import sign_in
from tests.reports.helpers import ScriptedStudy, answer_next_round, scripted_study


@pytest.fixture
def scripted(session: Session, example_study: Study, facilitator_user: User) -> ScriptedStudy:
    """The example study (k = 5, at most 3 rounds), 8 experts in two groups, rounds 1-2 closed."""
    return scripted_study(session, example_study, facilitator_user)


@pytest.fixture
def owner(client: FlaskClient, facilitator_user: User) -> FlaskClient:
    """The study's owner, logged in."""
    sign_in(client)
    return client


def _third_closed_under_k(session: Session, scripted: ScriptedStudy) -> Round:
    """Round 3 answered by 3 experts (k = 5) and closed."""
    third = answer_next_round(session, scripted, answering=3)
    rounds.close_round(session, third, actor=None, now=NOW + timedelta(hours=1))
    session.commit()
    return third


def test_the_close_page_lists_what_k_withholds_and_wants_the_round_number(
    owner: FlaskClient, session: Session, scripted: ScriptedStudy
) -> None:
    third = answer_next_round(session, scripted, answering=3)
    study_id = scripted.study.id
    url = f"/f/studies/{study_id}/rounds/3/close"
    page = owner.get(url).get_data(as_text=True)
    assert 'id="k-guard"' in page and 'id="withheld"' in page
    assert "If you close now, these figures are withheld for good (fewer than 5 answers):" in page
    assert re.search(r"\d+ of \d+ rated items entirely: E01, E02", page)
    # the way out: a later deadline, posted to the deadline form of the rounds page
    assert f'action="/f/studies/{study_id}/rounds/3/deadline"' in page
    assert 'name="confirm"' in page
    token = csrf_from(page)

    refused = owner.post(url, data={"csrf_token": token})
    assert refused.status_code == 422
    assert "Type 3 to close round 3 although figures will be withheld." in refused.get_data(
        as_text=True
    )
    wrong = owner.post(url, data={"csrf_token": token, "confirm": "2"})
    assert wrong.status_code == 422
    session.expire_all()
    assert third.state == RoundState.OPEN

    closed = owner.post(url, data={"csrf_token": token, "confirm": "3"})
    assert closed.status_code == 303
    session.expire_all()
    assert third.state == RoundState.CLOSED and third.snapshot is not None


def test_a_round_with_k_answers_everywhere_closes_without_typing(
    owner: FlaskClient, session: Session, scripted: ScriptedStudy
) -> None:
    third = answer_next_round(session, scripted, answering=8)
    url = f"/f/studies/{scripted.study.id}/rounds/3/close"
    page = owner.get(url).get_data(as_text=True)
    # the groups are still named (Academia has 3 experts), but nothing needs typing
    assert "group Academia on" in page and 'name="confirm"' not in page
    closed = owner.post(url, data={"csrf_token": csrf_from(page)})
    assert closed.status_code == 303
    session.expire_all()
    assert third.state == RoundState.CLOSED


def test_the_owner_raises_the_round_limit_and_the_audit_log_shows_it(
    app: Flask, owner: FlaskClient, session: Session, scripted: ScriptedStudy
) -> None:
    _third_closed_under_k(session, scripted)
    study_id = scripted.study.id
    page = owner.get(f"/f/studies/{study_id}/rounds").get_data(as_text=True)
    # the limit blocks round 4: the form to raise it is unfolded
    assert "pre-registered limit" in page and '<details class="raise-limit" open>' in page
    token = csrf_from(page)
    url = f"/f/studies/{study_id}/rounds/limit"

    refused = owner.post(url, data={"csrf_token": token, "limit": "4", "reason": ""})
    assert refused.status_code == 303
    session.expire_all()
    assert scripted.study.round_limit == 3

    raised = owner.post(
        url, data={"csrf_token": token, "limit": "4", "reason": "E02 splits the panel"}
    )
    assert raised.status_code == 303
    session.expire_all()
    assert scripted.study.round_limit == 4
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "study.round_limit")
    ).one()
    assert (event.details["old"], event.details["new"], event.reason) == (
        3,
        4,
        "E02 splits the panel",
    )
    log = owner.get(f"/f/studies/{study_id}/audit").get_data(as_text=True)
    assert "study.round_limit" in log and "E02 splits the panel" in log
    page = owner.get(f"/f/studies/{study_id}/rounds").get_data(as_text=True)
    assert "Prepare round 4" in page and '<details class="raise-limit">' in page


def test_a_member_who_is_not_an_owner_cannot_raise_the_limit(
    app: Flask, session: Session, scripted: ScriptedStudy, facilitator_user: User
) -> None:
    _third_closed_under_k(session, scripted)
    member = make_user(session, "member@example.org")
    studies.add_member(session, scripted.study, member, actor=facilitator_user, now=NOW)
    session.commit()
    client = app.test_client()
    sign_in(client, "member@example.org")
    page = client.get(f"/f/studies/{scripted.study.id}/rounds").get_data(as_text=True)
    assert 'id="raise-limit"' not in page
    response = client.post(
        f"/f/studies/{scripted.study.id}/rounds/limit",
        data={"csrf_token": csrf_from(page), "limit": "4", "reason": "more"},
    )
    assert response.status_code == 403
    session.expire_all()
    assert scripted.study.round_limit == 3


def _answered(page: str) -> tuple[str, str]:
    """(count, label) of the overview's "answered round N" key figure."""
    found = re.search(
        r'<div class="value">([^<]*)</div><p class="label">(answered round \d+)</p>', page
    )
    assert found is not None
    return found.group(1), found.group(2)


def test_results_and_report_of_round_two_after_round_three_closed(
    owner: FlaskClient, session: Session, scripted: ScriptedStudy
) -> None:
    _third_closed_under_k(session, scripted)
    study = scripted.study
    base = f"/f/studies/{study.id}/results"
    latest = owner.get(base).get_data(as_text=True)
    assert _answered(latest) == ("3", "answered round 3")
    assert "fewer than 5 answers" in latest
    as_of_two = owner.get(f"{base}?round=2").get_data(as_text=True)
    assert _answered(as_of_two) == ("8", "answered round 2")
    # the downloads of that page are round 2's
    assert f"{base}/report.pdf?language=en&amp;round=2" in as_of_two
    assert owner.get(f"{base}?round=9").status_code == 404

    report = owner.get(f"{base}/report.html?round=2")
    assert report.status_code == 200 and "<html" in report.get_data(as_text=True)
    assert owner.get(f"{base}/report.html?round=9").status_code == 404
    second = session.scalars(
        select(Round).where(Round.study_id == study.id, Round.number == 2)
    ).one()
    assert second.snapshot is not None
    kept = session.scalars(
        select(ReportFile).where(ReportFile.snapshot_id == second.snapshot.id)
    ).one()
    assert (kept.format, kept.filename) == ("html", f"{study.key}-round-2-report.html")
    # the kept file is served again, not rebuilt; the latest round's file is another one
    assert owner.get(f"{base}/report.html?round=2").get_data() == report.get_data()
    assert report_files.cached_file(session, study, "en", "html") is None

    page = owner.get(f"{base}?round=2").get_data(as_text=True)
    sheet = owner.post(
        f"{base}/export", data={"csrf_token": csrf_from(page), "format": "xlsx", "round": "2"}
    )
    assert sheet.status_code == 200
    assert sheet.headers["Content-Disposition"].endswith(f'filename="{study.key}-round-2.xlsx"')
    bad = owner.post(
        f"{base}/export", data={"csrf_token": csrf_from(page), "format": "xlsx", "round": "9"}
    )
    assert bad.status_code == 404
