"""View models of the expert's round: items with their questions, fields, feedback and
states, ready for the templates (which then only lay them out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from flask import get_template_attribute
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from analysis.coherence import CoherenceKind
from app.definitions.model import QuestionKind
from app.expert.round_form import (
    NO_ANSWER,
    ShownAnswer,
    asked_parts,
    field_name,
    no_answer_name,
)
from app.i18n import localise_digits, render_message
from app.models import Item, Question, Round, RoundItem
from app.services.answer_values import POTENTIAL
from app.services.coherence import ItemCoherenceHint
from app.services.feedback import ItemFeedback, PartFeedback
from app.services.round_progress import ItemStatus, Problem, ProblemKind
from app.services.tidy import ROW_KINDS, TREND_IMPACT_PARTS
from app.templating import current_language, measure, number, translated

#: labels of the trend impact profile's fields
TREND_IMPACT_LABELS = {
    "t1": _l("Years until the first impact"),
    "t2": _l("Years until the largest impact"),
    "i_max": _l("Largest impact"),
    "t3": _l("Years until the impact settles"),
    "i_ss": _l("Lasting impact"),
}
#: parts counted in years, not on the question's scale
YEAR_PARTS = frozenset({"t1", "t2", "t3"})


@dataclass(frozen=True)
class EventLabel:
    """Another development, as a conditional question names it."""

    title: str
    text: str


def event_labels(round_items: Sequence[RoundItem]) -> dict[str, EventLabel]:
    """Item key -> the development's title and definition (as the round asks it), in the
    page's language."""
    language = current_language()
    return {
        ri.item.key: EventLabel(
            text_in(ri.version.title, language), text_in(ri.version.text, language)
        )
        for ri in round_items
    }


def text_in(texts: Mapping[str, str] | None, language: str) -> str:
    """`translated` for a language already looked up (the round's every title, at once)."""
    if not texts:
        return ""
    return texts.get(language) or texts.get("en") or next(iter(texts.values()), "")


def part_label(
    question: Question, part: str, events: Mapping[str, EventLabel] | None = None
) -> str:
    """A human label for a part of a question: a percentile, a year, a development."""
    kind = QuestionKind(question.kind)
    if kind is QuestionKind.QUANTILES:
        return _("%(p)s %% estimate", p=number(float(part), 0))
    if kind is QuestionKind.PROBABILITY:
        return _("By %(year)s", year=localise_digits(part))
    if kind is QuestionKind.TREND_IMPACT and part in TREND_IMPACT_PARTS:
        return str(TREND_IMPACT_LABELS[part])
    if kind is QuestionKind.POSITIONS:
        return translated(question.config.get("labels", {}).get(part)) or part
    if kind is QuestionKind.CROSS_IMPACT:
        _row, _sep, target = part.partition("|")
        return translated(question.config.get("labels", {}).get(target)) or target
    if kind in ROW_KINDS:
        labels = events or {}
        return labels[part].title if part in labels else part
    if kind is QuestionKind.CONDITIONAL:
        event, _sep, side = part.partition("|")
        labels = events or {}
        title = labels[event].title if event in labels else event
        if side == "given_not":
            return _("If “%(development)s” does not happen", development=title)
        return _("If “%(development)s” happens", development=title)
    return part


@dataclass(frozen=True)
class PartField:
    """One input of a question."""

    part: str
    name: str
    id: str
    label: str
    value: str


@dataclass(frozen=True)
class ConditionalPair:
    """The two inputs of one conditioning development."""

    event: str
    label: EventLabel
    given: PartField
    given_not: PartField


@dataclass(frozen=True)
class ImpactBlock:
    """One other descriptor under a row variant of a CIB question: its variants' inputs."""

    descriptor: str
    title: str
    fields: list[PartField]


@dataclass(frozen=True)
class ImpactRow:
    """One variant of the descriptor a CIB question asks about, with its impact blocks."""

    variant: str
    title: str
    blocks: list[ImpactBlock]


