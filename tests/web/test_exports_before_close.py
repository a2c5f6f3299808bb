"""Before any round has closed, every export and the report answer 409 with a clear reason
(they used to answer 404, as if the study did not exist); after the first close they work."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditEvent, Round, Study, User
from app.services import api_keys
from app.services import rounds as round_service
from tests.conftest import NOW
from tests.reliability.world import csrf_of, signed_in

REASON = "No round of this study has closed yet"
API_EXPORTS = ("answers.csv", "answers.json", "archive.json")


@pytest.fixture
def open_round(session: Session, example_study: Study, facilitator_user: User) -> Round:
    """Round 1 of the example study, open (nothing closed yet)."""
    round_ = round_service.create_round(session, example_study, actor=facilitator_user, now=NOW)
    round_service.open_round(session, round_, actor=facilitator_user, now=NOW)
    session.commit()
    return round_


def _exports_audited(session: Session) -> int:
    session.expire_all()
    return len(session.scalars(select(AuditEvent).where(AuditEvent.action.like("export%"))).all())


def test_web_exports_and_report_answer_409_until_a_round_closes(
    app: Flask, session: Session, example_study: Study, facilitator_user: User, open_round: Round
) -> None:
    browser = signed_in(app, facilitator_user.email)
    base = f"/f/studies/{example_study.id}/results"
    token = csrf_of(browser, f"/f/studies/{example_study.id}/rounds")
    for fmt in ("xlsx", "csv", "json"):
        response = browser.post(f"{base}/export", data={"csrf_token": token, "format": fmt})
        assert response.status_code == 409, fmt
        assert REASON in response.get_data(as_text=True)
    report = browser.get(f"{base}/report.html")
    assert report.status_code == 409 and REASON in report.get_data(as_text=True)
    assert _exports_audited(session) == 0  # nothing was handed out, so nothing is recorded

    round_service.close_round(session, open_round, actor=facilitator_user, now=NOW)
    session.commit()
    xlsx = browser.post(f"{base}/export", data={"csrf_token": token, "format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"


def test_api_exports_answer_a_409_problem_until_a_round_closes(
    app: Flask, session: Session, example_study: Study, facilitator_user: User, open_round: Round
) -> None:
    secret = api_keys.create_key(session, facilitator_user, name="t", study_ids=None, now=NOW)
    session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret.secret}"}
    base = f"/api/v1/studies/{example_study.id}/exports"
    for name in API_EXPORTS:
        response = client.post(f"{base}/{name}", headers=headers)
        assert response.status_code == 409, name
        assert response.mimetype == "application/problem+json"
        assert REASON in response.get_json()["detail"]
    assert _exports_audited(session) == 0
    round_service.close_round(session, open_round, actor=facilitator_user, now=NOW)
    session.commit()
    for name in API_EXPORTS:
        assert client.post(f"{base}/{name}", headers=headers).status_code == 200, name
