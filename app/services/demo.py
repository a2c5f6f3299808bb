"""The demo: the first study with a simulated panel whose rounds 1-2 are answered (marked
synthetic) and round 3 is open, so feedback and results are there to see."""

from __future__ import annotations

import csv
import io
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from sqlalchemy.orm import Session

from app.definitions.model import ItemKind, QuestionKind, SurveyDefinition
from app.models import Item, Participation, Question, Round, Study, User
from app.services import answers, feedback, panel, round_progress, rounds, studies
from app.services.tidy import ROW_KINDS, TREND_IMPACT_PARTS

#: the demo panel's groups, with how many simulated experts each has
DEMO_GROUPS: tuple[tuple[str, str, int], ...] = (
    ("Iran", "fa", 8),
    ("Russia", "ru", 8),
    ("International", "en", 8),
)

#: the simulated panel's central view of some events: (probability by the horizon in %, mean
#: impact -3..+3), so that e.g. a wildcard stays unlikely; other events get a random view
DEMO_VIEWS: Mapping[str, tuple[float, float]] = {
    "E28": (80.0, 0.0),  # a new Supreme Leader: Ali Khamenei was born in 1939
    "E29": (50.0, -0.5),  # a president other than Putin: his term may run to 2036
    "E30": (20.0, -2.0),  # Russia holds back arms for Israel's sake
    "E31": (30.0, 2.0),  # Iran openly supplies missiles or co-produces drones
    "E32": (7.0, 1.0),  # wildcard: notice of NPT withdrawal
    "E33": (35.0, 0.5),  # Israel-Saudi diplomatic relations
    "E34": (10.0, -2.5),  # Russia lets a Security Council resolution against Iran pass
}

_REASONS = (
    "Shared pressure from sanctions makes this more likely than it looks.",
    "Moscow balances its Gulf partners; I expect it to hedge.",
    "Implementation has lagged every earlier agreement; I am sceptical.",
    "The Ukraine war has changed Russia's priorities for good.",
    "Financial channels are the real bottleneck, not political will.",
    "A US deal with either side would quickly reverse this.",
    "Infrastructure timelines in the region usually slip by years.",
    "Both leaderships now describe the partnership as strategic.",
)


@dataclass(frozen=True)
class DemoLinks:
    """What the demo prints: who to log in as and three experts' private links."""

    study: Study
    facilitator_email: str
    facilitator_password: str
    expert_links: list[tuple[str, str, str, str]]  #: (pseudonym, group, language, token)


#: the first study's draft structural matrices (analysis/examples), by the question kind whose
#: rows they hold
_DRAFTS = {
    QuestionKind.INFLUENCE: "iran_russia_micmac.csv",
    QuestionKind.ACTOR_INFLUENCE: "iran_russia_mactor_mid.csv",
    QuestionKind.POSITIONS: "iran_russia_mactor_mao.csv",
    QuestionKind.CROSS_IMPACT: "iran_russia_cib.csv",
}
#: items whose rows are a structural matrix's
_STRUCTURAL_KINDS = frozenset({ItemKind.VARIABLE, ItemKind.ACTOR, ItemKind.DESCRIPTOR})
#: the first study's actor and descriptor keys are the draft's with these prefixes (some plain
#: ones are taken by MICMAC variables, or are words of the texts)
_PREFIXES = ("A_", "D_")


def _draft_key(key: str) -> str:
    """A key of the first study as its draft matrix names it."""
    return key[2:] if key.startswith(_PREFIXES) else key


def _draft_cells() -> tuple[dict[tuple[str, str], float], set[tuple[str, str]]]:
    """("kind:row", column) -> the draft's rating, and the cells the draft marks P."""
    cells: dict[tuple[str, str], float] = {}
    potential: set[tuple[str, str]] = set()
    for kind, name in _DRAFTS.items():
        text = (resources.files("analysis.examples") / name).read_text(encoding="utf-8")
        rows = list(csv.reader(io.StringIO(text)))
        for row in rows[1:]:
            for column, rating in zip(rows[0][1:], row[1:], strict=True):
                cell = (f"{kind.value}:{row[0]}", column)
                if rating.strip().upper() == "P":
                    cells[cell] = 0.1
                    potential.add(cell)
                else:
                    cells[cell] = float(rating)
    return cells, potential


