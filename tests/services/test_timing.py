"""The round's time estimate, measured from when the panel saved its answers before."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.definitions import SurveyDefinition, parse_definition
from app.models import Answer, Participation, Round, Study, User
from app.services import demo, panel, rounds, studies, timing
from tests.conftest import NOW
from tests.demo_cache import cached_demo

#: three events asking one probability each; E03's reason starts in round 2
SURVEY = """
format = 1
[study]
key = "timing"
title = "Timing"
description = "Timing."
source = "Tests"
horizon = 2035
languages = ["en"]
default_language = "en"
k = 3

[scales.probability]
kind = "probability"

[questions.probability]
kind = "probability"
scale = "probability"
prompt = "How likely?"

[questions.later_reason]
kind = "text"
required = false
from_round = 2
prompt = "Why?"

[[items]]
key = "E01"
kind = "event"
title = "One"
text = "One."
questions = ["probability"]

[[items]]
key = "E02"
kind = "event"
title = "Two"
text = "Two."
questions = ["probability"]

[[items]]
key = "E03"
kind = "event"
title = "Three"
text = "Three."
questions = ["probability", "later_reason"]
"""


@pytest.fixture
def study(session: Session) -> Study:
    return studies.import_study(
        session, parse_definition(SURVEY.encode(), "timing.toml"), actor=None, now=NOW
    )


def _experts(session: Session, study: Study, count: int) -> list[Participation]:
    return [
        panel.add_expert(
            session,
            study,
            name=f"E{n}",
            email=f"e{n}@example.org",
            group="",
            language="en",
            actor=None,
            now=NOW,
        ).participation
        for n in range(count)
    ]


def _save(
    session: Session, expert: Participation, round_: Round, item_key: str, minute: float
) -> None:
    """The expert saves the item's probability at NOW + `minute` minutes (as a save would)."""
    round_item = next(ri for ri in round_.items if ri.item.key == item_key)
    question = round_item.item.questions[0]
    current = session.scalar(
        select(Answer).where(
            Answer.participation_id == expert.id,
            Answer.round_id == round_.id,
            Answer.question_id == question.id,
            Answer.is_current.is_(True),
        )
    )
    if current is not None:
        current.is_current = False
        session.flush()
    session.add(
        Answer(
            participation_id=expert.id,
            round_id=round_.id,
            item_version_id=round_item.item_version_id,
            question_id=question.id,
            value=50,
            revision=current.revision + 1 if current else 1,
            is_current=True,
            payload_hash=f"{minute}",
            created_at=NOW + timedelta(minutes=minute),
        )
    )
    session.flush()


def _next_round(session: Session, study: Study, days: int) -> Round:
    current = rounds.open_round_of(session, study)
    moment = NOW + timedelta(days=days)
    if current is not None:
        rounds.close_round(session, current, actor=None, now=moment)
    created = rounds.create_round(session, study, actor=None, now=moment)
    return rounds.open_round(session, created, actor=None, now=moment)


def _answer_round_1(session: Session, study: Study, experts: list[Participation]) -> Round:
    """Round 1: each expert saves E01, E02, E03 in turn; minutes per item by hand below."""
    round_1 = _next_round(session, study, days=0)
    # (start, minutes on E02, minutes on E03); E01 is the first save: never measured
    plan = [(0, 2, 4), (10, 3, 5), (20, 5, 6), (30, 8, 60)]  # the last one lunched before E03
    for expert, (start, e02, e03) in zip(experts, plan, strict=False):
        _save(session, expert, round_1, "E01", start)
        _save(session, expert, round_1, "E02", start + e02)
        _save(session, expert, round_1, "E03", start + e02 + e03)
    return round_1


def test_no_estimate_in_round_1(session: Session, study: Study) -> None:
    [expert] = _experts(session, study, 1)
    round_1 = _next_round(session, study, days=0)
    assert timing.round_time_estimate(session, expert, round_1) is None


def test_measured_from_the_previous_round(session: Session, study: Study) -> None:
    experts = _experts(session, study, 4)
    _answer_round_1(session, study, experts)
    round_2 = _next_round(session, study, days=14)
    estimate = timing.round_time_estimate(session, experts[0], round_2)
    assert estimate is not None
    # E02: median of 2, 3, 5, 8 minutes = 4. E03: 4, 5, 6 (60 was a break) - but E03 asks a
    # reason from round 2 on, so round 1 did not measure it: it takes the median of the
    # measured items (4). E01, always saved first, was never measured: 4. Total 12 minutes.
    seconds = {ri.item.key: estimate.seconds_by_item[ri.item_id] for ri in round_2.items}
    assert seconds == {"E01": 240.0, "E02": 240.0, "E03": 240.0}
    assert (estimate.minutes_total, estimate.minutes_left, estimate.items_left) == (12, 12, 3)
    assert (estimate.experts, estimate.rounds) == (4, 1)

    # the expert completes E02: it no longer counts as left
    _save(session, experts[0], round_2, "E02", 20160)
    after = timing.round_time_estimate(session, experts[0], round_2)
    assert after is not None
    assert (after.minutes_total, after.minutes_left, after.items_left) == (12, 8, 2)
    # the caller may say which items are complete (e.g. "outside my expertise" everywhere)
    everything = {ri.item_id for ri in round_2.items}
    done = timing.round_time_estimate(session, experts[0], round_2, completed=everything)
    assert done is not None and (done.minutes_left, done.items_left) == (0, 0)


