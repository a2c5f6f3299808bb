"""The burden budget: which conditional pairs each expert is asked when the study caps them.

A pair is one conditional question and one of its conditioning events: one P(A | B) and
P(A | not B) couple. With `conditional_pairs_per_expert = N` each expert is asked N pairs,
given out in a balanced rotation: the least-covered pairs first, ties broken by a pointer
that moves on with every pair given, so that neighbouring experts get different pairs and one
expert's pairs spread over different target events. Experts take their turns in a random
order (and one joining an open round starts from a random point of the rotation), so nobody's
pairs tell when they joined. No pair is ever more than one expert
ahead of another (on a panel nobody left), so every pair reaches k answers as soon as
panel size x N >= pairs x k. An expert keeps the same pairs in every round: their previous
answers stay the ones they revise, and stability statistics compare like with like.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.definitions.model import QuestionKind
from app.models import (
    Item,
    ItemStatus,
    PairAssignment,
    Participation,
    ParticipationStatus,
    Question,
    Round,
    Study,
)


@dataclass(frozen=True)
class Pair:
    """One conditional pair of a study."""

    question_id: int
    given_key: str
    item_key: str  #: the event the question is about (A in P(A | B))
    question_key: str


@dataclass(frozen=True)
class PairCount:
    """How many experts are asked one pair."""

    pair: Pair
    experts: int  #: non-withdrawn experts asked it now
    #: once the non-withdrawn experts without pairs yet get theirs (when the next round opens)
    projected: int


@dataclass(frozen=True)
class PairCoverage:
    """Whether every pair of a study is asked of at least k experts."""

    cap: int | None  #: the study's pairs per expert; None: every expert is asked every pair
    k: int
    panel_size: int  #: non-withdrawn experts
    unassigned: int  #: non-withdrawn experts who get their pairs when the next round opens
    pairs: tuple[PairCount, ...]
    #: the smallest panel that gives every pair k experts: ceil(pairs x k / min(N, pairs))
    smallest_panel: int

    @property
    def minimum(self) -> int:
        """The fewest experts any pair is asked of now (0 without pairs)."""
        return min((count.experts for count in self.pairs), default=0)

    @property
    def projected_minimum(self) -> int:
        """The fewest experts any pair will be asked of once everyone on the panel has pairs."""
        return min((count.projected for count in self.pairs), default=0)

    @property
    def reaches_k(self) -> bool:
        """Whether every pair is (or will be, once the next round opens) asked of k experts."""
        return self.projected_minimum >= self.k

    @property
    def short(self) -> tuple[PairCount, ...]:
        """The pairs that will be asked of fewer than k experts."""
        return tuple(count for count in self.pairs if count.projected < self.k)


# --- the rotation itself (pure) ----------------------------------------------------------


def choose_pairs(
    coverage: Sequence[int], groups: Sequence[int], *, start: int, count: int
) -> list[int]:
    """Indices of `count` distinct pairs for one expert, by (coverage, same group, rotation).

    `coverage[i]` is how many experts pair i has, `groups[i]` its target event (question);
    `start` is where the rotation stands. Least-covered pairs come first; among equals, pairs
    of a target event this expert has fewer of, then the first from `start` on (cyclically).
    """
    total = len(coverage)
    taken: set[int] = set()
    per_group: Counter[int] = Counter()
    chosen: list[int] = []
    for _ in range(min(count, total)):
        best = min(
            (i for i in range(total) if i not in taken),
            key=lambda i: (coverage[i], per_group[groups[i]], (i - start) % total),
        )
        chosen.append(best)
        taken.add(best)
        per_group[groups[best]] += 1
    return chosen


def plan_assignments(
    coverage: Sequence[int], groups: Sequence[int], *, start: int, experts: int, count: int
) -> list[list[int]]:
    """The pairs of each of `experts` new experts in turn (see `choose_pairs`)."""
    current = list(coverage)
    plans: list[list[int]] = []
    for _ in range(experts):
        chosen = choose_pairs(current, groups, start=start, count=count)
        for index in chosen:
            current[index] += 1
        plans.append(chosen)
        start += len(chosen)
    return plans


# --- the study's pairs and who has them ---------------------------------------------------


def _interleaved(questions: Sequence[tuple[Question, str]]) -> list[Pair]:
    """Every pair of these (question, item key)s: the first event of each question, then the
    second, ...: consecutive pairs belong to different target events, so a rotation through
    the list spreads each expert's pairs over the target events."""
    columns = [
        [
            Pair(question.id, str(given), item_key, question.key)
            for given in question.config.get("given", [])
        ]
        for question, item_key in questions
    ]
    depth = max((len(column) for column in columns), default=0)
    return [column[row] for row in range(depth) for column in columns if row < len(column)]


