"""What an expert's typed answer means: numbers in any script, text without control
characters, and each question kind's shape and rules (complete, ordered, on the scale).

`normalise` turns one question's payload into a stored answer or refuses it with a message
for the person who typed it; `draft_payload` keeps an incomplete or invalid payload exactly
as typed (only trimmed to safe sizes) so that nothing typed is ever lost.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.definitions.model import QuestionKind, ScaleKind
from app.messages import N_, Message
from app.models import Question, Scale

#: Persian and Arabic-Indic digits, and the separators people type, mapped to ASCII
_DIGITS = str.maketrans(
    "۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩٫٬−",
    "01234567890123456789.,-",
)
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_TREND_IMPACT_FIELDS = ("t1", "t2", "i_max", "t3", "i_ss")
#: the ratings a row of each structural matrix takes: MICMAC 0-3 or P ("potential": none
#: today), MACTOR influences 0-4 and positions -4..+4
INFLUENCE_RATINGS = ("0", "1", "2", "3", "P")
ROW_RATINGS: dict[QuestionKind, tuple[str, ...]] = {
    QuestionKind.INFLUENCE: INFLUENCE_RATINGS,
    QuestionKind.ACTOR_INFLUENCE: ("0", "1", "2", "3", "4"),
    QuestionKind.POSITIONS: ("-4", "-3", "-2", "-1", "0", "1", "2", "3", "4"),
    QuestionKind.CROSS_IMPACT: ("-3", "-2", "-1", "0", "1", "2", "3"),
}
POTENTIAL = "P"
#: where an influence answer lists its potential cells (not an identifier, so never a column)
POTENTIAL_KEY = "_potential"
MAX_SUGGESTION_LENGTH = 2000


class AnswerValues(Protocol):
    """What reading an answer needs: an Answer row, or the few columns of one that the
    expert's pages load without the ORM (`StoredAnswer`)."""

    @property
    def id(self) -> int: ...

    @property
    def question_id(self) -> int: ...

    @property
    def value(self) -> float | None: ...

    @property
    def value_json(self) -> dict[str, Any] | None: ...

    @property
    def text(self) -> str | None: ...

    @property
    def no_answer(self) -> bool: ...

    @property
    def payload_hash(self) -> str: ...


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """A current answer's values, read as plain columns: a round page reads a few hundred of
    them, and building ORM objects for them cost more than rendering the page."""

    id: int
    question_id: int
    value: float | None
    value_json: dict[str, Any] | None
    text: str | None
    no_answer: bool
    payload_hash: str


def parse_number(raw: Any) -> float:
    """A number from user input: Persian/Arabic digits, a decimal comma, '%' and spaces allowed."""
    if isinstance(raw, bool):
        raise ValueError("not a number")
    if isinstance(raw, int | float):
        value = float(raw)
    else:
        text = str(raw).translate(_DIGITS).strip().rstrip("%").strip().replace(" ", "")
        text = text.replace("\u066a", "")  # Arabic percent sign
        if text.count(",") == 1 and "." not in text:
            text = text.replace(",", ".")
        if not _NUMBER.match(text):
            raise ValueError("not a number")
        value = float(text)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def clean_text(raw: Any, max_length: int) -> str:
    """Free text with control characters removed (newlines and tabs kept), trimmed."""
    text = unicodedata.normalize("NFC", str(raw or ""))
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc").strip()
    if len(text) > max_length:
        raise ValueError(
            N_("At most %(max)s characters (this has %(n)s).", max=max_length, n=len(text))
        )
    return text


def _excerpt(raw: Any) -> str:
    """A short excerpt of what was typed, for messages."""
    return str(raw)[:20]


