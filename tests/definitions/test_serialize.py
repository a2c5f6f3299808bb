"""Canonical JSON-able form of a definition, and its exact inverse."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.definitions import (
    Anonymity,
    Category,
    DefinitionError,
    Item,
    ItemKind,
    QuestionKind,
    QuestionTemplate,
    Rules,
    Scale,
    ScaleKind,
    Scenario,
    StudyMeta,
    SurveyDefinition,
    definition_from_dict,
    definition_to_dict,
    load_definition,
)
from tests.definitions.helpers import DATA

SURVEYS = Path(__file__).parents[2] / "surveys"
FILES = [SURVEYS / "example.toml", SURVEYS / "iran_russia_us.toml", DATA / "minimal.toml"]


def _json_round_trip(data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(data, ensure_ascii=False, allow_nan=False))
    return result


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_survey_files_survive_a_json_round_trip(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path.name} is not written yet")
    definition = load_definition(path)
    data = definition_to_dict(definition)
    assert definition_from_dict(_json_round_trip(data)) == definition
    assert definition_to_dict(definition_from_dict(data)) == data


def test_a_definition_stored_before_the_pairs_cap_existed_reads_as_uncapped() -> None:
    definition = load_definition(SURVEYS / "example.toml")
    data = definition_to_dict(definition)
    assert data["study"]["conditional_pairs_per_expert"] is None
    del data["study"]["conditional_pairs_per_expert"]
    assert definition_from_dict(data) == definition


def test_canonical_form_is_stable_and_sorted_where_order_means_nothing() -> None:
    definition = load_definition(SURVEYS / "example.toml")
    data = definition_to_dict(definition)
    assert list(data) == [
        "format", "source_hash", "study", "rules", "analysis", "scales", "questions", "categories",
        "items", "scenarios", "warnings", "record",
    ]  # fmt: skip
    assert list(data["scales"]) == sorted(data["scales"])
    assert list(data["questions"]) == sorted(data["questions"])
    assert list(data["study"]["title"]) == ["en", "fa", "ru"]
    assert [item["key"] for item in data["items"]] == [item.key for item in definition.items]
    labels = data["scales"]["impact"]["labels"]
    assert list(labels) == ["-3", "0", "3"]
    trend = next(item for item in data["items"] if item["kind"] == "trend")
    assert trend["baseline"] == {"2015": 250.0, "2020": 235.0, "2024": 228.5}
    once = json.dumps(data, ensure_ascii=False)
    again = json.dumps(
        definition_to_dict(definition_from_dict(json.loads(once))), ensure_ascii=False
    )
    assert once == again


@pytest.mark.parametrize(
    ("damage", "where"),
    [
        (lambda d: d.pop("study"), "study"),
        (lambda d: d["study"].update(k="five"), "study.k"),
        (lambda d: d["items"][0].update(kind="dream"), "items[1].kind"),
        (
            lambda d: d["scales"]["impact"]["labels"].update({"x": {"en": "?"}}),
            "scales.impact.labels",
        ),
        (lambda d: d["scales"]["impact"].update(agree_region=[1]), "scales.impact.agree_region"),
        (lambda d: d["questions"]["seed"].update(quantiles=[5, "50"]), "questions.seed.quantiles"),
        (lambda d: d.update(warnings="none"), "warnings"),
        (
            lambda d: d["study"].update(conditional_pairs_per_expert="7"),
            "study.conditional_pairs_per_expert",
        ),
    ],
)
def test_malformed_stored_data_is_rejected_whole(damage: Any, where: str) -> None:
    data = definition_to_dict(load_definition(SURVEYS / "example.toml"))
    damage(data)
    with pytest.raises(DefinitionError) as caught:
        definition_from_dict(data)
    assert caught.value.problems[0].field == where


# Random definitions (valid or not as surveys: serialization must not care)

_keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC_0123456789", min_size=1, max_size=8)
_texts = st.dictionaries(st.sampled_from(["en", "fa", "ru"]), st.text(max_size=12), max_size=3).map(
    MappingProxyType
)
_numbers = st.floats(allow_nan=False, allow_infinity=False)
_maybe_numbers = st.none() | _numbers
_ints = st.integers(min_value=-(2**40), max_value=2**40)

_scales = st.builds(
    Scale,
    key=_keys,
    kind=st.sampled_from(ScaleKind),
    min=_maybe_numbers,
    max=_maybe_numbers,
    step=_numbers,
    labels=st.dictionaries(_ints, _texts, max_size=3).map(MappingProxyType),
    bipolar=st.booleans(),
    agree_region=st.none() | st.tuples(_numbers, _numbers),
    agree_within=_maybe_numbers,
    consensus=st.none() | st.text(max_size=10),
    unit=_texts,
)
_questions = st.builds(
    QuestionTemplate,
    key=_keys,
    kind=st.sampled_from(QuestionKind),
    prompt=_texts,
    scale=st.none() | _keys,
    required=st.booleans(),
    allow_no_answer=st.booleans(),
    help=_texts,
    horizons=st.lists(_ints, max_size=3).map(tuple),
    quantiles=st.lists(_ints, max_size=3).map(tuple),
    given=st.lists(_keys, max_size=3).map(tuple),
    trend=st.none() | _keys,
    max_length=_ints,
    from_round=_ints,
)
_items = st.builds(
    Item,
    key=_keys,
    kind=st.sampled_from(ItemKind),
    title=_texts,
    text=_texts,
    questions=st.lists(_keys, max_size=3).map(tuple),
    category=st.none() | _keys,
    source=st.text(max_size=10),
    true_value=_maybe_numbers,
    unit=_texts,
    baseline=st.dictionaries(_ints, _numbers, max_size=3).map(MappingProxyType),
    relative_impacts=st.booleans(),
)
_studies = st.builds(
    StudyMeta,
    key=_keys,
    title=_texts,
    description=_texts,
    source=st.text(max_size=10),
    horizon=_ints,
    languages=st.lists(_keys, max_size=3).map(tuple),
    default_language=_keys,
    anonymity=st.sampled_from(Anonymity),
    k=_ints,
    k_comments=_ints,
    round_limit=_ints,
    quantile_method=st.text(max_size=6),
    reason_outside_iqr=st.booleans(),
    suggestions=st.booleans(),
    consent=_texts,
    welcome=_texts,
    conditional_pairs_per_expert=st.none() | _ints,
)
_definitions = st.builds(
    SurveyDefinition,
    format=_ints,
    study=_studies,
    rules=st.builds(
        Rules,
        consensus=st.text(max_size=10),
        stability=st.text(max_size=10),
        compare_presets=st.lists(st.text(max_size=5), max_size=3).map(tuple),
    ),
    scales=st.dictionaries(_keys, _scales, max_size=3).map(MappingProxyType),
    questions=st.dictionaries(_keys, _questions, max_size=3).map(MappingProxyType),
    categories=st.lists(st.builds(Category, key=_keys, label=_texts), max_size=2).map(tuple),
    items=st.lists(_items, max_size=3).map(tuple),
    scenarios=st.lists(
        st.builds(
            Scenario, key=_keys, title=_texts, expression=st.text(max_size=10), description=_texts
        ),
        max_size=2,
    ).map(tuple),
    source_hash=st.text(alphabet="0123456789abcdef", max_size=64),
    warnings=st.lists(st.text(max_size=10), max_size=2).map(tuple),
)


@settings(max_examples=150, deadline=None)
@given(_definitions)
def test_any_definition_round_trips_exactly(definition: SurveyDefinition) -> None:
    data = definition_to_dict(definition)
    restored = definition_from_dict(_json_round_trip(data))
    assert restored == definition
    assert definition_to_dict(restored) == data
