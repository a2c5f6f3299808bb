"""R2 and R3 in-process, for the web autosave (POST /e/round/items/<key>, JSON) and the API
(PUT /api/v1/expert/round/items/<key>): every request is remembered by its Idempotency-Key.

- the same key with the same body is a replay: answered from the ledger, nothing written;
- the same key with another body is a 409 and changes nothing at all;
- a late duplicate of an acknowledged save (arriving after a newer save) is a replay and
  does not bring the older answers back;
- a retry after the round closed of a save that had committed is still a replay (200), while
  a new save after the close is a 409 that echoes the payload.

(Twenty identical saves and submits at once, against gunicorn on PostgreSQL, are in
test_faults_quick.)"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from app.models import Answer, AnswerDraft, Round, RoundClosedError, SaveRequest
from app.services import answers, rounds
from tests.reliability.world import (
    BOOKKEEPING,
    NOW,
    SecurityWorld,
    autosave,
    browser_with_cookie,
    digest,
    expert_browser,
    field_of,
    page_token,
    session_cookie,
)

API_ITEM = "/api/v1/expert/round/items/E01"


def _acknowledgement(response: TestResponse) -> dict[str, Any]:
    """What an autosave's answer says about the content it acknowledges (not when)."""
    body = response.get_json()
    return {k: v for k, v in body.items() if k not in ("replay", "saved_at")}


def _current(session: Session) -> list[tuple[int, float | None, str | None, int]]:
    """Every current answer: (question id, value, text, revision)."""
    session.expire_all()
    rows = session.scalars(select(Answer).where(Answer.is_current.is_(True)))
    return sorted((a.question_id, a.value, a.text, a.revision) for a in rows)


def _drafts(session: Session) -> dict[int, dict[str, Any]]:
    """Every draft, by question id."""
    session.expire_all()
    return {d.question_id: d.payload for d in session.scalars(select(AnswerDraft))}


def _web(app: Flask, world: SecurityWorld) -> tuple[FlaskClient, str]:
    """The consenting expert's browser and a CSRF token of its session."""
    browser = expert_browser(app, world.tokens[0])
    assert session_cookie(browser)
    return browser, page_token(browser, "E01")


def _api(world: SecurityWorld, key: str) -> dict[str, str]:
    """The consenting expert's API headers with an Idempotency-Key."""
    return {"X-Expert-Token": world.tokens[0], "Idempotency-Key": key}


def _close(session: Session, world: SecurityWorld) -> None:
    """The facilitator closes the round."""
    round_ = session.get(Round, world.round.id)
    assert round_ is not None
    rounds.close_round(session, round_, actor=world.owner, now=NOW)
    session.commit()


# -- the same key with another body: 409, nothing changes ------------------------------------


def test_R2_web_a_reused_key_with_a_new_body_changes_nothing(
    app: Flask, session: Session, world: SecurityWorld
) -> None:
    browser, token = _web(app, world)
    probability, impact = field_of(world.item, "probability"), field_of(world.item, "impact")
    # the first save answers the item's second question only
    first = autosave(browser, "E01", {impact: "2"}, token, "key-00001")
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.get_json()["replay"] is False and first.get_json()["key"] == "key-00001"
    before = digest(session)
    replay = autosave(browser, "E01", {impact: "2"}, token, "key-00001")
    assert replay.status_code == 200 and replay.get_json()["replay"] is True
    assert _acknowledgement(replay) == _acknowledgement(first)
    assert digest(session) == before
    for changed in (
        # a value for the question left empty, and a new value for the saved one
        {probability: "50", impact: "3"},
        # what would be kept as a draft under a new key
        {impact: "abc"},
    ):
        refused = autosave(browser, "E01", changed, token, "key-00001")
        assert refused.status_code == 409, (changed, refused.get_data(as_text=True))
        assert refused.get_json()["payload"] == changed
        assert digest(session) == before, f"{changed} with a used key changed something"
    impact_id = int(impact[1:])
    assert _current(session) == [(impact_id, 2.0, None, 1)]
    assert _drafts(session) == {}