def study_pairs(session: Session, study: Study) -> list[Pair]:
    """The pairs of the study's active items, in rotation order."""
    questions = session.execute(
        select(Question, Item.key)
        .join(Item, Question.item_id == Item.id)
        .where(
            Item.study_id == study.id,
            Item.status == ItemStatus.ACTIVE,
            Question.kind == QuestionKind.CONDITIONAL,
        )
        .order_by(Item.position, Item.id, Question.position, Question.id)
    ).tuples()
    return _interleaved(list(questions))


def _panel(session: Session, study: Study) -> list[Participation]:
    """The study's non-withdrawn experts, oldest first (the order pairs are given out in)."""
    return list(
        session.scalars(
            select(Participation)
            .where(
                Participation.study_id == study.id,
                Participation.status != ParticipationStatus.WITHDRAWN,
            )
            .order_by(Participation.id)
        )
    )


def _assignments(session: Session, study: Study) -> list[tuple[int, int, str, bool]]:
    """Every assignment of the study: (participation, question, event, withdrawn)."""
    rows = session.execute(
        select(
            PairAssignment.participation_id,
            PairAssignment.question_id,
            PairAssignment.given_key,
            Participation.status == ParticipationStatus.WITHDRAWN,
        )
        .join(Participation, PairAssignment.participation_id == Participation.id)
        .where(Participation.study_id == study.id)
    ).tuples()
    return [(p, q, g, bool(withdrawn)) for p, q, g, withdrawn in rows]


@dataclass(frozen=True)
class _State:
    """The pairs, their coverage and the rotation's position, read in two queries."""

    pairs: list[Pair]
    coverage: list[int]  #: non-withdrawn experts per pair
    groups: list[int]  #: the target event (question) of each pair
    start: int  #: where the rotation stands
    assigned: set[int]  #: participations that have pairs (withdrawn or not)


def _state(session: Session, study: Study) -> _State:
    """Where the rotation stands for this study."""
    pairs = study_pairs(session, study)
    index = {(pair.question_id, pair.given_key): i for i, pair in enumerate(pairs)}
    coverage = [0] * len(pairs)
    given_out = 0
    assigned: set[int] = set()
    for participation_id, question_id, given_key, withdrawn in _assignments(session, study):
        assigned.add(participation_id)
        position = index.get((question_id, given_key))
        if position is None:  # a pair of an item no longer asked
            continue
        given_out += 1
        if not withdrawn:
            coverage[position] += 1
    groups = [pair.question_id for pair in pairs]
    return _State(pairs, coverage, groups, given_out % len(pairs) if pairs else 0, assigned)


def assign_pairs(
    session: Session,
    study: Study,
    now: datetime,
    *,
    joining: bool = False,
    rng: random.Random | None = None,
) -> int:
    """Give each non-withdrawn expert who has no pairs yet their N pairs; returns how many experts.

    Does nothing when the study has no cap. Existing assignments never change. The experts
    waiting take their turns in a random order: by join order, an expert's pairs (which the
    exports show under their pseudonym) would tell when they joined, which the audit log
    shows next to their name (docs/anonymity.md). Someone `joining` an open round alone
    starts from a random point of the rotation, for the same reason (at a round's opening the
    rotation goes on where it stands, as `pair_coverage` projects it).
    """
    cap = study.conditional_pairs_per_expert
    if cap is None:
        return 0
    state = _state(session, study)
    if not state.pairs:
        return 0
    chance = rng or random.SystemRandom()
    waiting = [p for p in _panel(session, study) if p.id not in state.assigned]
    chance.shuffle(waiting)
    plans = plan_assignments(
        state.coverage,
        state.groups,
        start=chance.randrange(len(state.pairs)) if joining else state.start,
        experts=len(waiting),
        count=cap,
    )
    for participation, plan in zip(waiting, plans, strict=True):
        for position in plan:
            pair = state.pairs[position]
            session.add(
                PairAssignment(
                    participation_id=participation.id,
                    question_id=pair.question_id,
                    given_key=pair.given_key,
                    created_at=now,
                )
            )
    session.flush()
    return len(waiting)