def _clip(value: float, low: float, high: float) -> float:
    """Value clipped to [low, high]."""
    return max(low, min(high, value))


class _Panel:
    """Latent opinions of the simulated experts, so answers are plausible and converge."""

    def __init__(
        self,
        rng: random.Random,
        experts: Sequence[Participation],
        structural: random.Random | None = None,
    ) -> None:
        self.rng = rng
        #: the structural rows draw from their own stream, so that adding them to a study
        #: leaves every other simulated answer as it was
        self.structural_rng = structural or random.Random(0)  # noqa: S311 - simulated
        self.bias = {p.id: rng.gauss(0, 0.6) for p in experts}
        self.group_shift = {"Iran": 0.35, "Russia": 0.0, "International": -0.35}
        self.item_logit: dict[str, float] = {}
        self.item_impact: dict[str, float] = {}
        # the first study's draft matrices are the panel's latent view where the keys match,
        # so that the demo's MICMAC and MACTOR read like the paper's argument
        self.cell_strength, self.potential_cells = _draft_cells()

    def base(self, item: Item) -> tuple[float, float]:
        """The item's latent log-odds and mean impact."""
        if item.key not in self.item_logit:
            if item.key in DEMO_VIEWS:
                percent, impact = DEMO_VIEWS[item.key]
                self.item_logit[item.key] = math.log(percent / (100 - percent))
                self.item_impact[item.key] = impact
            else:
                self.item_logit[item.key] = self.rng.gauss(-0.3, 1.1)
                self.item_impact[item.key] = self.rng.gauss(0.6, 1.4)
        return self.item_logit[item.key], self.item_impact[item.key]

    def influence(self, p: Participation, row: str, column: str, round_number: int) -> str:
        """A direct influence rating 0-3 or P; most cells are weak, a few strong, and later
        rounds pull towards the panel's latent view of the cell."""
        cell = (f"{QuestionKind.INFLUENCE.value}:{row}", column)
        if cell not in self.cell_strength:
            self.cell_strength[cell] = self.structural_rng.choice((0.2, 0.6, 1.0, 1.4, 2.0, 2.7))
        strength = self.cell_strength[cell]
        spread = 0.8 if round_number == 1 else 0.45
        rating = int(
            _clip(
                round(strength + self.bias[p.id] * 0.4 + self.structural_rng.gauss(0, spread)), 0, 3
            )
        )
        chance = 0.7 if cell in self.potential_cells else 0.12
        if rating == 0 and strength < 0.7 and self.structural_rng.random() < chance:
            return "P"
        return str(rating)

    def rating(
        self, p: Participation, cell: tuple[str, str], low: int, high: int, round_number: int
    ) -> str:
        """A MACTOR or CIB rating on low..high around the panel's latent view of the cell."""
        if cell not in self.cell_strength:
            self.cell_strength[cell] = self.structural_rng.uniform(low, high)
        spread = (high - low) / (6 if round_number == 1 else 10)
        noisy = (
            self.cell_strength[cell] + self.bias[p.id] * 0.3 + self.structural_rng.gauss(0, spread)
        )
        return str(int(_clip(round(noisy), low, high)))

    def probability(
        self, p: Participation, item: Item, round_number: int, noise_scale: float
    ) -> float:
        """A probability in percent; later rounds pull towards the panel."""
        logit, _impact = self.base(item)
        shrink = 1.0 if round_number == 1 else 0.55
        value = logit + shrink * (
            self.bias[p.id] * 0.5
            + self.group_shift.get(p.group, 0.0)
            + self.rng.gauss(0, noise_scale)
        )
        return round(_clip(100 / (1 + math.exp(-value)), 1, 99))

    def impact(self, p: Participation, item: Item, round_number: int) -> int:
        """An impact rating -3..+3."""
        _logit, mean = self.base(item)
        spread = 1.1 if round_number == 1 else 0.65
        return int(
            _clip(
                round(mean + self.group_shift.get(p.group, 0.0) + self.rng.gauss(0, spread)), -3, 3
            )
        )


