"""What an expert sees between rounds: the panel's frozen statistics, their own previous
answer and the others' reasons (from the previous round's snapshot, never live data)."""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from analysis.snapshot import MISSING_PART, ItemSummary, PartSummary, SnapshotData
from app.definitions.model import ItemKind, QuestionKind
from app.models import Item, Participation, Question, Round, RoundState, Snapshot
from app.services.answer_values import AnswerValues
from app.services.answers import current_answers
from app.services.snapshots import previous_closed_round
from app.services.tidy import Part, part_value, question_parts

#: question kinds whose answers are checked against the previous round's IQR
_IQR_KINDS = (QuestionKind.PROBABILITY, QuestionKind.LIKERT)


@dataclass(frozen=True)
class PartFeedback:
    """The panel's answers to one question part in the previous round."""

    label: str  #: "" for single-valued questions, else the part (e.g. "5", "2030")
    n: int | None  #: None when fewer than k answered (then nothing else is shown)
    median: float | None = None
    q1: float | None = None
    q3: float | None = None
    histogram: list[dict[str, Any]] = field(default_factory=list)
    own: float | None = None  #: the expert's own previous answer
    consensus: bool | None = None
    pooled: float | None = None  #: pooled probability in percent (log-odds pooling)

    @property
    def suppressed(self) -> bool:
        """Whether the panel's numbers are withheld (fewer than k answers)."""
        return self.n is None

    @property
    def own_outside_iqr(self) -> bool:
        """Whether the expert's own previous answer lay outside the panel's IQR."""
        return (
            self.own is not None
            and self.q1 is not None
            and self.q3 is not None
            and not self.q1 <= self.own <= self.q3
        )

    @property
    def max_count(self) -> int:
        """The tallest histogram bar (for scaling charts)."""
        return max((b["count"] for b in self.histogram), default=0)


@dataclass(frozen=True)
class ItemFeedback:
    """Feedback for one item: per question, per part; and the others' reasons."""

    round_number: int
    #: the frozen snapshot it comes from (what is drawn from it never changes)
    snapshot_id: int
    questions: dict[str, list[PartFeedback]]
    reasons: list[str]
    reasons_withheld: bool
    own_reason: str | None
    own_no_answer: dict[str, bool]


class SnapshotView:
    """The expert-facing part of one frozen snapshot, decoded once: its items without the
    group splits, and each question's panel feedback (everything but the expert's own
    answer), built the first time a page asks for it. Only read once built."""

    def __init__(self, snapshot_id: int, items: dict[str, ItemSummary]) -> None:
        self.snapshot_id = snapshot_id
        self.items = items
        #: (item key, question id) -> each part and its panel feedback; None when the
        #: snapshot has nothing on the question (two threads may build one at once: the same)
        self._panel: dict[tuple[str, int], list[tuple[Part, PartFeedback]] | None] = {}

    def panel_parts(
        self, item_key: str, question: Question
    ) -> list[tuple[Part, PartFeedback]] | None:
        """A question's parts with the panel's feedback on each (no own answer), or None when
        the snapshot holds nothing on it."""
        key = (item_key, question.id)
        if key in self._panel:
            return self._panel[key]
        data = self.items.get(item_key)
        q_data = data.questions.get(question.key) if data is not None else None
        found = (
            [
                (
                    part,
                    _part_feedback(part.part, q_data.part(part.part) or MISSING_PART, None, part),
                )
                for part in question_parts(question)
            ]
            if q_data is not None
            else None
        )
        self._panel[key] = found
        return found


