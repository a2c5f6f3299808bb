"""R17 in-process: when the database goes away in the middle of a request, the answer is a 503
with a clear message (JSON for the autosave, a page for browsers), never a 500 or a traceback,
even though the error page itself can no longer read anything from the database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import Answer, AnswerDraft, RoundProgress, SaveRequest
from tests.reliability.world import SecurityWorld, expert_browser, field_of, item_url, page_token


class Outage:
    """Makes every statement fail from the first one that reads the rounds table on: the
    server went away after the expert's session was read, before anything was translated."""

    def __init__(self) -> None:
        self.armed = False
        self.down = False

    def refuse(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        """A before_cursor_execute hook: fail while the database is 'down'."""
        if self.armed and "FROM rounds" in statement:
            self.down = True
        if self.down:
            raise OperationalError(statement, {}, ConnectionError("server closed the connection"))


@pytest.fixture
def outage(app: Flask) -> Iterator[Outage]:
    """A database that stops answering when armed."""
    state = Outage()
    event.listen(db.engine, "before_cursor_execute", state.refuse)
    yield state
    state.down = state.armed = False
    event.remove(db.engine, "before_cursor_execute", state.refuse)


def test_R17_a_database_lost_mid_save_gives_503_not_500(
    app: Flask, session: Session, world: SecurityWorld, outage: Outage
) -> None:
    browser = expert_browser(app, world.tokens[0])
    token = page_token(browser, world.item.key)
    field, url = field_of(world.item, "probability"), item_url(world.item.key)  # read while up
    outage.armed = True
    response = browser.post(
        url,
        data={field: "40"},
        headers={"Accept": "application/json", "X-CSRFToken": token, "Idempotency-Key": "k" * 12},
    )
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == "5"
    assert "Traceback" not in response.get_data(as_text=True)
    # and a page for a browser (the plain form), while the database is still down
    page = browser.post(
        url,
        data={field: "40", "action": "next", "csrf_token": token, "idempotency_key": "k" * 12},
    )
    assert page.status_code == 503
    assert page.mimetype == "text/html"
    assert "Traceback" not in page.get_data(as_text=True)
    # the other round pages too
    for address in ("/e/round", url, "/e/round/review"):
        shown = browser.get(address)
        assert shown.status_code == 503 and "Traceback" not in shown.get_data(as_text=True)
    submitted = browser.post("/e/round/submit", data={"csrf_token": token})
    assert submitted.status_code == 503 and "Traceback" not in submitted.get_data(as_text=True)
    # back up: none of it was half-written
    outage.armed = outage.down = False
    session.expire_all()
    for table in (Answer, AnswerDraft, SaveRequest, RoundProgress):
        assert session.scalar(select(func.count()).select_from(table)) == 0, table.__name__
