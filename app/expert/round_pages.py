"""What the pages of the expert's round show: the round's pages and what every page needs
(the context), the items' view models, the overview's sections, the review's lines and an
item's state after a save. The routes are in `app/expert/round.py`."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import abort, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from app.definitions.model import QuestionKind
from app.expert.round_form import ShownAnswer, posted_payload, shown_answer, shown_values
from app.expert.views import (
    EventLabel,
    ItemView,
    changed_note,
    event_labels,
    hint_message,
    problem_message,
    question_view,
    text_in,
)
from app.extensions import db, feedback_views, panel_times, round_layouts
from app.i18n import localise_digits, text_direction
from app.models import Item, Participation, Question, Round, RoundItem
from app.services import answers as answer_service
from app.services import burden, coherence, round_progress, timing
from app.services import feedback as feedback_service
from app.services import rounds as round_service
from app.services.answer_values import AnswerValues
from app.services.answers import UNKNOWN, Unknown
from app.services.feedback import ItemFeedback, SnapshotView
from app.services.round_progress import RoundAnswers, RoundStatus
from app.services.snapshots import previous_closed_round
from app.templating import current_language, translated


@dataclass(frozen=True)
class Page:
    """One page of the round: an item, or a category's items."""

    kind: str  #: "item" | "category"
    key: str
    title: str
    round_items: tuple[RoundItem, ...]

    @property
    def url(self) -> str:
        """The page's address."""
        return _page_url(request.script_root, self.kind, self.key)


@functools.lru_cache(maxsize=4096)
def _page_url(script_root: str, kind: str, key: str) -> str:
    """A page's address under an application root (a round page lists every page's, and
    building each with url_for on every request added up)."""
    if kind == "item":
        return url_for("expert.round_item", key=key)
    return url_for("expert.round_category", category_key=key)


@dataclass
class RoundContext:
    """What every round page needs: the expert's answers, feedback, states and pages."""

    me: Participation
    round_: Round
    loaded: RoundAnswers
    #: the decoded snapshot of the closed round before this one (the feedback), if any
    snapshot: SnapshotView | None
    outside_iqr: dict[int, list[str]]
    given: dict[int, tuple[str, ...]]
    status: RoundStatus
    events: dict[str, EventLabel]
    pages: list[Page]

    def feedback_of(self, item: Item) -> ItemFeedback | None:
        """The feedback shown with an item (built for the items a page shows, not the
        round's every item)."""
        if self.snapshot is None or self.loaded.closed is None:
            return None
        found = feedback_service.feedback_from_view(
            self.snapshot, self.loaded.closed.number, self.loaded.previous, [item]
        )
        return found.get(item.key)

    def page_of(self, kind: str, key: str) -> tuple[int, Page]:
        """The page with this key (and its index), or 404."""
        for index, page in enumerate(self.pages):
            if page.kind == kind and page.key.lower() == key.lower():
                return index, page
        abort(404)

    def page_of_item(self, item_key: str) -> Page:
        """The page that shows an item."""
        for page in self.pages:
            if any(ri.item.key == item_key for ri in page.round_items):
                return page
        abort(404)


def pages_of(round_: Round, page_by: str) -> list[Page]:
    """The round's pages: one per item, or one per category (all of its items, the category
    where its first item comes; uncategorised items each on their own page)."""
    if page_by != "category":
        language = current_language()
        return [
            Page("item", ri.item.key, text_in(ri.version.title, language), (ri,))
            for ri in round_.items
        ]
    pages: list[Page] = []
    by_category: dict[str, int] = {}
    for round_item in round_.items:
        category = round_item.item.category
        if category is None:
            pages.append(item_page(round_item))
        elif category.key in by_category:
            index = by_category[category.key]
            last = pages[index]
            pages[index] = Page(last.kind, last.key, last.title, (*last.round_items, round_item))
        else:
            by_category[category.key] = len(pages)
            pages.append(Page("category", category.key, translated(category.label), (round_item,)))
    return pages


def previous_number(round_: Round) -> int | None:
    """The number of the round whose answers this one shows and prefills (None in round 1)."""
    return round_.number - 1 if round_.number > 1 else None


def item_page(round_item: RoundItem) -> Page:
    """The page of one item."""
    return Page("item", round_item.item.key, translated(round_item.version.title), (round_item,))


