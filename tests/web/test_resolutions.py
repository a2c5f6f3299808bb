"""Facilitator pages and API for realisations, outcomes, weights and scores (a TU Delft case)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analysis.cooke import read_excalibur
from app.definitions import parse_definition
from app.models import AuditEvent, Resolution, Study, User
from app.services import api_keys, studies
from tests.conftest import NOW, csrf_from, login
from tests.services.test_calibration import _answer_case, _case_survey

DATA = Path(__file__).resolve().parent.parent / "analysis" / "data" / "cooke"
API = "/api/v1"


@pytest.fixture
def case_study(session: Session, facilitator_user: User) -> Study:
    """The Arkansas case as a study: four experts, ten seeds, round 1 closed."""
    case = read_excalibur(DATA / "Arkansas.dtt", DATA / "Arkansas.rls")
    study = studies.import_study(
        session, parse_definition(_case_survey(case), "case.toml"), actor=facilitator_user, now=NOW
    )
    _answer_case(session, study, case, facilitator_user)
    session.commit()
    return study


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Resolution)) or 0


def test_the_form_names_the_bad_field_and_saves_nothing(
    client: FlaskClient, session: Session, case_study: Study
) -> None:
    login(client)
    url = f"/f/studies/{case_study.id}/resolutions"
    page = client.get(url)
    assert page.status_code == 200
    token = csrf_from(page.get_data(as_text=True))
    bad = client.post(
        url,
        data={
            "csrf_token": token,
            "kind": "realisation",
            "item": "S01",
            "value": "abc",
            "source": "x",
        },
    )
    assert bad.status_code == 422
    assert "Realisation: Enter a number." in bad.get_data(as_text=True)
    no_source = client.post(
        url,
        data={
            "csrf_token": token,
            "kind": "realisation",
            "item": "S01",
            "value": "3",
            "source": " ",
        },
    )
    assert "Source: Say where this figure comes from" in no_source.get_data(as_text=True)
    assert _count(session) == 0
    good = client.post(
        url,
        data={
            "csrf_token": token,
            "kind": "realisation",
            "item": "S01",
            "value": "214,5",
            "source": "CMS",
        },
    )
    assert good.status_code == 303
    assert _count(session) == 1
    audit = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "resolution.realisation")
    ).one()
    assert audit.details["new"]["value"] == 214.5 and audit.target == "item S01"
    history = client.get(url).get_data(as_text=True)
    assert "CMS" in history and "214.5" in history


def test_weights_page_shows_pseudonyms_only(
    client: FlaskClient, session: Session, case_study: Study
) -> None:
    login(client)
    html = client.get(f"/f/studies/{case_study.id}/weights").get_data(as_text=True)
    assert "Performance weights" in html and "Few seed items" not in html
    for participation in case_study_participations(session, case_study):
        assert participation.pseudonym in html
        assert participation.name not in html  # no name next to a pseudonym's weight


def case_study_participations(session: Session, study: Study) -> list[Any]:
    from app.models import Participation

    return list(session.scalars(select(Participation).where(Participation.study_id == study.id)))


def test_api(
    client: FlaskClient, session: Session, case_study: Study, facilitator_user: User
) -> None:
    secret = api_keys.create_key(
        session, facilitator_user, name="t", study_ids=None, now=NOW
    ).secret
    session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    base = f"{API}/studies/{case_study.id}"
    calibration = client.get(f"{base}/calibration", headers=headers).get_json()
    assert calibration["n_scored"] == 4 and len(calibration["seeds"]) == 10
    assert calibration["few_seeds"] is False and calibration["per_expert_shown"] is True
    assert sum(e["weight"] for e in calibration["experts"]) == pytest.approx(1.0)
    bad = client.post(
        f"{base}/resolutions",
        headers=headers,
        json={"kind": "realisation", "item": "S01", "source": "x"},
    )
    assert bad.status_code == 422 and "value" in bad.get_json()["errors"]
    wrong_kind = client.post(
        f"{base}/resolutions",
        headers=headers,
        json={
            "kind": "outcome",
            "item": "S01",
            "occurred": True,
            "resolved_on": "2026-01-01",
            "source": "x",
        },
    )
    assert wrong_kind.status_code == 422 and "item" in wrong_kind.get_json()["errors"]
    assert _count(session) == 0
    good = client.post(
        f"{base}/resolutions",
        headers=headers,
        json={"kind": "realisation", "item": "S01", "value": 1.0, "source": "x"},
    )
    assert good.status_code == 201 and good.get_json()["value"] == 1.0
    listed = client.get(f"{base}/resolutions", headers=headers).get_json()
    assert len(listed["history"]) == 1
    weighted = client.get(f"{base}/rounds/1/weighted", headers=headers).get_json()
    assert weighted["weightings"] == ["equal", "self_rated", "performance"]
    assert client.get(f"{base}/rounds/1/scores", headers=headers).status_code == 200
    paths = client.get(f"{API}/openapi.json").get_json()["paths"]
    assert any(p.endswith("/weighted") for p in paths) and any(p.endswith("/scores") for p in paths)


def test_the_report_has_the_weights_section(client: FlaskClient, case_study: Study) -> None:
    login(client)
    html = client.get(f"/f/studies/{case_study.id}/results/report.html").get_data(as_text=True)
    assert "Weights and forecast scores" in html
    assert "Experts scored: 4" in html
