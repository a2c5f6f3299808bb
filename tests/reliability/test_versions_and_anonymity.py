"""Editing a study that is running (R15) and the anonymity mode after launch: a rewording
while a round is open makes a new version, answers keep the text they answered, nothing
deletes an item with answers, and anonymity can only ever become stricter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.definitions.model import Anonymity
from app.models import Answer, Item, Round, RoundItem, Study, User
from app.models.errors import AnonymityError
from app.services import panel, rounds
from tests.conftest import NOW, enter_link
from tests.reliability.world import autosave, field_of, item_url, page_token

APP = Path(__file__).resolve().parents[2] / "app"


def _e01(study: Study) -> Item:
    return next(item for item in study.items if item.key == "E01")


def _save(client: FlaskClient, item: Item, value: str) -> None:
    """Autosave the item's probability from its page."""
    token = page_token(client, item.key)
    response = autosave(client, item.key, {field_of(item, "probability"): value}, token)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["questions"]["probability"] == {"state": "saved"}


def test_R15_rewording_during_an_open_round_keeps_what_answers_answered(
    app: Flask, session: Session, example_study: Study, facilitator_user: User
) -> None:
    study = example_study
    item = _e01(study)
    first_title = item.current_version.title["en"]
    round1 = rounds.create_round(session, study, actor=None, now=NOW)
    rounds.open_round(session, round1, actor=None, now=NOW)
    member = panel.add_expert(
        session, study, name="Ann", email="ann@example.org", group="", language="en",
        actor=None, now=NOW,
    )  # fmt: skip
    panel.record_consent(session, member.participation, language="en", now=NOW)
    session.commit()
    browser = app.test_client()
    enter_link(browser, member.token)
    _save(browser, item, "20")

    rounds.reword_item(
        session,
        item,
        title={"en": "A seawater plant supplies the city"},
        text={"en": "A seawater desalination plant supplies at least 10 % of the water."},
        change_note={"en": "Clearer wording."},
        actor=facilitator_user,
        now=NOW,
    )
    session.commit()
    # the open round still asks, shows and records the wording the experts saw
    asked = session.get(RoundItem, (round1.id, item.id))
    assert asked is not None and asked.version.number == 1
    for address in ("/e/round", item_url(item.key)):  # the overview and the item's page
        page = browser.get(address).get_data(as_text=True)
        assert first_title in page and "A seawater plant" not in page, address
    _save(browser, item, "25")
    round1_answers = session.scalars(
        select(Answer).where(Answer.round_id == round1.id, Answer.item_version_id.is_not(None))
    ).all()
    assert {a.item_version.number for a in round1_answers} == {1}

    # the next round asks the new wording; the old answers keep theirs
    rounds.close_round(session, round1, actor=None, now=NOW)
    round2 = rounds.create_round(session, study, actor=None, now=NOW)
    rounds.open_round(session, round2, actor=None, now=NOW)
    session.commit()
    # the item's page asks the new wording, says it changed, and offers round 1's answer
    page = browser.get(item_url(item.key)).get_data(as_text=True)
    assert "A seawater plant supplies the city" in page and "Clearer wording." in page
    assert f'name="{field_of(item, "probability")}" value="25"' in page
    _save(browser, item, "30")
    session.expire_all()
    by_round = {
        a.round_id: a.item_version
        for a in session.scalars(select(Answer).where(Answer.is_current.is_(True)))
        if a.question.key == "probability"
    }
    assert by_round[round1.id].number == 1
    assert by_round[round1.id].title["en"] == first_title
    assert by_round[round2.id].number == 2
    assert by_round[round2.id].title["en"] == "A seawater plant supplies the city"
    assert session.get(Round, round1.id).snapshot is not None  # type: ignore[union-attr]


def test_R15_no_route_deletes_an_item_or_its_answers(app: Flask) -> None:
    """Items are retired or merged, never deleted: no DELETE, no route named for deleting."""
    item_routes = [r for r in app.url_map.iter_rules() if re.search(r"/items|/answers", r.rule)]
    assert item_routes
    for rule in item_routes:
        assert "DELETE" not in (rule.methods or set()), rule.rule
        assert not re.search(r"delete|remove|destroy", rule.endpoint + rule.rule), rule.rule


def test_anonymity_can_only_become_stricter_after_launch(
    session: Session, example_study: Study
) -> None:
    study = example_study
    study.set_anonymity(Anonymity.CONFIDENTIAL)  # before launch: either way
    study.set_anonymity(Anonymity.ANONYMOUS)
    study.set_anonymity(Anonymity.CONFIDENTIAL)
    round_ = rounds.create_round(session, study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW)  # launches the study
    session.commit()
    study.set_anonymity(Anonymity.ANONYMOUS)  # stricter: allowed
    with pytest.raises(AnonymityError):
        study.set_anonymity(Anonymity.CONFIDENTIAL)
    assert study.anonymity == Anonymity.ANONYMOUS


def test_nothing_sets_the_anonymity_mode_but_the_guarded_method() -> None:
    """Any assignment to `.anonymity` outside Study.set_anonymity would bypass the rule."""
    offenders = []
    for path in APP.rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\.anonymity\s*=(?!=)", line) and not (
                path.name == "studies.py" and path.parent.name == "models"
            ):
                offenders.append(f"{path.relative_to(APP.parent)}:{number}: {line.strip()}")
    assert offenders == []