@dataclass(frozen=True)
class Normalised:
    """A validated answer, ready to store."""

    value: float | None
    value_json: dict[str, Any] | None
    text: str | None
    no_answer: bool

    @property
    def is_empty(self) -> bool:
        """Whether nothing was given at all (an empty field, not 'no answer')."""
        return not self.no_answer and self.value is None and not self.value_json and not self.text

    def digest(self) -> str:
        """sha256 of the canonical JSON of the answer (tells replays from new data)."""
        canonical = json.dumps(
            {"v": self.value, "j": self.value_json, "t": self.text, "n": self.no_answer},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _fmt(value: float | None) -> str:
    """A number without a useless '.0'."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def _number(raw: Any, scale: Scale | None, label: str = "") -> float:
    """Parse a typed number and check it against the scale's bounds and step."""
    try:
        value = parse_number(raw)
    except ValueError:
        raise ValueError(
            N_(
                "%(label)s'%(typed)s' is not a number.",
                label=f"{label}: " if label else "",
                typed=_excerpt(raw),
            )
        ) from None
    if scale is None:
        return value
    low, high = scale.min, scale.max
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(
            N_(
                "%(label)sEnter a number between %(low)s and %(high)s.",
                label=f"{label}: " if label else "",
                low=_fmt(low) if low is not None else "-∞",
                high=_fmt(high) if high is not None else "∞",
            )
        )
    if scale.kind == ScaleKind.LIKERT:
        steps = (value - (low or 0.0)) / scale.step
        if abs(steps - round(steps)) > 1e-9:
            raise ValueError(N_("Choose one of the scale's points."))
    return value


def _blank(raw: Any) -> bool:
    """Whether a typed value is empty."""
    return raw is None or str(raw).strip() == ""


class ShapeError(ValueError):
    """A payload of the wrong shape for its question (a client's mistake, never kept as a draft)."""


#: the payload keys a question of each shape may carry
_SINGLE_KEYS = frozenset({"value", "no_answer"})
_MULTI_KEYS = frozenset({"values", "no_answer"})
_TEXT_KEYS = frozenset({"text", "value"})
#: the longest number anyone types; longer strings are not numbers (and are not kept)
MAX_TYPED_NUMBER = 64


def is_single_valued(question: Question) -> bool:
    """Whether the question takes one number (a probability without years, a Likert point)."""
    kind = QuestionKind(question.kind)
    return kind is QuestionKind.LIKERT or (
        kind is QuestionKind.PROBABILITY and not question.config.get("horizons")
    )


def _check_shape(question: Question, payload: Mapping[str, Any]) -> None:
    """Refuse keys the question's kind does not take (e.g. `values` for a single number)."""
    kind = QuestionKind(question.kind)
    allowed = (
        _TEXT_KEYS
        if kind is QuestionKind.TEXT
        else _SINGLE_KEYS
        if is_single_valued(question)
        else _MULTI_KEYS
    )
    extra = sorted(
        str(key)[:20]
        for key, value in payload.items()
        # absent, null and false (an unticked box) say nothing, whatever the key
        if key not in allowed and value is not None and value is not False
    )
    if extra:
        raise ShapeError(
            N_(
                "This question takes %(shape)s, not %(given)s.",
                shape=" / ".join(sorted(allowed - {"no_answer"})),
                given=", ".join(extra),
            )
        )


def _is_checked(flag: Any) -> bool:
    """Whether an 'outside my expertise' flag is set (JSON true or a ticked form box)."""
    return flag in (True, "1", "true", "on", "y")


def normalise(
    question: Question, payload: Mapping[str, Any], given: Sequence[str] | None = None
) -> Normalised:
    """Validate one question's raw payload ({value | values | text | no_answer}).

    `given` narrows a conditional question to the conditioning events this expert is asked
    (all of the question's when None). Raises ShapeError for a payload of the wrong shape
    and ValueError carrying a translatable Message for everything else.
    """
    _check_shape(question, payload)
    kind = QuestionKind(question.kind)
    if _is_checked(payload.get("no_answer")):
        if not question.allow_no_answer or kind is QuestionKind.TEXT:
            raise ShapeError(N_("This question needs an answer."))
        return Normalised(None, None, None, True)
    scale = question.scale
    if kind is QuestionKind.TEXT:
        text = clean_text(
            payload.get("text", payload.get("value")), int(question.config.get("max_length", 2000))
        )
        return Normalised(None, None, text or None, False)
    if is_single_valued(question):
        raw = payload.get("value")
        if isinstance(raw, Mapping | list):
            raise ShapeError(N_("Expected one number."))
        if _blank(raw):
            return Normalised(None, None, None, False)
        return Normalised(_number(raw, scale), None, None, False)
    values = payload.get("values") or {}
    if not isinstance(values, Mapping):
        raise ShapeError(N_("Expected several values."))
    if kind is QuestionKind.PROBABILITY:
        return _normalise_series(
            values,
            [str(y) for y in question.config["horizons"]],
            scale,
            strictly=False,
            message=N_("A probability by a later year cannot be lower than by an earlier year."),
        )
    if kind is QuestionKind.QUANTILES:
        return _normalise_series(
            values,
            [str(q) for q in question.config["quantiles"]],
            scale,
            strictly=True,
            message=N_("Each estimate must be larger than the one before (5 %% < 50 %% < 95 %%)."),
        )
    if kind is QuestionKind.CONDITIONAL:
        events = list(given) if given is not None else list(question.config.get("given", []))
        return _normalise_conditional(values, events, scale)
    if kind is QuestionKind.TREND_IMPACT:
        return _normalise_trend_impact(values)
    if kind is QuestionKind.CROSS_IMPACT:
        return _normalise_cross_impact(values, [str(c) for c in question.config.get("columns", [])])
    if kind in ROW_RATINGS:
        columns = [str(c) for c in question.config.get("columns", [])]
        return _normalise_row(values, columns, ROW_RATINGS[kind])
    raise ShapeError(N_("Unknown question kind %(kind)s.", kind=question.kind))  # pragma: no cover


def _normalise_series(
    values: Mapping[str, Any],
    keys: list[str],
    scale: Scale | None,
    *,
    strictly: bool,
    message: Message,
) -> Normalised:
    """Several numbers in a fixed order: all or none, ordered (strictly or weakly)."""
    filled = {k: values.get(k) for k in keys if not _blank(values.get(k))}
    if not filled:
        return Normalised(None, None, None, False)
    if len(filled) < len(keys):
        missing = ", ".join(k for k in keys if k not in filled)
        raise ValueError(N_("Fill in every value (missing: %(missing)s).", missing=missing))
    numbers = {k: _number(filled[k], scale, k) for k in keys}
    ordered = [numbers[k] for k in keys]
    if any((b <= a) if strictly else (b < a) for a, b in itertools.pairwise(ordered)):
        raise ValueError(message)
    return Normalised(None, numbers, None, False)


def _normalise_conditional(
    values: Mapping[str, Any], given: list[str], scale: Scale | None
) -> Normalised:
    """P(this | other) and P(this | not other) for each conditioning event."""
    result: dict[str, dict[str, float]] = {}
    for event in given:
        pair = values.get(event) or {}
        if not isinstance(pair, Mapping):
            raise ShapeError(N_("Expected two probabilities for each development."))
        entry = {
            side: _number(pair.get(side), scale)
            for side in ("given", "given_not")
            if not _blank(pair.get(side))
        }
        if len(entry) == 1:
            raise ValueError(
                N_(
                    "Give both probabilities for each development: if it happens and if it does not."
                )
            )
        if entry:
            result[event] = entry
    if not result:
        return Normalised(None, None, None, False)
    missing = [e for e in given if e not in result]
    if missing:
        raise ValueError(
            N_(
                "Give both probabilities for every development listed (%(n)s not yet).",
                n=len(missing),
            )
        )
    return Normalised(None, result, None, False)


def _normalise_trend_impact(values: Mapping[str, Any]) -> Normalised:
    """An impact profile: years to first, maximum and steady impact, and the impacts."""
    if all(_blank(values.get(k)) for k in _TREND_IMPACT_FIELDS):
        return Normalised(None, None, None, False)
    if any(_blank(values.get(k)) for k in _TREND_IMPACT_FIELDS):
        raise ValueError(N_("Fill in the whole impact profile."))
    numbers = {k: _number(values.get(k), None) for k in _TREND_IMPACT_FIELDS}
    if not 0 <= numbers["t1"] <= numbers["t2"] <= numbers["t3"]:
        raise ValueError(
            N_("Years must satisfy 0 ≤ first impact ≤ largest impact ≤ lasting impact.")
        )
    return Normalised(None, numbers, None, False)


def _rating_text(raw: Any) -> str:
    """A typed or stored rating as the ratings are written: "2", "-3", "P" (a stored 2.0 and a
    typed "+2" or "۲" alike)."""
    if isinstance(raw, int | float) and not isinstance(raw, bool) and float(raw).is_integer():
        return str(int(raw))
    return str(raw).translate(_DIGITS).strip().upper().lstrip("+")


def with_potential(values: Mapping[str, Any], columns: list[str]) -> dict[str, Any]:
    """A stored influence row (potential cells as 0, listed under POTENTIAL_KEY) as typed
    again: each listed cell P, so that keeping last round's row keeps its potential cells."""
    result = {key: value for key, value in values.items() if key != POTENTIAL_KEY}
    listed = values.get(POTENTIAL_KEY)
    if listed is None:
        return result
    if not isinstance(listed, list):
        raise ShapeError(N_("Expected a list of the potential cells."))
    result.update({str(c): POTENTIAL for c in listed if str(c) in columns})
    return result


def _normalise_row(
    values: Mapping[str, Any], columns: list[str], allowed: tuple[str, ...]
) -> Normalised:
    """One row of a structural matrix: a rating of `allowed` for every column, all or none.

    Potential cells (MICMAC's P) are stored as 0 (no influence today) and listed under
    POTENTIAL_KEY, so that every statistic per cell reads the present influence and the
    potential one is kept."""
    values = with_potential(values, columns) if POTENTIAL in allowed else values
    unknown = sorted(str(key)[:40] for key in values if key not in columns)
    if unknown:
        raise ShapeError(N_("Not a column of this row: %(columns)s.", columns=", ".join(unknown)))
    filled = {c: values.get(c) for c in columns if not _blank(values.get(c))}
    if not filled:
        return Normalised(None, None, None, False)
    ratings: dict[str, Any] = {}
    potential: list[str] = []
    for column, raw in filled.items():
        typed = _rating_text(raw)
        if typed not in allowed:
            raise ValueError(
                N_(
                    "%(column)s: '%(typed)s' is not a rating; choose one of %(allowed)s.",
                    column=column,
                    typed=_excerpt(raw),
                    allowed=", ".join(allowed),
                )
            )
        if typed == POTENTIAL:
            potential.append(column)
        ratings[column] = 0.0 if typed == POTENTIAL else float(typed)
    missing = [c for c in columns if c not in filled]
    if missing:
        raise ValueError(
            N_("Rate every column (missing: %(missing)s).", missing=", ".join(missing))
        )
    if potential:
        ratings[POTENTIAL_KEY] = potential
    return Normalised(None, ratings, None, False)


def _normalise_cross_impact(values: Mapping[str, Any], columns: list[str]) -> Normalised:
    """A CIB descriptor's judgements: for each of its variants, the impact -3..+3 on each
    variant of the other descriptors. Another descriptor may be left blank (an expert rates
    the descriptors they know), but a descriptor begun is rated whole."""
    unknown = sorted(str(key)[:40] for key in values if key not in columns)
    if unknown:
        raise ShapeError(N_("Not a column of this row: %(columns)s.", columns=", ".join(unknown)))
    allowed = ROW_RATINGS[QuestionKind.CROSS_IMPACT]
    blocks: dict[str, list[str]] = {}
    for column in columns:
        blocks.setdefault(column.split("|")[1], []).append(column)
    ratings: dict[str, Any] = {}
    for descriptor, cells in blocks.items():
        filled = [c for c in cells if not _blank(values.get(c))]
        if not filled:
            continue
        for cell in filled:
            typed = _rating_text(values[cell])
            if typed not in allowed:
                raise ValueError(
                    N_(
                        "%(column)s: '%(typed)s' is not a rating; choose one of %(allowed)s.",
                        column=cell.replace("|", " → ", 1).replace("|", ": "),
                        typed=_excerpt(values[cell]),
                        allowed=", ".join(allowed),
                    )
                )
            ratings[cell] = float(typed)
        if len(filled) < len(cells):
            missing = [
                c.replace("|", " → ", 1).replace("|", ": ") for c in cells if c not in filled
            ]
            raise ValueError(
                N_(
                    "Rate all of %(descriptor)s or leave it blank (missing: %(missing)s).",
                    descriptor=descriptor,
                    missing=", ".join(missing),
                )
            )
    if not ratings:
        return Normalised(None, None, None, False)
    return Normalised(None, ratings, None, False)


def _typed(raw: Any, limit: int) -> str:
    """A typed value as a string of at most `limit` characters, control characters removed."""
    text = "" if raw is None or isinstance(raw, Mapping | list) else str(raw)
    text = "".join(c for c in text[: limit * 2] if c in "\n\t" or unicodedata.category(c) != "Cc")
    return text[:limit]


def draft_payload(question: Question, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload as typed, in the question's shape and trimmed to safe sizes, to keep as a
    draft. Raises ShapeError for a payload of another shape."""
    _check_shape(question, payload)
    kind = QuestionKind(question.kind)
    if kind is QuestionKind.TEXT:
        # a reason that is too long is kept whole up to the study's largest text, so the
        # expert can shorten it; it is refused as an answer until then
        text = payload.get("text", payload.get("value"))
        return {"text": _typed(text, 2 * int(question.config.get("max_length", 2000)))}
    draft: dict[str, Any] = {}
    if _is_checked(payload.get("no_answer")):
        draft["no_answer"] = True
    if is_single_valued(question):
        draft["value"] = _typed(payload.get("value"), MAX_TYPED_NUMBER)
        return draft
    values = payload.get("values") or {}
    if not isinstance(values, Mapping):
        raise ShapeError(N_("Expected several values."))
    if kind is QuestionKind.CONDITIONAL:
        draft["values"] = {
            str(event)[:40]: {
                side: _typed(pair.get(side), MAX_TYPED_NUMBER) for side in ("given", "given_not")
            }
            for event, pair in values.items()
            if event in question.config.get("given", []) and isinstance(pair, Mapping)
        }
        return draft
    if kind is QuestionKind.INFLUENCE:
        values = with_potential(values, [str(c) for c in question.config.get("columns", [])])
    draft["values"] = {
        str(part)[:40]: _typed(value, MAX_TYPED_NUMBER) for part, value in values.items()
    }
    return draft


def answer_payload(answer: AnswerValues) -> dict[str, Any]:
    """A stored answer as the payload that would store it again (prefills and keeps)."""
    if answer.no_answer:
        return {"no_answer": True}
    if answer.text is not None:
        return {"text": answer.text}
    if answer.value_json is not None:
        return {"values": answer.value_json}
    return {"value": answer.value}


def payload_digest(payloads: Mapping[str, Mapping[str, Any]]) -> str:
    """sha256 of an item's request body in canonical JSON (tells a replay from a new save)."""
    canonical = json.dumps(
        payloads, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
