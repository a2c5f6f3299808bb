"""A definition as the document a survey file holds, and that document as canonical TOML.

`definition_to_document` is the inverse of the validator (`build_definition`): it gives the
TOML-shaped data (plain dicts, lists, strings and numbers, JSON-able too) that validates back to
an equal definition. Only the fields a kind of scale, question or item may have are written, and
empty texts and unset options are left out, as a person writing the file would.

`document_to_toml` writes such a document as TOML in one fixed layout (tables in the format's
order, texts as inline tables, languages in the study's order), so the same definition always
gives the same bytes: the study builder exports this, and importing the file back gives the same
definition, whose export is the same file again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from app.definitions.model import (
    Item,
    ItemKind,
    Objective,
    QuestionKind,
    QuestionTemplate,
    Scale,
    ScaleKind,
    Scenario,
    StudyMeta,
    SurveyDefinition,
    Text,
)

Document = dict[str, Any]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
#: the top-level tables, in the order the format's documentation and the validator read them
_TOP_LEVEL = ("study", "rules", "analysis", "scales", "questions", "categories", "items")
_ARRAYS = ("categories", "items", "scenarios", "objectives")
_NAMED = ("scales", "questions")


def _text(text: Text, languages: Sequence[str]) -> dict[str, str]:
    """A text with its languages in the study's order (languages it does not know last)."""
    ordered = [language for language in languages if language in text]
    ordered += sorted(language for language in text if language not in languages)
    return {language: text[language] for language in ordered}


def _study(study: StudyMeta) -> Document:
    languages = study.languages
    table: Document = {
        "key": study.key,
        "title": _text(study.title, languages),
        "description": _text(study.description, languages),
        "source": study.source,
        "horizon": study.horizon,
        "languages": list(languages),
        "default_language": study.default_language,
        "anonymity": study.anonymity.value,
        "k": study.k,
        "k_comments": study.k_comments,
        "round_limit": study.round_limit,
        "quantile_method": study.quantile_method,
        "reason_outside_iqr": study.reason_outside_iqr,
        "suggestions": study.suggestions,
        "page_by": study.page_by,
    }
    if study.welcome:
        table["welcome"] = _text(study.welcome, languages)
    if study.consent:
        table["consent"] = _text(study.consent, languages)
    if study.conditional_pairs_per_expert is not None:
        table["conditional_pairs_per_expert"] = study.conditional_pairs_per_expert
    return table


def _scale(scale: Scale, languages: Sequence[str]) -> Document:
    table: Document = {"kind": scale.kind.value}
    if scale.kind is ScaleKind.LIKERT:
        # a Likert scale's points are whole numbers; the validator refuses 1.0 for them
        table["min"] = int(scale.min or 0)
        table["max"] = int(scale.max or 0)
        table["step"] = int(scale.step)
        if scale.labels:
            table["labels"] = {
                str(point): _text(scale.labels[point], languages) for point in sorted(scale.labels)
            }
    else:
        if scale.min is not None:
            table["min"] = scale.min
        if scale.max is not None:
            table["max"] = scale.max
        table["step"] = scale.step
    if scale.kind is not ScaleKind.PROBABILITY:
        table["bipolar"] = scale.bipolar
    if scale.agree_region is not None:
        table["agree_region"] = list(scale.agree_region)
    if scale.agree_within is not None:
        table["agree_within"] = scale.agree_within
    if scale.consensus is not None:
        table["consensus"] = scale.consensus
    if scale.unit:
        table["unit"] = _text(scale.unit, languages)
    return table


def _question(question: QuestionTemplate, languages: Sequence[str]) -> Document:
    kind = question.kind
    table: Document = {"kind": kind.value, "prompt": _text(question.prompt, languages)}
    if question.help:
        table["help"] = _text(question.help, languages)
    if kind is not QuestionKind.TEXT:
        if question.scale is not None:
            table["scale"] = question.scale
        table["allow_no_answer"] = question.allow_no_answer
    table["required"] = question.required
    table["from_round"] = question.from_round
    if kind is QuestionKind.PROBABILITY and question.horizons:
        table["horizons"] = list(question.horizons)
    if kind is QuestionKind.QUANTILES:
        table["quantiles"] = list(question.quantiles)
    if kind is QuestionKind.CONDITIONAL:
        table["given"] = list(question.given)
    if kind is QuestionKind.TREND_IMPACT and question.trend is not None:
        table["trend"] = question.trend
    if kind is QuestionKind.TEXT:
        table["max_length"] = question.max_length
    return table