def test_the_latest_round_wins_and_earlier_ones_fill_in(session: Session, study: Study) -> None:
    experts = _experts(session, study, 4)
    _answer_round_1(session, study, experts)
    round_2 = _next_round(session, study, days=14)
    base = 14 * 24 * 60
    for n, expert in enumerate(experts):  # round 2: E01 then E03 one minute later; no E02
        _save(session, expert, round_2, "E01", base + 10 * n)
        _save(session, expert, round_2, "E03", base + 10 * n + 1)
    round_3 = _next_round(session, study, days=28)
    estimate = timing.round_time_estimate(session, experts[0], round_3)
    assert estimate is not None
    seconds = {ri.item.key: estimate.seconds_by_item[ri.item_id] for ri in round_3.items}
    # E03 from round 2 (1 minute), E02 from round 1 (4 minutes); E01, never measured, asks
    # what E02 asks (E03 also asks a reason now), so it is taken to take as long as E02
    assert seconds == {"E01": 240.0, "E02": 240.0, "E03": 60.0}
    assert (estimate.minutes_total, estimate.experts, estimate.rounds) == (9, 4, 2)


def test_no_estimate_from_fewer_than_k_experts(session: Session, study: Study) -> None:
    experts = _experts(session, study, 4)
    _answer_round_1(session, study, experts[:2])  # k = 3
    round_2 = _next_round(session, study, days=14)
    assert timing.round_time_estimate(session, experts[3], round_2) is None


def test_a_shorter_idle_threshold_counts_fewer_gaps_as_work(session: Session, study: Study) -> None:
    experts = _experts(session, study, 4)
    _answer_round_1(session, study, experts)
    round_2 = _next_round(session, study, days=14)
    # E02 gaps of 2, 3, 5, 8 minutes: with 4.5 minutes, only 2 and 3 count (k = 3: too few)
    assert (
        timing.round_time_estimate(session, experts[0], round_2, idle=timedelta(minutes=4.5))
        is None
    )
    strict = timing.round_time_estimate(session, experts[0], round_2, idle=timedelta(minutes=6))
    assert strict is not None and strict.seconds_by_item[round_2.items[1].item_id] == 180.0


@pytest.mark.slow
def test_the_demo_round_3_estimate_is_plausible(
    session: Session, first_study_definition: SurveyDefinition, facilitator_user: User
) -> None:
    """The demo panel's saves are spread over rounds 1 and 2 at plausible paces, so round 3's
    estimate is what the study's welcome promises: about an hour and a half for the 48
    developments, trends and calibration questions, and about an hour more for the optional
    structural section's 13 variables, 6 actors and 7 descriptors (74 items in all)."""
    links = cached_demo(session, first_study_definition, admin=facilitator_user, now=NOW)
    study = links.study
    round_3 = rounds.open_round_of(session, study)
    assert round_3 is not None and round_3.number == 3
    respondents = session.scalars(
        select(Answer.participation_id)
        .join(Round, Answer.round_id == Round.id)
        .where(Round.study_id == study.id, Round.number == 2)
        .distinct()
    ).all()
    expert = session.get_one(Participation, respondents[0])
    estimate = timing.round_time_estimate(session, expert, round_3)
    assert estimate is not None
    assert estimate.rounds == 1 and estimate.experts == len(respondents) >= study.k
    assert 125 <= estimate.minutes_total <= 180
    # what is left to do counts the required items only: the structural rows are optional
    assert estimate.items_left == 48 and 70 <= estimate.minutes_left <= 115
    # the key events (probability, impact, confidence, reason, trend impact and five
    # conditional pairs) take longer than a plain event
    by_key = {ri.item.key: estimate.seconds_by_item[ri.item_id] for ri in round_3.items}
    assert min(by_key[k] for k in ("E01", "E06", "E21", "E22", "E23", "E25")) > max(
        by_key[k] for k in ("E02", "E03", "E04", "E05")
    )


def test_demo_saves_are_spread_over_the_round(
    session: Session, example_definition: SurveyDefinition, facilitator_user: User
) -> None:
    definition = dataclasses.replace(
        example_definition,
        study=dataclasses.replace(example_definition.study, key="water-2040-timing"),
    )
    links = demo.load_demo(
        session,
        definition,
        admin=facilitator_user,
        now=NOW,
        groups=(("Iran", "fa", 3), ("Russia", "ru", 2), ("International", "en", 2)),
        answered_rounds=1,
    )
    round_1 = rounds.round_for(session, links.study, 1)
    moments = session.scalars(
        select(Answer.created_at).where(Answer.round_id == round_1.id).distinct()
    ).all()
    assert round_1.opened_at is not None and round_1.closed_at is not None
    assert all(round_1.opened_at < m < round_1.closed_at for m in moments)
    assert len(moments) >= 7 * len(round_1.items) * 0.9  # a moment per save, not one for all
