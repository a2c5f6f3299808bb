"""The burden budget: balanced, stable assignment of conditional pairs to experts."""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from datetime import timedelta

import hypothesis
import pytest
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.definitions import SurveyDefinition
from app.models import PairAssignment, Participation, Round, Study
from app.services import burden, panel, rounds, studies
from app.services.burden import plan_assignments
from tests.conftest import NOW

#: the first study: six key events, each with one conditional question on the five others
PAIRS = 30


def _study(session: Session, definition: SurveyDefinition, cap: int | None) -> Study:
    """The first study with a cap on conditional pairs per expert."""
    meta = dataclasses.replace(definition.study, conditional_pairs_per_expert=cap)
    study = studies.import_study(
        session, dataclasses.replace(definition, study=meta), actor=None, now=NOW
    )
    session.flush()
    return study


def _add(session: Session, study: Study, count: int, start: int = 0) -> list[Participation]:
    """`count` experts added to the panel."""
    return [
        panel.add_expert(
            session,
            study,
            name=f"Expert {n}",
            email=f"expert{n}@example.org",
            group="",
            language="en",
            actor=None,
            now=NOW,
        ).participation
        for n in range(start, start + count)
    ]


def _open_next(session: Session, study: Study, days: int = 0) -> Round:
    """Close the open round (if any) and open the next one."""
    current = rounds.open_round_of(session, study)
    moment = NOW + timedelta(days=days)
    if current is not None:
        rounds.close_round(session, current, actor=None, now=moment)
    round_ = rounds.create_round(session, study, actor=None, now=moment)
    return rounds.open_round(session, round_, actor=None, now=moment)


def _pairs_of(session: Session, participation: Participation) -> set[tuple[int, str]]:
    return set(
        session.execute(
            select(PairAssignment.question_id, PairAssignment.given_key).where(
                PairAssignment.participation_id == participation.id
            )
        ).tuples()
    )


def _first_assignment(session: Session, participation: Participation) -> int:
    """The id of an expert's first pair: the order experts took their turns in."""
    first = session.scalar(
        select(func.min(PairAssignment.id)).where(
            PairAssignment.participation_id == participation.id
        )
    )
    assert first is not None
    return int(first)


def _counts(coverage: burden.PairCoverage) -> list[int]:
    return [count.experts for count in coverage.pairs]


# --- the rotation on its own --------------------------------------------------------------


@hypothesis.given(
    sizes=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=8),
    cap=st.integers(min_value=1, max_value=50),
    experts=st.integers(min_value=0, max_value=60),
)
def test_any_panel_is_balanced_within_one(sizes: list[int], cap: int, experts: int) -> None:
    """Questions with 1-6 events each: every expert gets min(cap, pairs) distinct pairs and no
    pair is more than one expert ahead of another, whatever the panel size."""
    groups = [g for g, size in enumerate(sizes) for _ in range(size)]
    plans = plan_assignments([0] * len(groups), groups, start=0, experts=experts, count=cap)
    coverage = Counter(index for plan in plans for index in plan)
    for plan in plans:
        assert len(plan) == len(set(plan)) == min(cap, len(groups))
    counts = [coverage[i] for i in range(len(groups))]
    assert max(counts) - min(counts) <= 1
    assert sum(counts) == experts * min(cap, len(groups))


@hypothesis.given(
    pairs=st.integers(min_value=1, max_value=40),
    cap=st.integers(min_value=1, max_value=40),
    k=st.integers(min_value=3, max_value=8),
)
def test_k_answers_per_pair_exactly_when_the_panel_is_large_enough(
    pairs: int, cap: int, k: int
) -> None:
    needed = burden.smallest_panel(pairs, k, cap)
    for panel_size in (needed - 1, needed):
        plans = plan_assignments(
            [0] * pairs, list(range(pairs)), start=0, experts=panel_size, count=cap
        )
        coverage = Counter(index for plan in plans for index in plan)
        reached = min(coverage[i] for i in range(pairs)) >= k
        assert reached == (panel_size >= needed)


def test_neighbours_get_different_pairs_spread_over_target_events() -> None:
    # three questions with three events each, interleaved: q0e0 q1e0 q2e0 q0e1 ...
    groups = [0, 1, 2] * 3
    plans = plan_assignments([0] * 9, groups, start=0, experts=3, count=3)
    assert plans == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    for plan in plans:  # one pair of each target event
        assert sorted(groups[i] for i in plan) == [0, 1, 2]


def test_least_covered_pairs_come_first() -> None:
    plan = burden.choose_pairs([2, 1, 2, 0, 1], [0, 1, 2, 3, 4], start=0, count=3)
    assert plan == [3, 1, 4]


# --- the service --------------------------------------------------------------------------


def test_opening_a_round_gives_every_expert_their_pairs_in_balance(
    session: Session, first_study_definition: SurveyDefinition
) -> None:
    study = _study(session, first_study_definition, cap=7)
    experts = _add(session, study, 24)
    assert burden.pair_coverage(session, study).minimum == 0  # nothing before the round
    round_1 = _open_next(session, study)
    # neighbours in the rotation (experts take turns in a random order): different pairs
    turns = sorted(experts, key=lambda p: _first_assignment(session, p))
    assert [p.id for p in turns] != [p.id for p in experts]  # not the order they joined in
    mine = [_pairs_of(session, p) for p in turns]
    assert all(len(pairs) == 7 for pairs in mine)
    for left, right in itertools.pairwise(mine):
        assert not left & right
    coverage = burden.pair_coverage(session, study)
    counts = _counts(coverage)
    assert len(counts) == PAIRS and sum(counts) == 24 * 7
    assert (min(counts), max(counts)) == (5, 6)
    assert coverage.reaches_k and coverage.short == () and coverage.unassigned == 0
    assert coverage.smallest_panel == 22  # ceil(30 * 5 / 7)
    # round 1 asks no conditional question yet (they start in round 2)
    assert burden.asked_givens(session, experts[0], round_1) == {}


