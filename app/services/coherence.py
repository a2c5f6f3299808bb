"""Coherence help: where an expert's P(A), P(A | B), P(A | not B) and P(B) do not fit together.

Reads the expert's current answers in one round and asks `analysis.coherence` about every
conditional pair they answered; the pages show the hints gently, never blocking a save.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from analysis.coherence import DEFAULT_TOLERANCE, CoherenceHint, check_conditionals
from analysis.errors import InputError
from app.definitions.model import QuestionKind
from app.models import Item, Participation, Question, Round, RoundItem
from app.services.answer_values import AnswerValues
from app.services.answers import stored_answers


@dataclass(frozen=True)
class ItemCoherenceHint:
    """A hint on one conditional pair: item A's probability against its answers given B."""

    item_key: str  #: A, the item whose conditional question it is
    given_item_key: str  #: B, the conditioning event
    hint: CoherenceHint


def _number(value: Any) -> float | None:
    """A stored percentage, or None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _probability(answer: AnswerValues | None, question: Question, horizon: int) -> float | None:
    """The probability an answer gives for the study's horizon; None if there is none.

    A question asked for several years counts only with a value for the horizon year.
    """
    if answer is None or answer.no_answer:
        return None
    if question.config.get("horizons"):
        values = answer.value_json or {}
        return _number(values.get(str(horizon)))
    return _number(answer.value)


def _probability_question(item: Item, round_number: int) -> Question | None:
    """The item's first probability question asked in this round."""
    return next(
        (q for q in item.questions_in(round_number) if q.kind == QuestionKind.PROBABILITY), None
    )


def questions_read(round_items: Sequence[RoundItem], round_: Round) -> list[int]:
    """The questions whose answers `coherence_hints` reads: each item's probability and its
    conditional questions."""
    found = []
    for round_item in round_items:
        questions = round_item.item.questions_in(round_.number)
        probability = next((q for q in questions if q.kind == QuestionKind.PROBABILITY), None)
        if probability is not None:
            found.append(probability.id)
            found += [q.id for q in questions if q.kind == QuestionKind.CONDITIONAL]
    return found


def coherence_hints(
    session: Session,
    participation: Participation,
    round_: Round,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    answers: Mapping[int, AnswerValues] | None = None,
    round_items: Sequence[RoundItem] | None = None,
) -> dict[str, list[ItemCoherenceHint]]:
    """Item key -> a hint per conditional pair whose answers do not fit (other items left out).

    Uses the expert's current answers in this round: the item's probability is P(A), the
    conditioning item's probability is P(B) (when the round asks it and the expert gave it),
    the conditional answer gives P(A | B) and P(A | not B). Pairs missing a number, or
    answered "no answer", are skipped. `answers` are the expert's current answers in the
    round (by question id) and `round_items` the round's items, loaded, when the caller has
    them.
    """
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance: expected percentage points >= 0, got {tolerance}")
    if answers is None:
        answers = stored_answers(session, participation, round_)
    horizon = participation.study.horizon
    probabilities: dict[str, float] = {}
    conditionals: list[tuple[str, float, Question]] = []
    for round_item in round_items if round_items is not None else round_.items:
        item = round_item.item
        question = _probability_question(item, round_.number)
        if question is None:
            continue
        p_a = _probability(answers.get(question.id), question, horizon)
        if p_a is None:
            continue
        probabilities[item.key] = p_a
        conditionals.extend(
            (item.key, p_a, q)
            for q in item.questions_in(round_.number)
            if q.kind == QuestionKind.CONDITIONAL
        )
    hints: dict[str, list[ItemCoherenceHint]] = {}
    for item_key, p_a, question in conditionals:
        answer = answers.get(question.id)
        if answer is None or answer.no_answer or not isinstance(answer.value_json, dict):
            continue
        for event in question.config.get("given", []):
            pair = answer.value_json.get(event)
            if not isinstance(pair, dict):
                continue
            given, given_not = _number(pair.get("given")), _number(pair.get("given_not"))
            if given is None or given_not is None:
                continue
            try:
                hint = check_conditionals(
                    p_a, given, given_not, probabilities.get(event), tolerance=tolerance
                )
            except InputError:  # a number off the 0-100 scale (e.g. an odd archive): no hint
                continue
            if hint is not None:
                hints.setdefault(item_key, []).append(ItemCoherenceHint(item_key, event, hint))
    return hints