def load_context(
    me: Participation, round_: Round, closed: Round | None | Unknown = UNKNOWN
) -> RoundContext:
    """Load what the round's pages show (a handful of queries; the snapshot and the round's
    item layout are cached per process, and only read)."""
    round_layouts().install(db.session, round_)
    loaded = RoundAnswers.load(db.session, me, round_, closed)
    snapshot = (
        feedback_views().view_of(db.session, loaded.closed) if loaded.closed is not None else None
    )
    # the open round's items stand for the closed round's (the snapshot is keyed by item)
    outside = (
        feedback_service.outside_iqr_of_view(
            snapshot, loaded.answers, [round_item.item for round_item in round_.items]
        )
        if snapshot is not None and me.study.reason_outside_iqr
        else {}
    )
    given = burden.asked_givens(db.session, me, round_)
    return RoundContext(
        me=me,
        round_=round_,
        loaded=loaded,
        snapshot=snapshot,
        outside_iqr=outside,
        given=given,
        status=round_progress.statuses_from(round_, loaded, outside_iqr=outside, given=given),
        events=event_labels(round_.items),
        pages=pages_of(round_, me.study.page_by),
    )


def item_views(
    context: RoundContext,
    round_items: Sequence[RoundItem],
    errors: Mapping[str, Mapping[str, list[str]]] | None = None,
    posted: Mapping[str, Any] | None = None,
) -> list[ItemView]:
    """The view models of some of the round's items (showing `posted` form values, when
    given, over what is stored)."""
    round_ = context.round_
    new_items = {item.id for item in round_service.new_items_in(round_)}
    positions = {ri.item_id: index + 1 for index, ri in enumerate(round_.items)}
    rtl = text_direction(current_language()) == "rtl"
    horizon = context.me.study.horizon
    hints = coherence.coherence_hints(
        db.session, context.me, round_, answers=context.loaded.answers
    )
    views = []
    for round_item in round_items:
        item = round_item.item
        feedback = context.feedback_of(item)
        item_errors = (errors or {}).get(item.key, {})
        status = context.status.of(item.id)
        # an untouched item is not "missing" anything yet: problems show once it is begun
        problems = (
            {p.question_key: problem_message(p) for p in status.problems}
            if status.state != "not_started"
            else {}
        )
        questions = [
            question_view(
                question,
                horizon=horizon,
                shown=shown_values_of(context, question, posted),
                feedback=feedback,
                given=context.given.get(question.id),
                events=context.events,
                errors=item_errors.get(question.key)
                or ([problems[question.key]] if question.key in problems else []),
                rtl=rtl,
            )
            for question in item.questions_in(round_.number)
            if context.given.get(question.id, True)  # not asked of this expert: not shown
        ]
        views.append(
            ItemView(
                round_item=round_item,
                position=positions[item.id],
                questions=questions,
                feedback=feedback,
                status=status,
                is_new=item.id in new_items,
                changed_note=changed_note(round_item, round_),
                hints=[hint_message(h, context.events) for h in hints.get(item.key, [])],
            )
        )
    return views


def shown_values_of(
    context: RoundContext, question: Question, posted: Mapping[str, Any] | None
) -> Any:
    """What a question's fields show: the posted values if any, else what is stored."""
    if posted is not None:
        payload = posted_payload(posted, question, context.given.get(question.id))
        if payload is not None:
            return ShownAnswer(shown_values(question, payload), "draft")
    loaded = context.loaded
    return shown_answer(
        question,
        loaded.answers.get(question.id),
        loaded.drafts.get(question.id),
        loaded.previous.get(question.id),
    )


def estimate(context: RoundContext) -> str | None:
    """How long the rest of the round takes this expert, measured from earlier rounds."""
    done = {status.item_id for status in context.status.items if status.done}
    found = timing.round_time_estimate(
        db.session, context.me, context.round_, completed=done, cache=panel_times()
    )
    if found is None:
        return None
    if found.minutes_left == 0:
        return _("Every item is answered.")
    return localise_digits(
        ngettext(
            "About %(num)s minute left, judging by how long %(experts)s experts took on these "
            "items in earlier rounds.",
            "About %(num)s minutes left, judging by how long %(experts)s experts took on these "
            "items in earlier rounds.",
            found.minutes_left,
            experts=found.experts,
        )
    )


@dataclass(frozen=True)
class OverviewRow:
    """One item on the overview: its title, page and state."""

    title: str
    href: str
    state: str


@dataclass(frozen=True)
class OverviewSection:
    """A category of the overview (or the items without one)."""

    key: str | None
    title: str
    rows: list[OverviewRow]
    keepable: int  #: items whose previous answers one click keeps


def kind_titles() -> dict[str, str]:
    """Section titles for uncategorised items, by kind."""
    return {
        "event": _("Other developments"),
        "trend": _("Trends"),
        "calibration": _("Calibration questions"),
    }


