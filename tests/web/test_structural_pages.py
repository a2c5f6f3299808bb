"""The structural section on the web: an expert's row page, the results page, the report."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.definitions import SurveyDefinition
from app.models import Answer, Question, Study, User
from tests.conftest import csrf_from, enter_link, login
from tests.structural_world import StructuralWorld, seeded_micmac_study

JSON = {"Accept": "application/json"}


@pytest.fixture
def world(
    session: Session, first_study_definition: SurveyDefinition, facilitator_user: User
) -> StructuralWorld:
    return seeded_micmac_study(session, first_study_definition, facilitator_user)


def _influence(session: Session, world: StructuralWorld, key: str) -> Question:
    item = next(i for i in world.study.items if i.key == key)
    return next(q for q in item.questions if q.key == "influence")


def test_the_row_page_shows_each_cell_with_its_feedback_and_saves_a_row(
    client: FlaskClient, session: Session, world: StructuralWorld
) -> None:
    enter_link(client, world.tokens[0])
    page = client.get("/e/round/items/LEAD").get_data(as_text=True)
    question = _influence(session, world, "LEAD")
    names = question.config["columns"]
    # five ratings per other variable, last round's row filled in, the panel per cell
    for column in names:
        assert page.count(f'name="q{question.id}_{column}"') == 5
    assert 'class="matrix-row matrix-influence"' in page and "Geopolitical link" in page
    assert "The panel in round 1" in page and "strip-svg" in page
    checked = re.findall(rf'name="q{question.id}_(\w+)" value="(\w)" checked', page)
    assert ("GEO", "1") in checked and ("ALLY", "3") in checked and len(checked) == 12

    csrf = csrf_from(page)
    row = dict.fromkeys(names, "1") | {"ECON": "P"}
    data = {"csrf_token": csrf, **{f"q{question.id}_{c}": v for c, v in row.items()}}
    saved = client.post("/e/round/items/LEAD", data=data, headers=JSON)
    assert saved.status_code == 200, saved.get_data(as_text=True)
    answer = session.scalars(
        select(Answer).where(
            Answer.question_id == question.id,
            Answer.round_id == world.open.id,
            Answer.is_current.is_(True),
        )
    ).one()
    assert answer.value_json is not None and answer.value_json["_potential"] == ["ECON"]
    again = client.get("/e/round/items/LEAD").get_data(as_text=True)
    assert f'name="q{question.id}_ECON" value="P" checked' in again

    bad = data | {f"q{question.id}_ALLY": "9"}
    refused = client.post("/e/round/items/LEAD", data=bad, headers=JSON)
    assert "ALLY: &#39;9&#39; is not a rating" in refused.get_data(
        as_text=True
    ) or "ALLY: '9' is not a rating" in refused.get_data(as_text=True)


def test_the_results_page_maps_the_panels_matrix(
    client: FlaskClient, world: StructuralWorld
) -> None:
    login(client)
    base = f"/f/studies/{world.study.id}/results"
    assert "Structural analysis" in client.get(base).get_data(as_text=True)
    html = client.get(f"{base}/structural").get_data(as_text=True)
    assert "MICMAC: the drivers of the system" in html
    # the direct and indirect maps, and MACTOR's convergence graph
    assert html.count('src="data:image/svg+xml;base64,') == 3
    assert "MACTOR: the actors and their stakes" in html and "Balance of power" in html
    # CIB: the consistent scenarios in words, with the experts' matrices as counts only
    assert "Cross-impact balances: consistent scenarios" in html
    assert "Iran–Russia relationship: <b>formal alliance</b>" in html
    assert re.search(r"\b\d of 6\b", html)
    assert "supported by consistent scenario 1" in html  # S1, the formal alliance
    assert "12 of 156 cells are withheld" in html
    assert "Leaders&#39; perception of the US" in html or "Leaders' perception of the US" in html
    persian = client.get(f"{base}/structural?lang=fa").get_data(as_text=True)
    assert 'dir="rtl"' in persian and "برداشت رهبران از ایالات متحده" in persian
    # the panel's rankings settle: no word of cycles
    assert "were still changing at power" not in html


def test_rankings_that_never_settle_are_said_to_cycle(
    client: FlaskClient, world: StructuralWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from app.services import structural

    real = structural.micmac

    def cycling(*args: object, **kwargs: object) -> object:
        return dataclasses.replace(real(*args, **kwargs), settled=False)

    monkeypatch.setattr(structural, "micmac", cycling)
    login(client)
    base = f"/f/studies/{world.study.id}/results/structural"
    html = client.get(base).get_data(as_text=True)
    assert "The rankings were still changing at power" in html
    russian = client.get(f"{base}?lang=ru").get_data(as_text=True)
    assert "ранги всё ещё менялись" in russian


def test_the_report_has_a_structural_chapter_in_each_language(
    client: FlaskClient, world: StructuralWorld
) -> None:
    login(client)
    titles = {
        "en": "Iran–Russia strategic alignment",
        "fa": "هم‌گرایی راهبردی ایران و روسیه",
        "ru": "Стратегическое сближение Ирана и России",
    }
    for language, title in titles.items():
        url = f"/f/studies/{world.study.id}/results/report.html?language={language}"
        html = client.get(url).get_data(as_text=True)
        chapter = html.split('<h2 id="structure" class="chapter">', 1)[1].split('"chapter"', 1)[0]
        assert title in chapter
        assert "micmac-matrix" in chapter and "data:image/" in chapter
        assert "Ri*" in chapter and "ALLIANCE" in chapter
        assert chapter.count('<ul class="plain">') == 4  # the draft's four CIB scenarios


def test_a_study_without_variables_shows_no_structural_section(
    client: FlaskClient, example_study: Study
) -> None:
    login(client)
    base = f"/f/studies/{example_study.id}/results"
    assert "/results/structural" not in client.get(base).get_data(as_text=True)
    page = client.get(f"{base}/structural")
    assert page.status_code == 200 and "MICMAC" not in page.get_data(as_text=True)


def test_a_cib_page_shows_the_panel_beside_each_judgement(
    client: FlaskClient, session: Session, world: StructuralWorld
) -> None:
    """A CIB row holds dozens of cells whose states repeat across descriptors ("weakens"):
    the panel's view sits beside each judgement, under its own state and descriptor, not in
    a list of bare state names above the form."""
    enter_link(client, world.tokens[0])
    page = client.get("/e/round/items/D_USRU").get_data(as_text=True)
    item = next(i for i in world.study.items if i.key == "D_USRU")
    question = next(q for q in item.questions if q.key == "cross_impact")
    block = page[page.index(f'id="question-{question.id}"') :]
    block = block[: block.index('<fieldset class="question', 1)]  # up to the next question
    selects = re.findall(r'<select id="[^"]+" name="([^"]+)"', block)
    assert len(selects) > 20
    assert block.count('class="impact-label"') == len(selects)
    shown = block.count("Panel median") + block.count("too few answers")
    assert shown == len(selects)
    assert block.count('class="own-answer"') > 0  # the expert's own round 1 judgements
    assert "Beside each judgement below" in block
    assert "strip-svg" not in block  # no list of bare state names