def impact_rows(question: Question, fields: Sequence[PartField]) -> list[ImpactRow]:
    """A CIB question's inputs grouped by its own variant, then by the other descriptor."""
    config = question.config
    labels = config.get("labels", {})
    titles = config.get("descriptors", {})
    rows: dict[str, dict[str, list[PartField]]] = {}
    for f in fields:
        row, descriptor, _variant = f.part.split("|")
        rows.setdefault(row, {}).setdefault(descriptor, []).append(f)
    own = question.item.key
    return [
        ImpactRow(
            row,
            translated(labels.get(f"{own}|{row}")) or row,
            [
                ImpactBlock(d, translated(titles.get(d)) or d, block)
                for d, block in by_descriptor.items()
            ],
        )
        for row, by_descriptor in rows.items()
    ]


@dataclass(frozen=True)
class StripRow:
    """One part of a multi-part question in the feedback strip: label, numbers, geometry."""

    label: str
    feedback: PartFeedback
    iqr: tuple[float, float] | None  #: x and width of the middle half, in 0..100
    median_x: float | None
    own_x: float | None
    years: bool


@dataclass
class QuestionView:
    """One question of an item page: prompt, fields (prefilled), feedback, problems."""

    question: Question
    prompt: str
    fields: list[PartField]
    pairs: list[ConditionalPair]
    no_answer: PartField | None
    shown: ShownAnswer
    feedback: list[PartFeedback]
    strip: list[StripRow]
    own_no_answer: bool
    snapshot_id: int | None = None
    #: a Likert question's points: (value, label), "outside my expertise" last
    choices: list[tuple[str, str]] = field(default_factory=list)
    #: a CIB question's inputs by row variant and other descriptor
    impacts: list[ImpactRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """The question's kind."""
        return self.question.kind

    @property
    def first_id(self) -> str:
        """The id of the question's first input (links to the question point here)."""
        if self.fields:
            return self.fields[0].id
        return f"q{self.question.id}"

    @property
    def feedback_key(self) -> tuple[Any, ...]:
        """What the question's feedback box shows besides the language and the page's
        numbers: the snapshot, the question, and the parts with the expert's own answers
        (the key of its rendered fragment)."""
        return (
            self.snapshot_id,
            self.question.id,
            self.own_no_answer,
            tuple((pf.label, pf.own) for pf in self.feedback),
        )

    @cached_property
    def cell_feedback(self) -> dict[str, PartFeedback]:
        """The panel's view of each part by its name (a CIB question shows it beside each
        judgement: a list of the other descriptors' states alone cannot say which is which)."""
        return {pf.label: pf for pf in self.feedback}

    @property
    def single_feedback(self) -> PartFeedback | None:
        """The feedback of a single-valued question."""
        return self.feedback[0] if len(self.feedback) == 1 and not self.strip else None


@dataclass
class ItemView:
    """One item of the round for the expert."""

    round_item: RoundItem
    position: int  #: 1-based, in the round's order
    questions: list[QuestionView]
    feedback: ItemFeedback | None
    status: ItemStatus
    is_new: bool
    changed_note: dict[str, str] | None
    hints: list[str] = field(default_factory=list)

    @property
    def item(self) -> Item:
        """The item."""
        return self.round_item.item

    @property
    def has_previous(self) -> bool:
        """Whether any question shows last round's answer."""
        return any(q.shown.source == "previous" for q in self.questions)


def _strip(
    question: Question,
    parts: Sequence[PartFeedback],
    labels: Sequence[str],
    rtl: bool,
) -> list[StripRow]:
    """Rows of a multi-part question's feedback strip, on a shared axis where the parts share
    the question's scale (each row on its own axis for an impact profile's years and impacts)."""
    if len(parts) < 2:
        return []
    rows = []
    shared = QuestionKind(question.kind) is not QuestionKind.TREND_IMPACT

    def domain(of: Sequence[PartFeedback]) -> tuple[float, float]:
        lows = [float(b["low"]) for pf in of for b in pf.histogram]
        highs = [float(b["high"]) for pf in of for b in pf.histogram]
        values = [v for pf in of for v in (pf.q1, pf.q3, pf.median, pf.own) if v is not None]
        low = min(lows + values, default=0.0)
        high = max(highs + values, default=1.0)
        return low, (high if high > low else low + 1.0)

    common = domain(parts) if shared else None
    for pf, label in zip(parts, labels, strict=True):
        low, high = common or domain([pf])

        def x_of(value: float | None, low: float = low, high: float = high) -> float | None:
            if value is None:
                return None
            share = min(1.0, max(0.0, (float(value) - low) / (high - low)))
            return round((1 - share if rtl else share) * 100, 1)

        q1, q3 = x_of(pf.q1), x_of(pf.q3)
        iqr = None
        if q1 is not None and q3 is not None:
            left, right = sorted((q1, q3))
            iqr = (left, max(right - left, 1.0))
        rows.append(
            StripRow(
                label=label,
                feedback=pf,
                iqr=iqr,
                median_x=x_of(pf.median),
                own_x=x_of(pf.own),
                years=QuestionKind(question.kind) is QuestionKind.TREND_IMPACT
                and pf.label in YEAR_PARTS,
            )
        )
    return rows


def question_view(
    question: Question,
    *,
    horizon: int,
    shown: ShownAnswer,
    feedback: ItemFeedback | None,
    given: Sequence[str] | None,
    events: Mapping[str, EventLabel],
    errors: Sequence[str] = (),
    rtl: bool = False,
) -> QuestionView:
    """The view of one question with its fields filled from `shown`."""
    prompt = translated(question.prompt).replace("{horizon}", localise_digits(str(horizon)))
    parts = asked_parts(question, given)
    kind = QuestionKind(question.kind)
    fields = []
    for part in parts if kind not in (QuestionKind.TEXT, QuestionKind.LIKERT) else [""]:
        name = field_name(question, part)
        fields.append(
            PartField(
                part,
                name,
                name.replace("|", "-"),
                part_label(question, part, events) if part else prompt,
                shown.values.get(name, ""),
            )
        )
    pairs = []
    if kind is QuestionKind.CONDITIONAL:
        by_part = {f.part: f for f in fields}
        for event in dict.fromkeys(part.partition("|")[0] for part in parts):
            pairs.append(
                ConditionalPair(
                    event,
                    events.get(event, EventLabel(event, "")),
                    by_part[f"{event}|given"],
                    by_part[f"{event}|given_not"],
                )
            )
    no_answer = None
    if question.allow_no_answer and kind not in (QuestionKind.TEXT, QuestionKind.LIKERT):
        name = no_answer_name(question)
        no_answer = PartField("na", name, name, "", shown.values.get(name, ""))
    part_feedback: list[PartFeedback] = []
    own_no_answer = False
    if feedback is not None and question.key in feedback.questions:
        allowed = set(parts)
        part_feedback = [pf for pf in feedback.questions[question.key] if pf.label in allowed]
        own_no_answer = feedback.own_no_answer.get(question.key, False)
    strip = _strip(
        question,
        part_feedback,
        [part_label(question, pf.label, events) for pf in part_feedback],
        rtl,
    )
    return QuestionView(
        question=question,
        snapshot_id=feedback.snapshot_id if feedback is not None else None,
        choices=(
            likert_choices(question)
            if kind is QuestionKind.LIKERT
            else row_choices(kind)
            if kind in ROW_KINDS
            else []
        ),
        prompt=prompt,
        fields=fields,
        pairs=pairs,
        no_answer=no_answer,
        shown=shown,
        feedback=part_feedback,
        strip=strip,
        own_no_answer=own_no_answer,
        errors=list(errors),
        impacts=impact_rows(question, fields) if kind is QuestionKind.CROSS_IMPACT else [],
    )


def hint_message(hint: ItemCoherenceHint, events: Mapping[str, EventLabel]) -> str:
    """A coherence hint in the expert's words: gentle, with the numbers that do not fit."""
    other = events[hint.given_item_key].title if hint.given_item_key in events else ""
    found = hint.hint
    if found.kind is CoherenceKind.OUTSIDE_RANGE:
        return _(
            "Your probability for this development (%(stated)s) lies outside your two answers "
            "for the cases that “%(other)s” happens or not (%(low)s to %(high)s). Since "
            "“%(other)s” either happens or not, this development's probability should lie "
            "between those two answers. You may want to look again.",
            stated=measure(found.stated, "%", 0),
            other=other,
            low=measure(found.low, "%", 0),
            high=measure(found.high, "%", 0),
        )
    return _(
        "Your probability for “%(other)s” and your two answers for the cases that it happens "
        "or not imply about %(implied)s for this development; you gave %(stated)s. You may "
        "want to look again.",
        other=other,
        implied=measure(found.implied or 0.0, "%", 0),
        stated=measure(found.stated, "%", 0),
    )


def likert_choices(question: Question) -> list[tuple[str, str]]:
    """A Likert question's points as (value, label), and "na" for outside my expertise."""
    scale = question.scale
    if scale is None or scale.min is None or scale.max is None:
        raise ValueError(f"Likert question {question.key} has no bounded scale.")
    choices: list[tuple[str, str]] = []
    point = scale.min
    while point <= scale.max + 1e-9:
        key = str(int(point)) if float(point).is_integer() else str(point)
        choices.append((key, translated(scale.labels.get(key))))
        point += scale.step
    if question.allow_no_answer:
        choices.append((NO_ANSWER, ""))
    return choices


def row_choices(kind: QuestionKind) -> list[tuple[str, str]]:
    """The ratings of one cell of a structural row as (value, label)."""
    if kind is QuestionKind.ACTOR_INFLUENCE:
        return [
            ("0", _("no influence")),
            ("1", _("on its procedures")),
            ("2", _("on its projects")),
            ("3", _("on its mission")),
            ("4", _("on its existence")),
        ]
    if kind is QuestionKind.POSITIONS:
        return [(str(point), _("position %(n)s", n=point)) for point in range(-4, 5)]
    if kind is QuestionKind.CROSS_IMPACT:
        return [("", _("not rated"))] + [
            (str(point), _("impact %(n)s", n=point)) for point in range(-3, 4)
        ]
    return [
        ("0", _("none")),
        ("1", _("weak")),
        ("2", _("moderate")),
        ("3", _("strong")),
        (POTENTIAL, _("potential")),
    ]


def problem_message(problem: Problem) -> str:
    """What stops a question from being submitted, in the expert's words."""
    if problem.kind is ProblemKind.REASON:
        return _("Your answer is outside the panel's middle half: please say why.")
    if problem.kind is ProblemKind.INVALID and problem.message is not None:
        return render_message(problem.message)
    if problem.kind is ProblemKind.INVALID:
        return _("What you typed is kept, but it is not a complete answer yet.")
    return _("This answer is missing.")


def changed_note(round_item: RoundItem, round_: Round) -> dict[str, str] | None:
    """What changed in the item since the last round, when it was reworded for this round."""
    version = round_item.version
    if version.number > 1 and version.introduced_in_round == round_.number:
        return dict(version.change_note)
    return None


def state_chips(labels: Mapping[str, str]) -> dict[str, Markup]:
    """Each state's chip (the `state_chip` macro), rendered once per page: the overview and
    the jump list show one per item, and a macro call per item added up."""
    chip = get_template_attribute("macros/round.html", "state_chip")
    return {state: chip(state, labels) for state in labels}


def state_labels() -> dict[str, str]:
    """Each item state's words, for chips and the overview."""
    return {
        "not_started": _("Not started"),
        "draft": _("Draft"),
        "complete": _("Complete"),
        "outside_expertise": _("Outside my expertise"),
        "needs_reason": _("Needs a reason"),
    }
