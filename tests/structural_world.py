"""A seeded panel that rates the first study's MICMAC and MACTOR rows around the draft
matrices (every cell's median is the draft's value): the service, web and report tests of the
structural section share it."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from app.definitions import SurveyDefinition
from app.models import Item, Participation, Round, Study, User
from app.services import answers, panel, rounds, studies
from tests.conftest import NOW

EXAMPLES = Path(__file__).parents[1] / "analysis" / "examples"
DRAFT_MATRIX = EXAMPLES / "iran_russia_micmac.csv"
DRAFT_MID = EXAMPLES / "iran_russia_mactor_mid.csv"
DRAFT_MAO = EXAMPLES / "iran_russia_mactor_mao.csv"
DRAFT_CIB = EXAMPLES / "iran_russia_cib.csv"
#: the expert who leaves a descriptor blank in every CIB row, and that descriptor
BLANK_EXPERT, BLANK_DESCRIPTOR = 5, "D_REG"
#: experts who rate every row, and how many of them also rate GEO (fewer than k = 5)
EXPERTS = 6
GEO_RATERS = 3


def draft_matrix(
    path: Path = DRAFT_MATRIX,
) -> tuple[list[str], list[str], dict[tuple[str, str], str]]:
    """A draft matrix of the first study: rows, columns and (row, column) -> rating."""
    with path.open(encoding="utf-8") as file:
        rows = list(csv.reader(file))
    names = rows[0][1:]
    cells = {
        (row[0], column): rating.strip()
        for row in rows[1:]
        for column, rating in zip(names, row[1:], strict=True)
        if row[0] != column
    }
    return [row[0] for row in rows[1:]], names, cells


def rating_of(expert: int, draft: str, low: int = 0, high: int = 3) -> str:
    """Expert `expert`'s rating of a cell: the draft, one step up for the first two experts
    and one step down for the next two (so every cell's median is the draft's value)."""
    if draft == "P":
        return "P" if expert != 0 else "0"
    value = int(draft)
    if expert in (0, 1):
        value = min(high, value + 1)
    elif expert in (2, 3):
        value = max(low, value - 1)
    return str(value)


@dataclass
class StructuralWorld:
    """The study, its first round (closed) and second (open), and the experts."""

    study: Study
    closed: Round
    open: Round
    experts: list[Participation]
    tokens: list[str]  #: the experts' private links, in the same order


def _variable(study: Study, key: str) -> Item:
    return next(item for item in study.items if item.key == key)


def seeded_micmac_study(
    session: Session, definition: SurveyDefinition, facilitator: User
) -> StructuralWorld:
    """The first study with round 1 answered (structural rows only) and closed, round 2 open."""
    study = studies.import_study(session, definition, actor=facilitator, now=NOW)
    round_ = rounds.create_round(session, study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW)
    names, _columns, draft = draft_matrix()
    actors, _same, mid = draft_matrix(DRAFT_MID)
    _actors, objectives, mao = draft_matrix(DRAFT_MAO)
    _variants, _same_variants, cib = draft_matrix(DRAFT_CIB)
    experts = []
    tokens = []
    for number in range(EXPERTS):
        member = panel.add_expert(
            session, study, name=f"E{number}", email=f"e{number}@example.org", group="",
            language="en", actor=None, now=NOW,
        )  # fmt: skip
        panel.record_consent(session, member.participation, language="en", now=NOW)
        experts.append(member.participation)
        tokens.append(member.token)
    for number, expert in enumerate(experts):
        entries = []
        for row in names:
            if row == "GEO" and number >= GEO_RATERS:
                continue
            values = {
                column: rating_of(number, draft[(row, column)]) for column in names if column != row
            }
            entries.append(
                answers.ItemEntry(_variable(study, row), {"influence": {"values": values}})
            )
        for actor in actors:
            influence = {
                f"A_{c}": rating_of(number, mid[(actor, c)], 0, 4) for c in actors if c != actor
            }
            positions = {c: rating_of(number, mao[(actor, c)], -4, 4) for c in objectives}
            payloads = {
                "actor_influence": {"values": influence},
                "positions": {"values": positions},
            }
            entries.append(answers.ItemEntry(_variable(study, f"A_{actor}"), payloads))
        for descriptor in (i for i in study.items if i.kind == "descriptor"):
            question = next(q for q in descriptor.questions if q.key == "cross_impact")
            judgements = {}
            for part in question.config["columns"]:
                row, other, variant = part.split("|")
                if number == BLANK_EXPERT and other == BLANK_DESCRIPTOR:
                    continue
                cell = (f"{descriptor.key[2:]}:{row}", f"{other[2:]}:{variant}")
                judgements[part] = rating_of(number, cib[cell], -3, 3)
            entries.append(answers.ItemEntry(descriptor, {"cross_impact": {"values": judgements}}))
        saved = answers.save_items(
            session, expert, round_, entries, now=NOW + timedelta(minutes=number)
        )
        assert saved.errors == {}, saved.errors
    rounds.close_round(session, round_, actor=None, now=NOW + timedelta(hours=1))
    second = rounds.create_round(session, study, actor=None, now=NOW + timedelta(hours=2))
    rounds.open_round(session, second, actor=None, now=NOW + timedelta(hours=2))
    session.commit()
    return StructuralWorld(study, round_, second, experts, tokens)
