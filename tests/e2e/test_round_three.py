"""Round 3 of the demo in a real browser: keeping every round 2 answer takes a handful of
clicks (in English and in Persian), and revising three items leaves the rest kept."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Answer, Item, Question, Round, RoundProgress
from tests.e2e.conftest import Expert, LiveServer
from tests.e2e.helpers import ARTIFACTS, PHONE, Actions, screenshot

pytestmark = pytest.mark.browser

#: the budget the issue sets for keeping a whole round
MAX_ACTIONS = 60
REASONS = {"en": "As before.", "fa": "مانند قبل.", "ru": "Как и раньше."}


def _rounds(server: LiveServer) -> tuple[int, int]:
    """Ids of the demo's rounds 2 and 3."""
    with server.app.app_context():
        found = {
            r.number: r.id
            for r in db.session.scalars(
                select(Round).where(Round.study_id == server.world.demo_study_id)
            )
        }
    return found[2], found[3]


def _answers(server: LiveServer, expert: Expert, round_id: int) -> dict[int, Answer]:
    """The expert's current answers in a round, by question id."""
    with server.app.app_context():
        rows = db.session.scalars(
            select(Answer).where(
                Answer.participation_id == expert.participation_id,
                Answer.round_id == round_id,
                Answer.is_current.is_(True),
            )
        ).all()
        db.session.expunge_all()
    return {a.question_id: a for a in rows}


def _submitted(server: LiveServer, expert: Expert, round_id: int) -> bool:
    with server.app.app_context():
        progress = db.session.get(RoundProgress, (expert.participation_id, round_id))
        return progress is not None and progress.submitted_at is not None


def _enter(actions: Actions, server: LiveServer, expert: Expert) -> None:
    """Open the private link (from the email) and press Continue."""
    page = actions.page
    page.goto(f"{server.url}/t/{expert.token}?lang={expert.language}")
    actions.click(page.locator("form[action='/t'] button[type=submit]"))
    page.wait_for_url(re.compile(r".*/e/$"))


def _review_and_submit(actions: Actions, language: str) -> None:
    """On the review page: write each missing reason in place, then submit."""
    page = actions.page
    page.wait_for_url(re.compile(r".*/e/round/review$"))
    forms = page.locator(".inline-reason")
    while (left := forms.count()) > 0:
        form = forms.first
        actions.type(form.locator("textarea"), REASONS[language])
        actions.click(form.locator("button"))
        # the review comes back (without a reload) with one reason fewer to write
        page.wait_for_function(
            "n => document.querySelectorAll('.inline-reason').length < n", arg=left
        )
    actions.click(page.locator("form[action='/e/round/submit'] button"))
    page.wait_for_url(re.compile(r".*/e/$"))


@pytest.mark.parametrize("language", ["en", "fa"])
def test_keeping_every_round_two_answer_takes_at_most_60_actions(
    new_context: Any, live_server: LiveServer, language: str
) -> None:
    expert = live_server.world.keepers[language]
    page = new_context(viewport=PHONE).new_page()
    actions = Actions(page)
    _enter(actions, live_server, expert)
    assert page.locator("html").get_attribute("lang") == language
    actions.click(page.locator("main a.button[href='/e/round']"))
    page.wait_for_url(re.compile(r".*/e/round$"))
    keep_all = page.locator("form:has(input[name=scope][value=all]) button")
    screenshot(page, f"round3-overview-{language}-phone", full_page=False)
    actions.click(keep_all)
    keep_all.wait_for(state="detached")
    actions.click(page.locator("main a[href='/e/round/review']").first)
    _review_and_submit(actions, language)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"round3-keep-all-{language}.txt").write_text(
        f"clicks {actions.clicks}, keystrokes {actions.keystrokes}, total {actions.total}\n"
    )
    assert actions.total <= MAX_ACTIONS, (actions.clicks, actions.keystrokes)
    round_2, round_3 = _rounds(live_server)
    assert _submitted(live_server, expert, round_3)
    before, now = _answers(live_server, expert, round_2), _answers(live_server, expert, round_3)
    carried = [q for q in before if q in now]
    assert len(carried) >= len(before) - 9  # every answer but the reasons typed in round 3
    for question_id in carried:
        if now[question_id].text and now[question_id].text == REASONS[language]:
            continue
        assert now[question_id].payload_hash == before[question_id].payload_hash
        assert now[question_id].kept is True


def test_revising_three_items_and_keeping_the_rest(
    new_context: Any, live_server: LiveServer
) -> None:
    expert = live_server.world.demo_experts["en"][0]
    page = new_context().new_page()
    actions = Actions(page)
    _enter(actions, live_server, expert)
    round_2, round_3 = _rounds(live_server)
    before = _answers(live_server, expert, round_2)
    with live_server.app.app_context():
        items = {
            i.key: i.id
            for i in db.session.scalars(
                select(Item).where(Item.study_id == live_server.world.demo_study_id)
            )
        }
        probability = {
            key: q.id
            for key, q in (
                (
                    item_key,
                    db.session.scalars(
                        select(Question).where(
                            Question.item_id == item_id, Question.key == "probability"
                        )
                    ).first(),
                )
                for item_key, item_id in items.items()
            )
            if q is not None
        }
    revised: dict[int, float] = {}
    page.goto(f"{live_server.url}/e/round/items/E01")
    for key in ("E01", "E02", "E03"):
        page.wait_for_url(re.compile(rf".*/e/round/items/{key}$"))
        question_id = probability[key]
        box = page.locator(f"input[name='q{question_id}']")
        old = float(box.input_value())
        new = old + 7 if old < 90 else old - 7
        box.fill(f"{new:g}")
        page.locator(f"#item-{key} [data-status]").filter(has_text="Saved").wait_for()
        revised[question_id] = new
        screenshot(page, f"round3-item-{key}-revised-en-desktop", full_page=False)
        page.get_by_role("button", name="Next →").click()
    # the script moved between pages without reloading: the page's script state is intact
    assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1
    page.keyboard.press("Alt+Shift+O")  # the overview
    page.wait_for_url(re.compile(r".*/e/round$"))
    keep_all = page.locator("form:has(input[name=scope][value=all]) button")
    keep_all.click()
    keep_all.wait_for(state="detached")
    page.locator("main a[href='/e/round/review']").first.click()
    _review_and_submit(actions, "en")

    now = _answers(live_server, expert, round_3)
    assert _submitted(live_server, expert, round_3)
    for question_id, value in revised.items():
        assert now[question_id].value == value
        assert now[question_id].kept is False
    untouched = [q for q in before if q in now and q not in revised]
    kept = [q for q in untouched if now[q].kept]
    # everything else is round 2's answer, kept (reasons typed on the review page aside)
    assert len(kept) >= len(untouched) - 9
    assert all(now[q].payload_hash == before[q].payload_hash for q in kept)
