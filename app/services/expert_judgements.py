"""Each expert's own probabilities for the study's events, from the tidy answers of closed rounds.

The scenario results pool judgements cell by cell; the per-expert coherence checks and SMIC run
on each expert (LIPSOR's way) need what every expert said. For each event the answers come from
the round its pooled estimate comes from (EventInputs.rounds), so both readings use the same
round. Experts are named by pseudonym only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis.expert_coherence import Judgements, PanelCoherence
from app.definitions.model import ItemKind, QuestionKind
from app.models import Round, RoundState, Study
from app.services.tidy import tidy_answers


@dataclass(frozen=True)
class PanelJudgements:
    """Pseudonym -> that expert's judgements (probabilities 0-1)."""

    experts: dict[str, Judgements]


def expert_judgements(
    session: Session,
    study: Study,
    rounds: Mapping[str, int],
    questions: Mapping[str, tuple[str, str]],
) -> PanelJudgements:
    """Every expert's P(event) and conditionals, event by event from the round in `rounds`.

    rounds: event key -> round number (the round its pooled estimate comes from); questions:
    event key -> (probability question, its part meaning "by the study's horizon").
    """
    numbers = sorted(set(rounds.values()))
    chosen = list(
        session.scalars(
            select(Round).where(
                Round.study_id == study.id,
                Round.state == RoundState.CLOSED,
                Round.number.in_(numbers),
            )
        )
    )
    frame = tidy_answers(session, study, chosen, matrices=False) if chosen else pd.DataFrame()
    if frame.empty:
        return PanelJudgements({})
    frame = frame[frame["value"].notna()]
    conditional: dict[str, set[str]] = {}
    for item in study.items:
        if item.kind != ItemKind.EVENT or item.key not in rounds:
            continue
        for question in item.questions:
            if question.kind == QuestionKind.CONDITIONAL:
                conditional.setdefault(item.key, set()).add(question.key)
    p: dict[str, dict[str, float]] = {}
    given: dict[str, dict[tuple[str, str], float]] = {}
    given_not: dict[str, dict[tuple[str, str], float]] = {}
    columns = ("round", "expert", "item", "question", "part", "value")
    rows: list[list[Any]] = frame[list(columns)].to_numpy(dtype=object).tolist()
    for number, pseudonym, item_key, question_key, part, answer in rows:
        key = str(item_key)
        if rounds.get(key) != int(number):
            continue
        expert = str(pseudonym)
        value = float(answer) / 100.0
        if (str(question_key), str(part)) == questions.get(key):
            p.setdefault(expert, {})[key] = value
        elif question_key in conditional.get(key, set()):
            other, _, side = str(part).partition("|")
            target = given if side == "given" else given_not
            target.setdefault(expert, {})[(key, other)] = value
    experts = set(p) | set(given) | set(given_not)
    return PanelJudgements(
        {
            e: Judgements(p.get(e, {}), given.get(e, {}), given_not.get(e, {}))
            for e in sorted(experts)
        }
    )


def judgements_on(panel: PanelJudgements, keys: Sequence[str]) -> dict[str, Judgements]:
    """The experts' judgements on these events only; experts with no P(event) among them left out."""
    wanted = set(keys)
    out: dict[str, Judgements] = {}
    for expert, own in panel.experts.items():
        p = {k: v for k, v in own.p.items() if k in wanted}
        if not p:
            continue
        out[expert] = Judgements(
            p,
            {k: v for k, v in own.given.items() if set(k) <= wanted},
            {k: v for k, v in own.given_not.items() if set(k) <= wanted},
        )
    return out


def coherence_view(
    coherence: PanelCoherence, study: Study
) -> tuple[dict[str, object], list[dict[str, object]]]:
    """(panel summary, per-pseudonym rows): rows only when the study is not anonymous or has
    at least k experts (docs/anonymity.md: a smaller anonymous panel shows aggregates only)."""
    experts = len(coherence.experts)
    shown = not study.is_anonymous or experts >= study.k
    # smic_objective is filled in when SMIC runs per expert
    rows = [{**e.as_dict(), "smic_objective": None} for e in coherence.experts] if shown else []
    return {**coherence.summary(), "per_expert_shown": shown}, rows