class FeedbackViews:
    """The expert-facing part of recently read snapshots, decoded once and kept in memory.

    A snapshot never changes once frozen, yet reading and decoding its whole data (the group
    splits make it about a megabyte for 35 items) on every round page cost more than rendering
    the page. Entries are keyed by snapshot id, creation time and answers digest, so a
    snapshot rebuilt under a reused id is never confused with the old one; the least recently
    used are dropped beyond `limit`. One instance per application (shared by its threads).
    """

    def __init__(self, limit: int = 16) -> None:
        self.limit = limit
        self._views: OrderedDict[tuple[int, datetime, str], SnapshotView] = OrderedDict()
        self._lock = threading.Lock()

    def items_of(
        self, session: Session, closed: Round
    ) -> tuple[int, dict[str, ItemSummary]] | None:
        """(snapshot id, per-item expert view) of a closed round, or None without a snapshot."""
        view = self.view_of(session, closed)
        return None if view is None else (view.snapshot_id, view.items)

    def view_of(self, session: Session, closed: Round) -> SnapshotView | None:
        """The decoded expert view of a closed round's snapshot, or None without one."""
        head = session.execute(_snapshot_head(), {"round": closed.id}).first()
        if head is None:
            return None
        key = (head.id, head.created_at, head.answers_digest)
        with self._lock:
            view = self._views.get(key)
            if view is not None:
                self._views.move_to_end(key)
                return view
        data = session.scalar(select(Snapshot.data).where(Snapshot.id == head.id))
        view = SnapshotView(head.id, expert_view(SnapshotData.from_dict(data)) if data else {})
        with self._lock:
            self._views[key] = view
            while len(self._views) > self.limit:
                self._views.popitem(last=False)
        return view


def warm_views(session: Session, views: FeedbackViews) -> int:
    """Decode now the snapshots the open rounds show as feedback (at most `views.limit`), so
    that a new worker's first round pages do not each decode one; how many it decoded."""
    decoded = 0
    for round_ in session.scalars(
        select(Round).where(Round.state == RoundState.OPEN).order_by(Round.id.desc())
    ):
        if decoded >= views.limit:
            break
        closed = previous_closed_round(session, round_)
        if closed is not None and views.view_of(session, closed) is not None:
            decoded += 1
    return decoded


@functools.cache
def _snapshot_head() -> Select[tuple[int, datetime, str]]:
    """What names a closed round's snapshot (id, creation, answers digest), built once."""
    return select(Snapshot.id, Snapshot.created_at, Snapshot.answers_digest).where(
        Snapshot.round_id == bindparam("round")
    )


def expert_view(data: SnapshotData) -> dict[str, ItemSummary]:
    """A snapshot's items without the group splits (facilitators' analysis, never shown
    to experts)."""
    return {
        key: replace(
            entry,
            questions={
                question_key: replace(
                    question,
                    parts={
                        part: replace(values, groups=None)
                        for part, values in question.parts.items()
                    },
                )
                for question_key, question in entry.questions.items()
            },
        )
        for key, entry in data.items.items()
    }


def feedback_for(
    session: Session,
    participation: Participation,
    round_: Round,
    views: FeedbackViews | None = None,
    own: Mapping[int, AnswerValues] | None = None,
) -> dict[str, ItemFeedback]:
    """Feedback shown with each item of `round_`, from the previous round's snapshot.

    `own` are the expert's answers of that previous round when the caller has them."""
    previous = previous_closed_round(session, round_)
    if previous is None:
        return {}
    # the open round's items (already loaded) stand for the closed round's: the snapshot is
    # keyed by item, and an item the open round no longer asks needs no feedback
    items = [round_item.item for round_item in round_.items]
    return feedback_of_round(session, participation, previous, views, own, items=items)


def feedback_of_round(
    session: Session,
    participation: Participation,
    closed: Round,
    views: FeedbackViews | None = None,
    own: Mapping[int, AnswerValues] | None = None,
    *,
    items: Sequence[Item] | None = None,
) -> dict[str, ItemFeedback]:
    """Feedback of a closed round, for one expert (`views` keeps decoded snapshots), for the
    round's items or for `items` (those of them the closed round asked)."""
    view = (views or FeedbackViews(limit=1)).view_of(session, closed)
    if view is None:
        return {}
    if own is None:
        own = current_answers(session, participation, closed)
    return feedback_from_view(
        view, closed.number, own, items if items is not None else [ri.item for ri in closed.items]
    )


