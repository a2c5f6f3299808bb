"""Persian pages write numbers in Persian digits and the Persian percent sign (issue 19)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.models import Study, User
from app.services import rounds
from tests.conftest import NOW, enter_link
from tests.persian_text import latin_in_persian, visible_text
from tests.reports.helpers import ScriptedStudy, scripted_study

# pages and texts, the same on any database: the PostgreSQL pass skips them
pytestmark = pytest.mark.once


@pytest.fixture
def persian_panel(
    client: FlaskClient, session: Session, example_study: Study, facilitator_user: User
) -> ScriptedStudy:
    """Two closed rounds, round 3 open, and the first expert reading in Persian."""
    scripted = scripted_study(session, example_study, facilitator_user)
    round_ = rounds.create_round(session, example_study, actor=facilitator_user, now=NOW)
    rounds.open_round(session, round_, actor=facilitator_user, now=NOW)
    participation, token = scripted.members[0]
    participation.language = "fa"
    session.commit()
    enter_link(client, token)
    return scripted


def test_the_checker_finds_latin_numbers_and_percent_signs_in_persian() -> None:
    assert latin_in_persian("پاسخ‌ها در دور 2 بسته شد")
    assert latin_in_persian("میانه ۴۰ % است")
    assert latin_in_persian("میانهٔ پنل ۴۰% است")
    assert not latin_in_persian("میانهٔ پنل ٪۴۰ در دور ۲ است")
    assert not latin_in_persian("مورد E01 با α = 0.05")


def test_feedback_shows_the_panels_figures_in_persian(
    client: FlaskClient, persian_panel: ScriptedStudy
) -> None:
    text = visible_text(client.get("/e/feedback/2").get_data(as_text=True))
    assert "میانهٔ پنل" in text or "میانه" in text
    assert "٪" in text


@pytest.mark.parametrize(
    "path",
    ["/e/", "/e/round", "/e/round/items/E01", "/e/round/items/T01", "/e/round/review",
     "/e/feedback/2", "/e/report"],
)  # fmt: skip
def test_expert_pages_in_persian_have_no_latin_numbers(
    client: FlaskClient, persian_panel: ScriptedStudy, path: str
) -> None:
    page = client.get(path)
    assert page.status_code == 200, path
    html = page.get_data(as_text=True)
    assert '<html lang="fa"' in html
    text = visible_text(html)
    assert latin_in_persian(text) == []
    assert any(digit in text for digit in "۰۱۲۳۴۵۶۷۸۹")  # numbers are there, in Persian