def sections(context: RoundContext) -> list[OverviewSection]:
    """The overview's sections: the round's items grouped by category (uncategorised items by
    kind), each group where its first item comes in the round."""
    keepable = set(context.status.keepable)
    titles_by_kind = kind_titles()
    groups: dict[tuple[str, str], OverviewSection] = {}
    for page in context.pages:
        for round_item in page.round_items:
            item = round_item.item
            category = item.category
            group = ("category", category.key) if category is not None else ("kind", item.kind)
            if group not in groups:
                title = (
                    translated(category.label)
                    if category is not None
                    else titles_by_kind.get(item.kind, _("Other items"))
                )
                groups[group] = OverviewSection(
                    category.key if category is not None else None, title, [], 0
                )
            status = context.status.of(round_item.item_id)
            href = page.url if page.kind == "item" else f"{page.url}#item-{item.key}"
            section = groups[group]
            section.rows.append(
                OverviewRow(
                    translated(round_item.version.title),
                    href,
                    status.state.value,
                )
            )
            if round_item.item_id in keepable:
                groups[group] = OverviewSection(
                    section.key, section.title, section.rows, section.keepable + 1
                )
    return list(groups.values())


def first_unfinished(context: RoundContext) -> Page | None:
    """The first page with an item that is not done (where "continue" leads)."""
    for page in context.pages:
        for round_item in page.round_items:
            if not context.status.of(round_item.item_id).done:
                return page
    return None


def item_status_now(
    me: Participation, round_: Round, round_item: RoundItem, saved: answer_service.SavedItems
) -> round_progress.ItemStatus:
    """One item's state from its own answers, drafts, last round's answers and feedback
    (what the save just read and wrote is not read again; a replay reads them)."""
    item = round_item.item
    questions = item.questions_in(round_.number)
    ids = {q.id for q in questions}
    answers_now: Mapping[int, AnswerValues]
    if saved.answers_after is not None and saved.drafts_after is not None:
        answers_now = {i: a for i, a in saved.answers_after.items() if i in ids}
        drafts = {i: d for i, d in saved.drafts_after.items() if i in ids}
        closed = saved.closed
    else:
        answers_now = answer_service.stored_answers(db.session, me, round_, ids)
        drafts = {d.question_id: d for d in answer_service.drafts_of(db.session, me, round_, ids)}
        closed = previous_closed_round(db.session, round_)
    previous: Mapping[int, AnswerValues]
    if saved.previous is not None:
        previous = {i: a for i, a in saved.previous.items() if i in ids}
    else:
        previous = answer_service.stored_answers(db.session, me, closed, ids) if closed else {}
    outside: dict[int, list[str]] = {}
    # the panel's quartiles matter only while the item's reason is still to be written
    reasons = [q for q in questions if q.kind == QuestionKind.TEXT]
    reason_open = bool(reasons) and (
        reasons[0].id not in drafts
        and not round_progress.is_answered(answers_now.get(reasons[0].id))
    )
    if closed is not None and me.study.reason_outside_iqr and reason_open:
        snapshot = feedback_views().view_of(db.session, closed)
        if snapshot is not None:
            outside = feedback_service.outside_iqr_of_view(snapshot, answers_now, [item])
    return round_progress.item_status(
        item,
        questions,
        answers_now,
        drafts,
        previous_ids=previous.keys(),
        outside_iqr=outside.get(item.id, ()),
        given=burden.givens_of(db.session, me, questions),
    )


@dataclass(frozen=True)
class ReviewLine:
    """One question that stops the submit, with what to do and where."""

    question: str
    message: str
    href: str
    reason: Question | None  #: a reason to write in place, right on the review


@dataclass(frozen=True)
class ReviewItem:
    """An item that stops the submit: its page, and either its lines or "not started"."""

    key: str
    title: str
    href: str
    state: str
    lines: list[ReviewLine]
    missing: int  #: questions to answer (an item not started is one line, not one per question)


def review_items(context: RoundContext) -> list[ReviewItem]:
    """What stops the submit, item by item, each question a link (an item not started yet
    is one line saying how many questions it asks)."""
    round_ = context.round_
    by_item = {ri.item_id: ri for ri in round_.items}
    horizon = localise_digits(str(context.me.study.horizon))
    found = []
    for item_status in context.status.items:
        if not item_status.problems:
            continue
        round_item = by_item[item_status.item_id]
        questions = {q.key: q for q in round_item.item.questions_in(round_.number)}
        page = context.page_of_item(item_status.item_key)
        lines = []
        if item_status.state != "not_started":
            for problem_ in item_status.problems:
                question = questions[problem_.question_key]
                lines.append(
                    ReviewLine(
                        question=translated(question.prompt).replace("{horizon}", horizon),
                        message=problem_message(problem_),
                        href=f"{page.url}#question-{question.id}",
                        # a reason can be written right here, without leaving the review
                        reason=question if problem_.kind == "reason" else None,
                    )
                )
        found.append(
            ReviewItem(
                key=item_status.item_key,
                title=translated(round_item.version.title),
                href=page.url if page.kind == "item" else f"{page.url}#item-{item_status.item_key}",
                state=item_status.state.value,
                lines=lines,
                missing=len(item_status.problems),
            )
        )
    return found
