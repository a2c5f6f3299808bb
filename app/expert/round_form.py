"""The round's form fields: their names, what a posted form means as answer payloads, and
what each field shows (a draft as typed, the saved answer, or last round's answer).

Fields are plain HTML inputs named after the question (and part): `q<id>` for one value,
`q<id>_<part>` for several (a conditional's `E06|given` becomes `q<id>_E06__given`) and
`q<id>_na` for "outside my expertise". The CSRF token is checked app-wide.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.definitions.model import QuestionKind
from app.models import AnswerDraft, Question
from app.services.answer_values import POTENTIAL, POTENTIAL_KEY, AnswerValues, answer_payload
from app.services.tidy import question_parts

NO_ANSWER = "na"


def field_name(question: Question, part: str = "") -> str:
    """The form field name of a question (or one part of it)."""
    if not part:
        return f"q{question.id}"
    return f"q{question.id}_" + part.replace("|", "__")


def no_answer_name(question: Question) -> str:
    """The field name of a question's 'outside my expertise' box."""
    return f"q{question.id}_{NO_ANSWER}"


def asked_parts(question: Question, given: Sequence[str] | None = None) -> list[str]:
    """The parts of a question this expert is asked ('' for a single value)."""
    parts = [part.part for part in question_parts(question)]
    if given is not None and QuestionKind(question.kind) is QuestionKind.CONDITIONAL:
        allowed = set(given)
        parts = [part for part in parts if part.partition("|")[0] in allowed]
    return parts


def posted_payload(
    formdata: Mapping[str, Any], question: Question, given: Sequence[str] | None = None
) -> dict[str, Any] | None:
    """The payload of one question from a posted form, or None if the form has none of its
    fields (a page posts only the questions it shows)."""
    kind = QuestionKind(question.kind)
    if kind is QuestionKind.TEXT:
        name = field_name(question)
        return {"text": formdata.get(name, "")} if name in formdata else None
    if kind is QuestionKind.LIKERT:
        name = field_name(question)
        # an unticked radio group sends nothing: the page marks its questions as shown
        if name not in formdata and f"shown_{question.id}" not in formdata:
            return None
        value = formdata.get(name)
        if value == NO_ANSWER:
            return {"no_answer": True}
        return {"value": value or None}
    parts = asked_parts(question, given)
    names = [field_name(question, part) for part in parts]
    if not any(name in formdata for name in [*names, no_answer_name(question)]):
        return None
    payload: dict[str, Any] = {}
    if question.allow_no_answer and formdata.get(no_answer_name(question)):
        payload["no_answer"] = True
    if parts == [""]:
        payload["value"] = formdata.get(names[0], "")
        return payload
    values: dict[str, Any] = {}
    for part, name in zip(parts, names, strict=True):
        typed = formdata.get(name, "")
        if kind is QuestionKind.CONDITIONAL:
            event, _sep, side = part.partition("|")
            values.setdefault(event, {})[side] = typed
        else:
            values[part] = typed
    payload["values"] = values
    return payload


def _plain(value: Any) -> str:
    """A stored number as the user would type it (no trailing .0)."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return str(int(value)) if float(value).is_integer() else str(value)


def shown_values(question: Question, payload: Mapping[str, Any]) -> dict[str, str]:
    """Field name -> the text a field shows for a payload (stored or typed)."""
    kind = QuestionKind(question.kind)
    shown: dict[str, str] = {}
    if payload.get("no_answer"):
        shown[no_answer_name(question)] = "y"
        if kind is QuestionKind.LIKERT:
            shown[field_name(question)] = NO_ANSWER
    if kind is QuestionKind.TEXT:
        shown[field_name(question)] = str(payload.get("text") or "")
        return shown
    if kind is QuestionKind.LIKERT:
        shown.setdefault(field_name(question), _plain(payload.get("value")))
        return shown
    values = payload.get("values") or {}
    potential = values.get(POTENTIAL_KEY) if isinstance(values, Mapping) else None
    for part in question_parts(question):
        if not part.part:
            shown[field_name(question)] = _plain(payload.get("value"))
        elif isinstance(potential, list) and part.part in potential:
            shown[field_name(question, part.part)] = POTENTIAL
        elif kind is QuestionKind.CONDITIONAL:
            event, _sep, side = part.part.partition("|")
            pair = values.get(event) if isinstance(values, Mapping) else None
            shown[field_name(question, part.part)] = _plain(
                pair.get(side) if isinstance(pair, Mapping) else None
            )
        else:
            shown[field_name(question, part.part)] = _plain(
                values.get(part.part) if isinstance(values, Mapping) else None
            )
    return shown


@dataclass(frozen=True)
class ShownAnswer:
    """What a question's fields show, and where it comes from."""

    values: dict[str, str]
    #: "draft" (typed, not a valid answer yet), "answer" (saved this round), "previous"
    #: (last round's answer, offered to keep) or "" (nothing yet)
    source: str


def shown_answer(
    question: Question,
    answer: AnswerValues | None,
    draft: AnswerDraft | None,
    previous: AnswerValues | None,
) -> ShownAnswer:
    """A question's fields: the draft as typed, else this round's answer, else last round's."""
    if draft is not None:
        return ShownAnswer(shown_values(question, draft.payload), "draft")
    if answer is not None:
        return ShownAnswer(shown_values(question, answer_payload(answer)), "answer")
    if previous is not None:
        return ShownAnswer(shown_values(question, answer_payload(previous)), "previous")
    return ShownAnswer({}, "")
