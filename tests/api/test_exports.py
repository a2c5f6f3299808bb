"""API exports: anonymous tidy answers (CSV, JSON) and the study archive, each download audited."""

from __future__ import annotations

import csv
import hashlib
import io
import json

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditEvent, Round
from app.services import exports
from app.services import rounds as round_service
from tests.api.conftest import API, ApiWorld, open_first_round, problem_of
from tests.conftest import NOW

CANARY = "=HYPERLINK(canary-7f3a)"


def _answered(client: FlaskClient, session: Session, world: ApiWorld) -> None:
    """Round 1: every expert answers E01, one with a formula-like reason; then it closes
    (exports carry closed rounds only)."""
    open_first_round(session, world.study, world.user)
    for index, expert in enumerate(world.experts):
        body = {
            "answers": {
                "probability": {"value": 40 + 10 * index},
                "impact": {"value": 1},
                "reason": {"text": CANARY if index == 0 else "plain"},
            }
        }
        response = client.put(f"{API}/expert/round/items/E01", json=body, headers=expert.headers)
        assert response.status_code == 200
    round_ = session.scalars(select(Round).where(Round.study_id == world.study.id)).one()
    round_service.close_round(session, round_, actor=world.user, now=NOW)
    session.commit()


def test_csv_and_json_exports_are_anonymous_and_agree(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    _answered(client, session, world)
    response = client.post(world.url("/exports/answers.csv"), headers=world.headers)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "water-2040-answers.csv" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == exports.ANONYMOUS_COLUMNS
    assert {r["expert"] for r in rows} == {e.participation.pseudonym for e in world.experts}
    assert "'" + CANARY in text  # formula escaped in the spreadsheet format
    for expert in world.experts:
        assert expert.participation.expert.email not in text
        assert expert.participation.name not in text
        assert expert.token not in text
    as_json = client.post(world.url("/exports/answers.json"), headers=world.headers).get_json()
    assert as_json["study"] == "water-2040"
    assert as_json["columns"] == list(exports.ANONYMOUS_COLUMNS)
    assert len(as_json["rows"]) == len(rows)
    assert CANARY in {r["text"] for r in as_json["rows"]}  # JSON carries the text as typed
    assert "@example.org" not in json.dumps(as_json)


def test_archive_is_canonical_and_names_nobody(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    _answered(client, session, world)
    response = client.post(world.url("/exports/archive.json"), headers=world.headers)
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_data()
    envelope = json.loads(body)
    canonical = json.dumps(
        envelope["study"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    assert envelope["sha256"] == hashlib.sha256(canonical).hexdigest()
    assert b"@example.org" not in body and b"Expert e0" not in body
    again = client.post(world.url("/exports/archive.json"), headers=world.headers).get_data()
    assert again == body


def test_every_download_is_audited(client: FlaskClient, session: Session, world: ApiWorld) -> None:
    _answered(client, session, world)
    for path in ("answers.csv", "answers.json", "archive.json"):
        assert client.post(world.url(f"/exports/{path}"), headers=world.headers).status_code == 200
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()
    assert sorted(e.target for e in events) == ["csv", "json", "json-rows"]
    assert {e.actor_id for e in events} == {world.user.id}


def test_exports_need_the_studys_key(
    client: FlaskClient, session: Session, world: ApiWorld, other_world: ApiWorld
) -> None:
    before = len(session.scalars(select(AuditEvent)).all())
    for path in ("answers.csv", "answers.json", "archive.json"):
        problem_of(client.post(world.url(f"/exports/{path}"), headers=other_world.headers), 404)
        problem_of(client.post(world.url(f"/exports/{path}")), 401)
        problem_of(
            client.post(world.url(f"/exports/{path}"), headers=world.experts[0].headers), 401
        )
    session.expire_all()
    assert len(session.scalars(select(AuditEvent)).all()) == before
    assert session.scalar(select(Round)) is None
