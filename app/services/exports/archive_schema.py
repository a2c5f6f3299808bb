"""The study archive's format, described once: typed records that write, check and read it.

An archive is canonical JSON (sorted keys, no insignificant whitespace, UTF-8, no NaN) of
`{"format", "version", "sha256", "study"}`, where `study` is an `ArchiveStudy` as plain data and
`sha256` is taken over the canonical JSON of `study`. The records below are the format: the
writer builds them from the database and turns them into data with `to_data`; the reader turns
untrusted data back into them with `from_data`, which checks every field's type (and lengths
and choices where the database or the platform has them) and lists every problem with its path
(`study.rounds[1].answers[4].revision: expected a whole number`). What the values must mean
(settings within the platform's limits, references between parts) is checked afterwards, on the
records, in `archive_check`.

Database ids never appear: items, questions, experts and rounds are named by their keys,
pseudonyms and numbers. Archives of anonymous studies carry no expert-side dates, languages,
statuses or progress (those fields are null or empty); see docs/anonymity.md.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin, get_type_hints

from app.definitions.model import Anonymity, ItemKind, QuestionKind, ScaleKind
from app.models import (
    ItemStatus,
    ParticipationStatus,
    RoundState,
    StudyStatus,
    ValidationError,
)

ARCHIVE_FORMAT = "delphi-study-archive"
#: 2: anonymous studies' archives leave expert-side dates, languages and statuses out (null)
ARCHIVE_VERSION = 2
#: versions this platform reads (version 1 has the same fields, always filled)
READABLE_VERSIONS = (1, 2)
MAX_ARCHIVE_BYTES = 64 * 1024 * 1024
#: problems listed one by one before the rest are only counted
MAX_LISTED_PROBLEMS = 50
#: the largest whole number a database integer column holds
MAX_INT = 2**31 - 1


class ArchiveError(ValidationError):
    """The archive cannot be imported; nothing was imported. `errors` lists every problem."""

    @property
    def summary(self) -> str:
        """The message's first line (what happened, and that nothing was imported)."""
        return str(self).split("\n", 1)[0]

    @property
    def problems(self) -> list[str]:
        """Each problem on a line of its own ("study.k: must be from 3 to 1000 ...")."""
        return [line[2:] for line in str(self).split("\n")[1:] if line.startswith("- ")]