def test_R2_api_a_reused_key_with_a_new_body_changes_nothing(
    client: FlaskClient, session: Session, world: SecurityWorld
) -> None:
    headers = _api(world, "api-key-0001")
    body = {"answers": {"impact": {"value": 2}}}
    first = client.put(API_ITEM, json=body, headers=headers)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert "Idempotent-Replayed" not in first.headers
    before = digest(session, ignore=BOOKKEEPING)
    replay = client.put(API_ITEM, json=body, headers=headers)
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == first.get_json()
    for changed in (
        {"answers": {"probability": {"value": 50}, "impact": {"value": 3}}},
        {"answers": {"impact": {"value": 9}}},  # invalid too: the key decides first
    ):
        refused = client.put(API_ITEM, json=changed, headers=headers)
        assert refused.status_code == 409, (changed, refused.get_data(as_text=True))
        assert refused.get_json()["payload"] == changed
        assert digest(session, ignore=BOOKKEEPING) == before, f"{changed} changed something"
    impact_id = int(field_of(world.item, "impact")[1:])
    assert _current(session) == [(impact_id, 2.0, None, 1)]


def test_R2_web_twenty_identical_autosaves_at_once_store_one_revision(
    app: Flask, session: Session, world: SecurityWorld
) -> None:
    """A double click, a refresh and the script's retries, all at once from one session."""
    browser, token = _web(app, world)
    tabs = [browser_with_cookie(app, session_cookie(browser)) for _ in range(20)]
    fields = {field_of(world.item, "probability"): "40", field_of(world.item, "reason"): "now"}
    start = threading.Barrier(len(tabs))

    def save(tab: FlaskClient) -> tuple[int, Any]:
        start.wait()
        response = autosave(tab, "E01", fields, token, "storm-00001")
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=len(tabs)) as pool:
        results = list(pool.map(save, tabs))
    assert [status for status, _body in results] == [200] * len(tabs), results
    assert sorted(body["replay"] for _status, body in results) == [False] + [True] * 19
    acknowledged = [
        {k: v for k, v in body.items() if k not in ("replay", "saved_at")}
        for _status, body in results
    ]
    assert all(each == acknowledged[0] for each in acknowledged)
    session.rollback()  # see what the requests committed
    assert len(session.scalars(select(SaveRequest)).all()) == 1
    stored = session.scalars(select(Answer)).all()
    assert len(stored) == 2
    assert {(a.value, a.text, a.revision) for a in stored} == {(40.0, None, 1), (None, "now", 1)}


# -- a late duplicate of an acknowledged save: a replay, the newer answers stay ----------------


def test_R2_web_a_late_duplicate_is_a_replay_and_keeps_the_newer_answers(
    app: Flask, session: Session, world: SecurityWorld
) -> None:
    browser, token = _web(app, world)
    probability, reason = field_of(world.item, "probability"), field_of(world.item, "reason")
    sent = [
        ("late-00001", {probability: "20", reason: "first thoughts"}),
        ("late-00002", {probability: "abc", reason: "first thoughts"}),  # a draft
        ("late-00003", {probability: "35", reason: "second thoughts"}),  # fixes the draft
    ]
    acknowledged = {}
    for key, fields in sent:
        response = autosave(browser, "E01", fields, token, key)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["replay"] is False
        acknowledged[key] = _acknowledgement(response)
    assert acknowledged["late-00002"]["questions"]["probability"]["state"] == "draft"
    probability_id, reason_id = int(probability[1:]), int(reason[1:])
    # the draft wrote no revision: 20 is revision 1, 35 revision 2
    after = [(probability_id, 35.0, None, 2), (reason_id, None, "second thoughts", 2)]
    assert _current(session) == after and _drafts(session) == {}
    # each revision records the request that wrote it (the draft's request wrote none)
    written = session.scalars(select(Answer.idempotency_key).order_by(Answer.id)).all()
    assert written == [
        f"late-00001:{probability_id}",
        f"late-00001:{reason_id}",
        f"late-00003:{probability_id}",
        f"late-00003:{reason_id}",
    ]
    before = digest(session)
    # the network delivers the first two again, after the third was acknowledged
    for key, fields in sent[:2]:
        late = autosave(browser, "E01", fields, token, key)
        assert late.status_code == 200, late.get_data(as_text=True)
        assert late.get_json()["replay"] is True
        # the same acknowledgement as the first time, item state and progress as they are now
        assert late.get_json()["key"] == key
        assert late.get_json()["questions"] == acknowledged[key]["questions"]
        assert late.get_json()["state"] == acknowledged["late-00003"]["state"]
        assert digest(session) == before, f"the late {key} changed something"
    assert _current(session) == after
    assert _drafts(session) == {}, "a late duplicate brought a fixed draft back"


