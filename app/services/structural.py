"""Structural analysis rated by the panel: MICMAC on the pooled influence matrix of the
variables, MACTOR on the pooled influences and positions of the actors.

Each variable's (actor's) page asks its row of the matrices; a row counts from the latest
closed round in which it was answered (a variable retired for consensus keeps its last round).
Cells are pooled by `analysis.structural.panel` (median, withheld under the study's k) and the
MICMAC engine runs on the pooled matrix. Nothing here shows one expert's matrix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis.errors import InputError
from analysis.structural.mactor import MactorResult, mactor
from analysis.structural.micmac import MicmacResult, micmac
from analysis.structural.panel import (
    ACTOR_RATINGS,
    POSITION_RATINGS,
    POTENTIAL,
    PooledMatrix,
    pool_influence,
    pool_matrix,
)
from app.definitions.model import ItemKind, QuestionKind
from app.models import Item, Round, RoundState, Study
from app.services.answer_values import POTENTIAL_KEY
from app.services.tidy import current_answers


@dataclass(frozen=True)
class StructuralVariable:
    """A MICMAC variable as the pages name it."""

    key: str
    title: Mapping[str, str]  #: per language
    text: Mapping[str, str]


@dataclass(frozen=True)
class MactorPanel:
    """The panel's MACTOR: pooled influences between actors and positions on objectives."""

    actors: tuple[StructuralVariable, ...]
    objectives: tuple[StructuralVariable, ...]
    mid: PooledMatrix
    mao: PooledMatrix
    result: MactorResult


@dataclass(frozen=True)
class MicmacPanel:
    """The panel's MICMAC: the pooled matrix, the engine's result and where the rows come from."""

    variables: tuple[StructuralVariable, ...]
    pooled: PooledMatrix
    result: MicmacResult
    #: variable key -> the round its row was taken from (absent: nobody rated the row)
    row_rounds: Mapping[str, int]


def has_structural_section(session: Session, study: Study) -> bool:
    """Whether the study asks any structural rows (so its pages show the section)."""
    found = session.scalar(
        select(Item.id)
        .where(Item.study_id == study.id, Item.kind.in_([ItemKind.VARIABLE, ItemKind.ACTOR]))
        .limit(1)
    )
    return found is not None


def _variables(session: Session, study: Study, kind: ItemKind) -> list[Item]:
    """The study's rows of one kind in their order (retired ones too: their rows count)."""
    return list(
        session.scalars(
            select(Item)
            .where(Item.study_id == study.id, Item.kind == kind)
            .order_by(Item.position, Item.id)
        )
    )


def _ratings(value_json: Mapping[str, Any]) -> dict[str, str]:
    """One stored row as column -> "0".."3" or "P"."""
    potential = value_json.get(POTENTIAL_KEY)
    marked = set(potential) if isinstance(potential, list) else set()
    return {
        column: POTENTIAL if column in marked else str(int(float(rating)))
        for column, rating in value_json.items()
        if column != POTENTIAL_KEY and isinstance(rating, int | float)
    }


def _closed_rounds(session: Session, study: Study, up_to: int | None) -> list[Round]:
    """The study's closed rounds up to `up_to`, oldest first."""
    return list(
        session.scalars(
            select(Round)
            .where(
                Round.study_id == study.id,
                Round.state == RoundState.CLOSED,
                Round.number <= (up_to if up_to is not None else 10**6),
            )
            .order_by(Round.number)
        )
    )


def _panel_rows(
    session: Session, study: Study, items: list[Item], kind: QuestionKind, up_to: int | None
) -> tuple[dict[int, dict[tuple[str, str], str]], dict[str, int]]:
    """Every expert's rated cells of one kind of row question ((row, column) -> rating), each
    row from the latest closed round that answered it; and that round per row."""
    questions = {q.id: item.key for item in items for q in item.questions if q.kind == kind}
    rows: dict[str, tuple[int, dict[int, dict[str, str]]]] = {}
    for round_ in _closed_rounds(session, study, up_to):
        found: dict[str, dict[int, dict[str, str]]] = {}
        for answer in current_answers(session, study, [round_.id]):
            row = questions.get(answer.question_id)
            if row is None or answer.no_answer or not answer.value_json:
                continue
            found.setdefault(row, {})[answer.participation_id] = _ratings(answer.value_json)
        for row, by_expert in found.items():
            rows[row] = (round_.number, by_expert)
    experts: dict[int, dict[tuple[str, str], str]] = {}
    for row, (_number, by_expert) in rows.items():
        for participation, ratings in by_expert.items():
            cells = experts.setdefault(participation, {})
            cells.update({(row, column): rating for column, rating in ratings.items()})
    return experts, {row: number for row, (number, _e) in rows.items()}


def _named(items: list[Item]) -> tuple[StructuralVariable, ...]:
    """The items as the pages name them."""
    return tuple(
        StructuralVariable(
            item.key, dict(item.current_version.title), dict(item.current_version.text)
        )
        for item in items
    )


def micmac_panel(session: Session, study: Study, up_to: int | None = None) -> MicmacPanel | None:
    """MICMAC on the panel's pooled matrix from the closed rounds (up to round `up_to`); None
    when the study has no variables or no closed round holds a rated row."""
    items = _variables(session, study, ItemKind.VARIABLE)
    if len(items) < 2:
        return None
    experts, row_rounds = _panel_rows(session, study, items, QuestionKind.INFLUENCE, up_to)
    if not row_rounds:
        return None
    names = [item.key for item in items]
    try:
        pooled = pool_influence(names, list(experts.values()), study.k)
        result = micmac(pooled.engine_cells(), names)
    except InputError:  # pragma: no cover - names are unique item keys, ratings validated
        return None
    return MicmacPanel(_named(items), pooled, result, row_rounds)


def _objectives(items: list[Item]) -> tuple[StructuralVariable, ...]:
    """The objectives as the actors' positions questions name them (titles per language)."""
    for item in items:
        for question in item.questions:
            if question.kind == QuestionKind.POSITIONS:
                labels = question.config.get("labels", {})
                return tuple(
                    StructuralVariable(key, dict(labels.get(key) or {}), {})
                    for key in question.config.get("columns", [])
                )
    return ()


def mactor_panel(session: Session, study: Study, up_to: int | None = None) -> MactorPanel | None:
    """MACTOR on the panel's pooled influences (MID) and positions (2MAO) from the closed
    rounds; None when the study has no actors, no rated rows, or no influence survives k."""
    items = _variables(session, study, ItemKind.ACTOR)
    objectives = _objectives(items)
    if len(items) < 2 or not objectives:
        return None
    names = [item.key for item in items]
    goals = [o.key for o in objectives]
    mid_experts, mid_rounds = _panel_rows(
        session, study, items, QuestionKind.ACTOR_INFLUENCE, up_to
    )
    mao_experts, mao_rounds = _panel_rows(session, study, items, QuestionKind.POSITIONS, up_to)
    if not mid_rounds or not mao_rounds:
        return None
    try:
        mid = pool_matrix(names, names, list(mid_experts.values()), study.k, ACTOR_RATINGS)
        mao = pool_matrix(names, goals, list(mao_experts.values()), study.k, POSITION_RATINGS)
        result = mactor(mid.engine_cells(), mao.engine_cells(), names, goals)
    except InputError:  # every influence withheld: no balance of power to compute
        return None
    return MactorPanel(_named(items), objectives, mid, mao, result)
