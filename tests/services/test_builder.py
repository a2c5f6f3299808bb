"""The study builder's service: saves checked by the survey-file validator, whole or not at all;
launches that import the canonical file."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.models import StateError, StudyDraft, User, ValidationError
from app.services import builder
from tests.conftest import EXAMPLE_SURVEY, NOW, make_user

STUDY: dict[str, Any] = {
    "key": "small-study",
    "title": {"en": "A small study"},
    "description": {"en": "Built step by step."},
    "source": "Service test",
    "horizon": 2035,
    "languages": ["en", "fa"],
    "default_language": "en",
}


@pytest.fixture
def owner(session: Session) -> User:
    """A facilitator who builds drafts."""
    return make_user(session)


def test_settings_with_a_problem_start_no_draft(session: Session, owner: User) -> None:
    with pytest.raises(builder.DraftRejectedError) as refused:
        builder.create_draft(session, owner, {**STUDY, "horizon": 1200}, NOW)
    assert [p.field for p in refused.value.problems] == ["study.horizon"]
    assert session.query(StudyDraft).count() == 0


def test_a_save_is_refused_whole_for_problems_in_what_it_saves_only(
    session: Session, owner: User
) -> None:
    draft = builder.create_draft(session, owner, STUDY, NOW)
    # the item names a question nobody wrote yet: a problem of the item, so it is refused
    item = {"kind": "event", "title": {"en": "An event"}, "text": {"en": "It happens."}}
    before = dict(draft.document)
    with pytest.raises(builder.DraftRejectedError) as refused:
        builder.save_entry(session, draft, "items", None, "E1", {**item, "questions": ["p"]}, NOW)
    assert refused.value.problems[0].field == "items[E1].questions[1]"
    assert draft.document == before
    # a question without an item is fine for now: "at least one item" is the draft's problem
    question = {"kind": "text", "prompt": {"en": "Why?"}}
    result = builder.save_entry(session, draft, "questions", None, "why", question, NOW)
    assert [p.field for p in result.problems] == ["items"]
    result = builder.save_entry(
        session, draft, "items", None, "E1", {**item, "questions": ["why"]}, NOW
    )
    assert result.problems == () and result.definition is not None
    # renaming onto another entry's key is refused
    builder.save_entry(session, draft, "questions", None, "how", question, NOW)
    with pytest.raises(builder.DraftRejectedError):
        builder.save_entry(session, draft, "questions", "how", "why", question, NOW)
    assert list(draft.document["questions"]) == ["why", "how"]


def test_translations_are_saved_per_language_and_checked(session: Session, owner: User) -> None:
    draft = builder.draft_from_file(session, owner, EXAMPLE_SURVEY.read_bytes(), "e.toml", NOW)
    slots = builder.text_slots(draft.document)
    index = [slot.label for slot in slots].index("items[E01].title")
    builder.save_translations(session, draft, "fa", {index: "عنوان تازه"}, NOW)
    assert draft.document["items"][0]["title"]["fa"] == "عنوان تازه"
    with pytest.raises(builder.DraftRejectedError):
        builder.save_translations(session, draft, "fa", {index: "bad \x00 text"}, NOW)
    assert draft.document["items"][0]["title"]["fa"] == "عنوان تازه"
    with pytest.raises(StateError):
        builder.save_translations(session, draft, "en", {index: "x"}, NOW)


def test_a_launch_imports_the_canonical_file_and_freezes_the_draft(
    session: Session, owner: User
) -> None:
    draft = builder.draft_from_file(session, owner, EXAMPLE_SURVEY.read_bytes(), "e.toml", NOW)
    text = builder.draft_toml(draft)
    study = builder.launch(session, draft, actor=owner, now=NOW)
    assert study.definition_hash == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert builder.study_toml(study) == text
    assert draft.study_id == study.id
    with pytest.raises(StateError):
        builder.save_study(session, draft, STUDY, NOW)
    with pytest.raises(StateError):
        builder.launch(session, draft, actor=owner, now=NOW)


def test_a_rule_is_read_into_an_outline_or_an_error() -> None:
    reading = builder.read_rule("pct_agree >= 0.75 and not (iqr > 1)", "consensus")
    assert reading.outline == {
        "kind": "all",
        "parts": [
            {"kind": "compare", "left": "pct_agree", "op": ">=", "right": "0.75"},
            {"kind": "not", "parts": [{"kind": "compare", "left": "iqr", "op": ">", "right": "1"}]},
        ],
    }
    assert builder.read_rule("changed_share < 0.1", "consensus").error is not None


def test_a_launch_under_a_key_in_use_creates_nothing(session: Session, owner: User) -> None:
    first = builder.draft_from_file(session, owner, EXAMPLE_SURVEY.read_bytes(), "e.toml", NOW)
    second = builder.draft_from_file(session, owner, EXAMPLE_SURVEY.read_bytes(), "e.toml", NOW)
    builder.launch(session, first, actor=owner, now=NOW)
    with pytest.raises(ValidationError):
        builder.launch(session, second, actor=owner, now=NOW)
    assert second.study_id is None
