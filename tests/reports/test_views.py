"""Facilitator result pages, downloads (audited, POST only), archive import and the expert's report."""

from __future__ import annotations

import csv
import io

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.definitions.model import Anonymity
from app.models import AuditEvent, Role, Study, User
from app.services import exports
from tests.conftest import csrf_from, enter_link, login, make_user
from tests.reports.helpers import CANARY_EMAIL_DOMAIN, CANARY_NAME, ScriptedStudy, scripted_study


@pytest.fixture
def scripted(session: Session, example_study: Study, facilitator_user: User) -> ScriptedStudy:
    """The example study with two closed rounds."""
    return scripted_study(session, example_study, facilitator_user)


@pytest.fixture
def facilitator_client(client: FlaskClient, facilitator_user: User) -> FlaskClient:
    """A client logged in as the study's owner."""
    login(client)
    return client


def _csrf(client: FlaskClient, study: Study) -> str:
    return csrf_from(client.get(f"/f/studies/{study.id}/results").get_data(as_text=True))


def test_overview_item_and_scenario_pages(
    facilitator_client: FlaskClient, scripted: ScriptedStudy
) -> None:
    study = scripted.study
    page = facilitator_client.get(f"/f/studies/{study.id}/results")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"/f/studies/{study.id}/results/items/E01" in html
    assert "Percent agreement + IQR" in html  # the presets are named beside the study's rule
    assert 'src="data:image/svg+xml;base64,' in html
    assert CANARY_NAME not in html and CANARY_EMAIL_DOMAIN not in html
    earlier = facilitator_client.get(f"/f/studies/{study.id}/results?round=1")
    assert earlier.status_code == 200
    assert facilitator_client.get(f"/f/studies/{study.id}/results?round=9").status_code == 404
    item = facilitator_client.get(f"/f/studies/{study.id}/results/items/E01")
    assert item.status_code == 200
    item_html = item.get_data(as_text=True)
    assert "Wilcoxon" in item_html and "By group, round 2" in item_html
    assert "hidden: fewer than 5 answers" in item_html  # 3 academics: never shown
    assert facilitator_client.get(f"/f/studies/{study.id}/results/items/NOPE").status_code == 404
    scenarios = facilitator_client.get(f"/f/studies/{study.id}/results/scenarios")
    assert scenarios.status_code == 200
    text = scenarios.get_data(as_text=True)
    assert "E01 and not E03" in text and "Trend impact: T01" in text
    assert "SMIC per expert" in text and "Coherence of each expert" in text
    assert "not asked (unknown: no constraint" in text


def test_results_before_any_round_closed(
    facilitator_client: FlaskClient, example_study: Study
) -> None:
    page = facilitator_client.get(f"/f/studies/{example_study.id}/results")
    assert page.status_code == 200
    assert "No results yet" in page.get_data(as_text=True)
    assert (
        facilitator_client.get(f"/f/studies/{example_study.id}/results/report.pdf").status_code
        == 409  # a clear "no round has closed yet", not "not found"
    )


def test_other_facilitators_see_nothing(
    client: FlaskClient, session: Session, scripted: ScriptedStudy
) -> None:
    make_user(session, "other@example.org")
    login(client, "other@example.org")
    study = scripted.study
    for path in ("/results", "/results/items/E01", "/results/scenarios", "/results/report.html"):
        assert client.get(f"/f/studies/{study.id}{path}").status_code == 404


def test_html_report_runs_no_scripts(
    facilitator_client: FlaskClient, scripted: ScriptedStudy
) -> None:
    response = facilitator_client.get(f"/f/studies/{scripted.study.id}/results/report.html")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "Consensus criteria" in response.get_data(as_text=True)
    # one charset, not "text/html; charset=utf-8; charset=utf-8"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"


def test_persian_report_names_round_states_and_rules_in_persian(
    facilitator_client: FlaskClient, scripted: ScriptedStudy
) -> None:
    url = f"/f/studies/{scripted.study.id}/results/report.html?language=fa"
    html = facilitator_client.get(url).get_data(as_text=True)
    flow = html[html.index("<td>۱</td>") :][:400]  # round 1's row of the round table
    assert "<td>بسته</td>" in flow and "closed" not in flow
    # the rule in words, the survey file's text kept beside it for the record
    assert '<code class="small" dir="ltr">pct_agree' in html


