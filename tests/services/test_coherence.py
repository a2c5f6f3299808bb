"""Coherence hints from an expert's current answers in a round."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from analysis.coherence import CoherenceKind
from app.definitions import parse_definition
from app.models import Answer, Participation, Round, Study
from app.services import panel, rounds, studies
from app.services.coherence import coherence_hints
from tests.conftest import NOW

#: three events; E01 asks P(E01 | E02) and P(E01 | E03); E02 asks by year (2030 and the
#: horizon 2035), E03 by years that miss the horizon; E04 conditions on E01 and E03
SURVEY = """
format = 1
[study]
key = "coherence"
title = "Coherence"
description = "Coherence."
source = "Tests"
horizon = 2035
languages = ["en"]
default_language = "en"

[scales.probability]
kind = "probability"

[questions.probability]
kind = "probability"
scale = "probability"
prompt = "How likely?"

[questions.by_year]
kind = "probability"
scale = "probability"
horizons = [2030, 2035]
prompt = "How likely by each year?"

[questions.early]
kind = "probability"
scale = "probability"
horizons = [2028, 2030]
prompt = "How likely by each year?"

[questions.cross]
kind = "conditional"
scale = "probability"
given = ["E02", "E03"]
prompt = "How likely if ...?"

[questions.cross_four]
kind = "conditional"
scale = "probability"
given = ["E01", "E03"]
prompt = "How likely if ...?"

[[items]]
key = "E01"
kind = "event"
title = "One"
text = "One."
questions = ["probability", "cross"]

[[items]]
key = "E02"
kind = "event"
title = "Two"
text = "Two."
questions = ["by_year"]

[[items]]
key = "E03"
kind = "event"
title = "Three"
text = "Three."
questions = ["early"]

[[items]]
key = "E04"
kind = "event"
title = "Four"
text = "Four."
questions = ["probability", "cross_four"]
"""


@pytest.fixture
def world(session: Session) -> tuple[Study, Participation, Round]:
    definition = parse_definition(SURVEY.encode(), "coherence.toml")
    study = studies.import_study(session, definition, actor=None, now=NOW)
    member = panel.add_expert(
        session,
        study,
        name="A",
        email="a@example.org",
        group="",
        language="en",
        actor=None,
        now=NOW,
    )
    round_ = rounds.create_round(session, study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW)
    return study, member.participation, round_


def _answer(
    session: Session,
    participation: Participation,
    round_: Round,
    item_key: str,
    question_key: str,
    *,
    value: float | None = None,
    values: dict[str, Any] | None = None,
    no_answer: bool = False,
    current: bool = True,
    revision: int = 1,
) -> None:
    """Store one answer row as a save would (the values already validated)."""
    round_item = next(ri for ri in round_.items if ri.item.key == item_key)
    question = next(q for q in round_item.item.questions if q.key == question_key)
    session.add(
        Answer(
            participation_id=participation.id,
            round_id=round_.id,
            item_version_id=round_item.item_version_id,
            question_id=question.id,
            value=value,
            value_json=values,
            no_answer=no_answer,
            revision=revision,
            is_current=current,
            payload_hash=f"{question_key}-{revision}",
            created_at=NOW,
        )
    )
    session.flush()


def test_outside_the_range_and_far_from_the_implied_value(
    session: Session, world: tuple[Study, Participation, Round]
) -> None:
    _study, expert, round_ = world
    _answer(session, expert, round_, "E01", "probability", value=70)
    # E02 by year: the horizon's value (40 %) is P(B)
    _answer(session, expert, round_, "E02", "by_year", values={"2030": 20, "2035": 40})
    _answer(
        session,
        expert,
        round_,
        "E01",
        "cross",
        values={
            # implied 80 x 0.4 + 30 x 0.6 = 50; 70 is inside [30, 80] but 20 points away
            "E02": {"given": 80, "given_not": 30},
            # E03 gives no value for the horizon: only the range is checked; 70 > 60
            "E03": {"given": 60, "given_not": 50},
        },
    )
    hints = coherence_hints(session, expert, round_)
    assert list(hints) == ["E01"]
    by_event = {h.given_item_key: h for h in hints["E01"]}
    assert set(by_event) == {"E02", "E03"}
    far = by_event["E02"]
    assert far.item_key == "E01"
    assert far.hint.kind is CoherenceKind.FAR_FROM_IMPLIED
    assert far.hint.implied == pytest.approx(50)
    assert (far.hint.stated, far.hint.low, far.hint.high) == (70, 30, 80)
    outside = by_event["E03"].hint
    assert outside.kind is CoherenceKind.OUTSIDE_RANGE and outside.implied is None
    wider = coherence_hints(session, expert, round_, tolerance=25)["E01"]
    assert [(h.given_item_key, h.hint.kind) for h in wider] == [
        ("E03", CoherenceKind.OUTSIDE_RANGE)
    ]


def test_coherent_answers_give_no_hint(
    session: Session, world: tuple[Study, Participation, Round]
) -> None:
    _study, expert, round_ = world
    _answer(session, expert, round_, "E01", "probability", value=50)
    _answer(session, expert, round_, "E02", "by_year", values={"2030": 20, "2035": 40})
    _answer(
        session,
        expert,
        round_,
        "E01",
        "cross",
        values={"E02": {"given": 80, "given_not": 30}, "E03": {"given": 60, "given_not": 40}},
    )
    assert coherence_hints(session, expert, round_) == {}


def test_missing_numbers_and_no_answer_are_skipped(
    session: Session, world: tuple[Study, Participation, Round]
) -> None:
    _study, expert, round_ = world
    # no P(A) yet: nothing to check even though the conditionals are odd
    _answer(
        session,
        expert,
        round_,
        "E01",
        "cross",
        values={"E02": {"given": 10, "given_not": 5}, "E03": {"given": 10}},
    )
    assert coherence_hints(session, expert, round_) == {}
    _answer(session, expert, round_, "E01", "probability", value=90)
    # E02 given: out of range; E03 lacks "given_not": skipped
    assert [h.given_item_key for h in coherence_hints(session, expert, round_)["E01"]] == ["E02"]
    # E04: P(A) is "no answer"
    _answer(session, expert, round_, "E04", "probability", no_answer=True)
    _answer(
        session,
        expert,
        round_,
        "E04",
        "cross_four",
        values={"E01": {"given": 10, "given_not": 5}, "E03": {"given": 10, "given_not": 5}},
    )
    assert set(coherence_hints(session, expert, round_)) == {"E01"}


def test_only_current_answers_of_this_expert_count(
    session: Session, world: tuple[Study, Participation, Round]
) -> None:
    study, expert, round_ = world
    other = panel.add_expert(
        session,
        study,
        name="B",
        email="b@example.org",
        group="",
        language="en",
        actor=None,
        now=NOW,
    ).participation
    _answer(session, expert, round_, "E01", "probability", value=90, current=False)
    _answer(session, expert, round_, "E01", "probability", value=50, revision=2)
    _answer(
        session,
        expert,
        round_,
        "E01",
        "cross",
        values={"E02": {"given": 60, "given_not": 40}, "E03": {"given": 60, "given_not": 40}},
    )
    _answer(session, other, round_, "E01", "probability", value=99)
    assert coherence_hints(session, expert, round_) == {}  # 90 was revised to 50
    assert coherence_hints(session, other, round_) == {}  # no conditionals of their own


def test_a_negative_tolerance_is_refused(
    session: Session, world: tuple[Study, Participation, Round]
) -> None:
    _study, expert, round_ = world
    with pytest.raises(ValueError, match="tolerance"):
        coherence_hints(session, expert, round_, tolerance=-1)
