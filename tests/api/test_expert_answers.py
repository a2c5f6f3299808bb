"""The expert API: own answers only, idempotent per-item saves (R2), closed rounds, submitting."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Answer, Round, RoundProgress
from app.services import rounds as round_service
from tests.api.conftest import (
    API,
    ApiWorld,
    add_panel,
    answer_everything,
    answers_for,
    open_first_round,
    problem_of,
)
from tests.conftest import NOW

ITEM = f"{API}/expert/round/items"
E01 = {
    "answers": {
        "probability": {"value": 40},
        "impact": {"value": -2},
        "confidence": {"value": 4},
        "reason": {"text": "Rainfall is falling."},
    }
}


def _answers(session: Session) -> list[Answer]:
    session.expire_all()
    return list(session.scalars(select(Answer).order_by(Answer.id)))


def test_home_and_consent(client: FlaskClient, session: Session, world: ApiWorld) -> None:
    fresh = add_panel(session, world.study, 1, prefix="new", consent=False)[0]
    home = client.get(f"{API}/expert", headers=fresh.headers).get_json()
    assert home["consented"] is False and home["open_round"] is None
    assert home["study"]["consent"].startswith("I agree")
    problem_of(
        client.post(f"{API}/expert/consent", json={"agree": False}, headers=fresh.headers), 422
    )
    problem_of(
        client.post(
            f"{API}/expert/consent", json={"agree": True, "language": "de"}, headers=fresh.headers
        ),
        422,
    )
    agreed = client.post(
        f"{API}/expert/consent", json={"agree": True, "language": "fa"}, headers=fresh.headers
    )
    assert agreed.status_code == 200
    assert agreed.get_json()["consented"] is True and agreed.get_json()["language"] == "fa"
    # texts now come in Persian
    home = client.get(f"{API}/expert", headers=fresh.headers).get_json()
    assert home["study"]["title"] == world.study.title["fa"]


def test_answers_need_consent_and_an_open_round(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    problem_of(client.get(f"{API}/expert/round", headers=world.experts[0].headers), 404)
    closed = problem_of(client.put(f"{ITEM}/E01", json=E01, headers=world.experts[0].headers), 409)
    assert closed["payload"] == E01
    open_first_round(session, world.study, world.user)
    fresh = add_panel(session, world.study, 1, prefix="new", consent=False)[0]
    body = problem_of(client.put(f"{ITEM}/E01", json=E01, headers=fresh.headers), 409)
    assert "consent" in body["detail"]
    assert _answers(session) == []


def test_round_shows_items_in_the_experts_language_and_own_answers_only(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    open_first_round(session, world.study, world.user)
    a, b = world.experts[0], world.experts[1]
    assert client.put(f"{ITEM}/E01", json=E01, headers=a.headers).status_code == 200
    mine = client.get(f"{API}/expert/round", headers=a.headers).get_json()
    first = mine["items"][0]
    assert first["key"] == "E01" and first["title"] and "{horizon}" not in str(first)
    assert first["answers"]["probability"]["value"] == 40
    assert first["answers"]["reason"]["text"] == "Rainfall is falling."
    assert mine["progress"] == {"answered": 1, "total": 5, "submitted_at": None, "submit_count": 0}
    theirs = client.get(f"{API}/expert/round", headers=b.headers).get_json()
    assert all(item["answers"] == {} for item in theirs["items"])
    assert "Rainfall" not in str(theirs)


def test_save_replay_and_conflict(client: FlaskClient, session: Session, world: ApiWorld) -> None:
    open_first_round(session, world.study, world.user)
    headers = {**world.experts[0].headers, "Idempotency-Key": "save-0001"}
    first = client.put(f"{ITEM}/E01", json=E01, headers=headers)
    assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers
    stored = _answers(session)
    assert len(stored) == 4
    replay = client.put(f"{ITEM}/E01", json=E01, headers=headers)
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == first.get_json()
    changed = {"answers": {**E01["answers"], "probability": {"value": 60}}}
    conflict = problem_of(client.put(f"{ITEM}/E01", json=changed, headers=headers), 409)
    assert conflict["payload"] == changed
    assert [(a.id, a.value, a.revision) for a in _answers(session)] == [
        (a.id, a.value, a.revision) for a in stored
    ]
    # a new key with new answers adds a revision to the changed question only
    again = client.put(
        f"{ITEM}/E01", json=changed, headers={**headers, "Idempotency-Key": "save-0002"}
    )
    assert again.get_json()["answers"]["probability"]["revision"] == 2
    assert again.get_json()["answers"]["impact"]["revision"] == 1
    assert len(_answers(session)) == 5


def test_twenty_identical_saves_at_once_store_one_revision(
    app: Flask, session: Session, world: ApiWorld
) -> None:
    """R2: a double click, a refresh and a retry storm all store exactly one revision."""
    open_first_round(session, world.study, world.user)
    headers = {**world.experts[0].headers, "Idempotency-Key": "storm-000001"}
    clients = [app.test_client() for _ in range(20)]
    start = threading.Barrier(len(clients))

    def save(client: FlaskClient) -> tuple[int, Any, str | None]:
        start.wait()
        response = client.put(f"{ITEM}/E01", json=E01, headers=headers)
        return (
            response.status_code,
            response.get_json(),
            response.headers.get("Idempotent-Replayed"),
        )

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        results = list(pool.map(save, clients))
    assert {status for status, _body, _replayed in results} == {200}
    assert all(body == results[0][1] for _status, body, _replayed in results)
    assert sorted(str(replayed) for _s, _b, replayed in results) == ["None"] + ["true"] * 19
    stored = _answers(session)
    assert len(stored) == 4 and {a.revision for a in stored} == {1}
    assert {a.question.key for a in stored} == set(E01["answers"])


def test_invalid_answers_save_nothing_and_name_the_fields(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    open_first_round(session, world.study, world.user)
    headers = world.experts[0].headers
    cases: list[tuple[dict[str, Any], str]] = [
        ({"answers": {"probability": {"value": 140}}}, "probability"),
        ({"answers": {"impact": {"value": 0.5}}}, "impact"),
        ({"answers": {"probability": {"value": "forty"}}}, "answers.probability.value"),
        ({"answers": {"nonsense": {"value": 1}}}, "nonsense"),
        ({"answers": {"confidence": {"no_answer": True}}}, "confidence"),
        ({"answers": {}}, "answers"),
        ({"answers": {"probability": {"value": 40, "extra": 1}}}, "answers.probability.extra"),
        ({}, "answers"),
        # the wrong shape for the question: refused, where it used to be a 200 saving nothing
        ({"answers": {"probability": {"values": {"2030": 40}}}}, "probability"),
        ({"answers": {"reason": {"values": {"a": "b"}}}}, "reason"),
    ]
    for payload, field in cases:
        body = problem_of(client.put(f"{ITEM}/E01", json=payload, headers=headers), 422)
        assert field in body["errors"], (payload, body)
    # one bad question spoils the whole item: nothing of it is saved
    mixed = {"answers": {"probability": {"value": 40}, "impact": {"value": 9}}}
    body = problem_of(client.put(f"{ITEM}/E01", json=mixed, headers=headers), 422)
    assert body["payload"] == mixed and "impact" in body["errors"]
    quantiles = {"answers": {"usage_level": {"values": {"10": 5, "50": 3, "90": 9}}}}
    assert (
        "usage_level"
        in problem_of(client.put(f"{ITEM}/T01", json=quantiles, headers=headers), 422)["errors"]
    )
    single = {"answers": {"usage_level": {"value": 5}}}  # several values asked, one given
    assert (
        "usage_level"
        in problem_of(client.put(f"{ITEM}/T01", json=single, headers=headers), 422)["errors"]
    )
    problem_of(client.put(f"{ITEM}/NOPE", json=E01, headers=headers), 404)
    short_key = client.put(f"{ITEM}/E01", json=E01, headers={**headers, "Idempotency-Key": "x"})
    assert "headers.Idempotency-Key" in problem_of(short_key, 422)["errors"]
    assert _answers(session) == []


def test_closed_round_echoes_the_payload(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    open_first_round(session, world.study, world.user)
    round_ = session.scalar(select(Round))
    assert round_ is not None
    round_service.close_round(session, round_, actor=None, now=NOW)
    session.commit()
    body = problem_of(client.put(f"{ITEM}/E01", json=E01, headers=world.experts[0].headers), 409)
    assert body["title"] == "Round closed" and body["payload"] == E01
    assert _answers(session) == []


def test_submit_lists_missing_answers_then_succeeds(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    open_first_round(session, world.study, world.user)
    expert = world.experts[0]
    client.put(f"{ITEM}/E01", json=E01, headers=expert.headers)
    body = problem_of(client.post(f"{API}/expert/round/submit", headers=expert.headers), 422)
    assert "E01" not in body["errors"]
    assert set(body["errors"]) == {"E02", "E03", "T01", "C01"}
    assert any("missing" in m for m in body["errors"]["E02"])
    progress = session.scalar(select(RoundProgress))
    assert progress is not None and progress.submitted_at is None
    answer_everything(client, expert)
    session.expire_all()
    assert session.scalar(select(RoundProgress.submit_count)) == 1
    again = client.post(f"{API}/expert/round/submit", headers=expert.headers)
    assert again.get_json()["submit_count"] == 2


def test_withdrawn_expert_cannot_save(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    open_first_round(session, world.study, world.user)
    expert = world.experts[0]
    client.post(world.url(f"/panel/{expert.participation.id}/withdraw"), headers=world.headers)
    problem_of(client.put(f"{ITEM}/E01", json=E01, headers=expert.headers), 401)
    assert int(session.scalar(select(func.count()).select_from(Answer)) or 0) == 0


def test_answers_for_covers_every_question_kind(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    open_first_round(session, world.study, world.user)
    expert = world.experts[0]
    round_json = client.get(f"{API}/expert/round", headers=expert.headers).get_json()
    kinds = {q["kind"] for item in round_json["items"] for q in item["questions"]}
    assert kinds >= {"probability", "likert", "quantiles", "trend_impact", "text"}
    for item in round_json["items"]:
        saved = client.put(
            f"{ITEM}/{item['key']}",
            json=answers_for(round_json, item["key"], 3),
            headers=expert.headers,
        )
        assert saved.status_code == 200, saved.get_json()
