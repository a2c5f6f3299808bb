"""R2 in-process: a key reused with a different body changes nothing at all, not even the
questions the first save left empty. (Twenty identical saves and submits at once, against
gunicorn on PostgreSQL, are in test_faults_quick.)"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Answer
from tests.reliability.world import SecurityWorld, csrf_of, expert_browser, session_cookie


def test_R2_a_reused_key_with_a_new_body_changes_nothing(
    app: Flask, session: Session, world: SecurityWorld
) -> None:
    browser = expert_browser(app, world.tokens[0])
    assert session_cookie(browser)
    token = csrf_of(browser, "/e/round")
    probability, impact = (q for q in world.item.questions if q.key in ("probability", "impact"))
    url = f"/e/round/items/{world.item.id}"
    headers = {"Accept": "application/json", "X-CSRFToken": token, "Idempotency-Key": "key-00001"}
    # the first save answers the item's second question only
    first = browser.post(url, data={f"q{impact.id}": "2"}, headers=headers)
    assert first.status_code == 200
    replay = browser.post(url, data={f"q{impact.id}": "2"}, headers=headers)
    assert replay.status_code == 200 and replay.get_json()["replay"] is True
    before = session.scalar(select(func.count()).select_from(Answer))
    # same key: a value for the question left empty, and a new value for the saved one
    body = {f"q{probability.id}": "50", f"q{impact.id}": "3"}
    changed = browser.post(url, data=body, headers=headers)
    assert changed.status_code == 409
    assert changed.get_json()["payload"] == body
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Answer)) == before
    current = session.scalars(select(Answer).where(Answer.is_current.is_(True))).all()
    assert [(a.question_id, a.value) for a in current] == [(impact.id, 2.0)]
