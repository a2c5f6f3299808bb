"""An expert answers round 1 in a real browser, item by item: in English, in Persian (typing
Persian digits), with the keyboard alone, and with a bad value kept as a draft."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Answer, Item, Question, RoundProgress
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import enter_with_link, participation, screenshot

pytestmark = pytest.mark.browser

#: a complete, valid round 1 of the example study: (item, question, part) -> typed text
ANSWERS_EN = {
    ("E01", "probability", ""): "40",
    ("E02", "timing", "2030"): "20",
    ("E02", "timing", "2035"): "30",
    ("E02", "timing", "2040"): "45",
    ("E02", "usage_impact", "t1"): "1",
    ("E02", "usage_impact", "t2"): "3",
    ("E02", "usage_impact", "i_max"): "-20",
    ("E02", "usage_impact", "t3"): "6",
    ("E02", "usage_impact", "i_ss"): "-10",
    ("E03", "probability", ""): "65",
    ("E03", "usage_impact", "t1"): "2",
    ("E03", "usage_impact", "t2"): "4",
    ("E03", "usage_impact", "i_max"): "15",
    ("E03", "usage_impact", "t3"): "8",
    ("E03", "usage_impact", "i_ss"): "5",
    ("T01", "usage_level", "10"): "150",
    ("T01", "usage_level", "50"): "200",
    ("T01", "usage_level", "90"): "260.5",
    ("C01", "seed", "5"): "180",
    ("C01", "seed", "50"): "193",
    ("C01", "seed", "95"): "200",
}
LIKERT_EN = {("E01", "impact"): "2", ("E02", "impact"): "-1", ("E03", "impact"): "0"}
PERSIAN_DIGITS = str.maketrans("0123456789.", "۰۱۲۳۴۵۶۷۸۹٫")


def question_ids(server: LiveServer) -> dict[tuple[str, str], int]:
    """(item key, question key) -> question id in the answering study."""
    with server.app.app_context():
        rows = db.session.execute(
            select(Item.key, Question.key, Question.id)
            .join(Question, Question.item_id == Item.id)
            .where(Item.study_id == server.world.answering_study_id)
        ).all()
    return {(item, question): qid for item, question, qid in rows}


def field_name(ids: dict[tuple[str, str], int], item: str, question: str, part: str = "") -> str:
    """The form field name of a question part (as app/expert/round_form.py names it)."""
    qid = ids[(item, question)]
    return f"q{qid}" if not part else f"q{qid}_{part}"


def saved_answers(server: LiveServer, participation_id: int) -> dict[tuple[str, str], Answer]:
    """The expert's current answers: (item key, question key) -> answer."""
    with server.app.app_context():
        rows = db.session.execute(
            select(Item.key, Question.key, Answer)
            .join(Question, Answer.question_id == Question.id)
            .join(Item, Question.item_id == Item.id)
            .where(Answer.participation_id == participation_id, Answer.is_current.is_(True))
        ).all()
        db.session.expunge_all()
    return {(item, question): answer for item, question, answer in rows}


def consent(page: Any) -> None:
    """Agree on the consent page."""
    page.wait_for_url(re.compile(r".*/e/consent$"))
    page.locator("label[for=agree]").click()
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/e/$"))


def fill_item(
    page: Any, ids: dict[tuple[str, str], int], item: str, *, persian_digits: bool
) -> None:
    """Type an item's answers and pick its Likert points (with the mouse)."""
    for (item_key, question, part), text in ANSWERS_EN.items():
        if item_key != item:
            continue
        typed = text.translate(PERSIAN_DIGITS) if persian_digits else text
        page.fill(f"input[name='{field_name(ids, item_key, question, part)}']", typed)
    for (item_key, question), value in LIKERT_EN.items():
        if item_key != item:
            continue
        name = field_name(ids, item_key, question)
        radio_id = page.locator(f"input[name='{name}'][value='{value}']").get_attribute("id")
        page.locator(f"label[for='{radio_id}']").click()