def _item(item: Item, languages: Sequence[str]) -> Document:
    table: Document = {"key": item.key, "kind": item.kind.value}
    if item.category is not None:
        table["category"] = item.category
    table["title"] = _text(item.title, languages)
    table["text"] = _text(item.text, languages)
    table["questions"] = list(item.questions)
    table["source"] = item.source
    if item.kind is ItemKind.CALIBRATION and item.true_value is not None:
        table["true_value"] = item.true_value
    if item.kind is ItemKind.TREND:
        if item.unit:
            table["unit"] = _text(item.unit, languages)
        if item.baseline:
            table["baseline"] = {str(year): item.baseline[year] for year in sorted(item.baseline)}
        table["relative_impacts"] = item.relative_impacts
    if item.resolves_by is not None:
        table["resolves_by"] = item.resolves_by.isoformat()
    table["resolution_source"] = item.resolution_source
    if item.translation_note:
        table["translation_note"] = _text(item.translation_note, languages)
    if item.variants:
        table["variants"] = [
            {"key": v.key, "title": _text(v.title, languages)} for v in item.variants
        ]
    return table


def _scenario(scenario: Scenario, languages: Sequence[str]) -> Document:
    table: Document = {"key": scenario.key, "title": _text(scenario.title, languages)}
    if scenario.description:
        table["description"] = _text(scenario.description, languages)
    table["expression"] = scenario.expression
    if scenario.states:
        table["states"] = dict(scenario.states)
    return table


def _objective(objective: Objective, languages: Sequence[str]) -> Document:
    table: Document = {"key": objective.key, "title": _text(objective.title, languages)}
    if objective.description:
        table["description"] = _text(objective.description, languages)
    return table


def definition_to_document(definition: SurveyDefinition) -> Document:
    """The survey-file document (TOML-shaped, JSON-able) that validates back to `definition`."""
    languages = definition.study.languages
    rules = definition.rules
    document: Document = {
        "format": definition.format,
        "study": _study(definition.study),
        "rules": {
            "consensus": rules.consensus,
            "stability": rules.stability,
            "compare_presets": list(rules.compare_presets),
        },
    }
    analysis = {k: v for k, v in definition.analysis.changed().items() if v is not None}
    if analysis:
        document["analysis"] = analysis
    document["scales"] = {
        key: _scale(definition.scales[key], languages) for key in sorted(definition.scales)
    }
    document["questions"] = {
        key: _question(definition.questions[key], languages) for key in sorted(definition.questions)
    }
    if definition.categories:
        document["categories"] = [
            {"key": c.key, "label": _text(c.label, languages)} for c in definition.categories
        ]
    document["items"] = [_item(item, languages) for item in definition.items]
    if definition.scenarios:
        document["scenarios"] = [_scenario(s, languages) for s in definition.scenarios]
    if definition.objectives:
        document["objectives"] = [_objective(o, languages) for o in definition.objectives]
    record = definition.record.as_dict()
    if record:
        document["record"] = {name: _text(texts, languages) for name, texts in record.items()}
    return document


# ---------------------------------------------------------------------------------------------
# Writing TOML


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else _string(name)


def _string(value: str) -> str:
    escaped = "".join(
        _ESCAPES.get(char)
        or (f"\\u{ord(char):04x}" if ord(char) < 0x20 or ord(char) == 0x7F else char)
        for char in value
    )
    return f'"{escaped}"'


def _value(value: object) -> str:
    """One TOML value; tables inside a table are written inline."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _table(header: str, table: Mapping[str, object]) -> list[str]:
    lines = [header]
    lines.extend(f"{_key(name)} = {_value(value)}" for name, value in table.items())
    return [*lines, ""]


def document_to_toml(document: Mapping[str, Any]) -> str:
    """The document as TOML text in the canonical layout (see the module's docstring)."""
    lines = [f"format = {_value(document['format'])}", ""]
    order = [*_TOP_LEVEL, "objectives", "scenarios", "record"]
    order += [name for name in document if name not in order and name != "format"]
    for name in order:
        if name not in document:
            continue
        value = document[name]
        if name in _NAMED:
            for key, table in value.items():
                lines += _table(f"[{_key(name)}.{_key(key)}]", table)
        elif name in _ARRAYS:
            for table in value:
                lines += _table(f"[[{_key(name)}]]", table)
        else:
            lines += _table(f"[{_key(name)}]", value)
    return "\n".join(lines).rstrip("\n") + "\n"


def definition_to_toml(definition: SurveyDefinition) -> str:
    """The definition as a canonical survey file (TOML text)."""
    return document_to_toml(definition_to_document(definition))