def _payload(
    question: Question,
    item: Item,
    participation: Participation,
    round_number: int,
    model: _Panel,
    rng: random.Random,
) -> dict[str, Any] | None:
    """A simulated answer to one question (None: left empty)."""
    kind = QuestionKind(question.kind)
    # a structural row is always rated (a CIB descriptor left blank stands for "I do not know")
    if (
        question.allow_no_answer
        and kind is not QuestionKind.TEXT
        and kind not in ROW_KINDS
        and rng.random() < 0.03
    ):
        return {"no_answer": True}
    if kind is QuestionKind.PROBABILITY:
        if question.config.get("horizons"):
            first = model.probability(participation, item, round_number, 0.8)
            return {
                "values": {
                    str(y): min(99, first + 5 * i)
                    for i, y in enumerate(question.config["horizons"])
                }
            }
        return {"value": model.probability(participation, item, round_number, 0.9)}
    if kind is QuestionKind.LIKERT:
        scale = question.scale
        if scale is not None and scale.bipolar:
            return {"value": model.impact(participation, item, round_number)}
        low = int(scale.min or 1) if scale else 1
        high = int(scale.max or 5) if scale else 5
        return {"value": rng.randint(max(low, high - 3), high)}
    if kind is QuestionKind.TEXT:
        return {"text": rng.choice(_REASONS)} if rng.random() < 0.45 else None
    if kind is QuestionKind.QUANTILES and item.true_value is not None and item.true_value > 0:
        return {"values": _calibration_estimate(item.true_value, question, rng)}
    if kind is QuestionKind.QUANTILES:
        centre = item.true_value if item.true_value is not None else _trend_centre(item)
        error = rng.gauss(0, abs(centre) * 0.02 + 2)
        width = abs(centre) * 0.015 + rng.uniform(1, 6)
        median = centre + error
        floor = question.scale.min if question.scale is not None else None
        ceiling = question.scale.max if question.scale is not None else None
        if floor is not None and ceiling is not None:
            # a bounded trend (an index, a share): the panel answers inside the scale
            median = min(max(median, floor + 1), ceiling - 1)
        levels = [float(q) for q in question.config.get("quantiles", (5, 50, 95))]
        estimates: dict[str, float] = {}
        for q in levels:
            estimate = median + (width * 1.3 if q > 50 else width) * (q - 50) / 45
            if floor is not None:
                estimate = max(estimate, floor)
            if ceiling is not None:
                estimate = min(estimate, ceiling)
            estimates[_level_key(q)] = round(estimate, 1)
        return {"values": estimates}
    if kind is QuestionKind.CONDITIONAL:
        base = model.probability(participation, item, round_number, 0.6)
        values = {}
        for event in question.config.get("given", []):
            lift = rng.uniform(-15, 25)
            values[event] = {
                "given": round(_clip(base + lift, 1, 99)),
                "given_not": round(_clip(base - lift / 2, 1, 99)),
            }
        return {"values": values}
    if kind is QuestionKind.INFLUENCE:
        return {
            "values": {
                column: model.influence(participation, item.key, column, round_number)
                for column in question.config.get("columns", [])
            }
        }
    if kind is QuestionKind.CROSS_IMPACT:
        return {"values": _cross_impacts(question, item, participation, round_number, model)}
    if kind in (QuestionKind.ACTOR_INFLUENCE, QuestionKind.POSITIONS):
        low, high = (0, 4) if kind is QuestionKind.ACTOR_INFLUENCE else (-4, 4)
        return {
            "values": {
                column: model.rating(
                    participation,
                    (f"{kind.value}:{_draft_key(item.key)}", _draft_key(column)),
                    low,
                    high,
                    round_number,
                )
                for column in question.config.get("columns", [])
            }
        }
    if kind is QuestionKind.TREND_IMPACT:
        t1 = rng.randint(0, 2)
        t2 = t1 + rng.randint(1, 3)
        t3 = t2 + rng.randint(1, 4)
        impact = model.impact(participation, item, round_number) * 2.5
        return {
            "values": dict(
                zip(
                    TREND_IMPACT_PARTS,
                    (t1, t2, round(impact, 1), t3, round(impact * 0.6, 1)),
                    strict=True,
                )
            )
        }
    return None


