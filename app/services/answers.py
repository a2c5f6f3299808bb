"""Saving answers (per item, idempotent, with history) and submitting a round."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from app.definitions.model import QuestionKind, ScaleKind
from app.messages import N_, Message
from app.models import (
    Answer,
    ConflictError,
    Item,
    Participation,
    ParticipationStatus,
    Question,
    Round,
    RoundItem,
    RoundProgress,
    Scale,
    StateError,
    Suggestion,
    ValidationError,
)
from app.services.rounds import lock_round

#: Persian and Arabic-Indic digits, and the separators people type, mapped to ASCII
_DIGITS = str.maketrans(
    "۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩٫٬−",
    "01234567890123456789.,-",
)
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_TREND_IMPACT_FIELDS = ("t1", "t2", "i_max", "t3", "i_ss")
MAX_SUGGESTION_LENGTH = 2000


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


def normalise(question: Question, payload: Mapping[str, Any]) -> Normalised:
    """Validate one question's raw payload ({value | values | text | no_answer}).

    Raises ValueError carrying a translatable Message for the person who typed it.
    """
    kind = QuestionKind(question.kind)
    if payload.get("no_answer") in (True, "1", "true", "on", "y"):
        if not question.allow_no_answer or kind is QuestionKind.TEXT:
            raise ValueError(N_("This question needs an answer."))
        return Normalised(None, None, None, True)
    scale = question.scale
    if kind is QuestionKind.TEXT:
        text = clean_text(
            payload.get("text", payload.get("value")), int(question.config.get("max_length", 2000))
        )
        return Normalised(None, None, text or None, False)
    if kind in (QuestionKind.PROBABILITY, QuestionKind.LIKERT) and not question.config.get(
        "horizons"
    ):
        raw = payload.get("value")
        if _blank(raw):
            return Normalised(None, None, None, False)
        return Normalised(_number(raw, scale), None, None, False)
    values = payload.get("values") or {}
    if not isinstance(values, Mapping):
        raise ValueError(N_("Expected several values."))
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
        return _normalise_conditional(values, list(question.config.get("given", [])), scale)
    if kind is QuestionKind.TREND_IMPACT:
        return _normalise_trend_impact(values)
    raise ValueError(N_("Unknown question kind %(kind)s.", kind=question.kind))  # pragma: no cover


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
            raise ValueError(N_("%(event)s: expected two probabilities.", event=event))
        entry = {
            side: _number(pair.get(side), scale, event)
            for side in ("given", "given_not")
            if not _blank(pair.get(side))
        }
        if len(entry) == 1:
            raise ValueError(
                N_(
                    "%(event)s: give both probabilities (if it happens / if it does not).",
                    event=event,
                )
            )
        if entry:
            result[event] = entry
    if not result:
        return Normalised(None, None, None, False)
    missing = [e for e in given if e not in result]
    if missing:
        raise ValueError(
            N_("Fill in every pair (missing: %(missing)s).", missing=", ".join(missing))
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


@dataclass(frozen=True)
class SaveResult:
    """What a save did: the stored answers and whether this was a replay of an earlier save."""

    answers: dict[str, Answer]
    replay: bool


def _require_can_answer(participation: Participation) -> None:
    """Only consenting, non-withdrawn experts answer."""
    if participation.status == ParticipationStatus.WITHDRAWN:
        raise StateError("You have left this panel; your link no longer accepts answers.")
    if participation.consent_at is None:
        raise StateError("Please read and accept the consent page first.")


def round_item(session: Session, round_: Round, item_id: int) -> RoundItem:
    """The item as asked in this round, or ValidationError if the round does not ask it."""
    found = session.get(RoundItem, (round_.id, item_id))
    if found is None:
        raise ValidationError(
            "This round does not ask that item.", {"item": ["Not in this round."]}
        )
    return found


@dataclass(frozen=True)
class ItemEntry:
    """One item's answers to save: question key -> payload, under the client's key if any."""

    item: Item
    payloads: Mapping[str, Mapping[str, Any]]
    idempotency_key: str | None = None


@dataclass(frozen=True)
class SavedItems:
    """What a save of several items did: results of the valid items, errors of the others."""

    results: dict[str, SaveResult]
    errors: dict[str, dict[str, list[Any]]]


def save_item(
    session: Session,
    participation: Participation,
    round_: Round,
    item: Item,
    payloads: Mapping[str, Mapping[str, Any]],
    *,
    idempotency_key: str | None,
    now: datetime,
    synthetic: bool = False,
) -> SaveResult:
    """Save one item's answers (question key -> payload) as one unit: all valid or none saved.

    A repeated `idempotency_key` with the same data returns what was stored (replay); with
    different data it raises ConflictError and changes nothing. Unchanged answers add no
    revision.
    """
    saved = save_items(
        session,
        participation,
        round_,
        [ItemEntry(item, payloads, idempotency_key)],
        now=now,
        synthetic=synthetic,
    )
    if saved.errors:
        raise ValidationError(
            "Some answers are not valid; nothing was saved.", saved.errors[item.key]
        )
    return saved.results[item.key]


def save_items(
    session: Session,
    participation: Participation,
    round_: Round,
    entries: Sequence[ItemEntry],
    *,
    now: datetime,
    synthetic: bool = False,
) -> SavedItems:
    """Save several items at once (the whole form, or one autosaved item), each as a unit.

    Valid items are saved and invalid ones are reported with their messages and leave
    nothing half-saved; a key reused with different answers (ConflictError) changes nothing
    at all. The round is locked once and every item's current answers and earlier saves
    come in one query, so a whole-round submit costs a few statements, not a few per item.
    """
    for entry in entries:
        if entry.idempotency_key is not None and not 8 <= len(entry.idempotency_key) <= 64:
            raise ValidationError(
                "An idempotency key has 8 to 64 characters.", {"idempotency_key": ["Bad length."]}
            )
    round_ = lock_round(session, round_)
    round_.require_open()
    _require_can_answer(participation)
    if participation.study_id != round_.study_id:
        raise ValidationError("This round belongs to another study.")
    # only the items being saved: loading the round's whole item list (versions, questions,
    # scales) on every autosave cost more than the save itself
    asked_versions = dict(
        session.execute(
            select(RoundItem.item_id, RoundItem.item_version_id).where(
                RoundItem.round_id == round_.id,
                RoundItem.item_id.in_({entry.item.id for entry in entries}),
            )
        )
        .tuples()
        .all()
    )

    # validate every item before touching anything
    errors: dict[str, dict[str, list[Any]]] = {}
    valid: list[tuple[ItemEntry, dict[str, Question], dict[str, Normalised]]] = []
    for entry in entries:
        if entry.item.id not in asked_versions:
            raise ValidationError(
                "This round does not ask that item.", {"item": ["Not in this round."]}
            )
        questions = {q.key: q for q in entry.item.questions_in(round_.number)}
        unknown = [key for key in entry.payloads if key not in questions]
        if unknown:
            raise ValidationError(
                "Unknown questions: " + ", ".join(k[:40] for k in unknown),
                {k[:40]: ["Not asked in this round."] for k in unknown},
            )
        item_errors: dict[str, list[Any]] = {}
        normalised: dict[str, Normalised] = {}
        for key, payload in entry.payloads.items():
            try:
                normalised[key] = normalise(questions[key], payload)
            except ValueError as error:
                item_errors[key] = [error.args[0]]
        if item_errors:
            errors[entry.item.key] = item_errors
        else:
            valid.append((entry, questions, normalised))

    # one query for every current answer and earlier save involved
    def key_of(entry: ItemEntry, question: Question) -> str | None:
        return f"{entry.idempotency_key}:{question.id}" if entry.idempotency_key else None

    asked_ids = [questions[k].id for _e, questions, normalised in valid for k in normalised]
    given_keys = [
        given
        for entry, questions, normalised in valid
        for k in normalised
        if (given := key_of(entry, questions[k])) is not None
    ]
    found: list[Answer] = []
    if asked_ids:
        current_of_items = and_(
            Answer.round_id == round_.id,
            Answer.question_id.in_(asked_ids),
            Answer.is_current.is_(True),
        )
        found = list(
            session.scalars(
                select(Answer).where(
                    Answer.participation_id == participation.id,
                    or_(current_of_items, Answer.idempotency_key.in_(given_keys))
                    if given_keys
                    else current_of_items,
                )
            )
        )
    earlier_by_key = {a.idempotency_key: a for a in found if a.idempotency_key in given_keys}
    current_by_question = {
        a.question_id: a for a in found if a.is_current and a.round_id == round_.id
    }
    for entry, questions, normalised in valid:  # every check before any change
        for key, answer in normalised.items():
            earlier = earlier_by_key.get(key_of(entry, questions[key]) or "")
            if earlier is not None and earlier.payload_hash != answer.digest():
                raise ConflictError(
                    "This save was already made with different answers; reload the page."
                )

    results: dict[str, SaveResult] = {}
    new_rows: list[Answer] = []
    for entry, questions, normalised in valid:
        stored: dict[str, Answer] = {}
        replays = written = 0
        for key, answer in normalised.items():
            question = questions[key]
            digest = answer.digest()
            earlier = earlier_by_key.get(key_of(entry, question) or "")
            if earlier is not None:
                stored[key] = earlier
                replays += 1
                continue
            current = current_by_question.get(question.id)
            if current is not None and current.payload_hash == digest:
                stored[key] = current
                continue
            if current is None and answer.is_empty:
                continue
            if current is not None:
                current.is_current = False
            new = Answer(
                participation_id=participation.id,
                round_id=round_.id,
                item_version_id=asked_versions[entry.item.id],
                question_id=question.id,
                value=answer.value,
                value_json=answer.value_json,
                text=answer.text,
                no_answer=answer.no_answer,
                revision=(current.revision + 1) if current is not None else 1,
                is_current=True,
                idempotency_key=key_of(entry, question),
                payload_hash=digest,
                synthetic=synthetic,
                created_at=now,
            )
            stored[key] = new
            new_rows.append(new)
            written += 1
        results[entry.item.key] = SaveResult(stored, replay=replays > 0 and written == 0)
    if new_rows:
        session.flush()  # the old revisions stop being current before the new ones arrive
        session.add_all(new_rows)
    session.flush()
    if valid:
        _touch_progress(session, participation, round_, now)
    return SavedItems(results, errors)


def _touch_progress(
    session: Session, participation: Participation, round_: Round, now: datetime
) -> RoundProgress:
    """Create or update the expert's progress row for the round."""
    progress = session.get(RoundProgress, (participation.id, round_.id))
    if progress is None:  # first save of the round
        progress = RoundProgress(
            participation_id=participation.id, round_id=round_.id, started_at=now
        )
        session.add(progress)
    progress.last_saved_at = now
    session.flush()
    return progress


