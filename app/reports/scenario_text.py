"""What the report and the results page need to state scenarios in words.

Each named scenario's definition split into conditions (analysis.scenarios.words) with the titles
of its events in the report's language, and each method's most likely configurations grouped by
the named scenarios they fall in.
"""

from __future__ import annotations

from typing import Any

from analysis.errors import InputError
from analysis.scenarios.words import Clause, TopGroup, clauses, group_top
from app.definitions.model import ItemKind
from app.models import pick_text
from app.reports.data import Report


def event_titles(report: Report, language: str) -> dict[str, str]:
    """Each development's title as last asked, in `language` (the study's default if missing)."""
    fallback = report.study.default_language
    titles: dict[str, str] = {}
    for item in report.of_kind(ItemKind.EVENT):
        version = item.version(item.final.version) if item.final else item.item.versions[-1]
        titles[item.key] = pick_text(dict(version.title or {}), language, fallback)
    return titles


def scenario_clauses(report: Report) -> dict[str, tuple[Clause, ...]]:
    """Named scenario key -> the conditions of its definition."""
    found: dict[str, tuple[Clause, ...]] = {}
    if report.scenarios is None:
        return found
    for named in report.scenarios.named:
        try:
            found[named.key] = clauses(named.expression)
        except InputError:
            # a definition that no longer parses is shown as written, without words
            continue
    return found


def top_groups(report: Report) -> dict[str, tuple[TopGroup, ...]]:
    """Method -> its most likely configurations grouped by the named scenarios they fall in."""
    results = report.scenarios
    if results is None:
        return {}
    expressions = {n.key: n.expression for n in results.named}
    try:
        return {m.method: group_top(m.top, expressions, m.events) for m in results.methods if m.top}
    except InputError:
        return {}


def scenario_context(report: Report, language: str) -> dict[str, Any]:
    """The template variables of the scenario texts."""
    results = report.scenarios
    return {
        "event_titles": event_titles(report, language) if results is not None else {},
        "scenario_clauses": scenario_clauses(report),
        "top_groups": top_groups(report),
        "named_titles": {n.key: n.title for n in results.named} if results is not None else {},
    }
