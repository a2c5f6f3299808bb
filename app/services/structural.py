"""Structural analysis rated by the panel: MICMAC on the pooled influence matrix of the
variables, MACTOR on the pooled influences and positions of the actors.

Each variable's (actor's) page asks its row of the matrices; a row counts from the latest
closed round in which it was answered (a variable retired for consensus keeps its last round).
Cells are pooled by `analysis.structural.panel` (median, withheld under the study's k) and the
MICMAC engine runs on the pooled matrix. Nothing here shows one expert's matrix.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from analysis.errors import InputError
from analysis.structural.cib import cib_model
from analysis.structural.cib_ensemble import panel_ensemble
from analysis.structural.cib_search import consistent_scenarios
from analysis.structural.mactor import MactorResult, mactor
from analysis.structural.micmac import MicmacResult, micmac
from analysis.structural.panel import (
    ACTOR_RATINGS,
    CIB_RATINGS,
    POSITION_RATINGS,
    POTENTIAL,
    PooledMatrix,
    pool_influence,
    pool_matrix,
)
from app import jsoncodec
from app.definitions.model import ItemKind, QuestionKind
from app.models import Answer, Item, Participation, Round, RoundState, Study
from app.services.answer_values import POTENTIAL_KEY


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
        .where(
            Item.study_id == study.id,
            Item.kind.in_([ItemKind.VARIABLE, ItemKind.ACTOR, ItemKind.DESCRIPTOR]),
        )
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
        column: POTENTIAL
        if column in marked
        else _RATING_TEXT.get(rating) or str(int(float(rating)))
        for column, rating in value_json.items()
        if column != POTENTIAL_KEY and isinstance(rating, int | float)
    }


#: the stored ratings as text, made once (a panel of thousands has millions of cells)
_RATING_TEXT: dict[float, str] = {float(n): str(n) for n in range(-4, 5)}


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
        for question_id, participation_id, stored in _stored_rows(session, round_, questions):
            found.setdefault(questions[question_id], {})[participation_id] = _ratings(stored)
        for row, by_expert in found.items():
            rows[row] = (round_.number, by_expert)
    experts: dict[int, dict[tuple[str, str], str]] = {}
    for row, (_number, by_expert) in rows.items():
        for participation, ratings in by_expert.items():
            cells = experts.setdefault(participation, {})
            cells.update({(row, column): rating for column, rating in ratings.items()})
    return experts, {row: number for row, (number, _e) in rows.items()}


def _stored_rows(
    session: Session, round_: Round, questions: Mapping[int, str]
) -> Iterator[tuple[int, int, Mapping[str, Any]]]:
    """The round's current answers to these row questions that rate something: (question id,
    participation id, the stored row), by question and pseudonym.

    Three columns and the row as JSON text, decoded here: a panel of thousands has hundreds of
    thousands of rows, where reading whole answer rows cost most of the analysis.
    """
    if not questions:
        return
    query = (
        select(Answer.question_id, Answer.participation_id, cast(Answer.value_json, Text))
        .join(Participation, Answer.participation_id == Participation.id)
        .where(
            Answer.round_id == round_.id,
            Answer.is_current.is_(True),
            Answer.no_answer.is_(False),
            Answer.value_json.is_not(None),
            Answer.question_id.in_(list(questions)),
        )
        .order_by(Answer.question_id, Participation.pseudonym)
    )
    for question_id, participation_id, text in session.execute(
        query, execution_options={"yield_per": 5000}
    ):
        stored = jsoncodec.loads(text) if text else None
        if isinstance(stored, dict) and stored:
            yield question_id, participation_id, stored


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


@dataclass(frozen=True)
class CibScenario:
    """A scenario consistent under the panel's pooled matrix."""

    #: (descriptor key, variant key) in the descriptors' order
    states: tuple[tuple[str, str], ...]
    total_impact_score: float
    #: how many experts' matrices it is consistent in (each expert's judgements, the pooled
    #: ones where the expert left a descriptor blank); never which experts
    consistent_in: int


@dataclass(frozen=True)
class NamedSupport:
    """A named (event) scenario linked to descriptor states, and the CIB scenarios with them."""

    key: str
    title: Mapping[str, str]  #: per language
    states: tuple[tuple[str, str], ...]  #: (descriptor key, variant key)
    #: 1-based positions in CibPanel.scenarios of the consistent scenarios with every state
    supported_by: tuple[int, ...]


@dataclass(frozen=True)
class CibPanel:
    """The panel's CIB: pooled judgements, the consistent scenarios and the experts' ensemble."""

    descriptors: tuple[StructuralVariable, ...]
    #: descriptor key -> its variants (key, titles per language), in order
    variants: Mapping[str, tuple[StructuralVariable, ...]]
    scenarios: tuple[CibScenario, ...]
    #: experts whose matrices the ensemble solved
    experts: int
    #: judgement cells rated by fewer than k experts (read as 0), and all cells
    withheld: int
    cells: int
    configurations: int
    #: the study's named scenarios that declare descriptor states (`states` in the survey file)
    named: tuple[NamedSupport, ...] = ()


