"""The study builder's pages: a study built from nothing through the forms, checked on every
save by the survey-file validator, translated, launched, exported and imported back unchanged."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.definitions import definition_to_dict, parse_definition
from app.models import Study, StudyDraft
from app.services import builder
from tests.conftest import EXAMPLE_SURVEY, csrf_from, login, make_user

# pages and texts, the same on any database: the PostgreSQL pass skips them
pytestmark = pytest.mark.once


def _post(client: FlaskClient, url: str, data: dict[str, Any]) -> Any:
    """POST a builder form with the CSRF token of the page it is on."""
    token = csrf_from(client.get(url).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


SETTINGS = {
    "key": "city-water",
    "languages": "en, fa",
    "default_language": "en",
    "title": "Water of a city",
    "description": "A small study built in the browser.",
    "source": "Builder test",
    "horizon": "2040",
    "anonymity": "anonymous",
    "k": "5",
    "k_comments": "5",
    "round_limit": "3",
    "quantile_method": "type7",
    "page_by": "item",
    "reason_outside_iqr": "y",
    "suggestions": "y",
}


def _build(client: FlaskClient) -> int:
    """Build a small valid study through the forms; return the draft's id."""
    created = _post(client, "/f/builder/new", SETTINGS)
    assert created.status_code == 303, created.get_data(as_text=True)
    draft = int(created.headers["Location"].rstrip("/").split("/")[-1])
    base = f"/f/builder/{draft}"
    assert _post(client, f"{base}/scales", {"key": "pct", "kind": "probability"}).status_code == 303
    question = {
        "key": "likely",
        "kind": "probability",
        "prompt": "How likely is it by {horizon}?",
        "scale": "pct",
        "required": "y",
        "allow_no_answer": "y",
        "from_round": "1",
    }
    assert _post(client, f"{base}/questions", question).status_code == 303
    item = {
        "key": "E01",
        "kind": "event",
        "title": "Desalination plant",
        "text": "A desalination plant supplies a tenth of the water.",
        "questions": ["likely"],
        "relative_impacts": "y",
    }
    assert _post(client, f"{base}/items", item).status_code == 303
    return draft


