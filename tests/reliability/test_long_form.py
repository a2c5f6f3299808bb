"""R9: a 60-item round filled over a month, through the item pages and the page's JSON
autosave, past the session cookie's lifetime and the CSRF token that lives with it.

The test plays the page's script (static/js/round.js): it keeps every unacknowledged save
and sends it again, with the same Idempotency-Key and body, until the server acknowledges
that key. On the way: the expert signs out in another tab (401 JSON, re-entry through the
link, the resend succeeds); a month passes (the cookie expires: 400, GET /e/round/token
answers 401, re-entry, the old token is refused with 400, a fresh one from /e/round/token,
the resend succeeds); the last item goes through the plain form with a stale token (the
page comes back with every typed value, and Save works). 60/60 answers are kept, shown
again on their pages, and the round submits."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import itsdangerous.timed
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.definitions import parse_definition
from app.models import Answer, Item, RoundProgress, SaveRequest, User
from app.services import panel, rounds, studies
from tests.conftest import EXAMPLE_SURVEY, NOW, csrf_from, enter_link
from tests.reliability.world import digest, item_url

ITEMS = 60
HOUR = 3600
DAY = 24 * HOUR
QUESTIONS = ("probability", "impact", "reason")


def _sixty_item_survey() -> bytes:
    """The example survey's settings, scales and questions with 60 events of its own."""
    text = EXAMPLE_SURVEY.read_text(encoding="utf-8")
    head = text[: text.index("[[items]]")].replace('key = "water-2040"', 'key = "long-form"')
    # the trend-impact question needs the example's trend, which this survey does not have
    head = re.sub(r"\[questions\.usage_impact\].*?(?=\n\[)", "", head, flags=re.DOTALL)
    events = "".join(
        f"""
[[items]]
key = "E{n:02d}"
kind = "event"
category = "supply"
source = "Generated"
title = {{ en = "Development number {n}" }}
text = {{ en = "Development number {n} happens." }}
questions = ["probability", "impact", "reason"]
"""
        for n in range(1, ITEMS + 1)
    )
    return (head + events).encode("utf-8")


class Clock:
    """The clock itsdangerous signs and checks cookies and CSRF tokens with, moved by hand."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = 0
        real = time.time
        monkeypatch.setattr(
            itsdangerous.timed.TimestampSigner,
            "get_timestamp",
            lambda _signer: int(real()) + self.offset,
        )

    def advance(self, seconds: int) -> None:
        """Let time pass."""
        self.offset += seconds


def fields(item: Item) -> dict[str, str]:
    """What the expert types for an item: a probability, an impact and a reason."""
    probability, impact, reason = (
        next(q for q in item.questions if q.key == key)
        for key in ("probability", "impact", "reason")
    )
    n = int(item.key[1:])
    return {
        f"q{probability.id}": str(n % 101),
        f"q{impact.id}": str(n % 7 - 3),
        f"q{reason.id}": f"reason for {item.key}",
    }


def shown(html: str, name: str) -> str | None:
    """The value a field shows on a page: the ticked radio, the textarea's text, or the
    text input's value."""
    radio = re.search(rf'<input type="radio"[^>]*name="{name}" value="([^"]*)" checked', html)
    if radio:
        return radio.group(1)
    area = re.search(rf'<textarea[^>]*name="{name}"[^>]*>([^<]*)</textarea>', html)
    if area:
        return area.group(1)
    box = re.search(rf'<input type="text"[^>]*name="{name}" value="([^"]*)"', html)
    return box.group(1) if box else None


@dataclass
class PageScript:
    """The page's script: unacknowledged saves are kept (item key -> (key, fields)) and sent
    again until the server echoes their key; a 400 fetches a fresh token and resends."""

    browser: FlaskClient
    token: str
    pending: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    log: list[tuple[str, int]] = field(default_factory=list)  #: (request, status)

    def type(self, item: Item, key: str) -> None:
        """The expert typed an item's values: kept until acknowledged."""
        self.pending[item.key] = (key, fields(item))

    def send(self, item_key: str) -> int:
        """Send one kept save as the script does; forget it only on its acknowledgement."""
        key, typed = self.pending[item_key]
        response = self.browser.post(
            item_url(item_key),
            data={"csrf_token": self.token, **typed},
            headers={
                "Accept": "application/json",
                "X-CSRFToken": self.token,
                "Idempotency-Key": key,
            },
        )
        self.log.append((f"save {item_key}", response.status_code))
        if response.status_code != 200:
            # a refusal the script can read (JSON, not a page to take for a success)
            assert response.mimetype == "application/problem+json", response.mimetype
            return response.status_code
        body = response.get_json()
        assert body["saved"] is True and body["key"] == key and body["item"] == item_key
        assert body["questions"] == {q: {"state": "saved"} for q in QUESTIONS}
        assert body["state"] == "complete" and body["total"] == ITEMS
        del self.pending[item_key]
        return 200

    def refresh_token(self) -> int:
        """GET /e/round/token, as the script does after a 400."""
        response = self.browser.get("/e/round/token", headers={"Accept": "application/json"})
        self.log.append(("token", response.status_code))
        if response.status_code == 200:
            self.token = response.get_json()["csrf_token"]
        else:
            assert response.mimetype == "application/problem+json"
        return response.status_code

    def flush(self) -> dict[str, int]:
        """Send everything kept; after a 400, fetch a fresh token and send once more."""
        outcome = {}
        for item_key in list(self.pending):
            status = self.send(item_key)
            if status == 400 and self.refresh_token() == 200:
                status = self.send(item_key)
            outcome[item_key] = status
        return outcome


