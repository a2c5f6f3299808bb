"""The catalogs and the survey files call each thing by the glossary's name (docs/glossary.md)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

# pages and texts, the same on any database: the PostgreSQL pass skips them
pytestmark = pytest.mark.once

ROOT = Path(__file__).parents[2]
GLOSSARY = ROOT / "docs" / "glossary.md"
TRANSLATIONS = ROOT / "app" / "translations"
SURVEYS = sorted((ROOT / "surveys").glob("*.toml"))
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}")
LANGUAGES = ("fa", "ru")


@dataclass(frozen=True)
class Term:
    """One row of the glossary: what English text names it, and the words each language uses."""

    name: str
    english: re.Pattern[str]
    must: dict[str, tuple[str, ...]]
    never: dict[str, tuple[str, ...]]


def _words(cell: str) -> tuple[str, ...]:
    """The `backticked` words of a table cell."""
    return tuple(re.findall(r"`([^`]+)`", cell))


def glossary() -> list[Term]:
    """The glossary's table as terms."""
    terms = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) != 8 or not cells[1].startswith("`"):
            continue
        name, english, _fa, fa_must, fa_never, _ru, ru_must, ru_never = cells
        terms.append(
            Term(
                name=name,
                english=re.compile(_words(english)[0], re.IGNORECASE),
                must={"fa": _words(fa_must), "ru": _words(ru_must)},
                never={"fa": _words(fa_never), "ru": _words(ru_never)},
            )
        )
    return terms


def problems(english: str, translated: str, language: str, terms: list[Term]) -> Iterator[str]:
    """How a translation departs from the glossary, one line per departure."""
    english = PLACEHOLDER.sub("", english)
    text = translated.lower()
    named = [t for t in terms if t.english.search(english)]
    # a word the glossary forbids is fine where the English also names the term that uses it
    allowed = {w for t in named for w in t.must[language]}
    for term in named:
        if not any(word in text for word in term.must[language]):
            yield f"{term.name}: no {' / '.join(term.must[language])} in {translated[:80]!r}"
        for word in term.never[language]:
            if word in text and word not in allowed:
                yield f"{term.name}: {word!r} in {translated[:80]!r}"


def test_the_glossary_names_every_term_of_the_issue() -> None:
    names = {t.name for t in glossary()}
    assert names >= {
        "panel", "group", "round", "consensus", "middle half", "median", "calibration",
        "development", "scenario", "facilitator", "audit trail",
    }  # fmt: skip


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogs_follow_the_glossary(language: str) -> None:
    terms = glossary()
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale=language)
    found = []
    for entry in catalog:
        if not entry.id:
            continue
        ids = [entry.id] if isinstance(entry.id, str) else list(entry.id)
        strings = [entry.string] if isinstance(entry.string, str) else list(entry.string)
        for text in strings:
            found += problems(" ".join(ids), text, language, terms)
    assert not found, "\n".join(found)


def _texts(node: object) -> Iterator[dict[str, str]]:
    """Every translated text of a parsed survey file (tables with an 'en' string)."""
    if isinstance(node, dict):
        if isinstance(node.get("en"), str):
            yield node  # type: ignore[misc]
        for value in node.values():
            yield from _texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _texts(value)


@pytest.mark.parametrize("path", SURVEYS, ids=lambda p: p.name)
def test_survey_files_follow_the_glossary(path: Path) -> None:
    terms = glossary()
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    found = []
    for text in _texts(data):
        for language in LANGUAGES:
            if isinstance(text.get(language), str):
                found += problems(text["en"], text[language], language, terms)
    assert not found, "\n".join(found)


def test_a_bare_group_for_the_panel_in_russian_is_caught() -> None:
    terms = glossary()
    assert list(problems("The panel's median", "Медиана группы", "ru", terms))
    assert list(problems("Your group's median", "Медиана панели", "ru", terms))
    assert not list(problems("The panel's median", "Медиана панели", "ru", terms))
    assert not list(problems("The panel by group", "Панель по группам", "ru", terms))


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_add_no_percent_sign_the_english_lacks(language: str) -> None:
    """Templates format every text (Jinja's gettext), so a % the English lacks breaks the page."""
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale=language)
    added = []
    for entry in catalog:
        ids = [entry.id] if isinstance(entry.id, str) else list(entry.id)
        strings = [entry.string] if isinstance(entry.string, str) else list(entry.string)
        if not entry.id or any("%" in PLACEHOLDER.sub("", i) for i in ids):
            continue
        added += [s for s in strings if "%" in PLACEHOLDER.sub("", s)]
    assert added == []
