"""A round's deadline lies in the future, on the web form and through the API, with a clear
message; dates no UTC timestamp can hold are refused as out of range (never a 500)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Round, RoundState, Study, User, ValidationError
from app.services import api_keys
from app.services import rounds as round_service
from tests.conftest import NOW
from tests.reliability.world import csrf_of, signed_in

PAST_DEADLINES = ("0001-01-01T00:00:00Z", "2001-01-01T10:00:00+03:30")
OUT_OF_RANGE = ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00")


def _rounds(session: Session, study: Study) -> list[tuple[int, str]]:
    session.expire_all()
    return [(r.number, r.state) for r in round_service.rounds_of(session, study)]


@pytest.fixture
def api(app: Flask, session: Session, facilitator_user: User) -> dict[str, str]:
    """The facilitator's API headers."""
    secret = api_keys.create_key(session, facilitator_user, name="t", study_ids=None, now=NOW)
    session.commit()
    return {"Authorization": f"Bearer {secret.secret}"}


@pytest.mark.parametrize("deadline", PAST_DEADLINES + OUT_OF_RANGE)
def test_the_api_refuses_a_past_or_impossible_deadline_for_a_new_round(
    app: Flask, session: Session, example_study: Study, api: dict[str, str], deadline: str
) -> None:
    response = app.test_client().post(
        f"/api/v1/studies/{example_study.id}/rounds", json={"deadline": deadline}, headers=api
    )
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert response.mimetype == "application/problem+json" and "deadline" in body["errors"]
    message = " ".join(body["errors"]["deadline"])
    assert ("must be in the future" in message) or ("out of range" in message)
    assert _rounds(session, example_study) == []


def test_the_api_refuses_to_open_a_round_with_a_past_deadline(
    app: Flask, session: Session, example_study: Study, api: dict[str, str]
) -> None:
    client = app.test_client()
    base = f"/api/v1/studies/{example_study.id}/rounds"
    assert client.post(base, json={}, headers=api).status_code == 201
    refused = client.post(f"{base}/1/open", json={"deadline": PAST_DEADLINES[0]}, headers=api)
    assert refused.status_code == 422
    assert "0001-01-01 00:00 UTC has passed" in " ".join(refused.get_json()["errors"]["deadline"])
    assert _rounds(session, example_study) == [(1, RoundState.DRAFT)]
    future = (datetime.now(UTC) + timedelta(days=14)).isoformat()
    opened = client.post(f"{base}/1/open", json={"deadline": future}, headers=api)
    assert opened.status_code == 200 and opened.get_json()["state"] == "open"


def test_the_web_form_refuses_a_past_deadline_with_a_clear_message(
    app: Flask, session: Session, example_study: Study, facilitator_user: User
) -> None:
    browser = signed_in(app, facilitator_user.email)
    base = f"/f/studies/{example_study.id}/rounds"
    token = csrf_of(browser, base)
    browser.post(f"{base}/new", data={"csrf_token": token})
    for deadline in ("0001-01-01T00:00", "2001-01-01T10:00"):
        page = browser.post(
            f"{base}/1/open",
            data={"csrf_token": token, "deadline": deadline},
            follow_redirects=True,
        )
        text = page.get_data(as_text=True)
        assert page.status_code == 200
        assert f"The deadline must be in the future: {deadline.replace('T', ' ')} UTC" in text
    assert _rounds(session, example_study) == [(1, RoundState.DRAFT)]
    for deadline in ("99999-01-01T00:00", "0000-01-01T00:00"):
        page = browser.post(
            f"{base}/1/open",
            data={"csrf_token": token, "deadline": deadline},
            follow_redirects=True,
        )
        assert "Enter the deadline as a date and time (UTC)" in page.get_data(as_text=True)
    assert _rounds(session, example_study) == [(1, RoundState.DRAFT)]


def test_a_draft_whose_deadline_has_passed_opens_only_with_a_new_one(
    session: Session, example_study: Study, facilitator_user: User
) -> None:
    draft = round_service.create_round(
        session, example_study, actor=facilitator_user, now=NOW, deadline=NOW + timedelta(days=1)
    )
    later = NOW + timedelta(days=2)
    with pytest.raises(ValidationError, match="must be in the future"):
        round_service.open_round(session, draft, actor=facilitator_user, now=later)
    round_service.open_round(
        session, draft, actor=facilitator_user, now=later, deadline=later + timedelta(days=7)
    )
    session.commit()
    assert session.scalar(select(func.count()).select_from(Round)) == 1
    assert draft.state == RoundState.OPEN and draft.deadline == later + timedelta(days=7)