def feedback_from_view(
    view: SnapshotView,
    round_number: int,
    own: Mapping[int, AnswerValues],
    items: Sequence[Item],
) -> dict[str, ItemFeedback]:
    """Feedback on `items` from a decoded snapshot of round `round_number` and the expert's
    own answers in that round: the panel's part comes built from the view."""
    result: dict[str, ItemFeedback] = {}
    for item in items:
        data = view.items.get(item.key)
        if data is None or item.kind == ItemKind.CALIBRATION:
            # seed questions are answered without feedback, or calibration means nothing
            continue
        questions: dict[str, list[PartFeedback]] = {}
        own_reason: str | None = None
        own_no_answer: dict[str, bool] = {}
        for question in item.questions:
            answer = own.get(question.id)
            if question.kind == QuestionKind.TEXT:
                if answer is not None and answer.text:
                    own_reason = answer.text
                continue
            parts = view.panel_parts(item.key, question)
            if parts is None:
                continue
            own_no_answer[question.key] = bool(answer is not None and answer.no_answer)
            questions[question.key] = [
                panel if (value := _own_value(answer, part)) is None else replace(panel, own=value)
                for part, panel in parts
            ]
        reasons = list(data.reasons)
        if own_reason is not None and own_reason in reasons:
            reasons.remove(own_reason)  # others' reasons only
        result[item.key] = ItemFeedback(
            round_number=round_number,
            snapshot_id=view.snapshot_id,
            questions=questions,
            reasons=reasons,
            reasons_withheld=data.reasons_withheld,
            own_reason=own_reason,
            own_no_answer=own_no_answer,
        )
    return result


def _own_value(answer: AnswerValues | None, part: Part) -> float | None:
    """The expert's own number for one part, if any."""
    return part_value(answer, part) if answer is not None else None


def _part_feedback(
    label: str, data: PartSummary, answer: AnswerValues | None, part: Part
) -> PartFeedback:
    """One part's feedback from its snapshot entry and the expert's own answer."""
    own = _own_value(answer, part)
    if data.suppressed:
        return PartFeedback(label=label, n=None, own=own)
    return PartFeedback(
        label=label,
        n=data.n,
        median=data.number("median"),
        q1=data.number("q1"),
        q3=data.number("q3"),
        # the charts and templates take the bars as stored
        histogram=[b.to_dict() for b in data.histogram or ()],
        own=own,
        consensus=data.reached,
        pooled=data.pooled_logodds,
    )


def outside_iqr(
    session: Session,
    participation: Participation,
    round_: Round,
    feedback: Mapping[str, ItemFeedback],
    answers: Mapping[int, AnswerValues] | None = None,
    *,
    items: Sequence[Item] | None = None,
) -> dict[int, list[str]]:
    """Items whose current answers lie outside the previous round's IQR (item id -> questions).

    `answers` are the expert's current answers in `round_` when the caller has them; `items`
    narrows the check to some of the round's items."""
    if not feedback:
        return {}
    if answers is None:
        answers = current_answers(session, participation, round_)
    flagged: dict[int, list[str]] = {}
    for item in items if items is not None else [ri.item for ri in round_.items]:
        item_feedback = feedback.get(item.key)
        if item_feedback is None:
            continue
        for question in item.questions:
            parts = item_feedback.questions.get(question.key)
            answer = answers.get(question.id)
            if question.kind not in _IQR_KINDS or not parts or answer is None or answer.no_answer:
                continue
            for part_fb, part in zip(parts, question_parts(question), strict=False):
                value = part_value(answer, part)
                if (
                    value is not None
                    and part_fb.q1 is not None
                    and part_fb.q3 is not None
                    and not part_fb.q1 <= value <= part_fb.q3
                ):
                    flagged.setdefault(item.id, []).append(question.key)
                    break
    return flagged


def outside_iqr_of_view(
    view: SnapshotView, answers: Mapping[int, AnswerValues], items: Sequence[Item]
) -> dict[int, list[str]]:
    """`outside_iqr` straight from a decoded snapshot (the panel's quartiles) and the
    expert's current answers, without building anyone's feedback first."""
    flagged: dict[int, list[str]] = {}
    for item in items:
        if item.kind == ItemKind.CALIBRATION or item.key not in view.items:
            continue
        for question in item.questions:
            answer = answers.get(question.id)
            if question.kind not in _IQR_KINDS or answer is None or answer.no_answer:
                continue
            for part, panel in view.panel_parts(item.key, question) or ():
                value = part_value(answer, part)
                if (
                    value is not None
                    and panel.q1 is not None
                    and panel.q3 is not None
                    and not panel.q1 <= value <= panel.q3
                ):
                    flagged.setdefault(item.id, []).append(question.key)
                    break
    return flagged
