"""Fixtures for the API tests: a study with a keyed facilitator and a panel with link tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.definitions import SurveyDefinition, parse_definition
from app.models import Participation, Question, Role, Round, Study, User
from app.services import answers as answer_service
from app.services import api_keys, panel, round_progress, studies
from app.services import rounds as round_service
from tests.conftest import EXAMPLE_SURVEY, NOW, make_user

API = "/api/v1"


def bearer(secret: str) -> dict[str, str]:
    """The Authorization header for an API key."""
    return {"Authorization": f"Bearer {secret}"}


def expert_header(token: str) -> dict[str, str]:
    """The header that carries an expert's link token."""
    return {"X-Expert-Token": token}


def definition_with_key(key: str) -> SurveyDefinition:
    """The example survey under another study key (to import it twice)."""
    text = EXAMPLE_SURVEY.read_text(encoding="utf-8").replace(
        'key = "water-2040"', f'key = "{key}"'
    )
    return parse_definition(text.encode("utf-8"), "example.toml")


@dataclass
class Panelist:
    """A panel member with the token of their private link."""

    participation: Participation
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """The expert's API header."""
        return expert_header(self.token)


@dataclass
class ApiWorld:
    """A study, its facilitator and key, and a consenting panel."""

    study: Study
    user: User
    secret: str
    experts: list[Panelist] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        """The facilitator's API header."""
        return bearer(self.secret)

    def url(self, path: str = "") -> str:
        """An API address under this study."""
        return f"{API}/studies/{self.study.id}{path}"


def add_panel(
    session: Session, study: Study, count: int, *, prefix: str = "e", consent: bool = True
) -> list[Panelist]:
    """Add `count` experts in two groups, consenting unless told otherwise."""
    members = []
    for index in range(count):
        new = panel.add_expert(
            session,
            study,
            name=f"Expert {prefix}{index}",
            email=f"{prefix}{index}@example.org",
            group="G1" if index % 2 == 0 else "G2",
            language="en",
            actor=None,
            now=NOW,
        )
        if consent:
            panel.record_consent(session, new.participation, language="en", now=NOW)
        members.append(Panelist(new.participation, new.token))
    session.commit()
    return members


def open_first_round(session: Session, study: Study, user: User | None = None) -> None:
    """Create and open round 1."""
    round_ = round_service.create_round(session, study, actor=user, now=NOW)
    round_service.open_round(session, round_, actor=user, now=NOW)
    session.commit()


@pytest.fixture
def world(session: Session, example_study: Study, facilitator_user: User) -> ApiWorld:
    """The example study with an unlimited key for its facilitator and 6 consenting experts."""
    new = api_keys.create_key(session, facilitator_user, name="tests", study_ids=None, now=NOW)
    session.commit()
    result = ApiWorld(example_study, facilitator_user, new.secret)
    result.experts = add_panel(session, example_study, 6)
    return result


@pytest.fixture
def other_world(session: Session) -> ApiWorld:
    """A second study run by another facilitator, with its own key and 2 experts."""
    user = make_user(session, "other@example.org")
    study = studies.import_study(session, definition_with_key("other-study"), actor=user, now=NOW)
    new = api_keys.create_key(session, user, name="other", study_ids=None, now=NOW)
    session.commit()
    result = ApiWorld(study, user, new.secret)
    result.experts = add_panel(session, study, 2, prefix="o")
    return result


@pytest.fixture
def admin_secret(session: Session) -> str:
    """An administrator's unlimited API key."""
    admin = make_user(session, "admin@example.org", role=Role.ADMIN)
    secret = api_keys.create_key(session, admin, name="admin", study_ids=None, now=NOW).secret
    session.commit()
    return secret


def problem_of(response: Any, status: int) -> dict[str, Any]:
    """Assert a problem-details response with this status; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def answers_for(round_json: dict[str, Any], item_key: str, seed: int = 0) -> dict[str, Any]:
    """A complete, valid answer body for one item of GET /expert/round."""
    item = next(i for i in round_json["items"] if i["key"] == item_key)
    answers: dict[str, Any] = {}
    for question in item["questions"]:
        scale = question["scale"]
        if question["kind"] == "text":
            answers[question["key"]] = {"text": f"reason {seed}"}
        elif question["answer"] == "value":
            low, high, step = scale["min"], scale["max"], scale["step"]
            points = int((high - low) / step)
            answers[question["key"]] = {"value": low + step * (seed % (points + 1))}
        elif question["kind"] == "probability":
            answers[question["key"]] = {
                "values": {
                    y: 10 * (i + 1) + 5 * (seed % 3) for i, y in enumerate(question["horizons"])
                }
            }
        elif question["kind"] == "quantiles":
            answers[question["key"]] = {
                "values": {q: 10 * (i + 1) + seed for i, q in enumerate(question["quantiles"])}
            }
        elif question["kind"] == "conditional":
            answers[question["key"]] = {
                "values": {
                    e: {"given": 50, "given_not": 5 * (seed % 10)} for e in question["given"]
                }
            }
        else:  # trend impact profile
            answers[question["key"]] = {
                "values": {"t1": 1, "t2": 2 + seed % 3, "i_max": 5 + seed, "t3": 6, "i_ss": 3}
            }
    return {"answers": answers}


def answer_everything(client: FlaskClient, expert: Panelist, seed: int = 0) -> None:
    """Answer every item of the open round and submit, through the API."""
    round_json = client.get(f"{API}/expert/round", headers=expert.headers).get_json()
    for item in round_json["items"]:
        response = client.put(
            f"{API}/expert/round/items/{item['key']}",
            json=answers_for(round_json, item["key"], seed),
            headers=expert.headers,
        )
        assert response.status_code == 200, response.get_json()
    assert client.post(f"{API}/expert/round/submit", headers=expert.headers).status_code == 200


def _payload(question: Question, seed: int) -> dict[str, Any]:
    """A valid answer to one question (the service's payload shape)."""
    config = question.config
    scale = question.scale
    if question.kind == "text":
        return {"text": f"reason {seed}"}
    if question.kind == "quantiles":
        return {"values": {str(q): 10 * (i + 1) + seed for i, q in enumerate(config["quantiles"])}}
    if question.kind == "conditional":
        return {"values": {e: {"given": 50, "given_not": 5 * (seed % 10)} for e in config["given"]}}
    if question.kind == "trend_impact":
        return {"values": {"t1": 1, "t2": 2 + seed % 3, "i_max": 5 + seed, "t3": 6, "i_ss": 3}}
    if config.get("horizons"):
        return {
            "values": {
                str(y): 10 * (i + 1) + 5 * (seed % 3) for i, y in enumerate(config["horizons"])
            }
        }
    assert scale is not None and scale.min is not None and scale.max is not None
    points = int((scale.max - scale.min) / scale.step)
    return {"value": scale.min + scale.step * (seed % (points + 1))}


def answer_directly(
    session: Session, round_: Round, experts: list[Panelist], first_seed: int
) -> None:
    """Answer every item of a round for some experts through the service (fast set-up)."""
    for offset, expert in enumerate(experts):
        seed = first_seed + offset
        for round_item in round_.items:
            payloads = {
                q.key: _payload(q, seed) for q in round_item.item.questions_in(round_.number)
            }
            answer_service.save_item(
                session,
                expert.participation,
                round_,
                round_item.item,
                payloads,
                idempotency_key=None,
                now=NOW,
            )
        round_progress.submit_round(session, expert.participation, round_, now=NOW)
    session.commit()
