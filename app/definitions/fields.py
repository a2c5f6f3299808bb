"""Reading parsed TOML values field by field, collecting every problem in plain words.

The validator (`app.definitions.validate`) describes each table with `Section` and small
converters (`integer(1, 20)`, `text()`, `list_of(...)`); a converter either returns the value
or records a problem and returns None. Messages quote user input only as short, escaped
excerpts (`quote`), because they are shown in web pages.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

from app.definitions.model import Text
from app.definitions.source_map import Path
from app.definitions.vocabulary import MAX_PROBLEMS, MAX_SUGGESTIONS, MAX_TEXT_LENGTH

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

# Characters never allowed in texts: C0 controls except tab and line feed, DEL, C1 controls.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Characters escaped in excerpts so that an error message cannot reorder or hide what it shows.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_EXCERPT_LENGTH = 40


def quote(text: str, limit: int = _EXCERPT_LENGTH, mark: str = '"') -> str:
    """A short, escaped excerpt of user input between `mark`s, safe to show in a message."""
    shown = text[:limit]
    pieces: list[str] = []
    for char in shown:
        if char in (mark, "\\"):
            pieces.append("\\" + char)
        elif char == "\n":
            pieces.append("\\n")
        elif char == "\t":
            pieces.append("\\t")
        elif char in _BIDI_CONTROLS or unicodedata.category(char) in ("Cc", "Zl", "Zp", "Cs"):
            pieces.append(f"\\u{ord(char):04x}")
        else:
            pieces.append(char)
    return mark + "".join(pieces) + ("…" if len(text) > limit else "") + mark


def quote_key(name: str) -> str:
    """A key, field or language name in single quotes, escaped and shortened like `quote`."""
    return quote(name, mark="'")


def describe(value: object) -> str:
    """A value as a short phrase for messages: `"five"`, `2.5`, `true`, `a list`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        digits = str(value) if abs(value) < 10**30 else ""
        return digits or "a very long number"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, dt.datetime | dt.date):
        return "a date"
    if isinstance(value, dt.time):
        return "a time of day"
    return "a value of an unknown type"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'title'?)` when a choice is close to `word`, else an empty string."""
    close = difflib.get_close_matches(word[:100], sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {quote_key(close[0])}?)" if close else ""


def one_of(choices: Iterable[str]) -> str:
    """Choices listed for a message: `anonymous, confidential`."""
    return ", ".join(choices)


@dataclass(frozen=True)
class Loc:
    """Where a value is: its path in the TOML document (for the line) and its label for readers."""

    path: Path = ()
    label: str = ""

    def key(self, name: str) -> Loc:
        """The location of field `name` inside this table."""
        shown = name if re.fullmatch(r"[A-Za-z0-9_\-]+", name) else quote(name)
        return Loc((*self.path, name), f"{self.label}.{shown}" if self.label else shown)

    def at(self, index: int, shown: str | None = None) -> Loc:
        """The location of element `index` (0-based) of this list, shown 1-based or by key."""
        return Loc((*self.path, index), f"{self.label}[{shown or index + 1}]")


@dataclass
class Checker:
    """Collects problems and warnings while one file is validated."""

    problems: list[tuple[Loc, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    suppressed: int = 0  #: problems beyond MAX_PROBLEMS, only counted (and not all found)
    languages: tuple[str, ...] | None = None  #: the study's languages, once known and valid
    default_language: str | None = None  #: the study's default language, once known and valid
    suggestions: int = 0  #: "did you mean" hints computed so far

    @property
    def full(self) -> bool:
        """Whether enough problems are recorded; long loops stop looking for more."""
        return len(self.problems) >= MAX_PROBLEMS

    def error(self, loc: Loc, message: str) -> None:
        """Record a problem that stops the import."""
        if self.full:
            self.suppressed += 1
        else:
            self.problems.append((loc, message))

    def did_you_mean(self, word: str, choices: Collection[str]) -> str:
        """A close match as a hint (`did_you_mean`), for the first problems only: it is slow."""
        if self.full or self.suggestions >= MAX_SUGGESTIONS:
            return ""
        self.suggestions += 1
        return did_you_mean(word, choices)

    def warn(self, loc: Loc, message: str) -> None:
        """Record something the facilitator should know that does not stop the import."""
        self.warnings.append(f"{loc.label}: {message}" if loc.label else message)


#: Checks one value; returns it converted, or records a problem and returns None.
Converter = Callable[[Checker, object, Loc], T | None]


class Section:
    """One TOML table being read: reports unknown fields, missing and invalid values."""

    def __init__(
        self, checker: Checker, value: object, loc: Loc, allowed: Collection[str] | None
    ) -> None:
        self.checker = checker
        self.loc = loc
        self.invalid: set[str] = set()  #: fields present but wrong (a problem is recorded)
        self.data: dict[str, object] = {}
        if not isinstance(value, dict):
            checker.error(loc, f"expected a table, got {describe(value)}")
            return
        self.data = value
        if allowed is not None:
            for name in value:
                if checker.full:
                    checker.suppressed += 1
                    break
                if name not in allowed:
                    checker.error(
                        loc.key(name),
                        f"unknown field {quote_key(name)}{checker.did_you_mean(name, allowed)}",
                    )

    def has(self, name: str) -> bool:
        """Whether the table gives field `name` (valid or not)."""
        return name in self.data

    def get(self, name: str, convert: Converter[T]) -> T | None:
        """The converted field, or None when it is absent or invalid."""
        if name not in self.data or name in self.invalid:  # invalid: e.g. forbidden for the kind
            return None
        result = convert(self.checker, self.data[name], self.loc.key(name))
        if result is None:
            self.invalid.add(name)
        return result

    def require(self, name: str, why: str = "") -> bool:
        """Record "missing" unless the table gives field `name`; whether it does."""
        if name in self.data:
            return True
        self.checker.error(self.loc.key(name), f"missing: this field is required{why}")
        return False

    def need(self, name: str, convert: Converter[T], why: str = "") -> T | None:
        """A required field: records "missing" when absent."""
        return self.get(name, convert) if self.require(name, why) else None

    def default(self, name: str, convert: Converter[T], default: T) -> T:
        """An optional field with a default (also used when the value is invalid)."""
        result = self.get(name, convert)
        return default if result is None else result

    def forbid(self, names: Iterable[str], reason: str) -> None:
        """Fields that exist in the format but do not apply here (e.g. to this kind)."""
        for name in names:
            if name in self.data:
                self.checker.error(self.loc.key(name), f"{quote_key(name)} {reason}")
                self.invalid.add(name)

    def sub(self, name: str, allowed: Collection[str] | None, *, required: bool) -> Section | None:
        """The nested table `name`, or None when it is absent (or not a table)."""
        if name not in self.data:
            if required:
                self.checker.error(self.loc.key(name), "missing: this table is required")
            return None
        section = Section(self.checker, self.data[name], self.loc.key(name), allowed)
        if not isinstance(self.data[name], dict):
            self.invalid.add(name)
            return None
        return section


# ---------------------------------------------------------------------------------------------
# Converters


def integer(low: int, high: int, note: str = "") -> Converter[int]:
    """A whole number in low..high (`note` explains the limit, e.g. "(study.round_limit)")."""

    def convert(checker: Checker, value: object, loc: Loc) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            checker.error(loc, f"expected an integer, got {describe(value)}")
            return None
        if not low <= value <= high:
            checker.error(loc, f"must be between {low} and {high}{note}, got {describe(value)}")
            return None
        return value

    return convert


def number(low: float | None = None, high: float | None = None) -> Converter[float]:
    """A finite number (integer or decimal), optionally within low..high; returned as float."""

    def convert(checker: Checker, value: object, loc: Loc) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            checker.error(loc, f"expected a number, got {describe(value)}")
            return None
        try:
            result = float(value)
        except OverflowError:
            checker.error(loc, "this number is too large")
            return None
        if not math.isfinite(result):
            checker.error(loc, f"expected a finite number, got {describe(value)}")
            return None
        if (low is not None and result < low) or (high is not None and result > high):
            checker.error(loc, f"must be between {low:g} and {high:g}, got {describe(value)}")
            return None
        return result + 0.0  # + 0.0 turns -0.0 into 0.0, so equal files give equal definitions

    return convert


def positive_number(checker: Checker, value: object, loc: Loc) -> float | None:
    """A finite number greater than zero."""
    result = number()(checker, value, loc)
    if result is not None and result <= 0:
        checker.error(loc, f"must be greater than 0, got {describe(value)}")
        return None
    return result


def boolean(checker: Checker, value: object, loc: Loc) -> bool | None:
    """true or false."""
    if not isinstance(value, bool):
        checker.error(loc, f"expected true or false, got {describe(value)}")
        return None
    return value


def checked_string(checker: Checker, value: object, loc: Loc, max_length: int) -> str | None:
    """A string without control characters, at most `max_length` characters long."""
    if not isinstance(value, str):
        checker.error(loc, f"expected text in quotes, got {describe(value)}")
        return None
    if len(value) > max_length:
        checker.error(loc, f"is {len(value):,} characters long; at most {max_length:,} are allowed")
        return None
    bad = _FORBIDDEN.search(value)
    if bad is not None:
        checker.error(
            loc,
            f"contains the control character U+{ord(bad.group()):04X} at position "
            f"{bad.start() + 1}; only line breaks and tabs are allowed in text",
        )
        return None
    return value


def string(max_length: int) -> Converter[str]:
    """A plain string (not translated)."""

    def convert(checker: Checker, value: object, loc: Loc) -> str | None:
        return checked_string(checker, value, loc, max_length)

    return convert


def pattern(regex: re.Pattern[str], rule: str, max_length: int = 100) -> Converter[str]:
    """A string matching `regex` in full; `rule` says in plain words what is allowed."""

    def convert(checker: Checker, value: object, loc: Loc) -> str | None:
        text = checked_string(checker, value, loc, max_length)
        if text is None:
            return None
        if not regex.fullmatch(text):
            checker.error(loc, f"{quote(text)} is not allowed here: {rule}")
            return None
        return text

    return convert


def choice(enum: type[E]) -> Converter[E]:
    """One of the values of a StrEnum."""
    values = [member.value for member in enum]

    def convert(checker: Checker, value: object, loc: Loc) -> E | None:
        if not isinstance(value, str) or value not in values:
            hint = checker.did_you_mean(value, values) if isinstance(value, str) else ""
            checker.error(loc, f"must be one of: {one_of(values)}; got {describe(value)}{hint}")
            return None
        return enum(value)

    return convert


def word(choices: Collection[str]) -> Converter[str]:
    """One of a fixed list of words."""

    def convert(checker: Checker, value: object, loc: Loc) -> str | None:
        if not isinstance(value, str) or value not in choices:
            hint = checker.did_you_mean(value, choices) if isinstance(value, str) else ""
            checker.error(loc, f"must be one of: {one_of(choices)}; got {describe(value)}{hint}")
            return None
        return value

    return convert


def list_of(
    element: Converter[T],
    *,
    min_items: int = 0,
    max_items: int,
    unique: bool = False,
    increasing: bool = False,
) -> Converter[tuple[T, ...]]:
    """A list whose elements each pass `element`; optionally unique or strictly increasing."""

    def convert(checker: Checker, value: object, loc: Loc) -> tuple[T, ...] | None:
        if not isinstance(value, list):
            checker.error(loc, f"expected a list in square brackets, got {describe(value)}")
            return None
        if len(value) < min_items:
            need = "at least one entry" if min_items == 1 else f"at least {min_items} entries"
            checker.error(loc, f"needs {need}, got {len(value)}")
            return None
        if len(value) > max_items:
            checker.error(loc, f"has {len(value):,} entries; at most {max_items:,} are allowed")
            return None
        results: list[T] = []
        valid = True
        for index, raw in enumerate(value):
            if checker.full:
                checker.suppressed += 1
                return None
            item = element(checker, raw, loc.at(index))
            if item is None:
                valid = False
                continue
            if unique and item in results:
                checker.error(loc.at(index), f"{describe(item)} is listed twice")
                valid = False
            elif increasing and results and not results[-1] < item:  # type: ignore[operator]
                checker.error(
                    loc.at(index),
                    f"{describe(item)} must be greater than the entry before it "
                    f"({describe(results[-1])}): the list must be strictly increasing",
                )
                valid = False
            results.append(item)
        return tuple(results) if valid else None

    return convert


def text() -> Converter[Text]:
    """Translated text: `{ en = "...", fa = "..." }`, or a plain string in the default language.

    Every text must have the default language (non-empty); missing or empty other languages are
    warnings: the default language is shown instead.
    """

    def convert(checker: Checker, value: object, loc: Loc) -> Text | None:
        default = checker.default_language
        plain = isinstance(value, str)
        if plain:
            if default is None:
                return None  # the study's languages are wrong; that problem is reported there
            value = {default: value}
        if not isinstance(value, dict):
            checker.error(
                loc,
                f"expected text in quotes, or a table of languages such as "
                f'{{ en = "..." }}, got {describe(value)}',
            )
            return None
        result: dict[str, str] = {}
        valid = True
        for language, raw in value.items():
            where = loc if plain else loc.key(language)
            if checker.languages is not None and language not in checker.languages:
                checker.error(
                    where,
                    f"language {quote_key(language)} is not one of the study's languages "
                    f"({one_of(checker.languages)})",
                )
                valid = False
                continue
            string_value = checked_string(checker, raw, where, MAX_TEXT_LENGTH)
            if string_value is None:
                valid = False
            elif not string_value.strip():
                if language == default:
                    checker.error(where, f"the {quote_key(language)} text is empty")
                    valid = False
                else:
                    checker.warn(
                        loc,
                        f"empty {quote_key(language)} text; the default language will be shown",
                    )
            else:
                result[language] = string_value
        if default is not None and default not in value:
            checker.error(
                loc,
                f"no {quote_key(default)} text: every text needs the default language ({default})",
            )
            valid = False
        if not valid:
            return None
        for language in checker.languages or ():
            if language not in value:
                checker.warn(
                    loc, f"no {quote_key(language)} text; the default language will be shown"
                )
        return MappingProxyType(result)

    return convert
