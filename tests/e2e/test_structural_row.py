"""An expert rates one MICMAC row on a phone, right to left: every other variable's direct
influence as a group of five chips, autosaved as typed work is."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Answer, Item, Question, Round
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import PHONE, enter_with_link, screenshot

pytestmark = pytest.mark.browser


def _row_question(server: LiveServer, key: str) -> tuple[int, list[str]]:
    """The influence question of variable `key` in the first study: its id and columns."""
    with server.app.app_context():
        question = db.session.scalars(
            select(Question)
            .join(Item, Question.item_id == Item.id)
            .where(
                Item.study_id == server.world.first_study_id,
                Item.key == key,
                Question.key == "influence",
            )
        ).one()
        return question.id, list(question.config["columns"])


def _saved_row(server: LiveServer, question_id: int, participation_id: int) -> dict[str, Any]:
    """The expert's current answer to the row in the open round (empty if none)."""
    with server.app.app_context():
        answer = db.session.scalars(
            select(Answer)
            .join(Round, Answer.round_id == Round.id)
            .where(
                Answer.question_id == question_id,
                Answer.participation_id == participation_id,
                Answer.is_current.is_(True),
                Round.number == 2,
            )
        ).one_or_none()
        return dict(answer.value_json or {}) if answer is not None else {}


def test_an_expert_rates_a_row_on_a_phone_in_persian(
    new_context: Any, live_server: LiveServer
) -> None:
    expert = live_server.world.feedback_experts["fa"]
    page = new_context(viewport=PHONE).new_page()
    enter_with_link(page, live_server, expert.token)
    question_id, columns = _row_question(live_server, "LEAD")
    page.goto(f"{live_server.url}/e/round/items/LEAD")
    assert page.locator("html").get_attribute("dir") == "rtl"
    cells = page.locator(f"#question-{question_id} .matrix-cell")
    assert cells.count() == len(columns) == 12
    # the row fits the phone: no cell, and no chip, reaches past the screen's edge
    width = page.evaluate("() => document.documentElement.clientWidth")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    chips = page.locator(f"#question-{question_id} .cell-choices .chip")
    for index in range(chips.count()):
        box = chips.nth(index).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
        assert box["height"] >= 44  # a finger's target
    # the panel's view of last round is there, cell by cell
    assert page.locator(f"#question-{question_id} .fb .strip-labels li").count() == 12

    wanted = {column: str(index % 4) for index, column in enumerate(columns)} | {"ECON": "P"}
    for column, rating in wanted.items():
        page.locator(f"label[for='q{question_id}_{column}-{'0123P'.index(rating)}']").click()
    page.locator("#item-LEAD [data-status]").filter(has_text="ذخیره شد").wait_for()
    screenshot(page, "structural-row-fa-phone")

    saved: dict[str, Any] = {}
    for _attempt in range(50):  # the autosave is a request away: wait for it to land
        saved = _saved_row(live_server, question_id, expert.participation_id)
        if saved.get("_potential") == ["ECON"] and saved.get("ALLY") is not None:
            break
        page.wait_for_timeout(100)
    assert saved.get("_potential") == ["ECON"]
    assert {c: saved[c] for c in columns if c != "ECON"} == {
        c: float(wanted[c]) for c in columns if c != "ECON"
    }
    page.reload()
    assert page.locator(f"input[name='q{question_id}_ECON'][value='P']").is_checked()