def test_pairs_stay_the_same_in_every_round(
    session: Session, first_study_definition: SurveyDefinition
) -> None:
    study = _study(session, first_study_definition, cap=4)
    experts = _add(session, study, 8)
    _open_next(session, study)
    before = {p.id: _pairs_of(session, p) for p in experts}
    round_2 = _open_next(session, study, days=14)
    round_3 = _open_next(session, study, days=28)
    assert {p.id: _pairs_of(session, p) for p in experts} == before
    for expert in experts:
        asked_2 = burden.asked_givens(session, expert, round_2)
        asked_3 = burden.asked_givens(session, expert, round_3)
        assert asked_2 == asked_3
        assert len(asked_2) == 6  # every conditional question, some with no event
        flat = {(question, given) for question, givens in asked_2.items() for given in givens}
        assert flat == before[expert.id]
        for question_id, givens in asked_2.items():  # in the question's own order
            question = next(
                q for ri in round_2.items for q in ri.item.questions if q.id == question_id
            )
            assert list(givens) == [g for g in question.config["given"] if g in givens]


def test_a_late_joiner_gets_the_least_covered_pairs(
    session: Session, first_study_definition: SurveyDefinition
) -> None:
    study = _study(session, first_study_definition, cap=7)
    _add(session, study, 5)  # 35 pairs given out: 5 pairs have 2 experts, 25 have 1
    _open_next(session, study)
    before = burden.pair_coverage(session, study)
    [late] = _add(session, study, 1, start=100)
    theirs = _pairs_of(session, late)
    assert len(theirs) == 7
    once = {
        (c.pair.question_id, c.pair.given_key)
        for c in before.pairs
        if c.experts == min(_counts(before))
    }
    assert theirs <= once
    after = _counts(burden.pair_coverage(session, study))
    assert max(after) - min(after) <= 1


def test_withdrawn_experts_do_not_count_and_their_pairs_go_to_newcomers(
    session: Session, first_study_definition: SurveyDefinition
) -> None:
    study = _study(session, first_study_definition, cap=10)
    experts = _add(session, study, 4)
    gone_early = experts[3]
    panel.set_withdrawn(session, gone_early, True, actor=None, now=NOW)
    _open_next(session, study)
    assert _pairs_of(session, gone_early) == set()  # withdrawn before the round: nothing
    leaving = experts[0]
    theirs = _pairs_of(session, leaving)
    panel.set_withdrawn(session, leaving, True, actor=None, now=NOW)
    coverage = burden.pair_coverage(session, study)
    assert coverage.panel_size == 2 and sum(_counts(coverage)) == 20
    assert coverage.short and coverage.minimum == 0
    [newcomer] = _add(session, study, 1, start=100)
    assert _pairs_of(session, newcomer) == theirs  # exactly the pairs left uncovered
    assert _counts(burden.pair_coverage(session, study)) == [1] * PAIRS
    # reinstated while the round is open: the early leaver gets pairs now, the other keeps theirs
    panel.set_withdrawn(session, gone_early, False, actor=None, now=NOW)
    panel.set_withdrawn(session, leaving, False, actor=None, now=NOW)
    assert len(_pairs_of(session, gone_early)) == 10
    assert _pairs_of(session, leaving) == theirs


def test_a_panel_too_small_is_reported_with_the_short_pairs(
    session: Session, first_study_definition: SurveyDefinition
) -> None:
    study = _study(session, first_study_definition, cap=7)
    _add(session, study, 10)
    coverage = burden.pair_coverage(session, study)  # before the round: projected
    assert coverage.unassigned == 10 and coverage.minimum == 0
    assert coverage.projected_minimum == 2  # 70 pairs over 30: 2 or 3 each
    assert not coverage.reaches_k
    assert len(coverage.short) == PAIRS
    _open_next(session, study)
    after = burden.pair_coverage(session, study)
    assert [c.experts for c in after.pairs] == [c.projected for c in coverage.pairs]
    assert after.unassigned == 0 and not after.reaches_k


def test_without_a_cap_everyone_is_asked_everything(
    session: Session, first_study_definition: SurveyDefinition
) -> None:
    study = _study(session, first_study_definition, cap=None)
    experts = _add(session, study, 3)
    _open_next(session, study)
    round_2 = _open_next(session, study, days=14)
    assert session.scalar(select(PairAssignment.id)) is None
    asked = burden.asked_givens(session, experts[0], round_2)
    assert len(asked) == 6 and all(len(givens) == 5 for givens in asked.values())
    coverage = burden.pair_coverage(session, study)
    assert coverage.cap is None and _counts(coverage) == [3] * PAIRS
    assert not coverage.reaches_k and coverage.smallest_panel == 5
    assert burden.assign_pairs(session, study, NOW) == 0


@pytest.mark.parametrize("panel_size", [1, 6, 13, 31])
def test_balanced_for_any_panel_size_with_joiners_one_by_one(
    session: Session, first_study_definition: SurveyDefinition, panel_size: int
) -> None:
    study = _study(session, first_study_definition, cap=4)
    _add(session, study, 1)
    _open_next(session, study)
    _add(session, study, panel_size - 1, start=1)  # each joins during the open round
    counts = _counts(burden.pair_coverage(session, study))
    assert sum(counts) == 4 * panel_size
    assert max(counts) - min(counts) <= 1