def test_R9_sixty_items_over_a_month_keep_every_value(
    app: Flask,
    session: Session,
    facilitator_user: User,
    monkeypatch: pytest.MonkeyPatch,
    fresh_g: Callable[[], None],
) -> None:
    clock = Clock(monkeypatch)
    study = studies.import_study(
        session, parse_definition(_sixty_item_survey(), "long.toml"), actor=None, now=NOW
    )
    round_ = rounds.create_round(session, study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW)
    member = panel.add_expert(
        session, study, name="Ann", email="ann@example.org", group="", language="en",
        actor=None, now=NOW,
    )  # fmt: skip
    panel.record_consent(session, member.participation, language="en", now=NOW)
    session.commit()
    items = sorted(study.items, key=lambda i: i.key)
    assert len(items) == ITEMS

    browser = app.test_client()
    assert enter_link(browser, member.token).status_code == 303
    # the first item's page stays open for a month; its script saves every item
    script = PageScript(browser, csrf_from(browser.get(item_url("E01")).get_data(as_text=True)))

    def fill(chosen: list[Item]) -> dict[str, int]:
        for item in chosen:
            script.type(item, f"key-{item.key}-{clock.offset}")
        return script.flush()

    # the first 20 items at once, ten more five hours later: the token does not expire
    assert set(fill(items[:20]).values()) == {200}
    clock.advance(5 * HOUR)
    assert set(fill(items[20:30]).values()) == {200}

    # three days later the expert signs out in another tab; this page does not know it
    clock.advance(3 * DAY)
    assert browser.post("/e/logout", data={"csrf_token": script.token}).status_code == 303
    before = digest(session)
    assert fill(items[30:32]) == {"E31": 401, "E32": 401}  # JSON, not a redirect to a page
    assert script.refresh_token() == 401
    assert set(script.pending) == {"E31", "E32"}  # kept by the page
    assert digest(session) == before  # and nothing half-saved
    # the expert opens the link again; the page's next try sends the kept saves
    fresh_g()
    assert enter_link(browser, member.token).status_code == 303
    assert set(script.flush().values()) == {200} and not script.pending
    assert set(fill(items[32:40]).values()) == {200}

    # a month later the session cookie, and the CSRF secret in it, have expired
    clock.advance(31 * DAY)
    before = digest(session)
    assert fill(items[40:42]) == {"E41": 400, "E42": 400}
    # each try: 400 (the token's session is gone), then the token address says signed out
    assert script.log[-4:] == [("save E41", 400), ("token", 401), ("save E42", 400), ("token", 401)]
    assert set(script.pending) == {"E41", "E42"}
    assert digest(session) == before
    # the expert opens the link again; the page still holds the old token: refused (400),
    # a fresh token from /e/round/token, the same saves again: acknowledged
    fresh_g()
    assert enter_link(browser, member.token).status_code == 303
    stale = script.token
    assert set(script.flush().values()) == {200} and not script.pending
    assert script.log[-4:] == [("save E41", 400), ("token", 200), ("save E41", 200),
                               ("save E42", 200)]  # fmt: skip
    assert script.token != stale
    assert set(fill(items[42:59]).values()) == {200}

    # the last item through the plain form (no script), its page opened before the expiry
    last = items[59]
    posted = {**fields(last), "csrf_token": stale, "idempotency_key": "plain-form-0060",
              "action": "review"}  # fmt: skip
    rerendered = browser.post(item_url(last.key), data=posted)
    assert rerendered.status_code == 400
    html = rerendered.get_data(as_text=True)
    for name, value in fields(last).items():  # every typed value is back in the form
        assert shown(html, name) == value, f"{last.key}: {name}={value} is not shown again"
    again = {name: value for name, value in posted.items() if name != "csrf_token"}
    again["csrf_token"] = csrf_from(html)
    saved = browser.post(item_url(last.key), data=again)
    assert saved.status_code == 303 and saved.headers["Location"].endswith("/e/round/review")

    # 60 of 60 kept: stored, one acknowledged request each, and shown again on the pages
    session.expire_all()
    stored = {
        a.question_id: a
        for a in session.scalars(
            select(Answer).where(
                Answer.participation_id == member.participation.id, Answer.is_current.is_(True)
            )
        )
    }
    for item in items:
        page = browser.get(item_url(item.key)).get_data(as_text=True)
        for name, value in fields(item).items():
            answer = stored[int(name[1:])]
            kept = answer.text if answer.text is not None else f"{answer.value:g}"
            assert kept == value, f"{item.key} {name}: {kept!r} != {value!r}"
            assert answer.revision == 1, f"{item.key} {name}: saved {answer.revision} times"
            assert shown(page, name) == value, f"{item.key}: {name} shows {shown(page, name)!r}"
    assert session.scalar(select(func.count()).select_from(SaveRequest)) == ITEMS

    # nothing is missing: the review lists no problem, and the round submits
    review = browser.get("/e/round/review")
    assert review.status_code == 200 and 'class="problem-list"' not in review.get_data(as_text=True)
    submitted = browser.post(
        "/e/round/submit", data={"csrf_token": csrf_from(review.get_data(as_text=True))}
    )
    assert submitted.status_code == 303 and submitted.headers["Location"].endswith("/e/")
    session.expire_all()
    progress = session.get(RoundProgress, (member.participation.id, round_.id))
    assert progress is not None and progress.submitted_at is not None