def _cross_impacts(
    question: Question, item: Item, participation: Participation, round_number: int, model: _Panel
) -> dict[str, str]:
    """A descriptor's judgements around the draft's; now and then one other descriptor is left
    blank, as an expert who does not know it would."""
    columns = [str(c) for c in question.config.get("columns", [])]
    others = sorted({c.split("|")[1] for c in columns})
    pick = model.structural_rng
    skipped = pick.choice(others) if others and pick.random() < 0.15 else None
    values = {}
    for column in columns:
        row, descriptor, variant = column.split("|")
        if descriptor == skipped:
            continue
        cell = (
            f"{QuestionKind.CROSS_IMPACT.value}:{_draft_key(item.key)}:{row}",
            f"{_draft_key(descriptor)}:{variant}",
        )
        values[column] = model.rating(participation, cell, -3, 3, round_number)
    return values


def _calibration_estimate(
    true_value: float, question: Question, rng: random.Random
) -> dict[str, float]:
    """Quantiles of a quantity an expert estimates but cannot recall: off by a factor (median
    about 1.3 either way), with a 90 % interval between about 1.2 and 2.2 times wide each side,
    so that some experts are well calibrated and others overconfident."""
    median = true_value * math.exp(rng.gauss(0, 0.35))
    ratio = math.exp(rng.uniform(0.15, 0.8))
    levels = [float(q) for q in question.config.get("quantiles", (5, 50, 95))]
    digits = 2 if median < 10 else 1 if median < 1000 else 0
    return {_level_key(q): round(median * ratio ** ((q - 50) / 45), digits) for q in levels}


def _level_key(level: float) -> str:
    """A quantile level as the survey file writes it ("5", "50", "2.5")."""
    return str(int(level)) if level.is_integer() else str(level)


def _trend_centre(item: Item) -> float:
    """A plausible centre for a trend estimate: its latest baseline value."""
    if item.baseline:
        latest = max(item.baseline, key=int)
        return float(item.baseline[latest]) * 1.1
    return 50.0


#: seconds a simulated expert takes per question answered, by kind (a first reading; revising
#: in later rounds takes `_REVISING` of it); conditional questions take `_PER_PAIR` per event
_SECONDS = {
    QuestionKind.PROBABILITY: 40.0,
    QuestionKind.LIKERT: 20.0,
    QuestionKind.TEXT: 60.0,
    QuestionKind.QUANTILES: 50.0,
    QuestionKind.TREND_IMPACT: 75.0,
    QuestionKind.INFLUENCE: 90.0,
    QuestionKind.ACTOR_INFLUENCE: 45.0,
    QuestionKind.POSITIONS: 60.0,
    QuestionKind.CROSS_IMPACT: 150.0,
}
_PER_PAIR = 25.0
_REVISING = 0.6
#: chance that an expert takes a break (20 minutes to 4 hours) before an item
_BREAK_CHANCE = 0.05


def _work_seconds(
    item: Item, payloads: Mapping[str, Mapping[str, Any]], round_number: int, pace: float
) -> float:
    """How long a simulated expert works on an item: reading it, then typing each answer."""
    reading = 20.0 if round_number == 1 else 40.0  # later rounds add the panel's feedback
    typing = 0.0
    for question in item.questions_in(round_number):
        payload = payloads.get(question.key)
        if payload is None:
            continue
        kind = QuestionKind(question.kind)
        if payload.get("no_answer"):
            typing += 8.0
        elif kind is QuestionKind.CONDITIONAL:
            typing += _PER_PAIR * len(payload.get("values", {}))
        elif kind is QuestionKind.PROBABILITY and question.config.get("horizons"):
            typing += _SECONDS[kind] + 15.0 * (len(question.config["horizons"]) - 1)
        else:
            typing += _SECONDS.get(kind, 20.0)
    if round_number > 1:
        typing *= _REVISING
    return (reading + typing) * pace


