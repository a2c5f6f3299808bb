"""Small helpers for survey-file tests: edit the minimal valid file, collect its problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.definitions import DefinitionError, Problem, SurveyDefinition, parse_definition

DATA = Path(__file__).parent / "data"
MINIMAL = (DATA / "minimal.toml").read_text(encoding="utf-8")


def edited(*replacements: tuple[str, str], base: str = MINIMAL) -> str:
    """The base file with each (old, new) replaced; each old text must occur exactly once."""
    text = base
    for old, new in replacements:
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
        text = text.replace(old, new)
    return text


def parse(text: str | bytes, filename: str = "survey.toml") -> SurveyDefinition:
    """Parse a file given as text or bytes."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return parse_definition(data, filename)


def problems_of(text: str | bytes, filename: str = "bad.toml") -> list[Problem]:
    """The problems of a file that must be rejected."""
    with pytest.raises(DefinitionError) as caught:
        parse(text, filename)
    problems = caught.value.problems
    assert problems, "a DefinitionError must carry at least one problem"
    return problems


def line_of(text: str, snippet: str) -> int:
    """The 1-based line on which `snippet` first occurs in `text`."""
    position = text.index(snippet)
    return text.count("\n", 0, position) + 1


def problem_at(problems: list[Problem], field: str) -> Problem:
    """The one problem reported for `field` (fails listing all problems if there is none)."""
    found = [p for p in problems if p.field == field]
    assert len(found) == 1, "\n".join(str(p) for p in problems)
    return found[0]
