"""The save path's shortcuts agree with the plain rules: the answered-items count the autosave
returns (two light queries) equals the count by `is_answered` over every required question."""

from __future__ import annotations

import random

from sqlalchemy.orm import Session

from app.models import Study
from app.services import answers, panel, round_progress, rounds
from tests.conftest import NOW


def _by_the_rule(session: Session, participation: object, round_: object) -> int:
    """The count as the rule states it, object by object."""
    saved = answers.current_answers(session, participation, round_)  # type: ignore[arg-type]
    done = 0
    for round_item in round_.items:
        required = [q for q in round_item.item.questions_in(round_.number) if q.required]
        if all(round_progress.is_answered(saved.get(q.id)) for q in required):
            done += 1
    return done


def test_answered_item_count_follows_the_rule(session: Session, example_study: Study) -> None:
    rng = random.Random(4)
    round_ = rounds.create_round(session, example_study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW)
    member = panel.add_expert(
        session, example_study, name="A", email="a@example.org", group="", language="en",
        actor=None, now=NOW,
    )  # fmt: skip
    participation = member.participation
    panel.record_consent(session, participation, language="en", now=NOW)
    payloads = {
        "probability": [{"value": "30"}, {"value": ""}, {"no_answer": True}],
        "impact": [{"value": "1"}, {"value": None}],
        "confidence": [{"value": "4"}, {"value": None}],
        "reason": [{"text": "because"}, {"text": "   "}, {"text": ""}],
        "timing": [{"values": {"2030": "10", "2035": "20", "2040": "30"}}, {"values": {}}],
    }
    counts = set()
    for _step in range(25):
        round_item = rng.choice(round_.items)
        item = round_item.item
        chosen = {
            q.key: rng.choice(payloads[q.key])
            for q in item.questions_in(round_.number)
            if q.key in payloads and rng.random() < 0.7
        }
        answers.save_item(
            session, participation, round_, item, chosen, idempotency_key=None, now=NOW
        )
        fast, total = round_progress.item_progress(session, participation, round_)
        assert total == len(round_.items)
        assert fast == _by_the_rule(session, participation, round_)
        counts.add(fast)
    assert len(counts) >= 2  # the walk saw the count change
