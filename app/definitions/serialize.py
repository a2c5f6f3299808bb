"""A definition as canonical JSON-able data, and back: for the database and study archives.

`definition_to_dict` writes every field (defaults too), with a stable key order; mappings whose
order means nothing (texts, scales, questions, labels, baselines) are sorted, lists keep their
order (items, questions of an item, scenarios). `definition_from_dict` is its exact inverse and
checks the shape of what it reads, so a corrupted archive fails whole with `DefinitionError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeVar

from analysis.errors import InputError
from analysis.settings import AnalysisSettings
from app.definitions.model import (
    Anonymity,
    Category,
    DefinitionError,
    Item,
    ItemKind,
    Objective,
    Problem,
    QuestionKind,
    QuestionTemplate,
    Rules,
    Scale,
    ScaleKind,
    Scenario,
    StudyMeta,
    SurveyDefinition,
    Text,
    Variant,
)
from app.definitions.record import RECORD_FIELDS, StudyRecord

#: What a Problem names as the file when stored data is malformed.
STORED = "stored definition"

JsonDict = dict[str, Any]
E = TypeVar("E", bound=StrEnum)


def _text(text: Text) -> dict[str, str]:
    return {language: text[language] for language in sorted(text)}


def _study(study: StudyMeta) -> JsonDict:
    return {
        "key": study.key,
        "title": _text(study.title),
        "description": _text(study.description),
        "source": study.source,
        "horizon": study.horizon,
        "languages": list(study.languages),
        "default_language": study.default_language,
        "anonymity": study.anonymity.value,
        "k": study.k,
        "k_comments": study.k_comments,
        "round_limit": study.round_limit,
        "quantile_method": study.quantile_method,
        "reason_outside_iqr": study.reason_outside_iqr,
        "suggestions": study.suggestions,
        "page_by": study.page_by,
        "consent": _text(study.consent),
        "welcome": _text(study.welcome),
        "conditional_pairs_per_expert": study.conditional_pairs_per_expert,
    }


def _scale(scale: Scale) -> JsonDict:
    return {
        "key": scale.key,
        "kind": scale.kind.value,
        "min": scale.min,
        "max": scale.max,
        "step": scale.step,
        "labels": {str(point): _text(scale.labels[point]) for point in sorted(scale.labels)},
        "bipolar": scale.bipolar,
        "agree_region": None if scale.agree_region is None else list(scale.agree_region),
        "agree_within": scale.agree_within,
        "consensus": scale.consensus,
        "unit": _text(scale.unit),
    }


def _question(question: QuestionTemplate) -> JsonDict:
    return {
        "key": question.key,
        "kind": question.kind.value,
        "prompt": _text(question.prompt),
        "scale": question.scale,
        "required": question.required,
        "allow_no_answer": question.allow_no_answer,
        "help": _text(question.help),
        "horizons": list(question.horizons),
        "quantiles": list(question.quantiles),
        "given": list(question.given),
        "trend": question.trend,
        "max_length": question.max_length,
        "from_round": question.from_round,
    }


def _item(item: Item) -> JsonDict:
    return {
        "key": item.key,
        "kind": item.kind.value,
        "title": _text(item.title),
        "text": _text(item.text),
        "questions": list(item.questions),
        "category": item.category,
        "source": item.source,
        "true_value": item.true_value,
        "unit": _text(item.unit),
        "baseline": {str(year): item.baseline[year] for year in sorted(item.baseline)},
        "relative_impacts": item.relative_impacts,
        "resolves_by": None if item.resolves_by is None else item.resolves_by.isoformat(),
        "resolution_source": item.resolution_source,
        "translation_note": _text(item.translation_note),
        # only descriptors have variants: the stored form of every other item stays as it was
        **(
            {"variants": [{"key": v.key, "title": _text(v.title)} for v in item.variants]}
            if item.variants
            else {}
        ),
    }


def definition_to_dict(definition: SurveyDefinition) -> JsonDict:
    """The definition as canonical JSON-able data (every field, stable order)."""
    rules = definition.rules
    return {
        "format": definition.format,
        "source_hash": definition.source_hash,
        "study": _study(definition.study),
        "rules": {
            "consensus": rules.consensus,
            "stability": rules.stability,
            "compare_presets": list(rules.compare_presets),
        },
        "analysis": definition.analysis.as_dict(),
        "scales": {key: _scale(definition.scales[key]) for key in sorted(definition.scales)},
        "questions": {
            key: _question(definition.questions[key]) for key in sorted(definition.questions)
        },
        "categories": [{"key": c.key, "label": _text(c.label)} for c in definition.categories],
        "items": [_item(item) for item in definition.items],
        "scenarios": [
            {
                "key": s.key,
                "title": _text(s.title),
                "expression": s.expression,
                "description": _text(s.description),
                **({"states": dict(s.states)} if s.states else {}),
            }
            for s in definition.scenarios
        ],
        "warnings": list(definition.warnings),
        "record": definition.record.as_dict(),
        # only when there are some: the stored form of every other study stays as it was
        **(
            {
                "objectives": [
                    {"key": o.key, "title": _text(o.title), "description": _text(o.description)}
                    for o in definition.objectives
                ]
            }
            if definition.objectives
            else {}
        ),
    }


# ---------------------------------------------------------------------------------------------
# Reading back, checking the shape as we go


class _MalformedError(Exception):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where


class _Reader:
    """Typed access to one stored JSON object; `where` names it in errors."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise _MalformedError(where, "expected an object")
        self.data: JsonDict = data
        self.where = where

    def _path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def raw(self, key: str) -> object:
        if key not in self.data:
            raise _MalformedError(self._path(key), "missing")
        return self.data[key]

    def string(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            raise _MalformedError(self._path(key), "expected a string")
        return value

    def optional_string(self, key: str) -> str | None:
        return None if self.raw(key) is None else self.string(key)

    def integer(self, key: str) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _MalformedError(self._path(key), "expected an integer")
        return value

    def optional_integer(self, key: str) -> int | None:
        """An integer or null; a missing key reads as null (data written before the key existed)."""
        return None if self.data.get(key) is None else self.integer(key)

    def flag(self, key: str) -> bool:
        value = self.raw(key)
        if not isinstance(value, bool):
            raise _MalformedError(self._path(key), "expected true or false")
        return value

    def number(self, key: str) -> float:
        return _number(self.raw(key), self._path(key))

    def optional_number(self, key: str) -> float | None:
        return None if self.raw(key) is None else self.number(key)

    def sub(self, key: str) -> _Reader:
        return _Reader(self.raw(key), self._path(key))

    def array(self, key: str) -> list[object]:
        value = self.raw(key)
        if not isinstance(value, list):
            raise _MalformedError(self._path(key), "expected a list")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.array(key)
        strings = tuple(v for v in values if isinstance(v, str))
        if len(strings) != len(values):
            raise _MalformedError(self._path(key), "expected a list of strings")
        return strings

    def integers(self, key: str) -> tuple[int, ...]:
        values = self.array(key)
        integers = tuple(v for v in values if isinstance(v, int) and not isinstance(v, bool))
        if len(integers) != len(values):
            raise _MalformedError(self._path(key), "expected a list of integers")
        return integers

    def text(self, key: str) -> Text:
        sub = self.sub(key)
        return MappingProxyType({language: sub.string(language) for language in sub.data})

    def choice(self, key: str, enum: type[E]) -> E:
        value = self.string(key)
        if value not in {member.value for member in enum}:
            raise _MalformedError(self._path(key), f"unknown value {value[:40]!r}")
        return enum(value)

    def by_whole_number(self, key: str) -> dict[int, object]:
        """A table keyed by whole numbers written as strings (scale points, years)."""
        sub = self.sub(key)
        result: dict[int, object] = {}
        for name, value in sub.data.items():
            if not (name.lstrip("-").isdigit() and name.isascii()):
                raise _MalformedError(
                    sub.where, f"expected whole numbers as keys, got {name[:40]!r}"
                )
            result[int(name)] = value
        return result


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _MalformedError(where, "expected a number")
    return float(value)


def _texts(value: object, where: str) -> Text:
    return _Reader({"text": value}, where).text("text")


def _read_scale(r: _Reader) -> Scale:
    agree_region: tuple[float, float] | None = None
    if r.raw("agree_region") is not None:
        where = f"{r.where}.agree_region"
        ends = [_number(value, where) for value in r.array("agree_region")]
        if len(ends) != 2:
            raise _MalformedError(where, "expected two numbers")
        agree_region = (ends[0], ends[1])
    labels = {
        point: _texts(label, f"{r.where}.labels.{point}")
        for point, label in r.by_whole_number("labels").items()
    }
    return Scale(
        key=r.string("key"),
        kind=r.choice("kind", ScaleKind),
        min=r.optional_number("min"),
        max=r.optional_number("max"),
        step=r.number("step"),
        labels=MappingProxyType(labels),
        bipolar=r.flag("bipolar"),
        agree_region=agree_region,
        agree_within=r.optional_number("agree_within"),
        consensus=r.optional_string("consensus"),
        unit=r.text("unit"),
    )


def _read_question(r: _Reader) -> QuestionTemplate:
    return QuestionTemplate(
        key=r.string("key"),
        kind=r.choice("kind", QuestionKind),
        prompt=r.text("prompt"),
        scale=r.optional_string("scale"),
        required=r.flag("required"),
        allow_no_answer=r.flag("allow_no_answer"),
        help=r.text("help"),
        horizons=r.integers("horizons"),
        quantiles=r.integers("quantiles"),
        given=r.strings("given"),
        trend=r.optional_string("trend"),
        max_length=r.integer("max_length"),
        from_round=r.integer("from_round"),
    )


def _read_item(r: _Reader) -> Item:
    baseline = {
        year: _number(value, f"{r.where}.baseline.{year}")
        for year, value in r.by_whole_number("baseline").items()
    }
    return Item(
        key=r.string("key"),
        kind=r.choice("kind", ItemKind),
        title=r.text("title"),
        text=r.text("text"),
        questions=r.strings("questions"),
        category=r.optional_string("category"),
        source=r.string("source"),
        true_value=r.optional_number("true_value"),
        unit=r.text("unit"),
        baseline=MappingProxyType(baseline),
        relative_impacts=r.flag("relative_impacts"),
        # definitions stored before items had resolution dates and sources have none
        resolves_by=_date(r, "resolves_by"),
        resolution_source=r.string("resolution_source") if "resolution_source" in r.data else "",
        # only some items have one, and definitions stored before notes existed have none
        translation_note=(
            r.text("translation_note") if "translation_note" in r.data else MappingProxyType({})
        ),
        variants=tuple(
            Variant(key=v.string("key"), title=v.text("title"))
            for v in (_elements(r, "variants") if "variants" in r.data else [])
        ),
    )


def _date(r: _Reader, key: str) -> dt.date | None:
    """An ISO date or null; a missing key reads as null."""
    value = r.data.get(key)
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(r.string(key))
    except ValueError:
        raise _MalformedError(f"{r.where}.{key}", "expected an ISO date") from None


def _read_record(r: _Reader) -> StudyRecord:
    """The study record; definitions stored before it existed have an empty one."""
    if "record" not in r.data:
        return StudyRecord()
    record = r.sub("record")
    unknown = sorted(set(record.data) - set(RECORD_FIELDS))
    if unknown:
        raise _MalformedError(f"record.{unknown[0][:40]}", "unknown field")
    return StudyRecord(MappingProxyType({name: record.text(name) for name in record.data}))


def _read_study(r: _Reader) -> StudyMeta:
    return StudyMeta(
        key=r.string("key"),
        title=r.text("title"),
        description=r.text("description"),
        source=r.string("source"),
        horizon=r.integer("horizon"),
        languages=r.strings("languages"),
        default_language=r.string("default_language"),
        anonymity=r.choice("anonymity", Anonymity),
        k=r.integer("k"),
        k_comments=r.integer("k_comments"),
        round_limit=r.integer("round_limit"),
        quantile_method=r.string("quantile_method"),
        reason_outside_iqr=r.flag("reason_outside_iqr"),
        suggestions=r.flag("suggestions"),
        # definitions stored before paging existed have one item per page
        page_by=r.string("page_by") if "page_by" in r.data else "item",
        consent=r.text("consent"),
        welcome=r.text("welcome"),
        conditional_pairs_per_expert=r.optional_integer("conditional_pairs_per_expert"),
    )


def _elements(r: _Reader, key: str) -> list[_Reader]:
    return [_Reader(v, f"{key}[{i + 1}]") for i, v in enumerate(r.array(key))]


def _keyed(r: _Reader, key: str) -> dict[str, _Reader]:
    sub = r.sub(key)
    return {name: sub.sub(name) for name in sub.data}


def _read_analysis(stored: object) -> AnalysisSettings:
    """The stored analysis settings; definitions stored before they existed get the defaults."""
    if stored is None:
        return AnalysisSettings()
    if not isinstance(stored, Mapping):
        raise _MalformedError("analysis", "expected a table")
    known = {name for name, _, _ in AnalysisSettings.documentation()}
    try:
        # settings added after a definition was stored take their defaults; ones since
        # removed are ignored, so an old study still opens
        return AnalysisSettings.from_mapping({k: v for k, v in stored.items() if k in known})
    except InputError as error:
        raise _MalformedError("analysis", str(error)) from None


def definition_from_dict(data: Mapping[str, object]) -> SurveyDefinition:
    """The definition that `definition_to_dict` wrote; DefinitionError if the data is malformed."""
    try:
        r = _Reader(dict(data), "")
        rules = r.sub("rules")
        return SurveyDefinition(
            format=r.integer("format"),
            study=_read_study(r.sub("study")),
            rules=Rules(
                consensus=rules.string("consensus"),
                stability=rules.string("stability"),
                compare_presets=rules.strings("compare_presets"),
            ),
            analysis=_read_analysis(data.get("analysis")),
            scales=MappingProxyType({k: _read_scale(v) for k, v in _keyed(r, "scales").items()}),
            questions=MappingProxyType(
                {k: _read_question(v) for k, v in _keyed(r, "questions").items()}
            ),
            categories=tuple(
                Category(key=c.string("key"), label=c.text("label"))
                for c in _elements(r, "categories")
            ),
            items=tuple(_read_item(i) for i in _elements(r, "items")),
            scenarios=tuple(
                Scenario(
                    key=s.string("key"),
                    title=s.text("title"),
                    expression=s.string("expression"),
                    description=s.text("description"),
                    states=MappingProxyType(
                        {str(k): str(v) for k, v in s.sub("states").data.items()}
                        if "states" in s.data
                        else {}
                    ),
                )
                for s in _elements(r, "scenarios")
            ),
            source_hash=r.string("source_hash"),
            warnings=r.strings("warnings"),
            record=_read_record(r),
            # definitions stored before MACTOR have no objectives
            objectives=tuple(
                Objective(
                    key=o.string("key"), title=o.text("title"), description=o.text("description")
                )
                for o in (_elements(r, "objectives") if "objectives" in data else [])
            ),
        )
    except _MalformedError as error:
        raise DefinitionError([Problem(STORED, error.where, str(error))]) from None
