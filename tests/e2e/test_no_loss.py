"""Nothing typed is ever lost, in a real browser: a reload before the save, another device, an
expired session, an expired CSRF token and a server that went away all end with the typed
value on the page and in the database. Incomplete answers are kept as drafts."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import AnswerDraft, ExpertSession, utcnow
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import PHONE, enter_with_link, screenshot
from tests.e2e.test_expert_flow import field_name, question_ids, saved_answers

pytestmark = pytest.mark.browser


def _field(server: LiveServer, item: str, question: str, part: str = "") -> str:
    """A CSS selector of one input of the answering study."""
    return f"[name='{field_name(question_ids(server), item, question, part)}']"


def _stored(server: LiveServer, participation_id: int, item: str, question: str) -> Any:
    """The current answer's single value (None when there is none)."""
    found = saved_answers(server, participation_id).get((item, question))
    return None if found is None else found.value


def _wait_stored(page: Any, server: LiveServer, participation_id: int, value: float) -> None:
    """Wait (up to a minute) until E01's probability is stored as `value`."""
    for _attempt in range(120):
        if _stored(server, participation_id, "E01", "probability") == value:
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"{value} was never stored")


def _open_item(page: Any, server: LiveServer, token: str, item: str = "E01") -> None:
    """Enter through the private link and open an item's page."""
    enter_with_link(page, server, token)
    page.goto(f"{server.url}/e/round/items/{item}")
    page.on("dialog", lambda dialog: dialog.accept())  # "leave the page?" while saving


def test_a_reload_before_the_save_keeps_the_typed_value(page: Any, live_server: LiveServer) -> None:
    expert = live_server.world.experts["reload"]
    _open_item(page, live_server, expert.token)
    probability = _field(live_server, "E01", "probability")
    page.fill(probability, "35")
    # reload at once, before the autosave's pause is over: the browser's copy is all there is
    page.reload()
    assert page.input_value(probability) == "35"
    _wait_stored(page, live_server, expert.participation_id, 35.0)
    page.reload()
    assert page.input_value(probability) == "35"  # now from the server


def test_another_device_sees_answers_and_drafts(new_context: Any, live_server: LiveServer) -> None:
    expert = live_server.world.experts["autosave"]
    page = new_context().new_page()
    _open_item(page, live_server, expert.token)
    probability = _field(live_server, "E01", "probability")
    page.fill(probability, "41")
    page.locator("#item-E01 [data-status]").filter(has_text="Saved").wait_for()
    page.goto(f"{live_server.url}/e/round/items/C01")
    lowest = _field(live_server, "C01", "seed", "5")
    page.fill(lowest, "12")  # only one of three estimates: a draft, kept as typed
    status = page.locator("#item-C01 [data-status]")
    status.filter(has_text="draft").wait_for()
    assert page.locator("#item-C01 .field-warning").count() == 1
    with live_server.app.app_context():
        assert db.session.scalars(select(AnswerDraft)).first() is not None

    other = new_context(viewport=PHONE).new_page()
    enter_with_link(other, live_server, expert.second_token)
    other.goto(f"{live_server.url}/e/round/items/E01")
    assert other.input_value(probability) == "41"
    other.goto(f"{live_server.url}/e/round/items/C01")
    assert other.input_value(lowest) == "12"
    assert "Draft" in other.locator("#item-C01").inner_text()
    screenshot(other, "item-draft-en-phone", full_page=False)


def test_an_expired_session_keeps_the_value_until_the_link_is_opened_again(
    page: Any, live_server: LiveServer
) -> None:
    expert = live_server.world.experts["session"]
    _open_item(page, live_server, expert.token)
    with live_server.app.app_context():
        db.session.execute(
            update(ExpertSession)
            .where(ExpertSession.participation_id == expert.participation_id)
            .values(revoked_at=utcnow())
        )
        db.session.commit()
    probability = _field(live_server, "E01", "probability")
    page.fill(probability, "52")
    banner = page.locator("#save-banner")
    banner.wait_for()
    assert "session has ended" in banner.inner_text()
    assert _stored(live_server, expert.participation_id, "E01", "probability") is None
    screenshot(page, "session-ended-banner-en-desktop", full_page=False)
    # the expert opens the link from the invitation again, in the same browser
    enter_with_link(page, live_server, expert.token)
    page.goto(f"{live_server.url}/e/round/items/E01")
    assert page.input_value(probability) == "52"
    _wait_stored(page, live_server, expert.participation_id, 52.0)


def test_an_expired_csrf_token_is_renewed_and_the_save_goes_through(
    page: Any, live_server: LiveServer
) -> None:
    expert = live_server.world.experts["token"]
    _open_item(page, live_server, expert.token)
    page.evaluate(
        "() => document.querySelectorAll('input[name=csrf_token]')"
        ".forEach(el => { el.value = 'expired-token'; })"
    )
    probability = _field(live_server, "E01", "probability")
    page.fill(probability, "۶۳")  # Persian digits, as a Persian expert types them
    _wait_stored(page, live_server, expert.participation_id, 63.0)
    page.locator("#item-E01 [data-status]").filter(has_text=re.compile("ذخیره")).wait_for()


def test_a_server_that_went_away_gets_the_value_when_it_is_back(
    page: Any, live_server: LiveServer
) -> None:
    expert = live_server.world.experts["restart"]
    _open_item(page, live_server, expert.token)
    probability = _field(live_server, "E01", "probability")
    port = live_server.port
    live_server.stop()
    try:
        page.fill(probability, "74")
        status = page.locator("#item-E01 [data-status]")
        status.filter(has_text=re.compile("нет связи|no connection")).wait_for()
    finally:
        live_server.start(port)
    _wait_stored(page, live_server, expert.participation_id, 74.0)
    page.reload()
    assert page.input_value(probability) == "74"