ITEMS = ("E01", "E02", "E03", "T01", "C01")


def answer_every_page(page: Any, ids: dict[tuple[str, str], int], *, persian_digits: bool) -> None:
    """Answer each item on its own page, moving on with Next (the last one leads to the review)."""
    for item in ITEMS:
        page.wait_for_url(re.compile(rf".*/e/round/items/{item}$"))
        fill_item(page, ids, item, persian_digits=persian_digits)
        page.locator("button[name=action][data-key]").last.click()
    page.wait_for_url(re.compile(r".*/e/round/review$"))


def assert_round_saved(server: LiveServer, participation_id: int) -> None:
    """Every answer arrived as the number that was meant, whatever digits were typed."""
    saved = saved_answers(server, participation_id)
    assert saved[("E01", "probability")].value == 40.0
    assert saved[("E03", "probability")].value == 65.0
    assert saved[("E02", "timing")].value_json == {"2030": 20.0, "2035": 30.0, "2040": 45.0}
    assert saved[("T01", "usage_level")].value_json == {"10": 150.0, "50": 200.0, "90": 260.5}
    assert saved[("E02", "usage_impact")].value_json["i_max"] == -20.0
    assert {key: saved[key].value for key in LIKERT_EN} == {
        key: float(value) for key, value in LIKERT_EN.items()
    }
    with server.app.app_context():
        progress = db.session.scalars(
            select(RoundProgress).where(RoundProgress.participation_id == participation_id)
        ).one()
        assert progress.submitted_at is not None


def test_expert_answers_a_round_in_english(page: Any, live_server: LiveServer) -> None:
    expert = live_server.world.experts["english"]
    enter_with_link(page, live_server, expert.token)
    consent(page)
    assert page.locator("html").get_attribute("dir") == "ltr"
    page.get_by_role("link", name="Start the questionnaire").click()
    page.wait_for_url(re.compile(r".*/e/round$"))
    page.get_by_role("link", name="Start", exact=True).click()
    answer_every_page(page, question_ids(live_server), persian_digits=False)
    screenshot(page, "round1-review-en-desktop")
    page.get_by_role("button", name="Submit round 1").click()
    page.wait_for_url(re.compile(r".*/e/$"))
    assert "your answers are submitted" in page.locator(".flashes").inner_text()
    assert_round_saved(live_server, expert.participation_id)