def test_R2_api_a_late_duplicate_is_a_replay_and_keeps_the_newer_answers(
    client: FlaskClient, session: Session, world: SecurityWorld
) -> None:
    older = {"answers": {"probability": {"value": 20}, "reason": {"text": "first thoughts"}}}
    newer = {"answers": {"probability": {"value": 35}, "reason": {"text": "second thoughts"}}}
    first = client.put(API_ITEM, json=older, headers=_api(world, "api-late-01"))
    assert first.status_code == 200, first.get_data(as_text=True)
    second = client.put(API_ITEM, json=newer, headers=_api(world, "api-late-02"))
    assert second.status_code == 200 and "Idempotent-Replayed" not in second.headers
    before = digest(session, ignore=BOOKKEEPING)
    late = client.put(API_ITEM, json=older, headers=_api(world, "api-late-01"))
    assert late.status_code == 200, late.get_data(as_text=True)
    assert late.headers["Idempotent-Replayed"] == "true"
    assert late.get_json() == first.get_json()  # what that request stored, as it answered then
    assert digest(session, ignore=BOOKKEEPING) == before
    current = {a[0]: a for a in _current(session)}
    probability_id = int(field_of(world.item, "probability")[1:])
    assert current[probability_id][1:] == (35.0, None, 2)


# -- after the close: a retry of a committed save is a replay, a new save a 409 ---------------


def test_R3_the_ledger_answers_a_retry_after_the_close(
    session: Session, world: SecurityWorld
) -> None:
    """The service keeps its side of the promise: after the close, a committed save's key and
    body are answered from the ledger, a new key is refused, and nothing is written."""
    me, item = world.members[0], world.item
    payloads = {"probability": {"value": "40"}}
    first = answers.save_item(
        session, me, world.round, item, payloads, idempotency_key="ledger-0001", now=NOW
    )
    session.commit()
    stored = {key: (a.id, a.revision) for key, a in first.answers.items()}
    _close(session, world)
    before = digest(session)
    retry = answers.save_item(
        session, me, world.round, item, payloads, idempotency_key="ledger-0001", now=NOW
    )
    assert retry.replay is True
    assert {key: (a.id, a.revision) for key, a in retry.answers.items()} == stored
    session.commit()
    assert digest(session) == before
    with pytest.raises(RoundClosedError):
        answers.save_item(
            session, me, world.round, item, payloads, idempotency_key="ledger-0002", now=NOW
        )
    session.rollback()
    assert digest(session) == before


