"""Every expert page in every language, on a desktop and a phone: axe-core for WCAG 2.1 A/AA
problems, screenshots for people to look at, and the checks a screenshot cannot make.

axe-core is injected with Playwright's add_script_tag. The app's Content-Security-Policy
(rightly) forbids scripts it does not serve, so the contexts that run axe are made with
bypass_csp=True: only here, and only so that axe can run; the expert-flow tests run under the
real policy.

axe runs on the example study (five items of every kind, with round 1's feedback): the same
templates as the first study, whose 35-item form takes axe 15 seconds. The first study's pages
are screenshotted in every language for a reader to judge.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Expert, LiveServer
from tests.e2e.helpers import (
    DESKTOP,
    PHONE,
    axe_violations,
    describe_violations,
    enter_with_link,
    log_in_facilitator,
    require_axe,
    screenshot,
)

pytestmark = pytest.mark.browser

LANGUAGES = ("en", "fa", "ru")
#: the expert's pages: (name, path)
EXPERT_PAGES = (
    ("consent", "/e/consent"),
    ("home", "/e/"),
    ("overview", "/e/round"),
    ("item", "/e/round/items/E02"),
    ("item-conditional", "/e/round/items/E03"),
    ("review", "/e/round/review"),
    ("feedback", "/e/feedback/1"),
    ("report", "/e/report"),
)
#: the demo's round 3 pages screenshotted in every language: (name, path)
ROUND_PAGES = (
    ("overview", "/e/round"),
    ("item", "/e/round/items/E01"),
    ("review", "/e/round/review"),
)


def _signed_in(new_context: Any, server: LiveServer, expert: Expert, viewport: dict) -> Any:
    """A page signed in through the expert's private link (CSP bypassed for axe)."""
    page = new_context(viewport=viewport, bypass_csp=True).new_page()
    enter_with_link(page, server, expert.token)
    return page


def _visit(page: Any, server: LiveServer, path: str, language: str) -> None:
    """Open a page and check it answers in the expert's language and direction."""
    response = page.goto(server.url + path)
    assert response is not None and response.ok, f"{path}: {response and response.status}"
    html = page.locator("html")
    assert html.get_attribute("lang") == language
    assert html.get_attribute("dir") == ("rtl" if language == "fa" else "ltr")


def _fits_width(page: Any) -> bool:
    """Whether the page fits the viewport's width (nothing to scroll sideways)."""
    return bool(page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_expert_pages_have_no_serious_axe_violations(
    new_context: Any, live_server: LiveServer, language: str
) -> None:
    require_axe()
    expert = live_server.world.example_feedback_experts[language]
    page = _signed_in(new_context, live_server, expert, DESKTOP)
    problems = {}
    for name, path in EXPERT_PAGES:
        _visit(page, live_server, path, language)
        screenshot(page, f"example-{name}-{language}-desktop")
        violations = axe_violations(page)
        if violations:
            problems[path] = describe_violations(violations)
    assert not problems, "\n".join(f"{path}:\n{text}" for path, text in problems.items())


@pytest.mark.parametrize("language", LANGUAGES)
def test_expert_pages_fit_a_phone_without_serious_axe_violations(
    new_context: Any, live_server: LiveServer, language: str
) -> None:
    require_axe()
    expert = live_server.world.example_feedback_experts[language]
    page = _signed_in(new_context, live_server, expert, PHONE)
    problems = {}
    for name, path in EXPERT_PAGES:
        _visit(page, live_server, path, language)
        screenshot(page, f"example-{name}-{language}-phone")
        assert _fits_width(page), f"{path} scrolls sideways on a phone in {language}"
        violations = axe_violations(page)
        if violations:
            problems[path] = describe_violations(violations)
    assert not problems, "\n".join(f"{path}:\n{text}" for path, text in problems.items())


@pytest.mark.parametrize("language", LANGUAGES)
def test_demo_round_three_pages_in_every_language(
    new_context: Any, live_server: LiveServer, language: str
) -> None:
    """The first study's round 3 (the demo): overview, an item and the review, screenshotted
    on a desktop and a phone, axe-checked, and never wider than the screen."""
    require_axe()
    expert = live_server.world.demo_experts[language][-1]
    problems = {}
    for viewport_name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = _signed_in(new_context, live_server, expert, viewport)
        for name, path in ROUND_PAGES:
            _visit(page, live_server, path, language)
            # what the expert sees first, with the sticky bar of actions
            screenshot(page, f"round3-{name}-{language}-{viewport_name}-top", full_page=False)
            screenshot(page, f"round3-{name}-{language}-{viewport_name}")
            assert _fits_width(page), f"{path} scrolls sideways in {language} ({viewport_name})"
            violations = axe_violations(page)
            if violations:
                problems[f"{path} ({viewport_name})"] = describe_violations(violations)
    assert not problems, "\n".join(f"{path}:\n{text}" for path, text in problems.items())


def test_feedback_charts_run_in_the_reading_direction(
    new_context: Any, live_server: LiveServer
) -> None:
    ends = {}
    for language in ("en", "fa"):
        expert = live_server.world.example_feedback_experts[language]
        page = _signed_in(new_context, live_server, expert, DESKTOP)
        page.goto(f"{live_server.url}/e/round/items/E01")
        chart = page.locator("#item-E01 svg.chart").first
        assert chart.get_attribute("role") == "img"
        title_id = chart.get_attribute("aria-labelledby")
        assert (page.locator(f"[id='{title_id}']").text_content() or "").strip()
        # the first chart is E01's probability: ticks at 0 %, 50 % and 100 %
        ticks = chart.locator("text")
        labels = [(ticks.nth(i).text_content() or "").strip("\u061c") for i in range(ticks.count())]
        xs = [float(ticks.nth(i).get_attribute("x") or "nan") for i in range(ticks.count())]
        ends[language] = (labels[0], xs[0], labels[-1], xs[-1])
        # the same numbers as a table, which a keyboard user can open
        table = page.locator("details.data-table").first
        table.locator("summary").focus()
        page.keyboard.press("Enter")
        assert table.locator("tbody tr").first.is_visible()
        assert table.locator("tbody tr").count() == chart.locator("rect.bar").count()
    low_en, x_low_en, high_en, x_high_en = ends["en"]
    low_fa, x_low_fa, high_fa, x_high_fa = ends["fa"]
    assert (low_en, high_en) == ("0%", "100%")
    assert (low_fa, high_fa) == ("۰٪", "۱۰۰٪")
    assert x_low_en < x_high_en  # left to right in English
    assert x_low_fa > x_high_fa  # right to left in Persian, like the answer chips


def test_dashboard_has_no_serious_axe_violations(new_context: Any, live_server: LiveServer) -> None:
    require_axe()
    page = new_context(bypass_csp=True).new_page()
    log_in_facilitator(page, live_server)
    page.goto(f"{live_server.url}/f/studies/{live_server.world.first_study_id}")
    screenshot(page, "dashboard-en-desktop")
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)
