"""The facilitator's study record page: starts from the survey file, saves the study's own copy."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditEvent, Study
from tests.conftest import csrf_from, make_user
from tests.facilitator_world import sign_in

# pages and texts, the same on any database: the PostgreSQL pass skips them
pytestmark = pytest.mark.once


@pytest.fixture
def owner(client: FlaskClient, example_study: Study) -> FlaskClient:
    """The study owner's browser, logged in."""
    sign_in(client)
    return client


def _url(study: Study) -> str:
    return f"/f/studies/{study.id}/record"


def _post(client: FlaskClient, url: str, **data: Any) -> Any:
    token = csrf_from(client.get(url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


def test_the_page_starts_from_the_survey_file(
    owner: FlaskClient, session: Session, example_study: Study
) -> None:
    definition = dict(example_study.definition)
    definition["record"] = {"funding": {"en": "The example foundation."}}
    example_study.definition = definition
    example_study.record = None  # never edited: the file's record applies
    session.commit()
    html = owner.get(_url(example_study)).get_data(as_text=True)
    assert "The example foundation." in html
    assert 'name="rationale_fa"' in html and 'name="limitations_ru"' in html


def test_saving_keeps_the_texts_and_audits_the_change(
    owner: FlaskClient, session: Session, example_study: Study
) -> None:
    response = _post(
        owner,
        _url(example_study),
        rationale_en="Classic Delphi, three rounds.",
        ethics_fa="مصوب کمیته اخلاق",
        funding_en="   ",
    )
    assert response.status_code == 303
    session.expire_all()
    assert example_study.record == {
        "rationale": {"en": "Classic Delphi, three rounds."},
        "ethics": {"fa": "مصوب کمیته اخلاق"},
    }
    events = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "study.record")))
    assert len(events) == 1
    assert "Classic Delphi, three rounds." in owner.get(_url(example_study)).get_data(as_text=True)


def test_a_facilitator_of_another_study_cannot_see_it(
    client: FlaskClient, session: Session, example_study: Study
) -> None:
    make_user(session, "other@example.org")
    session.commit()
    sign_in(client, "other@example.org")
    assert client.get(_url(example_study)).status_code == 404