def _round_half_away(value: float) -> int:
    """A pooled judgement as CIB needs it: a whole number, halves away from zero."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def _cib_structure(
    items: list[Item],
) -> tuple[list[str], dict[str, tuple[StructuralVariable, ...]]] | None:
    """The descriptors and their variants, as their cross-impact questions carry them."""
    variants: dict[str, tuple[StructuralVariable, ...]] = {}
    for item in items:
        question = next((q for q in item.questions if q.kind == QuestionKind.CROSS_IMPACT), None)
        if question is None:
            return None
        labels = question.config.get("labels", {})
        variants[item.key] = tuple(
            StructuralVariable(v, dict(labels.get(f"{item.key}|{v}") or {}), {})
            for v in question.config.get("rows", [])
        )
    return [item.key for item in items], variants


def cib_panel(session: Session, study: Study, up_to: int | None = None) -> CibPanel | None:
    """CIB on the panel's pooled judgements (median per cell, rounded; withheld under k),
    its consistent scenarios, and in how many experts' matrices each is consistent."""
    items = _variables(session, study, ItemKind.DESCRIPTOR)
    structure = _cib_structure(items) if len(items) >= 2 else None
    if structure is None:
        return None
    names, variants = structure
    ids = [f"{d}|{v.key}" for d in names for v in variants[d]]
    experts, rounds = _panel_rows(session, study, items, QuestionKind.CROSS_IMPACT, up_to)
    if not rounds:
        return None
    # a part "row|D|v" of descriptor R's question is the cell (R|row, D|v)
    cells = [
        {(f"{row_key}|{part.split('|')[0]}", part.split("|", 1)[1]): rating
         for (row_key, part), rating in by_cell.items()}
        for by_cell in experts.values()
    ]  # fmt: skip
    try:
        pooled = pool_matrix(ids, ids, cells, study.k, CIB_RATINGS)
    except InputError:  # pragma: no cover - ratings were validated when saved
        return None
    block = {i: i.split("|")[0] for i in ids}
    matrix = [
        [
            0
            if cell is None or cell.withheld or isinstance(cell.value, str)
            else _round_half_away(cell.value)
            for cell in row
        ]
        for row in pooled.cells
    ]
    asked = [
        cell
        for row in pooled.cells
        for cell in row
        if cell is not None and block[cell.row] != block[cell.column]
    ]
    blocks = [[v.key for v in variants[d]] for d in names]
    try:
        model = cib_model(names, blocks, matrix)
        found = consistent_scenarios(model)
        # each expert's matrix: their judgements, the pooled ones where they left a block blank
        members = []
        index = {cell_id: n for n, cell_id in enumerate(ids)}
        for by_cell in cells:
            member = [list(row) for row in matrix]
            for (row_id, column_id), rating in by_cell.items():
                member[index[row_id]][index[column_id]] = int(rating)
            members.append(member)
        ensemble = panel_ensemble(model, members) if members else None
    except InputError:  # pragma: no cover - the structure comes from a validated file
        return None
    counts: dict[tuple[int, ...], int] = {}
    if ensemble is not None:
        for key, count in zip(
            ensemble.table.attrs["scenarios"], ensemble.table["consistent_in"], strict=True
        ):
            counts[tuple(key)] = int(count)
    scenarios = tuple(
        CibScenario(
            tuple((d, blocks[i][v]) for i, (d, v) in enumerate(zip(names, key, strict=True))),
            float(score),
            counts.get(tuple(key), 0),
        )
        for key, score in zip(found.tuples(), found.total_impact_score, strict=True)
    )
    return CibPanel(
        _named(items),
        variants,
        scenarios,
        len(members),
        sum(1 for cell in asked if cell.withheld),
        len(asked),
        model.configurations,
        _named_support(study, scenarios),
    )


def _named_support(study: Study, scenarios: tuple[CibScenario, ...]) -> tuple[NamedSupport, ...]:
    """Which consistent scenarios hold every state each named scenario declares (the states
    live in the imported definition only: they are read from it, not from new columns)."""
    found = []
    for named in study.definition.get("scenarios") or []:
        states = named.get("states") or {}
        if not states:
            continue
        pairs = tuple((str(d), str(v)) for d, v in states.items())
        support = tuple(
            position
            for position, scenario in enumerate(scenarios, start=1)
            if set(pairs) <= set(scenario.states)
        )
        found.append(
            NamedSupport(str(named["key"]), dict(named.get("title") or {}), pairs, support)
        )
    return tuple(found)