def asked_givens(
    session: Session, participation: Participation, round_: Round
) -> dict[int, tuple[str, ...]]:
    """Question id -> the conditioning events this expert is asked in this round, in order.

    Covers every conditional question the round asks; without a cap that is every event of
    the question, with one it is the expert's pairs (possibly none: then the question is not
    asked of this expert). Read-only.
    """
    return givens_of(
        session,
        participation,
        [
            question
            for round_item in round_.items
            for question in round_item.item.questions_in(round_.number)
        ],
    )


def givens_of(
    session: Session, participation: Participation, questions: Iterable[Question]
) -> dict[int, tuple[str, ...]]:
    """`asked_givens` for some questions only (a save touches one item, not the round)."""
    conditional = [q for q in questions if q.kind == QuestionKind.CONDITIONAL]
    everything = {q.id: tuple(str(g) for g in q.config.get("given", [])) for q in conditional}
    if participation.study.conditional_pairs_per_expert is None or not conditional:
        return everything
    mine: dict[int, set[str]] = {}
    for question_id, given_key in session.execute(
        select(PairAssignment.question_id, PairAssignment.given_key).where(
            PairAssignment.participation_id == participation.id,
            PairAssignment.question_id.in_(everything),
        )
    ).tuples():
        mine.setdefault(question_id, set()).add(given_key)
    return {
        question_id: tuple(g for g in givens if g in mine.get(question_id, ()))
        for question_id, givens in everything.items()
    }


def smallest_panel(pairs: int, k: int, cap: int | None) -> int:
    """The fewest experts that give every one of `pairs` pairs k answers with `cap` each."""
    if pairs == 0:
        return 0
    per_expert = pairs if cap is None else min(cap, pairs)
    return math.ceil(pairs * k / per_expert)


def pair_coverage(session: Session, study: Study) -> PairCoverage:
    """How many non-withdrawn experts each pair of the study is asked of, now and projected."""
    cap = study.conditional_pairs_per_expert
    panel = _panel(session, study)
    if cap is None:
        pairs = study_pairs(session, study)
        counts = tuple(PairCount(pair, len(panel), len(panel)) for pair in pairs)
        return PairCoverage(
            None, study.k, len(panel), 0, counts, smallest_panel(len(pairs), study.k, None)
        )
    state = _state(session, study)
    waiting = [p for p in panel if p.id not in state.assigned]
    projected = list(state.coverage)
    for plan in plan_assignments(
        state.coverage, state.groups, start=state.start, experts=len(waiting), count=cap
    ):
        for position in plan:
            projected[position] += 1
    counts = tuple(
        PairCount(pair, now, later)
        for pair, now, later in zip(state.pairs, state.coverage, projected, strict=True)
    )
    return PairCoverage(
        cap=cap,
        k=study.k,
        panel_size=len(panel),
        unassigned=len(waiting),
        pairs=counts,
        smallest_panel=smallest_panel(len(state.pairs), study.k, cap),
    )


def assigned_pairs(session: Session, study: Study) -> dict[int, list[tuple[str, str, str]]]:
    """Each participation's pairs as (item, question, event) keys, in the rotation's order
    (pairs of items no longer asked last)."""
    order = {
        (pair.question_id, pair.given_key): position
        for position, pair in enumerate(study_pairs(session, study))
    }
    rows = session.execute(
        select(
            PairAssignment.participation_id,
            PairAssignment.question_id,
            PairAssignment.given_key,
            Item.key,
            Question.key,
        )
        .join(Question, PairAssignment.question_id == Question.id)
        .join(Item, Question.item_id == Item.id)
        .where(Item.study_id == study.id)
    ).tuples()
    found: dict[int, list[tuple[int, str, str, str]]] = {}
    for participation_id, question_id, given, item_key, question_key in rows:
        rank = order.get((question_id, given), len(order))
        found.setdefault(participation_id, []).append((rank, item_key, question_key, given))
    return {
        participation_id: [(i, q, g) for _rank, i, q, g in sorted(pairs)]
        for participation_id, pairs in found.items()
    }
