"""A small example study answered by scripted experts, with canary identities and hostile text."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.definitions.model import QuestionKind
from app.models import Item, Participation, Question, Round, Study, User
from app.services import answers as answer_service
from app.services import panel, rounds
from tests.conftest import NOW

#: strings that must never reach an anonymous export
CANARY_NAME = "Zelda Canaryname"
CANARY_EMAIL_DOMAIN = "canary-7f3a.example.org"
#: reasons a spreadsheet would read as formulas (R13), and one ordinary reason (answers are
#: trimmed when saved, so a leading tab or carriage return is tested on the escaping alone)
HOSTILE_REASONS = (
    '=HYPERLINK("http://evil.example","click")',
    "+SUM(1,2)",
    "-2+3",
    "@cmd",
    "<script>alert('x')</script> {{7*7}}",
)
FORMULA_CELLS = (*HOSTILE_REASONS[:4], "\tindented with a tab", "\rstarts with a carriage return")
PLAIN_REASON = "Desalination costs fall every year."
#: groups of the scripted panel: 5 utility experts (shown) and 3 academics (fewer than k = 5)
GROUPS = (("Utility", 5), ("Academia", 3))


@dataclass
class ScriptedStudy:
    """The study, its panel (participations and tokens) and the closed rounds."""

    study: Study
    members: list[tuple[Participation, str]]
    rounds: list[Round]

    @property
    def tokens(self) -> list[str]:
        """Every expert's private-link token."""
        return [token for _p, token in self.members]


def _payload(
    question: Question, index: int, round_number: int, rng: random.Random
) -> dict[str, Any] | None:
    """A scripted answer: probabilities spread around 40-70 %, narrowing in round 2."""
    kind = question.kind
    spread = 1.0 if round_number == 1 else 0.5
    if kind == QuestionKind.TEXT:
        if index < len(HOSTILE_REASONS):
            return {"text": HOSTILE_REASONS[index]}
        return {"text": PLAIN_REASON}
    if kind == QuestionKind.PROBABILITY:
        if question.config.get("horizons"):
            first = 5 * round((30 + spread * 5 * index) / 5)
            return {
                "values": {
                    str(y): min(100, first + 10 * i)
                    for i, y in enumerate(question.config["horizons"])
                }
            }
        return {"value": 5 * round((40 + spread * 5 * index) / 5)}
    if kind == QuestionKind.LIKERT:
        scale = question.scale
        assert scale is not None
        if scale.bipolar:
            return {"value": (index % 3) - 1}
        return {"value": 4 if index % 2 else 5}
    if kind == QuestionKind.QUANTILES:
        centre = 193.0 if question.key == "seed" else 220.0
        middle = centre + rng.uniform(-8, 8)
        levels = [str(q) for q in question.config["quantiles"]]
        return {
            "values": {
                levels[0]: round(middle - 10, 1),
                levels[1]: round(middle, 1),
                levels[2]: round(middle + 12, 1),
            }
        }
    if kind == QuestionKind.CONDITIONAL:
        return {
            "values": {
                event: {"given": 60 + 2 * (index % 4), "given_not": 30 + 2 * (index % 3)}
                for event in question.config.get("given", [])
            }
        }
    if kind == QuestionKind.TREND_IMPACT:
        return {"values": {"t1": 1, "t2": 3, "i_max": -20 + index, "t3": 6, "i_ss": -10 + index}}
    return None


def answer_item(
    session: Session,
    participation: Participation,
    round_: Round,
    item: Item,
    index: int,
    rng: random.Random,
) -> None:
    """One scripted expert answers one item."""
    payloads = {}
    for question in item.questions_in(round_.number):
        payload = _payload(question, index, round_.number, rng)
        if payload is not None:
            payloads[question.key] = payload
    answer_service.save_item(
        session, participation, round_, item, payloads, idempotency_key=None, now=NOW
    )


def scripted_study(
    session: Session,
    study: Study,
    facilitator: User,
    *,
    closed_rounds: int = 2,
    seed: int = 7,
    groups: tuple[tuple[str, int], ...] = GROUPS,
) -> ScriptedStudy:
    """Add the panel (canary names and emails), answer and close `closed_rounds` rounds."""
    rng = random.Random(seed)
    members: list[tuple[Participation, str]] = []
    for group, count in groups:
        for number in range(count):
            member = panel.add_expert(
                session,
                study,
                name=f"{CANARY_NAME} {group} {number}",
                email=f"expert-{group.lower()}-{number}@{CANARY_EMAIL_DOMAIN}",
                group=group,
                language="en",
                actor=facilitator,
                now=NOW,
            )
            panel.record_consent(session, member.participation, language="en", now=NOW)
            members.append((member.participation, member.token))
    done: list[Round] = []
    for number in range(closed_rounds):
        moment = NOW - timedelta(days=30 - 10 * number)
        round_ = rounds.create_round(session, study, actor=facilitator, now=moment)
        rounds.open_round(session, round_, actor=facilitator, now=moment)
        for index, (participation, _token) in enumerate(members):
            for round_item in round_.items:
                answer_item(session, participation, round_, round_item.item, index, rng)
        rounds.close_round(session, round_, actor=facilitator, now=moment + timedelta(days=5))
        done.append(round_)
    session.commit()
    return ScriptedStudy(study=study, members=members, rounds=done)


def answer_next_round(session: Session, scripted: ScriptedStudy, answering: int) -> Round:
    """Prepare and open the study's next round; the first `answering` experts answer it all."""
    round_ = rounds.create_round(session, scripted.study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW)
    rng = random.Random(5)
    for index, (participation, _token) in enumerate(scripted.members[:answering]):
        for round_item in round_.items:
            answer_item(session, participation, round_, round_item.item, index, rng)
    session.commit()
    return round_
