"""The round form, built from the study with WTForms: one field (or a few) per question."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from app.definitions.model import QuestionKind
from app.i18n import localise_digits
from app.models import Answer, Question, RoundItem
from app.services.tidy import TREND_IMPACT_PARTS, question_parts
from app.templating import number, translated

NO_ANSWER = "na"

#: labels of the trend impact profile's fields
TREND_IMPACT_LABELS = {
    "t1": _l("Years until the first impact"),
    "t2": _l("Years until the largest impact"),
    "i_max": _l("Largest impact"),
    "t3": _l("Years until the impact settles"),
    "i_ss": _l("Lasting impact"),
}


def field_name(question: Question, part: str = "") -> str:
    """The form field name of a question (or one part of it)."""
    if not part:
        return f"q{question.id}"
    return f"q{question.id}_" + part.replace("|", "__")


def no_answer_name(question: Question) -> str:
    """The field name of a question's 'outside my expertise' box."""
    return f"q{question.id}_{NO_ANSWER}"


class RoundForm(FlaskForm):
    """Base of the per-round form classes (fields are added by `build_round_form`)."""

    class Meta:
        #: fields are rendered by hand: values must round-trip exactly as typed
        locales = False


@dataclass
class QuestionFields:
    """The fields of one question, for the template."""

    question: Question
    fields: list[tuple[str, Field]] = field(default_factory=list)  #: (part, field)
    no_answer: Field | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def first_id(self) -> str:
        """The id of the question's first input (error summary links point here)."""
        return self.fields[0][1].id if self.fields else ""


def _likert_choices(question: Question) -> list[SelectChoice]:
    """Radio choices of a Likert question: every point (with its label) and 'no answer'."""
    scale = question.scale
    if scale is None or scale.min is None or scale.max is None:
        raise ValueError(f"Likert question {question.key} has no bounded scale.")
    choices: list[SelectChoice] = []
    point = scale.min
    while point <= scale.max + 1e-9:
        key = str(int(point)) if float(point).is_integer() else str(point)
        choices.append(SelectChoice(key, translated(scale.labels.get(key))))
        point += scale.step
    if question.allow_no_answer:
        choices.append(SelectChoice(NO_ANSWER, _("Outside my expertise")))
    return choices


def _fields_for(question: Question) -> dict[str, Field]:
    """Unbound WTForms fields for one question, by field name."""
    kind = QuestionKind(question.kind)
    fields: dict[str, Any] = {}
    if kind is QuestionKind.TEXT:
        max_length = int(question.config.get("max_length", 2000))
        fields[field_name(question)] = TextAreaField(
            validators=[Optional(), Length(max=max_length)]
        )
        return fields
    if kind is QuestionKind.LIKERT:
        fields[field_name(question)] = RadioField(
            choices=_likert_choices(question), validators=[Optional()], validate_choice=False
        )
        return fields
    for part in question_parts(question):
        fields[field_name(question, part.part)] = StringField(validators=[Optional()])
    if question.allow_no_answer:
        fields[no_answer_name(question)] = BooleanField(_l("Outside my expertise"))
    return fields


def build_round_form(
    round_items: Iterable[RoundItem],
    round_number: int,
    *,
    formdata: Any = None,
    answers: Mapping[int, Answer] | None = None,
) -> RoundForm:
    """A form class for this round's questions, instantiated with posted data or saved answers."""
    attributes: dict[str, Any] = {}
    for round_item in round_items:
        for question in round_item.item.questions:
            if question.from_round <= round_number:
                attributes.update(_fields_for(question))
    form_class = type("RoundFormForRound", (RoundForm,), attributes)
    data = initial_data(round_items, round_number, answers or {}) if formdata is None else None
    form: RoundForm = form_class(formdata=formdata, data=data)
    return form


def _plain(value: float | None) -> str:
    """A stored number as the user would type it (no trailing .0)."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def initial_data(
    round_items: Iterable[RoundItem], round_number: int, answers: Mapping[int, Answer]
) -> dict[str, Any]:
    """Form data from saved answers (resume on any device)."""
    data: dict[str, Any] = {}
    for round_item in round_items:
        for question in round_item.item.questions:
            answer = answers.get(question.id)
            if answer is None or question.from_round > round_number:
                continue
            kind = QuestionKind(question.kind)
            if kind is QuestionKind.TEXT:
                data[field_name(question)] = answer.text or ""
            elif kind is QuestionKind.LIKERT:
                data[field_name(question)] = NO_ANSWER if answer.no_answer else _plain(answer.value)
            else:
                if question.allow_no_answer:
                    data[no_answer_name(question)] = answer.no_answer
                for part in question_parts(question):
                    if not part.part:
                        data[field_name(question)] = _plain(answer.value)
                    elif kind is QuestionKind.CONDITIONAL:
                        event, _sep, side = part.part.partition("|")
                        value = ((answer.value_json or {}).get(event) or {}).get(side)
                        data[field_name(question, part.part)] = _plain(value)
                    else:
                        data[field_name(question, part.part)] = _plain(
                            (answer.value_json or {}).get(part.part)
                        )
    return data


def payload_for(form: RoundForm, question: Question) -> dict[str, Any]:
    """The service payload of one question from the (posted) form."""
    kind = QuestionKind(question.kind)
    raw = form._fields
    if kind is QuestionKind.TEXT:
        return {"text": raw[field_name(question)].data or ""}
    if kind is QuestionKind.LIKERT:
        value = raw[field_name(question)].data
        if value == NO_ANSWER:
            return {"no_answer": True}
        return {"value": value or None}
    payload: dict[str, Any] = {}
    box = raw.get(no_answer_name(question))
    if box is not None and box.data:
        payload["no_answer"] = True
    parts = question_parts(question)
    if len(parts) == 1 and not parts[0].part:
        payload["value"] = raw[field_name(question)].data
        return payload
    values: dict[str, Any] = {}
    for part in parts:
        typed = raw[field_name(question, part.part)].data
        if kind is QuestionKind.CONDITIONAL:
            event, _sep, side = part.part.partition("|")
            values.setdefault(event, {})[side] = typed
        else:
            values[part.part] = typed
    payload["values"] = values
    return payload


def question_fields(form: RoundForm, question: Question) -> QuestionFields:
    """The bound fields of a question, for rendering."""
    raw = form._fields
    result = QuestionFields(question)
    kind = QuestionKind(question.kind)
    if kind in (QuestionKind.TEXT, QuestionKind.LIKERT):
        result.fields.append(("", raw[field_name(question)]))
        return result
    for part in question_parts(question):
        result.fields.append((part.part, raw[field_name(question, part.part)]))
    result.no_answer = raw.get(no_answer_name(question))
    return result


def part_label(question: Question, part: str) -> str:
    """A human label for a part of a question (a percentile, a year, a condition)."""
    kind = QuestionKind(question.kind)
    if kind is QuestionKind.QUANTILES:
        return _("%(p)s %% estimate", p=number(float(part), 0))
    if kind is QuestionKind.PROBABILITY:
        return _("By %(year)s", year=localise_digits(part))
    if kind is QuestionKind.TREND_IMPACT and part in TREND_IMPACT_PARTS:
        return str(TREND_IMPACT_LABELS[part])
    return part