def _centre_conditionals(item: Item, payloads: dict[str, Any], round_number: int) -> None:
    """Centre each simulated P(A | B), P(A | not B) couple on the expert's own P(A).

    Drawn on their own, the couples left P(A) outside [min, max] of them on about half the
    pairs, which no careful panel does; centred (with the drawn spread kept) P(A) is where the
    law of total probability puts it when P(B) is one half, and the coherence hints flag
    only the pairs whose spread is large and whose P(B) is far from one half.
    """
    questions = item.questions_in(round_number)
    probability = next((q for q in questions if q.kind == QuestionKind.PROBABILITY), None)
    stated = payloads.get(probability.key, {}).get("value") if probability is not None else None
    if stated is None:
        return
    for question in questions:
        payload = payloads.get(question.key)
        if question.kind != QuestionKind.CONDITIONAL or not payload or "values" not in payload:
            continue
        for pair in payload["values"].values():
            spread = pair["given"] - pair["given_not"]
            pair["given"] = round(_clip(stated + spread / 2, 1, 99))
            pair["given_not"] = round(_clip(stated - spread / 2, 1, 99))


def _answer_round(
    session: Session,
    round_: Round,
    experts: Sequence[Participation],
    model: _Panel,
    rng: random.Random,
    opened: datetime,
    *,
    submit_share: float,
    clock: random.Random,
) -> set[int]:
    """Simulated experts answer every item of the round, one after the other; most submit.

    Each expert starts at their own moment in the round's first week and saves each item
    after working on it for a plausible time (`clock` draws the times, so the answers
    themselves do not depend on them), with the odd break. Returns the ids of the experts who
    answered.
    """
    answered: set[int] = set()
    # one decoded previous snapshot for the whole panel (decoding it per expert was most of
    # the demo's load time)
    views = feedback.FeedbackViews(limit=1)
    for participation in experts:
        if rng.random() > 0.92 and round_.number > 1:
            continue  # a little attrition, as in real panels
        answered.add(participation.id)
        moment = opened + timedelta(hours=clock.uniform(3, 7 * 24))
        pace = clock.lognormvariate(0, 0.3)  # some experts are quicker than others
        for round_item in round_.items:
            item = round_item.item
            payloads: dict[str, Any] = {}
            # structural rows (and their reasons) draw from their own stream
            drawn = model.structural_rng if item.kind in _STRUCTURAL_KINDS else rng
            for question in item.questions_in(round_.number):
                payload = _payload(question, item, participation, round_.number, model, drawn)
                if payload is not None:
                    payloads[question.key] = payload
            _centre_conditionals(item, payloads, round_.number)
            if clock.random() < _BREAK_CHANCE:
                moment += timedelta(minutes=clock.uniform(20, 240))
            seconds = _work_seconds(item, payloads, round_.number, pace)
            moment += timedelta(seconds=round(seconds * clock.lognormvariate(0, 0.25)))
            answers.save_item(
                session,
                participation,
                round_,
                item,
                payloads,
                idempotency_key=None,
                now=moment,
                synthetic=True,
            )
        if round_.number > 1:
            moment = _explain_outliers(session, participation, round_, rng, moment, views)
        if rng.random() < submit_share:
            moment += timedelta(seconds=clock.uniform(30, 180))
            round_progress.submit_round(
                session,
                participation,
                round_,
                now=moment,
                outside_iqr=_outside_iqr(session, participation, round_, views),
            )
    return answered


def _outside_iqr(
    session: Session, participation: Participation, round_: Round, views: feedback.FeedbackViews
) -> dict[int, list[str]]:
    """The items whose answers lie outside the previous round's middle half."""
    shown = feedback.feedback_for(session, participation, round_, views)
    return feedback.outside_iqr(session, participation, round_, shown)


