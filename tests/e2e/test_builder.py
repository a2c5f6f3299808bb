"""A facilitator builds a small study from nothing in the study builder, in a real browser:
English with Persian translations, a preview in both languages, the rules' preview, the launch,
the survey file exported and imported back identically; axe-core on every builder page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Study
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import (
    axe_violations,
    describe_violations,
    log_in_facilitator,
    require_axe,
    screenshot,
)

pytestmark = pytest.mark.browser

#: Persian for each text the study has, by the label the translations page shows
PERSIAN = {
    "study.title": "آب یک شهر",
    "study.description": "مطالعه‌ای کوچک که در مرورگر ساخته شد.",
    "questions.likely.prompt": "احتمال آن تا سال {horizon} چقدر است؟",
    "items[E01].title": "آب‌شیرین‌کن",
    "items[E01].text": "یک آب‌شیرین‌کن یک دهم آب شهر را تأمین می‌کند.",
}


def _check_axe(page: Any, name: str) -> None:
    """No serious or critical axe-core violation on the page; keep a screenshot of it."""
    violations = axe_violations(page)
    assert not violations, f"{name}:\n{describe_violations(violations)}"
    screenshot(page, f"builder-{name}")


def _submit(page: Any, button: str) -> None:
    """Press a form's button and wait for the page it leads to."""
    with page.expect_navigation():
        page.get_by_role("button", name=button, exact=True).click()


def _save(page: Any, button: str = "Save") -> None:
    """Press a save button; the page that follows shows no problem."""
    _submit(page, button)
    errors = page.locator(".field-error").all_inner_texts()
    assert not errors, errors


def test_a_study_built_in_the_builder_launches_and_round_trips_its_file(
    new_context: Any, live_server: LiveServer
) -> None:
    from playwright.sync_api import expect  # the browser tests skip when playwright is missing

    require_axe()
    # bypass_csp only so that axe can be injected; the pages themselves load nothing else
    page = new_context(bypass_csp=True, accept_downloads=True).new_page()
    url = live_server.url
    log_in_facilitator(page, live_server)

    page.goto(f"{url}/f/")
    page.get_by_role("link", name="Build a study").click()
    _check_axe(page, "drafts")
    page.get_by_role("link", name="Start a new study").click()
    _check_axe(page, "new")
    page.get_by_label("Study key").fill("built-in-browser")
    page.get_by_label("Languages").fill("en, fa")
    page.get_by_label("Default language").fill("en")
    page.get_by_label("Title").fill("Water of a city")
    page.get_by_label("Description").fill("A small study built in the browser.")
    page.get_by_label("Source", exact=True).fill("Browser test")
    page.get_by_label("Horizon (year)").fill("2040")
    _save(page, "Start the draft")
    page.wait_for_url(re.compile(r".*/f/builder/\d+$"))
    draft_url = page.url
    _check_axe(page, "overview-incomplete")

    # a scale, with a mistake first: the error is next to the field and the input is kept
    page.goto(f"{draft_url}/scales")
    page.get_by_label("Key").fill("pct")
    page.get_by_label("Kind").select_option("probability")
    page.get_by_label("Maximum").fill("250")
    _submit(page, "Save")
    assert page.get_by_label("Maximum").input_value() == "250"
    assert "100" in page.locator("#max-error").inner_text()
    _check_axe(page, "scales-error")
    page.get_by_label("Maximum").fill("100")
    _save(page)

    page.goto(f"{draft_url}/questions")
    page.get_by_label("Key").fill("likely")
    page.get_by_label("Kind").select_option("probability")
    page.get_by_label("Prompt").fill("How likely is it by {horizon}?")
    page.get_by_label("Scale").select_option("pct")
    page.get_by_label("Asked from round").fill("1")
    _save(page)
    _check_axe(page, "questions")

    page.goto(f"{draft_url}/items")
    page.get_by_label("Key").fill("E01")
    page.get_by_label("Kind").select_option("event")
    page.get_by_label("Title").fill("Desalination plant")
    page.get_by_label("Text", exact=True).fill(
        "A desalination plant supplies a tenth of the water."
    )
    page.get_by_label("likely").check()
    _save(page)
    _check_axe(page, "items")

    # Persian, side by side with the English
    page.goto(f"{draft_url}/translations/fa")
    for label, text in PERSIAN.items():
        page.get_by_label(f"{label} (", exact=False).fill(text)
    _save(page, "Save the translations")
    _check_axe(page, "translations-fa")

    # the rules: the preview says what they mean before anything is saved
    page.goto(f"{draft_url}/rules")
    # as the rule is typed, the page says what it means (a small script asks "Preview")
    page.get_by_label("Consensus rule").fill("pct_agree >= 0.8 and iqr <= 1")
    expect(page.locator("#rule-preview")).to_contain_text("0.8")
    # without the script, the Preview button does the same and saves nothing
    page.get_by_label("Stability (stopping) rule").fill("changed_share < 0.1")
    _submit(page, "Preview")
    reading = page.locator("#rule-preview").inner_text()
    assert "the share of experts in the agreement region" in reading and "0.1" in reading
    _check_axe(page, "rules")
    _save(page, "Save the rules")

    for language, text in (("en", "How likely is it by 2040?"), ("fa", "آب‌شیرین‌کن")):
        page.goto(f"{draft_url}/preview/{language}")
        preview = page.locator(".expert-preview")
        assert text in preview.inner_text()
        assert preview.get_attribute("dir") == ("rtl" if language == "fa" else "ltr")
        _check_axe(page, f"preview-{language}")

    page.goto(draft_url)
    assert "no problem" in page.locator("#check").inner_text()
    _check_axe(page, "overview-valid")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export the survey file (TOML)").click()
    exported = Path(download.value.path()).read_bytes()
    assert 'fa = "آب یک شهر"' in exported.decode("utf-8")

    page.get_by_role("button", name="Launch the study").click()
    page.wait_for_url(re.compile(r".*/f/studies/\d+$"))
    with live_server.app.app_context():
        study = db.session.scalars(select(Study).where(Study.key == "built-in-browser")).one()
        study_id, items = study.id, [item.key for item in study.items]
    assert items == ["E01"]
    study_file = page.request.get(f"{url}/f/studies/{study_id}/survey.toml").body()
    assert study_file == exported

    # the exported file, imported back into the builder, exports the same bytes
    page.goto(f"{url}/f/builder/import")
    page.get_by_label("Survey file (.toml)").set_input_files(
        files=[{"name": "built.toml", "mimeType": "application/toml", "buffer": exported}]
    )
    page.get_by_role("button", name="Check and make a draft").click()
    page.wait_for_url(re.compile(r".*/f/builder/\d+$"))
    assert page.url != draft_url
    again = page.request.get(f"{page.url}/survey.toml").body()
    assert again == exported