def current_answers(
    session: Session, participation: Participation, round_: Round
) -> dict[int, Answer]:
    """The expert's current answers in a round, by question id."""
    rows = session.scalars(
        select(Answer).where(
            Answer.participation_id == participation.id,
            Answer.round_id == round_.id,
            Answer.is_current.is_(True),
        )
    )
    return {a.question_id: a for a in rows}


def is_answered(answer: Answer | None) -> bool:
    """Whether an answer holds something (a value, values, text or 'no answer')."""
    return answer is not None and (
        answer.no_answer
        or answer.value is not None
        or bool(answer.value_json)
        or bool(answer.text and answer.text.strip())
    )


def answered_item_count(session: Session, participation: Participation, round_: Round) -> int:
    """How many of the round's items have every required answer (see `item_progress`)."""
    return item_progress(session, participation, round_)[0]


def item_progress(session: Session, participation: Participation, round_: Round) -> tuple[int, int]:
    """(items with every required answer, items asked) by the rule of `is_answered`, in two
    light queries: every autosave answers with these counts."""
    asked = session.execute(
        select(RoundItem.item_id, Question.id)
        .outerjoin(
            Question,
            and_(
                Question.item_id == RoundItem.item_id,
                Question.required.is_(True),
                Question.from_round <= round_.number,
            ),
        )
        .where(RoundItem.round_id == round_.id)
    ).all()
    answered = {
        question_id
        for question_id, no_answer, value, value_json, text in session.execute(
            select(
                Answer.question_id, Answer.no_answer, Answer.value, Answer.value_json, Answer.text
            ).where(
                Answer.participation_id == participation.id,
                Answer.round_id == round_.id,
                Answer.is_current.is_(True),
            )
        )
        if no_answer or value is not None or bool(value_json) or bool(text and text.strip())
    }
    items = {item_id for item_id, _question in asked}
    incomplete = {
        item_id for item_id, question in asked if question is not None and question not in answered
    }
    return len(items - incomplete), len(items)


