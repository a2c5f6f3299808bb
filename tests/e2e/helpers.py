"""Helpers of the browser tests: entering through a link, logging in, screenshots, axe-core."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.extensions import db
from app.models import Participation
from tests.conftest import PASSWORD, ROOT

AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
#: a phone (iPhone 12-sized) and a desktop
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
FACILITATOR_EMAIL = "facilitator@example.org"
#: full-page screenshots stop here (pixels)
MAX_SCREENSHOT_HEIGHT = 4000


def enter_with_link(page: Any, server: Any, token: str) -> None:
    """Open a private link and press Continue, as an expert does."""
    page.goto(f"{server.url}/t/{token}")
    page.locator("form[action='/t'] button[type=submit]").click()
    page.wait_for_url(f"{server.url}/e/**")


def log_in_facilitator(page: Any, server: Any) -> None:
    """Log in through the form."""
    page.goto(f"{server.url}/account/login")
    page.fill("input[name=email]", FACILITATOR_EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{server.url}/f/**")


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot (of the whole page, or of what the viewport shows) under
    tests/e2e/artifacts/ (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    height = page.evaluate("() => document.documentElement.scrollHeight") if full_page else 0
    if full_page and height > MAX_SCREENSHOT_HEIGHT:
        # long forms: the first screens are what a reader judges, and rendering all of a
        # 70,000-pixel page costs seconds; a tall viewport renders only what is kept
        viewport = dict(page.viewport_size)
        page.set_viewport_size({"width": viewport["width"], "height": MAX_SCREENSHOT_HEIGHT})
        page.screenshot(path=str(path), timeout=30_000)
        page.set_viewport_size(viewport)
    else:
        page.screenshot(path=str(path), full_page=full_page, timeout=30_000)
    return path


def axe_violations(page: Any, *, impacts: tuple[str, ...] = ("serious", "critical")) -> list[Any]:
    """Run axe-core (WCAG 2.0/2.1 A and AA rules) on the page; the violations of these impacts.

    The page's Content-Security-Policy forbids scripts the app does not serve, so the context
    this runs in must be made with bypass_csp=True (only the axe runs do that)."""
    page.add_script_tag(path=str(AXE_SCRIPT))
    result = page.evaluate(
        """async () => await axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
            resultTypes: ['violations'],
        })"""
    )
    return [v for v in result["violations"] if v.get("impact") in impacts]


def describe_violations(violations: list[Any]) -> str:
    """A readable summary of axe violations for an assertion message."""
    lines = []
    for violation in violations:
        targets = [", ".join(node["target"]) for node in violation["nodes"][:5]]
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
    return "\n".join(lines)


def require_axe() -> None:
    """Skip (saying how to fix it) when axe-core was not fetched by `make e2e-deps`."""
    if not AXE_SCRIPT.exists():
        pytest.skip(
            f"{AXE_SCRIPT.relative_to(ROOT)} is missing: run `make e2e-deps` (needs npm) "
            "to fetch axe-core for the accessibility checks"
        )


def participation(server: Any, participation_id: int) -> Participation:
    """A fresh copy of a participation from the database."""
    with server.app.app_context():
        found = db.session.get(Participation, participation_id)
        assert found is not None
        db.session.expunge(found)
        return found


class Actions:
    """Counts what an expert does: clicks and keystrokes (typing n characters is n)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.clicks = 0
        self.keystrokes = 0

    @property
    def total(self) -> int:
        """Clicks and keystrokes together."""
        return self.clicks + self.keystrokes

    def click(self, locator: Any) -> None:
        """One click."""
        locator.click()
        self.clicks += 1

    def type(self, locator: Any, text: str) -> None:
        """Click into a field and type `text`, key by key."""
        self.click(locator)
        locator.press_sequentially(text)
        self.keystrokes += len(text)
