"""A facilitator prepares, opens and closes a round in a real browser."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Round, Snapshot
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import log_in_facilitator, screenshot

pytestmark = pytest.mark.browser


def _round_state(server: LiveServer, study_id: int, number: int) -> tuple[str, bool]:
    """(state, has a snapshot) of a round, read from the database."""
    with server.app.app_context():
        found = db.session.scalars(
            select(Round).where(Round.study_id == study_id, Round.number == number)
        ).one()
        snapshot = db.session.scalar(select(Snapshot.id).where(Snapshot.round_id == found.id))
        return str(found.state), snapshot is not None


def test_facilitator_opens_and_closes_a_round(page: Any, live_server: LiveServer) -> None:
    study_id = live_server.world.closing_study_id
    log_in_facilitator(page, live_server)
    page.goto(f"{live_server.url}/f/studies/{study_id}/rounds")
    page.get_by_role("button", name="Prepare round 1").click()
    page.wait_for_url(re.compile(rf".*/f/studies/{study_id}/rounds$"))
    page.get_by_role("button", name="Open round 1").click()
    page.wait_for_url(re.compile(rf".*/f/studies/{study_id}/rounds$"))
    assert "Round 1 is open" in page.locator(".flashes").inner_text()
    assert _round_state(live_server, study_id, 1) == ("open", False)
    screenshot(page, "facilitator-rounds-en-desktop")

    page.get_by_role("link", name="Close round 1…").click()
    # nobody answered: a close under k wants the round number typed
    page.get_by_label("Type the round number to close it anyway").fill("1")
    page.get_by_role("button", name="Close round 1 and freeze its snapshot").click()
    page.wait_for_load_state()
    assert "Round 1 is closed" in page.locator(".flashes").inner_text()
    assert _round_state(live_server, study_id, 1) == ("closed", True)
