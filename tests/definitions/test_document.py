"""A definition written back as a survey file: the canonical TOML reads back to the same
definition, and the same definition always gives the same bytes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import MappingProxyType

import pytest

from analysis.settings import AnalysisSettings
from app.definitions import SurveyDefinition, definition_to_dict, load_definition, parse_definition
from app.definitions.document import definition_to_document, definition_to_toml
from app.definitions.fields import Checker
from app.definitions.validate import build_definition
from tests.definitions.helpers import DATA

SURVEYS = Path(__file__).parents[2] / "surveys"
FILES = [SURVEYS / "example.toml", SURVEYS / "iran_russia_us.toml", DATA / "minimal.toml"]


def _same(first: SurveyDefinition, second: SurveyDefinition) -> bool:
    """Equal definitions, apart from the hash of the file each was read from."""
    one, two = definition_to_dict(first), definition_to_dict(second)
    one.pop("source_hash"), two.pop("source_hash")
    return one == two


def _round_trip(definition: SurveyDefinition) -> tuple[SurveyDefinition, str]:
    text = definition_to_toml(definition)
    return parse_definition(text.encode("utf-8"), "canonical.toml"), text


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_a_survey_file_written_canonically_reads_back_the_same_and_writes_the_same_bytes(
    path: Path,
) -> None:
    definition = load_definition(path)
    again, text = _round_trip(definition)
    assert _same(again, definition)
    assert definition_to_toml(again) == text
    # the same file read twice has the same hash: a launched draft's file is its study's file
    assert again.source_hash == parse_definition(text.encode("utf-8"), "other.toml").source_hash


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_document_is_json_and_validates_to_the_same_definition(path: Path) -> None:
    definition = load_definition(path)
    stored = json.loads(json.dumps(definition_to_document(definition), allow_nan=False))
    checker = Checker()
    rebuilt = build_definition(checker, stored)
    assert checker.problems == []
    assert rebuilt is not None and _same(rebuilt, definition)


def test_texts_with_quotes_backslashes_line_breaks_and_other_scripts_survive() -> None:
    definition = load_definition(SURVEYS / "example.toml")
    tricky = 'A "quoted" title \\ with a backslash,\na line break,\ta tab and # no comment'
    first = definition.items[0]
    title = MappingProxyType({**first.title, "en": tricky, "fa": "عنوان «نقل‌قول» \\ دوم"})
    changed = dataclasses.replace(
        definition,
        items=(dataclasses.replace(first, title=title), *definition.items[1:]),
        analysis=AnalysisSettings(seed=7, tia_runs=2000),
    )
    again, text = _round_trip(changed)
    assert again.items[0].title["en"] == tricky
    assert again.analysis.seed == 7 and again.analysis.tia_runs == 2000
    assert _same(again, changed)
    assert definition_to_toml(again) == text
