"""What an expert sees between rounds: the panel's frozen statistics, their own previous
answer and the others' reasons (from the previous round's snapshot, never live data)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis.snapshot import MISSING_PART, ItemSummary, PartSummary, SnapshotData
from app.definitions.model import ItemKind, QuestionKind
from app.models import Answer, Item, Participation, Round, Snapshot
from app.services.answers import current_answers
from app.services.snapshots import previous_closed_round
from app.services.tidy import part_value, question_parts

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
        self._views: OrderedDict[tuple[int, datetime, str], dict[str, ItemSummary]] = OrderedDict()
        self._lock = threading.Lock()

    def items_of(
        self, session: Session, closed: Round
    ) -> tuple[int, dict[str, ItemSummary]] | None:
        """(snapshot id, per-item expert view) of a closed round, or None without a snapshot."""
        head = session.execute(
            select(Snapshot.id, Snapshot.created_at, Snapshot.answers_digest).where(
                Snapshot.round_id == closed.id
            )
        ).first()
        if head is None:
            return None
        key = (head.id, head.created_at, head.answers_digest)
        with self._lock:
            view = self._views.get(key)
            if view is not None:
                self._views.move_to_end(key)
                return head.id, view
        data = session.scalar(select(Snapshot.data).where(Snapshot.id == head.id))
        view = expert_view(SnapshotData.from_dict(data)) if data else {}
        with self._lock:
            self._views[key] = view
            while len(self._views) > self.limit:
                self._views.popitem(last=False)
        return head.id, view


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
    own: Mapping[int, Answer] | None = None,
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
    own: Mapping[int, Answer] | None = None,
    *,
    items: Sequence[Item] | None = None,
) -> dict[str, ItemFeedback]:
    """Feedback of a closed round, for one expert (`views` keeps decoded snapshots), for the
    round's items or for `items` (those of them the closed round asked)."""
    found = (views or FeedbackViews(limit=1)).items_of(session, closed)
    if found is None:
        return {}
    snapshot_id, snapshot_items = found
    if own is None:
        own = current_answers(session, participation, closed)
    result: dict[str, ItemFeedback] = {}
    for item in items if items is not None else [ri.item for ri in closed.items]:
        data = snapshot_items.get(item.key)
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
            q_data = data.questions.get(question.key)
            if q_data is None:
                continue
            own_no_answer[question.key] = bool(answer is not None and answer.no_answer)
            questions[question.key] = [
                _part_feedback(part.part, q_data.part(part.part) or MISSING_PART, answer, part)
                for part in question_parts(question)
            ]
        reasons = list(data.reasons)
        if own_reason is not None and own_reason in reasons:
            reasons.remove(own_reason)  # others' reasons only
        result[item.key] = ItemFeedback(
            round_number=closed.number,
            snapshot_id=snapshot_id,
            questions=questions,
            reasons=reasons,
            reasons_withheld=data.reasons_withheld,
            own_reason=own_reason,
            own_no_answer=own_no_answer,
        )
    return result


def _part_feedback(label: str, data: PartSummary, answer: Answer | None, part: Any) -> PartFeedback:
    """One part's feedback from its snapshot entry and the expert's own answer."""
    own = part_value(answer, part) if answer is not None else None
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
    answers: Mapping[int, Answer] | None = None,
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
