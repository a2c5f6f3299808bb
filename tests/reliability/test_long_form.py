"""R9: a 60-item round filled over a month, past the session cookie's lifetime: every value is
kept, and a submit whose token went stale re-renders with every value and then succeeds."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import itsdangerous.timed
import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.definitions import parse_definition
from app.models import Answer, Item, RoundProgress, User
from app.services import panel, rounds, studies
from tests.conftest import EXAMPLE_SURVEY, NOW, csrf_from, enter_link

ITEMS = 60
HOUR = 3600


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


def _value(n: int) -> str:
    """The probability typed for item n."""
    return str(n % 101)


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

    def fields(item: Item) -> dict[str, str]:
        probability, impact, reason = (
            next(q for q in item.questions if q.key == key)
            for key in ("probability", "impact", "reason")
        )
        n = int(item.key[1:])
        return {
            f"q{probability.id}": _value(n),
            f"q{impact.id}": str(n % 7 - 3),
            f"q{reason.id}": f"reason for {item.key}",
        }

    browser = app.test_client()
    assert enter_link(browser, member.token).status_code == 303
    page = browser.get("/e/round").get_data(as_text=True)
    stale = csrf_from(page)  # the page stays open for a month

    def autosave(item: Item, token: str) -> int:
        return browser.post(
            f"/e/round/items/{item.id}",
            data=fields(item),
            headers={"Accept": "application/json", "X-CSRFToken": token,
                     "Idempotency-Key": f"key-{item.key}-{clock.offset}"},
        ).status_code  # fmt: skip

    # the first 20 items at once, the next 20 five hours later: the token does not expire
    assert {autosave(item, stale) for item in items[:20]} == {200}
    clock.advance(5 * HOUR)
    assert {autosave(item, stale) for item in items[20:40]} == {200}
    # a month later the session cookie has expired: saving is refused, nothing is lost
    clock.advance(31 * 24 * HOUR)
    refused = browser.post(
        f"/e/round/items/{items[40].id}",
        data=fields(items[40]),
        headers={"Accept": "application/json", "X-CSRFToken": stale},
    )
    assert refused.status_code == 400  # the token's session is gone; the page keeps the item
    assert "Nothing was changed" in refused.get_json()["detail"]
    # the expert opens the link again; the old page (and its token) is still open
    fresh_g()
    assert enter_link(browser, member.token).status_code == 303
    everything = {"action": "submit", "csrf_token": stale, "idempotency_key": "submit-0001"}
    for item in items:
        everything.update(fields(item))
    rerendered = browser.post("/e/round", data=everything)
    assert rerendered.status_code == 400
    html = rerendered.get_data(as_text=True)
    for item in items:  # every typed value is back in the form, the unsaved ones too
        for name, value in fields(item).items():
            shown = re.search(rf'name="{name}"[^>]*value="{re.escape(value)}"', html) or (
                f">{value}</textarea>" in html and f'name="{name}"' in html
            )
            assert shown, f"{item.key}: {name}={value} is not shown again"
    again = browser.post("/e/round", data={**everything, "csrf_token": csrf_from(html)})
    assert again.status_code == 303
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
        for name, value in fields(item).items():
            answer = stored[int(name[1:])]
            kept = answer.text if answer.text is not None else f"{answer.value:g}"
            assert kept == value, f"{item.key} {name}: {kept!r} != {value!r}"
    progress = session.get(RoundProgress, (member.participation.id, round_.id))
    assert progress is not None and progress.submitted_at is not None
