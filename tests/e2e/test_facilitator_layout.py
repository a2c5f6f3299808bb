"""The main facilitator pages fit a laptop (1366 px) and a phone (390 px) without sideways
scrolling, in a left-to-right and a right-to-left language (issue 15)."""

from __future__ import annotations

from typing import Any

import pytest

from app.extensions import db
from app.models import Role, User, utcnow
from app.services import accounts
from tests.conftest import PASSWORD
from tests.e2e.helpers import PHONE, screenshot

LAPTOP = {"width": 1366, "height": 768}
LAYOUT_EMAIL = "layout@example.org"

#: the pages a facilitator works in, relative to the study's address
PAGES = ("", "/panel", "/items", "/rounds", "/results", "/results/items/E01")

#: the page's width, and the widest table box that scrolls inside itself (0 if none does)
MEASURE = """() => {
  const root = document.documentElement;
  const boxes = [...document.querySelectorAll('.table-scroll')].filter(b => b.offsetParent);
  const inner = boxes.map(b => b.scrollWidth - b.clientWidth).filter(d => d > 1);
  const wide = [...document.querySelectorAll('main *')].filter(
    e => e.getBoundingClientRect().right > root.clientWidth + 1 ||
         e.getBoundingClientRect().left < -1).slice(0, 5).map(
    e => e.tagName + '.' + e.className);
  return {scroll: root.scrollWidth, client: root.clientWidth, inner: inner, wide: wide};
}"""


@pytest.fixture(scope="module")
def layout_account(live_server: Any) -> str:
    """An administrator of its own, so that choosing languages leaves the others' accounts."""
    with live_server.app.app_context():
        if db.session.query(User).filter_by(email=LAYOUT_EMAIL).one_or_none() is None:
            accounts.create_user(
                db.session,
                email=LAYOUT_EMAIL,
                name="Layout",
                password=PASSWORD,
                role=Role.ADMIN,
                now=utcnow(),
            )
            db.session.commit()
        db.session.remove()
    return LAYOUT_EMAIL


def _log_in(page: Any, server: Any, email: str) -> None:
    """Log in through the form."""
    page.goto(f"{server.url}/account/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{server.url}/f/**")


@pytest.mark.parametrize("language", ["en", "fa"])
@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1366", "390"])
def test_facilitator_pages_fit_without_sideways_scrolling(
    new_context: Any, live_server: Any, layout_account: str, viewport: dict[str, int], language: str
) -> None:
    page = new_context(viewport=viewport).new_page()
    _log_in(page, live_server, layout_account)
    # the switcher in the header remembers the language on the account
    page.locator(f".language-switch button[value={language}]").first.click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == language
    study = f"{live_server.url}/f/studies/{live_server.world.demo_study_id}"
    problems = []
    for path in PAGES:
        # the results pages draw their charts on the first visit: on a busy machine, seconds
        page.goto(study + path, timeout=180_000)
        found = page.evaluate(MEASURE)
        name = f"facilitator-{language}-{viewport['width']}{path.replace('/', '-') or '-study'}"
        screenshot(page, name)
        if found["scroll"] > found["client"]:
            problems.append(
                f"{path or '/'}: page {found['scroll']} > {found['client']} {found['wide']}"
            )
        if viewport is LAPTOP and found["inner"]:
            problems.append(f"{path or '/'}: a table scrolls sideways by {found['inner']} px")
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1366", "390"])
def test_the_retire_button_is_within_reach(
    new_context: Any, live_server: Any, layout_account: str, viewport: dict[str, int]
) -> None:
    page = new_context(viewport=viewport).new_page()
    _log_in(page, live_server, layout_account)
    page.goto(f"{live_server.url}/f/studies/{live_server.world.demo_study_id}/items")
    # the last row's menu: a floating one would hang below the table's scrolling box
    page.locator(".items-table details.menu summary").last.click()
    # found by what it does, in whichever language the account's pages speak
    retire = page.locator(".items-table details.menu[open] form[action$='/retire'] button").first
    retire.scroll_into_view_if_needed()
    box = retire.bounding_box()
    width = page.evaluate("() => document.documentElement.clientWidth")
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    # nothing clips or covers it: a click at its centre lands on it
    hit = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y)?.closest('form')?.getAttribute('action')",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert hit is not None and hit.endswith("/retire")
