"""R17 in-process: when the database goes away in the middle of a request, the answer is a 503
with a clear message (JSON for the autosave, a page for browsers), never a 500 or a traceback,
even though the error page itself can no longer read anything from the database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from app.extensions import db
from tests.reliability.world import SecurityWorld, csrf_of, expert_browser


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
    app: Flask, world: SecurityWorld, outage: Outage
) -> None:
    browser = expert_browser(app, world.tokens[0])
    token = csrf_of(browser, "/e/round")
    probability = next(q for q in world.item.questions if q.key == "probability")
    field, url = f"q{probability.id}", f"/e/round/items/{world.item.id}"  # read while it is up
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
    # and a page for a browser, while the database is still down
    page = browser.post("/e/round", data={field: "40", "action": "save", "csrf_token": token})
    assert page.status_code == 503
    assert page.mimetype == "text/html"
    assert "Traceback" not in page.get_data(as_text=True)