def _explain_outliers(
    session: Session,
    participation: Participation,
    round_: Round,
    rng: random.Random,
    moment: datetime,
    views: feedback.FeedbackViews,
) -> datetime:
    """Follow the study's rule as a real panel must: a reason wherever an answer lies outside
    the previous round's middle half and none was given."""
    flagged = _outside_iqr(session, participation, round_, views)
    if not flagged or not participation.study.reason_outside_iqr:
        return moment
    given = answers.current_answers(session, participation, round_)
    for round_item in round_.items:
        item = round_item.item
        reason = next(
            (q for q in item.questions_in(round_.number) if q.kind == QuestionKind.TEXT), None
        )
        if item.id not in flagged or reason is None:
            continue
        if round_progress.is_answered(given.get(reason.id)):
            continue
        moment += timedelta(seconds=rng.uniform(40, 120))
        answers.save_item(
            session,
            participation,
            round_,
            item,
            {reason.key: {"text": rng.choice(_REASONS)}},
            idempotency_key=None,
            now=moment,
            synthetic=True,
        )
    return moment


def load_demo(
    session: Session,
    definition: SurveyDefinition,
    *,
    admin: User,
    now: datetime,
    seed: int = 2024,
    groups: Sequence[tuple[str, str, int]] = DEMO_GROUPS,
    answered_rounds: int = 2,
) -> DemoLinks:
    """Import the study, add the simulated panel, answer rounds 1..answered_rounds, open the next."""
    rng = random.Random(seed)  # noqa: S311 - simulated opinions, not secrets
    study = studies.import_study(session, definition, actor=admin, now=now)
    tokens: list[tuple[Participation, str]] = []
    for group, language, count in groups:
        for number in range(1, count + 1):
            member = panel.add_expert(
                session,
                study,
                name=f"Demo expert {group} {number}",
                email=f"demo-{group.lower()}-{number}@example.org",
                group=group,
                language=language,
                actor=admin,
                now=now,
                synthetic=True,
            )
            panel.record_consent(session, member.participation, language=language, now=now)
            tokens.append((member.participation, member.token))
    experts = [p for p, _t in tokens]
    model = _Panel(rng, experts, random.Random(f"{seed}:structural"))  # noqa: S311
    start = now - timedelta(days=14 * answered_rounds)
    answered: set[int] = set()  #: experts who answered the last simulated round
    for index in range(answered_rounds):
        moment = start + timedelta(days=14 * index)
        round_ = rounds.create_round(session, study, actor=admin, now=moment)
        round_.synthetic = True
        rounds.open_round(session, round_, actor=admin, now=moment)
        answered = _answer_round(
            session,
            round_,
            experts,
            model,
            rng,
            moment,
            submit_share=0.9,
            clock=random.Random(seed * 100 + round_.number),  # noqa: S311 - simulated times
        )
        rounds.close_round(session, round_, actor=admin, now=moment + timedelta(days=10))
    next_round = rounds.create_round(
        session,
        study,
        actor=admin,
        now=now,
        message={
            "en": "Round 3: the last round. Please review the panel's feedback and revise where you see fit.",
            "fa": "دور سوم: آخرین دور. لطفاً بازخورد پنل را ببینید و هر جا لازم می‌دانید پاسخ خود را بازنگری کنید.",
            "ru": "Третий, заключительный тур. Ознакомьтесь с ответами группы и при необходимости пересмотрите свои.",
        },
    )
    rounds.open_round(session, next_round, actor=admin, now=now, deadline=now + timedelta(days=14))
    # one expert per group, who answered the last round: their links show feedback to revise
    shown = [
        next(
            (t for t in tokens if t[0].group == group and t[0].id in answered),
            next(t for t in tokens if t[0].group == group),
        )
        for group, _l, _c in groups
    ]
    return DemoLinks(
        study=study,
        facilitator_email=admin.email,
        facilitator_password="",
        expert_links=[(p.pseudonym, p.group, p.language, token) for p, token in shown],
    )


def event_items(definition: SurveyDefinition) -> list[str]:
    """Keys of the definition's events (for quick checks)."""
    return [i.key for i in definition.items if i.kind is ItemKind.EVENT]
