"""Where the first study's language versions differ in meaning, facilitators are told."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.definitions import SurveyDefinition
from app.definitions.serialize import definition_from_dict, definition_to_dict
from app.models import User
from app.services import studies
from tests.conftest import NOW, login

# pages and texts, the same on any database: the PostgreSQL pass skips them
pytestmark = pytest.mark.once

WAR = re.compile(r"\bwar\b", re.IGNORECASE)


def test_every_item_that_says_war_only_in_english_and_persian_carries_a_note(
    first_study_definition: SurveyDefinition,
) -> None:
    differing = [
        item.key
        for item in first_study_definition.items
        if WAR.search(item.title["en"] + item.text["en"])
        and "جنگ" in item.title["fa"] + item.text["fa"]
        and "войн" not in item.title["ru"] + item.text["ru"]
    ]
    assert differing, "the Russian texts no longer say «конфликт»: update the notes"
    for key in differing:
        note = first_study_definition.item(key).translation_note
        assert set(note) == {"en", "fa", "ru"}, key
        assert "конфликт" in note["en"], key


def test_the_note_survives_storage(first_study_definition: SurveyDefinition) -> None:
    stored = definition_from_dict(definition_to_dict(first_study_definition))
    assert (
        stored.item("E22").translation_note == first_study_definition.item("E22").translation_note
    )
    assert dict(stored.item("E01").translation_note) == {}


def test_items_page_shows_the_note_next_to_the_item(
    client: FlaskClient,
    session: Session,
    first_study_definition: SurveyDefinition,
    facilitator_user: User,
) -> None:
    study = studies.import_study(session, first_study_definition, actor=facilitator_user, now=NOW)
    session.commit()
    login(client)
    html = client.get(f"/f/studies/{study.id}/items").get_data(as_text=True)
    e22 = html[html.index('id="item-E22"') : html.index('id="item-E23"')]
    assert "Language versions differ:" in e22
    assert "«конфликт на Украине»" in e22
    e01 = html[html.index('id="item-E01"') : html.index('id="item-E02"')]
    assert "Language versions differ:" not in e01
