"""The survey definition as frozen dataclasses: what a valid `surveys/*.toml` file means.

The parser (`app.definitions.parser`) turns a file into a `SurveyDefinition` or raises
`DefinitionError` with every problem it found. Nothing here touches the database; the
import service (`app.services.studies`) turns a definition into rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from analysis.settings import AnalysisSettings
from app.definitions.record import StudyRecord

#: Text in several languages: language code -> string. Always holds the default language.
Text = Mapping[str, str]


def _empty_text() -> Text:
    """A fresh empty text (dataclass defaults must not share a mutable mapping)."""
    return MappingProxyType({})


class ItemKind(StrEnum):
    """What an item is about."""

    EVENT = "event"  #: a development that may or may not happen by the horizon
    TREND = "trend"  #: a quantity over time (for trend impact analysis)
    CALIBRATION = "calibration"  #: a seed question with a known answer, hidden from experts
    VARIABLE = "variable"  #: a MICMAC variable: a row of the panel's direct influence matrix
    ACTOR = "actor"  #: a MACTOR actor: its influence on the other actors, its positions
    DESCRIPTOR = "descriptor"  #: a CIB descriptor: its variants' impacts on the others' variants


class QuestionKind(StrEnum):
    """How a question is answered; decides the form widget, validation and statistics."""

    PROBABILITY = "probability"  #: 0-100 %, optionally one value per horizon year
    LIKERT = "likert"  #: one labelled point of an ordinal scale (impact, confidence, ...)
    QUANTILES = "quantiles"  #: a numeric estimate as increasing quantiles (e.g. 5/50/95 %)
    CONDITIONAL = "conditional"  #: cross-impact: P(this | other), P(this | not other)
    TREND_IMPACT = "trend_impact"  #: impact profile on a trend: t1, t2, i_max, t3, i_ss
    TEXT = "text"  #: free text (a reason, a comment, a suggestion)
    #: MICMAC: this variable's direct influence on each other variable, 0-3 or P (potential)
    INFLUENCE = "influence"
    #: MACTOR: this actor's direct influence on each other actor, 0 (none) to 4 (existence)
    ACTOR_INFLUENCE = "actor_influence"
    #: MACTOR: this actor's position on each objective, -4 (strongly against) to +4 (for)
    POSITIONS = "positions"
    #: CIB: for each variant of this descriptor, its impact on each variant of the other
    #: descriptors, -3 (strongly restricting) to +3 (strongly promoting)
    CROSS_IMPACT = "cross_impact"


class ScaleKind(StrEnum):
    """The shape of a rating scale."""

    PROBABILITY = "probability"  #: percent, 0..100
    LIKERT = "likert"  #: integer points min..max with labels
    CONTINUOUS = "continuous"  #: real numbers in [min, max] (or unbounded)


class Anonymity(StrEnum):
    """Who may link answers to people. Can only get stricter after launch."""

    ANONYMOUS = "anonymous"  #: nobody, not even facilitators or exports
    CONFIDENTIAL = "confidential"  #: facilitators (admin exports only), never other experts


@dataclass(frozen=True)
class Scale:
    """A rating scale shared by questions."""

    key: str
    kind: ScaleKind
    min: float | None
    max: float | None
    step: float = 1.0
    #: labels for (some) points of a Likert scale: point -> text per language
    labels: Mapping[int, Text] = field(default_factory=lambda: MappingProxyType({}))
    #: a bipolar scale is centred on zero (e.g. -3..+3); CV is undefined on it
    bipolar: bool = False
    #: the agreement region [low, high] for % agreement, if fixed (e.g. top-2 box)
    agree_region: tuple[float, float] | None = None
    #: or: agreement means within this distance of the median (used when no region is fixed)
    agree_within: float | None = None
    #: consensus rule for questions on this scale (overrides the study's default rule)
    consensus: str | None = None
    unit: Text = field(default_factory=_empty_text)

    @property
    def points(self) -> int | None:
        """Number of points of a Likert scale, None for other kinds."""
        if self.kind is not ScaleKind.LIKERT or self.min is None or self.max is None:
            return None
        return round((self.max - self.min) / self.step) + 1


@dataclass(frozen=True)
class QuestionTemplate:
    """A question that items ask; defined once, referenced by key from items."""

    key: str
    kind: QuestionKind
    prompt: Text
    scale: str | None = None  #: key of a Scale (probability, likert, quantiles)
    required: bool = True
    #: "no answer / outside my expertise" is always allowed on rated questions unless turned off
    allow_no_answer: bool = True
    help: Text = field(default_factory=_empty_text)
    #: PROBABILITY: years for which a probability is asked (empty: the study horizon only)
    horizons: tuple[int, ...] = ()
    #: QUANTILES: the percentiles asked, increasing (e.g. (5, 50, 95))
    quantiles: tuple[int, ...] = ()
    #: CONDITIONAL: keys of the events conditioned on
    given: tuple[str, ...] = ()
    #: TREND_IMPACT: key of the trend item this question's impact profile applies to
    trend: str | None = None
    #: TEXT: maximum length in characters
    max_length: int = 2000
    #: first round in which the question is asked (1 = from the start)
    from_round: int = 1


@dataclass(frozen=True)
class Category:
    """A group of items, for navigation and reporting."""

    key: str
    label: Text


@dataclass(frozen=True)
class Variant:
    """One state a CIB descriptor can take."""

    key: str
    title: Text


@dataclass(frozen=True)
class Item:
    """A development, trend or calibration question, with the questions it asks."""

    key: str
    kind: ItemKind
    title: Text
    text: Text
    questions: tuple[str, ...]  #: keys of QuestionTemplates, in display order
    category: str | None = None
    source: str = ""  #: where the item comes from (e.g. the paper's section)
    #: CALIBRATION: the true value, never shown to experts before the study ends
    true_value: float | None = None
    #: TREND: unit of the trend's value
    unit: Text = field(default_factory=_empty_text)
    #: TREND: observed or assumed baseline values, year -> value
    baseline: Mapping[int, float] = field(default_factory=lambda: MappingProxyType({}))
    #: TREND: whether event impacts on this trend are relative (fractions) or absolute
    relative_impacts: bool = True
    #: the date by which the item resolves (an event has happened or not, a trend's value or a
    #: calibration item's true value is published); None: not given
    resolves_by: dt.date | None = None
    #: where the outcome will be read (a named statistical source, register or official record)
    resolution_source: str = ""
    #: for facilitators: where this item's language versions deliberately differ in meaning,
    #: and why (shown next to the item on the items page, never to experts)
    translation_note: Text = field(default_factory=_empty_text)
    #: DESCRIPTOR: the states it can take, in order (2 to 9)
    variants: tuple[Variant, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """A named scenario: a Boolean expression over event keys (and, or, not, parentheses)."""

    key: str
    title: Text
    expression: str
    description: Text = field(default_factory=_empty_text)
    #: CIB: the descriptor states the scenario stands for (descriptor key -> variant key), so
    #: that the results can say which consistent CIB scenarios support it
    states: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Objective:
    """A MACTOR objective: a stake on which the actors take positions (`[[objectives]]`)."""

    key: str
    title: Text
    description: Text = field(default_factory=_empty_text)


@dataclass(frozen=True)
class Rules:
    """Pre-registered consensus and stopping rules (expressions of the analysis grammar)."""

    consensus: str = "pct_agree >= 0.75 and iqr <= 1"
    stability: str = "changed_share < 0.15"
    #: presets shown side by side with the study's own rule (names from analysis.consensus)
    compare_presets: tuple[str, ...] = ("percent_iqr", "grade", "rand_ucla", "cv")


@dataclass(frozen=True)
class StudyMeta:
    """Study-level settings."""

    key: str
    title: Text
    description: Text
    source: str
    horizon: int
    languages: tuple[str, ...]
    default_language: str
    anonymity: Anonymity = Anonymity.ANONYMOUS
    k: int = 5  #: smallest number of answers any aggregate is shown for (floor 3)
    k_comments: int = 5  #: smallest number of answers before others' reasons are shown
    round_limit: int = 3
    quantile_method: str = "type7"
    #: ask for a reason when an answer stays or moves outside the previous round's IQR
    reason_outside_iqr: bool = True
    #: let experts suggest new developments in round 1
    suggestions: bool = True
    #: the expert's round has a page per item ("item") or per category ("category")
    page_by: str = "item"
    consent: Text = field(default_factory=_empty_text)
    welcome: Text = field(default_factory=_empty_text)
    #: how many conditional pairs (one conditional question x one conditioning event) each
    #: expert is asked; None: every expert is asked every pair
    conditional_pairs_per_expert: int | None = None


@dataclass(frozen=True)
class SurveyDefinition:
    """A whole, valid survey file."""

    format: int
    study: StudyMeta
    rules: Rules
    scales: Mapping[str, Scale]
    questions: Mapping[str, QuestionTemplate]
    categories: tuple[Category, ...]
    items: tuple[Item, ...]
    scenarios: tuple[Scenario, ...]
    #: how the analyses are computed (the survey file's optional [analysis] table)
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    #: sha256 of the file's bytes, kept by the study
    source_hash: str = ""
    #: problems that do not stop an import (e.g. a missing translation), for the facilitator
    warnings: tuple[str, ...] = ()
    #: the study record (`[record]`): reporting items only the study's authors can write
    record: StudyRecord = field(default_factory=StudyRecord)
    #: MACTOR objectives the actors take positions on (`[[objectives]]`), in file order
    objectives: tuple[Objective, ...] = ()

    def item(self, key: str) -> Item:
        """The item with this key (KeyError if none)."""
        for item in self.items:
            if item.key == key:
                return item
        raise KeyError(key)

    @property
    def events(self) -> tuple[Item, ...]:
        """The event items, in file order."""
        return tuple(i for i in self.items if i.kind is ItemKind.EVENT)

    @property
    def variables(self) -> tuple[Item, ...]:
        """The MICMAC variables (the rows and columns of the influence matrix), in file order."""
        return tuple(i for i in self.items if i.kind is ItemKind.VARIABLE)

    @property
    def descriptors(self) -> tuple[Item, ...]:
        """The CIB descriptors, in file order."""
        return tuple(i for i in self.items if i.kind is ItemKind.DESCRIPTOR)

    @property
    def actors(self) -> tuple[Item, ...]:
        """The MACTOR actors, in file order."""
        return tuple(i for i in self.items if i.kind is ItemKind.ACTOR)

    @property
    def conditional_pairs(self) -> tuple[tuple[str, str, str], ...]:
        """Every (item, conditional question, conditioning event) the file asks, in file order."""
        return tuple(
            (item.key, key, event)
            for item in self.items
            for key in item.questions
            if (question := self.questions.get(key)) is not None
            and question.kind is QuestionKind.CONDITIONAL
            for event in question.given
        )


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a survey file."""

    file: str
    field: str  #: dotted path, e.g. "items[3].questions" or "scales.impact.min"
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class DefinitionError(ValueError):
    """A survey file is invalid; carries every problem found (the file imports nothing)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