def test_expert_answers_a_round_in_persian_typing_persian_digits(
    page: Any, live_server: LiveServer
) -> None:
    expert = live_server.world.experts["persian"]
    enter_with_link(page, live_server, expert.token)
    consent(page)
    html = page.locator("html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == ("fa", "rtl")
    page.get_by_role("link", name="شروع پرسشنامه").click()
    page.wait_for_url(re.compile(r".*/e/round$"))
    assert page.locator("h1").inner_text() == "دور ۱"
    ids = question_ids(live_server)
    page.locator("main .round-intro a.button").first.click()
    page.wait_for_url(re.compile(r".*/e/round/items/E01$"))
    # numbers stay left-to-right inside their boxes, in a right-to-left page
    box = page.locator(f"input[name='{field_name(ids, 'E01', 'probability')}']")
    assert box.evaluate("el => getComputedStyle(el).direction") == "ltr"
    fill_item(page, ids, "E01", persian_digits=True)
    assert box.input_value() == "۴۰"
    # autosave answers in Persian too: the status and the progress count in Persian digits
    page.locator("#item-E01 [data-status]").filter(has_text="ذخیره شد").wait_for()
    progress = page.locator(".round-progress").inner_text()
    assert re.search(r"[۰-۵] از ۵", progress), progress
    assert not re.search(r"[0-9]", progress)
    screenshot(page, "round1-item-fa-desktop")
    page.locator("button[name=action][data-key]").last.click()
    for item in ITEMS[1:]:
        page.wait_for_url(re.compile(rf".*/e/round/items/{item}$"))
        fill_item(page, ids, item, persian_digits=True)
        page.locator("button[name=action][data-key]").last.click()
    page.wait_for_url(re.compile(r".*/e/round/review$"))
    page.locator("form[action='/e/round/submit'] button").click()
    page.wait_for_url(re.compile(r".*/e/$"))
    assert "پاسخ‌های شما ارسال شد" in page.locator(".flashes").inner_text()
    assert_round_saved(live_server, expert.participation_id)
    assert participation(live_server, expert.participation_id).language == "fa"


def test_an_item_can_be_answered_with_the_keyboard_alone(
    page: Any, live_server: LiveServer
) -> None:
    expert = live_server.world.experts["keyboard"]
    ids = question_ids(live_server)
    enter_with_link(page, live_server, expert.token)
    page.goto(f"{live_server.url}/e/round/items/E01")
    probability = field_name(ids, "E01", "probability")
    impact = field_name(ids, "E01", "impact")
    confidence = field_name(ids, "E01", "confidence")
    # from the probability box, Tab passes "outside my expertise" and reaches the impact
    # scale (one stop per scale); arrows move along it
    page.focus(f"input[name='{probability}']")
    page.keyboard.type("70")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.name") == f"{probability}_na"
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.name") == impact
    # the focused chip shows a visible focus ring
    ring = page.evaluate(
        "() => getComputedStyle(document.activeElement.nextElementSibling).outlineStyle"
    )
    assert ring == "solid"
    page.keyboard.press("Space")  # selects the first point, -3
    for _step in range(4):
        page.keyboard.press("ArrowRight")  # -3 -> +1
    assert page.locator(f"input[name='{impact}']:checked").get_attribute("value") == "1"
    page.keyboard.press("Tab")  # on to the confidence scale
    assert page.evaluate("() => document.activeElement.name") == confidence
    page.keyboard.press("ArrowRight")  # moves to and selects a point
    page.keyboard.press("Tab")
    page.keyboard.type("Seen it work elsewhere.")
    page.locator("#item-E01 [data-status]").filter(has_text="Saved").wait_for()
    saved = saved_answers(live_server, expert.participation_id)
    assert saved[("E01", "probability")].value == 70.0
    assert saved[("E01", "impact")].value == 1.0
    assert saved[("E01", "confidence")].value is not None


def test_a_bad_value_is_kept_as_a_draft_and_the_review_leads_back_to_it_in_persian(
    page: Any, live_server: LiveServer
) -> None:
    expert = live_server.world.experts["phone"]
    ids = question_ids(live_server)
    enter_with_link(page, live_server, expert.token)
    page.goto(f"{live_server.url}/e/round/items/E01")
    probability = field_name(ids, "E01", "probability")
    page.fill(f"input[name='{probability}']", "۱۵۰")
    warning = page.locator("#item-E01 .field-warning")
    warning.wait_for()
    assert "عددی بین ۰ و ۱۰۰ وارد کنید" in warning.inner_text()
    page.goto(f"{live_server.url}/e/round/review")
    page.locator("form[action='/e/round/submit'] button").click()  # refused: drafts, gaps
    summary = page.locator("#error-summary[data-focus]")
    summary.wait_for()
    # focus moves to the summary, so screen readers announce it; its links lead to the fields
    assert page.evaluate("() => document.activeElement.id") == "error-summary"
    assert "عددی بین ۰ و ۱۰۰ وارد کنید" in summary.inner_text()
    screenshot(page, "round1-review-fa-desktop", full_page=False)
    summary.locator(f"a[href$='#question-{ids[('E01', 'probability')]}']").click()
    page.wait_for_url(re.compile(r".*/e/round/items/E01#question-\d+$"))
    assert page.input_value(f"input[name='{probability}']") == "۱۵۰"  # as typed, kept