@dataclass(frozen=True)
class OneOf:
    """A text field whose value must be one of these."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class MaxLength:
    """A text field of at most this many characters (the database column's size)."""

    length: int


def one_of(*choices: type[StrEnum] | Iterable[str]) -> OneOf:
    """The values of enums (or plain strings) as a OneOf constraint."""
    values: list[str] = []
    for choice in choices:
        values.extend(str(v) for v in choice)
    return OneOf(tuple(values))


#: texts by language code
Texts = dict[str, str]
Key = Annotated[str, MaxLength(64)]
ItemKey = Annotated[str, MaxLength(32)]


@dataclass(frozen=True)
class ScaleRecord:
    """A scale of the study (probability, Likert or continuous)."""

    key: Key
    kind: Annotated[str, one_of(ScaleKind)]
    min: float | None
    max: float | None
    step: float
    labels: dict[str, Any]
    bipolar: bool
    agree_region: list[Any] | None
    agree_within: float | None
    consensus: str | None
    unit: Texts


@dataclass(frozen=True)
class CategoryRecord:
    """A category items belong to."""

    key: Key
    label: Texts
    position: int


@dataclass(frozen=True)
class VersionRecord:
    """One wording of an item."""

    number: int
    title: Texts
    text: Texts
    change_note: Texts
    introduced_in_round: int
    created_at: str


@dataclass(frozen=True)
class QuestionRecord:
    """A question an item asks."""

    key: Key
    kind: Annotated[str, one_of(QuestionKind)]
    position: int
    scale: str | None
    prompt: Texts
    help: Texts
    required: bool
    allow_no_answer: bool
    config: dict[str, Any]
    from_round: int


@dataclass(frozen=True)
class ItemRecord:
    """A development, trend or calibration item with its wordings and questions."""

    key: ItemKey
    kind: Annotated[str, one_of(ItemKind)]
    category: str | None
    position: int
    source: str
    status: Annotated[str, one_of(ItemStatus)]
    retired_in_round: int | None
    retired_reason: str | None
    merged_into: str | None
    true_value: float | None
    unit: Texts
    baseline: dict[str, Any]
    relative_impacts: bool
    origin: Annotated[str, one_of(("survey", "suggestion"))]
    versions: list[VersionRecord]
    questions: list[QuestionRecord]


@dataclass(frozen=True)
class ScenarioRecord:
    """A named scenario (a Boolean expression over events)."""

    key: ItemKey
    title: Texts
    description: Texts
    expression: str
    position: int


@dataclass(frozen=True)
class MemberRecord:
    """A panel member, by pseudonym only (archives never carry identities)."""

    pseudonym: Annotated[str, MaxLength(16)]
    group: Annotated[str, MaxLength(60)]
    #: null in anonymous studies: the panel page shows each named expert's language
    language: Annotated[str, MaxLength(8)] | None
    expertise: int | None
    #: null in anonymous studies (the panel page shows each named expert's status)
    status: Annotated[str, one_of(ParticipationStatus)] | None
    #: the day of consent; null in anonymous studies
    consent: str | None
    synthetic: bool
    #: the conditional pairs this expert is asked, as [item, question, event] (studies with
    #: a pairs cap; absent in older archives)
    pairs: list[list[Annotated[str, MaxLength(64)]]] = field(default_factory=list)


@dataclass(frozen=True)
class RoundItemRecord:
    """An item a round asks, in the version it shows."""

    item: str
    version: int
    position: int


@dataclass(frozen=True)
class ProgressRecord:
    """One expert's progress in one round, by day (confidential studies only)."""

    expert: str
    started: str
    last_saved: str | None
    submitted: str | None
    submit_count: int


@dataclass(frozen=True)
class AnswerRecord:
    """One revision of one answer."""

    expert: str
    item: str
    question: str
    version: int
    value: float | None
    value_json: dict[str, Any] | None
    text: str | None
    no_answer: bool
    revision: int
    is_current: bool
    synthetic: bool
    #: the day it was saved; null in anonymous studies
    date: str | None
    #: the expert kept their previous round's answer (archives before it was recorded: no)
    kept: bool = False


@dataclass(frozen=True)
class SnapshotRecord:
    """A closed round's frozen statistics."""

    created_at: str
    data: dict[str, Any]
    answer_count: int
    answers_digest: Annotated[str, MaxLength(64)]


@dataclass(frozen=True)
class RoundRecord:
    """A round with its items, progress, answers and snapshot."""

    number: int
    state: Annotated[str, one_of(RoundState)]
    created_at: str
    opened_at: str | None
    deadline: str | None
    closed_at: str | None
    message: Texts
    synthetic: bool
    items: list[RoundItemRecord]
    progress: list[ProgressRecord]
    answers: list[AnswerRecord]
    snapshot: SnapshotRecord | None


@dataclass(frozen=True)
class SuggestionRecord:
    """A development an expert suggested (never linked to the expert)."""

    round: int
    text: str
    language: Annotated[str, MaxLength(8)]
    status: Annotated[str, one_of(("new", "accepted", "declined"))]
    item: str | None
    #: the day it was made; null in anonymous studies
    date: str | None


@dataclass(frozen=True)
class ArchiveStudy:
    """The whole study: settings, definition, items, panel (pseudonyms), rounds, suggestions."""

    key: Key
    title: Texts
    description: Texts
    source: str
    horizon: int
    languages: list[str]
    default_language: Annotated[str, MaxLength(8)]
    anonymity: Annotated[str, one_of(Anonymity)]
    k: int
    k_comments: int
    round_limit: int
    quantile_method: Annotated[str, MaxLength(10)]
    reason_outside_iqr: bool
    suggestions_enabled: bool
    consensus_rule: str
    stability_rule: str
    compare_presets: list[str]
    welcome: Texts
    consent: Texts
    definition: dict[str, Any]
    definition_hash: Annotated[str, MaxLength(64)]
    status: Annotated[str, one_of(StudyStatus)]
    created_at: str
    launched_at: str | None
    finished_at: str | None
    scales: list[ScaleRecord]
    categories: list[CategoryRecord]
    items: list[ItemRecord]
    scenarios: list[ScenarioRecord]
    panel: list[MemberRecord]
    rounds: list[RoundRecord]
    suggestions: list[SuggestionRecord]
    #: conditional pairs asked of each expert (None: every pair; absent in older archives)
    conditional_pairs_per_expert: int | None = None
    #: experts who withdrew their answers from the study (their answers left every later
    #: snapshot and export); a count, never who
    answers_withdrawn: int = field(default=0)
    #: how the expert's round is paged ("item" in archives from before it existed)
    page_by: str = "item"


# ---------------------------------------------------------------------------------------------
# Records to data and back

R = TypeVar("R")


def to_data(record: Any) -> dict[str, Any]:
    """A record as JSON-able data (field names are the archive's keys): what
    `dataclasses.asdict` gives, without its deep copy of every plain value (a large panel's
    record holds about a million, and the copies were most of the time)."""
    data: dict[str, Any] = _plain(record)
    return data


#: each record class's field names, in order, as first met
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """A record class's field names, in order."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _plain(value: Any) -> Any:
    """`to_data` of any value: records to dicts, containers rebuilt around converted values,
    and everything else (text, numbers, None, enum members) as it is, immutable."""
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is list:
        return [_plain(v) for v in value]
    if kind is dict:
        return {_plain(k): _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(getattr(value, name)) for name in _field_names(kind)}
    if isinstance(value, Enum):
        return value  # asdict's deep copy of a member is the member
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_plain(v) for v in value)
    # anything else (a named tuple, a set, a subclass) as asdict would make it
    return dataclasses.asdict(_Box(value))["value"]


@dataclass(frozen=True)
class _Box:
    """One value, for `dataclasses.asdict` to convert the rare kinds `_plain` leaves to it."""

    value: Any


#: the types whose values are immutable and hold nothing to convert
_LEAVES = frozenset({str, int, float, bool, type(None)})


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no insignificant whitespace, UTF-8, no NaN: the same value gives the same bytes."""
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


class Problems:
    """Problems found in an archive, each with the path of the field it is about."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        """Note one problem."""
        self.found.append((path, message))

    def __bool__(self) -> bool:
        return bool(self.found)

    def error(self, intro: str) -> ArchiveError:
        """The ArchiveError listing every problem (the first MAX_LISTED_PROBLEMS by path)."""
        lines = [f"{path}: {message}" for path, message in self.found[:MAX_LISTED_PROBLEMS]]
        rest = len(self.found) - len(lines)
        if rest > 0:
            lines.append(f"... and {rest} more problems.")
        errors: dict[str, list[Any]] = {}
        for path, message in self.found[:MAX_LISTED_PROBLEMS]:
            errors.setdefault(path, []).append(message)
        count = len(self.found)
        text = f"{intro} Nothing was imported. {count} problem{'s' if count != 1 else ''}:\n"
        text += "\n".join(f"- {line}" for line in lines)
        return ArchiveError(text, errors)


_BAD = object()


def from_data(record_type: type[R], data: Any, path: str, problems: Problems) -> R | None:
    """Read untrusted data into a record, noting every problem; None if there was any."""
    before = len(problems.found)
    value = _read(record_type, data, path, problems)
    if value is _BAD or len(problems.found) > before:
        return None
    result: R = value
    return result


def _read(kind: Any, value: Any, path: str, problems: Problems) -> Any:
    """One value of the given type, or _BAD (with the problem noted)."""
    origin = get_origin(kind)
    if origin is Annotated:
        base, *constraints = get_args(kind)
        found = _read(base, value, path, problems)
        if found is _BAD:
            return _BAD
        return _constrained(found, constraints, path, problems)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(kind) if a is not type(None)]
        if value is None:
            return None
        return _read(options[0], value, path, problems)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return _read_record(kind, value, path, problems)
    if origin is list:
        if not isinstance(value, list):
            return _bad(problems, path, "expected a list")
        (element,) = get_args(kind)
        items = [_read(element, v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
        return _BAD if any(item is _BAD for item in items) else items
    if origin is dict:
        if not isinstance(value, dict):
            return _bad(problems, path, "expected an object")
        _key, element = get_args(kind)
        if element is Any:
            return value
        read = {k: _read(element, v, f"{path}.{k}", problems) for k, v in value.items()}
        return _BAD if any(v is _BAD for v in read.values()) else read
    return _scalar(kind, value, path, problems)


def _scalar(kind: Any, value: Any, path: str, problems: Problems) -> Any:
    """A text, whole number, number or truth value."""
    if kind is Any:
        return value
    if kind is str:
        return value if isinstance(value, str) else _bad(problems, path, "expected text")
    if kind is bool:
        return value if isinstance(value, bool) else _bad(problems, path, "expected true or false")
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            return _bad(problems, path, "expected a whole number")
        if abs(value) > MAX_INT:
            return _bad(problems, path, f"expected a whole number of at most {MAX_INT}")
        return value
    if kind is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return _bad(problems, path, "expected a number")
        if not math.isfinite(value) or abs(value) > 1e300:
            return _bad(problems, path, "expected a finite number")
        return value
    raise TypeError(f"no reader for {kind!r}")  # a mistake in the records above


def _constrained(value: Any, constraints: list[Any], path: str, problems: Problems) -> Any:
    """Apply OneOf and MaxLength."""
    for constraint in constraints:
        if isinstance(constraint, OneOf) and value not in constraint.values:
            return _bad(problems, path, f"expected one of {', '.join(constraint.values)}")
        if isinstance(constraint, MaxLength) and len(value) > constraint.length:
            return _bad(problems, path, f"expected at most {constraint.length} characters")
    return value


def _read_record(record_type: type[Any], value: Any, path: str, problems: Problems) -> Any:
    """A record from an object: every field present (or defaulted), no unknown field."""
    if not isinstance(value, dict):
        return _bad(problems, path, "expected an object")
    hints = get_type_hints(record_type, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(record_type)}
    for unknown in sorted(set(value) - set(fields)):
        problems.add(f"{path}.{unknown}", "not a field of a study archive")
    values: dict[str, Any] = {}
    failed = False
    for name, spec in fields.items():
        if name not in value:
            if spec.default is not dataclasses.MISSING:
                values[name] = spec.default
                continue
            if spec.default_factory is not dataclasses.MISSING:
                values[name] = spec.default_factory()
                continue
            problems.add(f"{path}.{name}", "missing")
            failed = True
            continue
        found = _read(hints[name], value[name], f"{path}.{name}", problems)
        if found is _BAD:
            failed = True
        values[name] = found
    if failed or set(value) - set(fields):
        return _BAD
    return record_type(**values)


def _bad(problems: Problems, path: str, message: str) -> Any:
    """Note a problem and return the failure marker."""
    problems.add(path, message)
    return _BAD