def test_downloads_are_post_only_and_audited(
    facilitator_client: FlaskClient, session: Session, scripted: ScriptedStudy
) -> None:
    study = scripted.study
    url = f"/f/studies/{study.id}/results/export"
    assert facilitator_client.get(url).status_code == 405
    assert facilitator_client.post(url, data={"format": "csv"}).status_code == 400  # no CSRF token
    assert (
        session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "export")
        )
        == 0
    )
    response = facilitator_client.post(
        url, data={"format": "csv", "csrf_token": _csrf(facilitator_client, study)}
    )
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="water-2040.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert set(rows[0]) == set(exports.ANONYMOUS_COLUMNS)
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "export"))
    assert event is not None and event.target == "csv" and event.details["identified"] is False
    archive = facilitator_client.post(
        url, data={"format": "json", "csrf_token": _csrf(facilitator_client, study)}
    )
    assert archive.get_data() == exports.export_archive(session, study)


def test_identified_export_only_for_admins_of_confidential_studies(
    client: FlaskClient, session: Session, scripted: ScriptedStudy, facilitator_user: User
) -> None:
    study = scripted.study
    url = f"/f/studies/{study.id}/results/export/identified"
    login(client)
    token = _csrf(client, study)
    assert (
        client.post(url, data={"format": "csv", "reason": "x", "csrf_token": token}).status_code
        == 403
    )
    client.post("/account/logout", data={"csrf_token": token})
    make_user(session, "admin@example.org", Role.ADMIN)
    login(client, "admin@example.org")
    token = _csrf(client, study)
    # the study is anonymous: not even an administrator can export names
    assert (
        client.post(url, data={"format": "csv", "reason": "x", "csrf_token": token}).status_code
        == 403
    )
    study.anonymity = Anonymity.CONFIDENTIAL
    session.commit()
    page = client.get(f"/f/studies/{study.id}/results").get_data(as_text=True)
    assert "Download with names" in page
    without_reason = client.post(
        url, data={"format": "csv", "reason": "", "csrf_token": csrf_from(page)}
    )
    assert without_reason.status_code == 303
    response = client.post(
        url, data={"format": "csv", "reason": "ethics review", "csrf_token": csrf_from(page)}
    )
    assert response.status_code == 200
    assert CANARY_NAME in response.get_data(as_text=True)
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "export.identified"))
    assert event is not None and event.reason == "ethics review"


def test_archive_import_page_refuses_what_it_cannot_import(
    facilitator_client: FlaskClient, session: Session, scripted: ScriptedStudy
) -> None:
    raw = exports.export_archive(session, scripted.study)
    page = facilitator_client.get("/f/archives/import")
    token = csrf_from(page.get_data(as_text=True))
    for content, message in (
        (raw, "exists already"),
        (raw.replace(b'"horizon":2040', b'"horizon":2050'), "checksum"),
    ):
        response = facilitator_client.post(
            "/f/archives/import",
            data={"csrf_token": token, "archive": (io.BytesIO(content), "study.json")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Study)) == 1


def test_expert_report_shows_own_answers_against_the_panel(
    client: FlaskClient, session: Session, scripted: ScriptedStudy
) -> None:
    _participation, token = scripted.members[0]
    enter_link(client, token)
    home = client.get("/e/").get_data(as_text=True)
    assert "/e/report" in home
    page = client.get("/e/report")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Round 2" in html and "Round 1" in html
    assert "Panel median" in html and "Your answer" in html
    assert CANARY_NAME not in html
    # no pseudonyms either, not even the expert's own: the panel is anonymous to experts
    # (searched for by name: a random token on the page may hold "P-")
    pseudonyms = [participation.pseudonym for participation, _token in scripted.members]
    assert pseudonyms and not [p for p in pseudonyms if p in html]