def test_a_study_built_in_the_browser_launches_and_exports_a_file_that_imports_back(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    make_user(session)
    login(client)
    draft_id = _build(client)
    base = f"/f/builder/{draft_id}"

    # Persian side by side: the page lists every text; save the title's translation
    page = client.get(f"{base}/translations/fa").get_data(as_text=True)
    assert "Desalination plant" in page and "study.title" in page
    draft = session.get(StudyDraft, draft_id)
    assert draft is not None
    labels = [slot.label for slot in builder.text_slots(draft.document)]
    texts = {f"text-{labels.index('study.title')}": "آب یک شهر"}
    texts[f"text-{labels.index('items[E01].title')}"] = "آب‌شیرین‌کن"
    assert _post(client, f"{base}/translations/fa", texts).status_code == 303
    session.expire_all()

    preview = client.get(f"{base}/preview/fa").get_data(as_text=True)
    assert 'dir="rtl"' in preview and "آب‌شیرین‌کن" in preview
    assert "How likely is it by 2040?" in client.get(f"{base}/preview/en").get_data(as_text=True)

    exported = client.get(f"{base}/survey.toml")
    assert exported.status_code == 200 and exported.mimetype == "application/toml"
    token = csrf_from(client.get(base).get_data(as_text=True))
    launched = client.post(f"{base}/launch", data={"csrf_token": token})
    assert launched.status_code == 303
    study = session.scalars(select(Study).where(Study.key == "city-water")).one()
    assert study.title == {"en": "Water of a city", "fa": "آب یک شهر"}

    # the study's file is the draft's file, and importing it into the builder changes nothing
    study_file = client.get(f"/f/studies/{study.id}/survey.toml").get_data()
    assert study_file == exported.get_data()
    token = csrf_from(client.get("/f/builder/import").get_data(as_text=True))
    imported = client.post(
        "/f/builder/import",
        data={"csrf_token": token, "file": (io.BytesIO(study_file), "s.toml")},
        content_type="multipart/form-data",
    )
    assert imported.status_code == 303
    again = client.get(imported.headers["Location"].rstrip("/") + "/survey.toml").get_data()
    assert again == study_file
    # and once launched, the draft is read-only
    refused = _post(client, f"{base}/settings", {**SETTINGS, "title": "Changed"})
    assert refused.status_code == 422
    assert session.get(StudyDraft, draft_id).document["study"]["title"]["en"] == "Water of a city"  # type: ignore[union-attr]


def test_a_save_with_a_problem_keeps_the_typed_input_shows_the_error_and_saves_nothing(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    make_user(session)
    login(client)
    draft_id = _build(client)
    before = dict(session.get(StudyDraft, draft_id).document)  # type: ignore[union-attr]
    scale = {"key": "agree", "kind": "likert", "min": "1", "max": "9000", "step": "1"}
    response = _post(client, f"/f/builder/{draft_id}/scales", scale)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'value="9000"' in page  # the typed input is kept
    assert 'id="max-error"' in page  # and the validator's message is next to the field
    session.expire_all()
    assert session.get(StudyDraft, draft_id).document == before  # type: ignore[union-attr]

    bad_item = {"key": "E02", "kind": "event", "title": "", "text": "x", "questions": ["likely"]}
    response = _post(client, f"/f/builder/{draft_id}/items", bad_item)
    assert response.status_code == 422
    assert 'id="title-error"' in response.get_data(as_text=True)


def test_the_rules_preview_says_what_a_rule_means_without_saving_it(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    make_user(session)
    login(client)
    draft_id = _build(client)
    url = f"/f/builder/{draft_id}/rules"
    data = {
        "consensus": "pct_agree >= 0.8 and iqr <= 1",
        "stability": "changed_share < 0.1",
        "compare_presets": ["grade"],
        "preview": "1",
    }
    page = _post(client, url, data).get_data(as_text=True)
    assert "the share of experts in the agreement region" in page and "0.8" in page
    session.expire_all()
    assert "rules" not in session.get(StudyDraft, draft_id).document  # type: ignore[union-attr]
    saved = _post(client, url, {k: v for k, v in data.items() if k != "preview"})
    assert saved.status_code == 303
    misspelt = {k: v for k, v in data.items() if k != "preview"} | {"consensus": "pct_agre > 1"}
    refused = _post(client, url, misspelt)
    assert refused.status_code == 422 and 'id="consensus-error"' in refused.get_data(as_text=True)


def test_drafts_are_private_to_their_builder(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    make_user(session)
    make_user(session, "other@example.org")
    login(client)
    draft_id = _build(client)
    other = app.test_client()
    login(other, "other@example.org")
    assert other.get(f"/f/builder/{draft_id}").status_code == 404
    assert other.get(f"/f/builder/{draft_id}/survey.toml").status_code == 404
    assert "city-water" not in other.get("/f/builder/").get_data(as_text=True)


def test_a_survey_file_imported_into_the_builder_exports_the_same_definition(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    make_user(session)
    login(client)
    original = EXAMPLE_SURVEY.read_bytes()
    token = csrf_from(client.get("/f/builder/import").get_data(as_text=True))
    imported = client.post(
        "/f/builder/import",
        data={"csrf_token": token, "file": (io.BytesIO(original), "x.toml")},
        content_type="multipart/form-data",
    )
    assert imported.status_code == 303
    exported = client.get(imported.headers["Location"] + "/survey.toml").get_data()
    first = definition_to_dict(parse_definition(original, "x.toml"))
    second = definition_to_dict(parse_definition(exported, "x.toml"))
    first.pop("source_hash"), second.pop("source_hash")
    assert first == second


def test_calibration_questions_and_scenarios_are_built_and_exported(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    make_user(session)
    login(client)
    base = f"/f/builder/{_build(client)}"
    count = {"key": "count", "kind": "continuous", "min": "0", "step": "1"}
    assert _post(client, f"{base}/scales", count).status_code == 303
    estimate = {
        "key": "estimate",
        "kind": "quantiles",
        "prompt": "Your 5th, 50th and 95th percentiles",
        "scale": "count",
        "quantiles": "5, 50, 95",
        "required": "y",
        "from_round": "1",
    }
    assert _post(client, f"{base}/questions", estimate).status_code == 303
    seed = {
        "key": "C01",
        "kind": "calibration",
        "title": "Reservoirs",
        "text": "How many reservoirs did the city have in 2020?",
        "questions": ["estimate"],
    }
    missing = _post(client, f"{base}/items", seed)
    assert missing.status_code == 422
    assert 'id="true_value-error"' in missing.get_data(as_text=True)
    assert _post(client, f"{base}/items", {**seed, "true_value": "42"}).status_code == 303
    second = {"key": "E02", "kind": "event", "title": "Rationing", "text": "Water is rationed."}
    assert _post(client, f"{base}/items", {**second, "questions": ["likely"]}).status_code == 303
    scenario = {"key": "S1", "title": "Plenty", "expression": "E01 and not E03"}
    wrong = _post(client, f"{base}/scenarios", scenario)
    assert wrong.status_code == 422 and 'id="expression-error"' in wrong.get_data(as_text=True)
    scenario["expression"] = "E01 and not E02"
    assert _post(client, f"{base}/scenarios", scenario).status_code == 303
    # an entry renamed keeps its place
    renamed = _post(client, f"{base}/scenarios/S1", {**scenario, "key": "plenty"})
    assert renamed.status_code == 303

    exported = client.get(f"{base}/survey.toml").get_data()
    definition = parse_definition(exported, "built.toml")
    assert definition.item("C01").true_value == 42
    assert [s.key for s in definition.scenarios] == ["plenty"]
    assert definition.questions["estimate"].quantiles == (5, 50, 95)
