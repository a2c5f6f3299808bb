"""No traps between rounds, in a real browser: closing a round under k shows what would be
withheld and wants the round number typed; afterwards round 2's results and report are still
there, counted as of round 2."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from sqlalchemy import select

from app.definitions import load_definition
from app.extensions import db
from app.models import Round, User, utcnow
from app.services import studies
from tests.conftest import EXAMPLE_SURVEY
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import (
    FACILITATOR_EMAIL,
    axe_violations,
    describe_violations,
    log_in_facilitator,
    require_axe,
    screenshot,
)
from tests.reports.helpers import answer_next_round, scripted_study

pytestmark = pytest.mark.browser


def _study_in_round_three(server: LiveServer) -> int:
    """The example survey (k = 5) with 8 experts: rounds 1-2 answered by all and closed, round 3
    open and answered by 3."""
    with server.app.app_context():
        user = db.session.scalars(select(User).where(User.email == FACILITATOR_EMAIL)).one()
        definition = load_definition(EXAMPLE_SURVEY)
        renamed = dataclasses.replace(
            definition, study=dataclasses.replace(definition.study, key="water-2040-between")
        )
        study = studies.import_study(db.session, renamed, actor=user, now=utcnow())
        db.session.commit()
        scripted = scripted_study(db.session, study, user)
        answer_next_round(db.session, scripted, answering=3)
        return study.id


def _state(server: LiveServer, study_id: int, number: int) -> str:
    """A round's state, read from the database."""
    with server.app.app_context():
        return str(
            db.session.scalars(
                select(Round.state).where(Round.study_id == study_id, Round.number == number)
            ).one()
        )


def test_close_under_k_then_round_two_results_and_report(
    new_context: Any, live_server: LiveServer
) -> None:
    require_axe()
    study_id = _study_in_round_three(live_server)
    # bypass_csp only so that axe can run on the close page
    page = new_context(bypass_csp=True).new_page()
    # the results pages and the report are computed on first view, slower than a form
    page.set_default_navigation_timeout(120_000)
    page.set_default_timeout(120_000)
    log_in_facilitator(page, live_server)

    page.goto(f"{live_server.url}/f/studies/{study_id}/rounds/3/close")
    warning = page.locator("#k-guard")
    assert warning.is_visible()
    assert "rated items entirely: E01" in warning.inner_text()
    assert page.get_by_role("button", name="Extend the deadline instead").is_visible()
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)
    screenshot(page, "facilitator-close-under-k-en-desktop")

    # closing without the round number typed is refused, and says what to type
    page.get_by_role("button", name="Close round 3 and freeze its snapshot").click()
    page.wait_for_load_state()
    assert "Type 3 to close round 3" in page.locator("#error-summary").inner_text()
    assert _state(live_server, study_id, 3) == "open"

    page.get_by_label("Type the round number to close it anyway").fill("3")
    page.get_by_role("button", name="Close round 3 and freeze its snapshot").click()
    page.wait_for_url(re.compile(rf".*/f/studies/{study_id}/items$"))
    assert "Round 3 is closed" in page.locator(".flashes").inner_text()
    assert _state(live_server, study_id, 3) == "closed"

    # the results show round 3 first (3 answered), and round 2 as it was (8 answered)
    page.goto(f"{live_server.url}/f/studies/{study_id}/results")
    figures = page.locator(".key-figures")
    assert "answered round 3" in figures.inner_text()
    page.get_by_label("Results as of").select_option("2")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r".*[?&]round=2"))
    text = page.locator(".key-figures").inner_text()
    assert re.search(r"\b8\s+answered round 2", text), text

    # its report is round 2's: built from round 2's snapshot, and named so
    page.get_by_role("link", name="Consensus report (HTML)").click()
    page.wait_for_load_state()
    assert "round=2" in page.url
    report = page.content()
    assert "2 closed of at most 3" in report
    screenshot(page, "facilitator-report-round-2-en-desktop")
