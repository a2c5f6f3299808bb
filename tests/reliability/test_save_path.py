"""The save path's shortcuts agree with the plain rules: the answered-items count the home page
shows (`item_progress`, two light queries; the autosave's variant reads no answer values at
all) equals the count by the rule (every required question answered, no draft left) and the
count the autosave answers with (`round_status(...).done`), while saves leave answers and
drafts behind."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy.orm import Session

from app.models import Participation, Round, Study
from app.services import answers, panel, round_progress, rounds
from tests.conftest import NOW


def _by_the_rule(session: Session, participation: Participation, round_: Round) -> int:
    """The count as the rule states it, object by object."""
    saved = answers.current_answers(session, participation, round_)
    drafted = {d.question_id for d in answers.drafts_of(session, participation, round_)}
    done = 0
    for round_item in round_.items:
        questions = round_item.item.questions_in(round_.number)
        required = [q for q in questions if q.required]
        if all(round_progress.is_answered(saved.get(q.id)) for q in required) and not any(
            q.id in drafted for q in questions
        ):
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
    payloads: dict[str, list[dict[str, Any]]] = {
        # valid answers, empty fields, and what is kept as a draft (out of range, not a
        # number, incomplete, out of order)
        "probability": [{"value": "30"}, {"value": ""}, {"no_answer": True}, {"value": "140"}],
        "impact": [{"value": "1"}, {"value": None}, {"value": "abc"}],
        "confidence": [{"value": "4"}, {"value": None}, {"value": "9"}],
        "reason": [{"text": "because"}, {"text": "   "}, {"text": ""}],
        "timing": [
            {"values": {"2030": "10", "2035": "20", "2040": "30"}},
            {"values": {}},
            {"values": {"2030": "10", "2035": "", "2040": "30"}},
            {"values": {"2030": "50", "2035": "20", "2040": "30"}},
        ],
        "usage_level": [
            {"values": {"10": "100", "50": "150", "90": "200"}},
            {"values": {"10": "200", "50": "150", "90": "100"}},
        ],
        "seed": [{"values": {"5": "150", "50": "190", "95": "200"}}, {"values": {"5": "x"}}],
    }
    counts = set()
    kinds = set()
    for _step in range(40):
        round_item = rng.choice(round_.items)
        item = round_item.item
        chosen = {
            q.key: rng.choice(payloads[q.key])
            for q in item.questions_in(round_.number)
            if q.key in payloads and rng.random() < 0.7
        }
        saved = answers.save_items(
            session,
            participation,
            round_,
            [answers.ItemEntry(item, chosen)],
            now=NOW,
            drafts=True,
        )
        assert saved.errors == {}
        kinds |= {"draft" if r.drafts else "answer" for r in saved.results.values()}
        fast, total = round_progress.item_progress(session, participation, round_)
        assert total == len(round_.items)
        assert fast == _by_the_rule(session, participation, round_)
        assert fast == round_progress.round_status(session, participation, round_).done
        # the autosave's way: the round's loaded items, and the ids the save's state says
        done, drafted = round_progress.answered_and_drafted(session, participation, round_)
        assert (fast, total) == round_progress.item_progress(
            session,
            participation,
            round_,
            round_items=round_.items,
            answered=done,
            drafted=drafted,
        )
        assert done == {
            question_id
            for question_id, answer in answers.current_answers(
                session, participation, round_
            ).items()
            if round_progress.is_answered(answer)
        }
        counts.add(fast)
    assert len(counts) >= 2  # the walk saw the count change
    assert kinds == {"draft", "answer"}  # and left drafts as well as answers