def submit_round(
    session: Session,
    participation: Participation,
    round_: Round,
    *,
    now: datetime,
    outside_iqr: Mapping[int, list[str]] | None = None,
) -> RoundProgress:
    """Submit the round (revisable until it closes): every required answer must be there.

    `outside_iqr` maps item ids to the questions whose answers lie outside the previous
    round's interquartile range; when the study asks for it, those items need a reason.
    Raises ValidationError naming each item and question that is missing something.
    """
    round_ = lock_round(session, round_)
    round_.require_open()
    _require_can_answer(participation)
    answers = current_answers(session, participation, round_)
    problems: dict[str, list[str]] = {}
    for round_item_ in round_.items:
        item = round_item_.item
        questions = item.questions_in(round_.number)
        for question in questions:
            if question.required and not is_answered(answers.get(question.id)):
                problems.setdefault(item.key, []).append(question.key)
        reasons = [q for q in questions if q.kind == QuestionKind.TEXT]
        if outside_iqr and item.id in outside_iqr and reasons:
            reason = answers.get(reasons[0].id)
            if not is_answered(reason):
                problems.setdefault(item.key, []).append(f"{reasons[0].key}:outside_iqr")
    if problems:
        raise ValidationError("Some answers are missing.", problems)
    progress = _touch_progress(session, participation, round_, now)
    progress.submitted_at = now
    progress.submit_count += 1
    session.flush()
    return progress


def add_suggestion(
    session: Session, participation: Participation, round_: Round, text: str, *, now: datetime
) -> Suggestion:
    """Record a suggested new development (round 1), without linking it to the expert."""
    round_.require_open()
    _require_can_answer(participation)
    if not participation.study.suggestions_enabled or round_.number != 1:
        raise StateError("Suggestions are collected in round 1 only.")
    try:
        cleaned = clean_text(text, MAX_SUGGESTION_LENGTH)
    except ValueError as error:
        raise ValidationError(str(error), {"suggestion": [str(error)]}) from None
    if not cleaned:
        raise ValidationError("Write the development you suggest.", {"suggestion": ["Empty."]})
    suggestion = Suggestion(
        study_id=participation.study_id,
        round_id=round_.id,
        text=cleaned,
        language=participation.language,
        created_at=now,
    )
    session.add(suggestion)
    session.flush()
    return suggestion
