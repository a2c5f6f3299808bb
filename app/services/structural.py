"""Structural analysis rated by the panel: the pooled MICMAC matrix and its influence map.

Each variable's page asks its row of the direct influence matrix; a row counts from the latest
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
from analysis.structural.micmac import MicmacResult, micmac
from analysis.structural.panel import POTENTIAL, PooledMatrix, pool_influence
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
        select(Item.id).where(Item.study_id == study.id, Item.kind == ItemKind.VARIABLE).limit(1)
    )
    return found is not None


def _variables(session: Session, study: Study) -> list[Item]:
    """The study's variables in their order (retired ones too: their rows still count)."""
    return list(
        session.scalars(
            select(Item)
            .where(Item.study_id == study.id, Item.kind == ItemKind.VARIABLE)
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


def micmac_panel(session: Session, study: Study, up_to: int | None = None) -> MicmacPanel | None:
    """MICMAC on the panel's pooled matrix from the closed rounds (up to round `up_to`); None
    when the study has no variables or no closed round holds a rated row."""
    items = _variables(session, study)
    if len(items) < 2:
        return None
    questions = {
        q.id: item.key for item in items for q in item.questions if q.kind == QuestionKind.INFLUENCE
    }
    closed = list(
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
    # row -> (round number, participation -> ratings), the latest round that answered the row
    rows: dict[str, tuple[int, dict[int, dict[str, str]]]] = {}
    for round_ in closed:
        found: dict[str, dict[int, dict[str, str]]] = {}
        for answer in current_answers(session, study, [round_.id]):
            row = questions.get(answer.question_id)
            if row is None or answer.no_answer or not answer.value_json:
                continue
            found.setdefault(row, {})[answer.participation_id] = _ratings(answer.value_json)
        for row, by_expert in found.items():
            rows[row] = (round_.number, by_expert)
    if not rows:
        return None
    experts: dict[int, dict[tuple[str, str], str]] = {}
    for row, (_number, by_expert) in rows.items():
        for participation, ratings in by_expert.items():
            cells = experts.setdefault(participation, {})
            cells.update({(row, column): rating for column, rating in ratings.items()})
    names = [item.key for item in items]
    try:
        pooled = pool_influence(names, list(experts.values()), study.k)
        result = micmac(pooled.engine_cells(), names)
    except InputError:  # pragma: no cover - names are unique item keys, ratings validated
        return None
    variables = tuple(
        StructuralVariable(
            item.key, dict(item.current_version.title), dict(item.current_version.text)
        )
        for item in items
    )
    return MicmacPanel(
        variables, pooled, result, {row: number for row, (number, _e) in rows.items()}
    )