@pytest.mark.parametrize("way", ["web", "api"])
def test_R3_a_retry_after_the_close_of_a_committed_save_is_a_replay(
    app: Flask, session: Session, world: SecurityWorld, way: str
) -> None:
    """The save committed but its answer was lost; the page (or API client) retries it after
    the facilitator closed the round: it learns that its save counts."""
    probability = field_of(world.item, "probability")
    if way == "web":
        browser, token = _web(app, world)
        fields = {probability: "40"}

        def send() -> TestResponse:
            return autosave(browser, "E01", fields, token, "closing-0001")

    else:
        client = app.test_client()
        body = {"answers": {"probability": {"value": 40}}}

        def send() -> TestResponse:
            return client.put(API_ITEM, json=body, headers=_api(world, "closing-0001"))

    first = send()
    assert first.status_code == 200, first.get_data(as_text=True)
    _close(session, world)
    before = digest(session, ignore=BOOKKEEPING)
    retry = send()
    assert digest(session, ignore=BOOKKEEPING) == before
    assert retry.status_code == 200, retry.get_data(as_text=True)
    if way == "web":
        assert retry.get_json()["replay"] is True and retry.get_json()["key"] == "closing-0001"
        assert retry.get_json()["questions"] == first.get_json()["questions"]
    else:
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert retry.get_json() == first.get_json()


@pytest.mark.parametrize("way", ["web", "api"])
def test_R3_a_new_save_after_the_close_is_refused_with_its_payload(
    app: Flask, session: Session, world: SecurityWorld, way: str
) -> None:
    probability, reason = field_of(world.item, "probability"), field_of(world.item, "reason")
    if way == "web":
        browser, token = _web(app, world)
        assert autosave(browser, "E01", {probability: "40"}, token, "open-00001").status_code == 200
    else:
        client = app.test_client()
        saved = client.put(
            API_ITEM,
            json={"answers": {"probability": {"value": 40}}},
            headers=_api(world, "open-00001"),
        )
        assert saved.status_code == 200
    _close(session, world)
    before = digest(session, ignore=BOOKKEEPING)
    if way == "web":
        fields = {probability: "45", reason: "changed my mind"}
        late = autosave(browser, "E01", fields, token, "after-00001")
        assert late.status_code == 409 and late.get_json()["payload"] == fields
        # the same body under the key of the committed save is not that save: a conflict
        reused = autosave(browser, "E01", fields, token, "open-00001")
        assert reused.status_code == 409 and reused.get_json()["payload"] == fields
    else:
        body = {"answers": {"probability": {"value": 45}, "reason": {"text": "changed my mind"}}}
        late = client.put(API_ITEM, json=body, headers=_api(world, "after-00001"))
        assert late.status_code == 409 and late.get_json()["payload"] == body
        reused = client.put(API_ITEM, json=body, headers=_api(world, "open-00001"))
        assert reused.status_code == 409 and reused.get_json()["payload"] == body
    assert digest(session, ignore=BOOKKEEPING) == before
    session.expire_all()
    assert len(session.scalars(select(SaveRequest)).all()) == 1  # the save made while open


# -- keeping last round's answers: a double click keeps them once ---------------------------------


def test_R2_keeping_last_rounds_answers_twice_keeps_them_once(
    app: Flask, session: Session, world: SecurityWorld
) -> None:
    browser, token = _web(app, world)
    probability, impact = field_of(world.item, "probability"), field_of(world.item, "impact")
    saved = autosave(browser, "E01", {probability: "40", impact: "2"}, token, "round-1-0001")
    assert saved.status_code == 200
    _close(session, world)
    round2 = rounds.create_round(session, world.study, actor=world.owner, now=NOW)
    rounds.open_round(session, round2, actor=world.owner, now=NOW)
    session.commit()
    page = f"/e/round/items/{world.item.key}"
    keep = {"scope": "item", "key": world.item.key, "next": page, "csrf_token": token}
    for _click in range(2):
        kept = browser.post("/e/round/keep", data=keep)
        assert kept.status_code == 303 and kept.headers["Location"].endswith(page)
    session.expire_all()
    stored = session.scalars(select(Answer).where(Answer.round_id == round2.id)).all()
    assert sorted((a.question_id, a.value, a.revision, a.kept) for a in stored) == [
        (int(probability[1:]), 40.0, 1, True),
        (int(impact[1:]), 2.0, 1, True),
    ]
