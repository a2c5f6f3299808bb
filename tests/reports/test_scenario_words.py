"""Named scenarios in words (item titles in the reader's language) and the most likely
configurations explained and grouped by the named scenarios, on the results page and in the
report."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.models import Study, User, utcnow
from app.reports import render
from app.reports.data import build_report
from tests.conftest import login
from tests.reports.helpers import scripted_study

DESALINATION = "A desalination plant supplies the city"
CAPPED = "Groundwater use is capped"


def _cell_of(html: str, key: str) -> str:
    """The definition cell of one named scenario's row."""
    row = re.search(rf"(?s)<tr>\s*<t[hd][^>]*>{key}</t[hd]>(.*?)</tr>", html)
    assert row, key
    return row.group(1)


def test_the_scenarios_page_states_definitions_in_words_and_groups_the_top_lists(
    client: FlaskClient, session: Session, example_study: Study, facilitator_user: User
) -> None:
    scripted = scripted_study(session, example_study, facilitator_user)
    login(client)
    html = client.get(f"/f/studies/{scripted.study.id}/results/scenarios").get_data(as_text=True)
    s1 = _cell_of(html, "S1")
    assert f"{DESALINATION}</span> happens" in s1
    assert f"{CAPPED}</span> does not happen" in s1
    assert "E01 and not E03" in s1  # the definition as written stays beside the words
    s2 = _cell_of(html, "S2")
    assert "at least one of these happens" in s2 and "Water prices double" in s2
    assert "one exact combination of all of a method" in html
    groups = re.findall(
        r'<tr class="group"><th scope="rowgroup" colspan="4">(.*?)</th>', html, re.S
    )
    assert groups and any("In " in g and "S1" in g for g in groups)
    assert all("rows, together" in g for g in groups)


def test_the_report_states_scenarios_with_item_titles_in_each_language(
    app: Flask, session: Session, example_study: Study, facilitator_user: User
) -> None:
    scripted = scripted_study(session, example_study, facilitator_user)
    with app.test_request_context():
        english = render.render_html(
            build_report(session, scripted.study, now=utcnow(), language="en")
        )
        persian = render.render_html(
            build_report(session, scripted.study, now=utcnow(), language="fa")
        )
    chapter = english.split('id="scenarios"')[1].split("<h2 id=")[0]
    assert f"{DESALINATION}</span> happens" in chapter
    assert "In no named scenario" in chapter or "In <bdi>S" in chapter
    persian_chapter = persian.split('id="scenarios"')[1].split("<h2 id=")[0]
    assert "یک آب‌شیرین‌کن آب شهر را تأمین می‌کند" in persian_chapter
    assert "برداشت آب زیرزمینی محدود می‌شود" in persian_chapter
    assert DESALINATION not in persian_chapter
