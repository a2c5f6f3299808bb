"""MICMAC rows answered by the panel: saving a row, feedback per cell, pooling and the engine."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis.structural.cib import cib_model
from analysis.structural.cib_search import consistent_scenarios
from analysis.structural.mactor import mactor
from analysis.structural.micmac import micmac
from app.definitions import SurveyDefinition
from app.models import Answer, AnswerDraft, Item, Participation, Round, Study, User
from app.services import answers, feedback, panel, rounds, structural, studies
from tests.conftest import NOW
from tests.structural_world import (
    DRAFT_CIB,
    DRAFT_MAO,
    DRAFT_MID,
    GEO_RATERS,
    draft_matrix,
    seeded_micmac_study,
)


def _open_round(session: Session, study: Study) -> tuple[Round, Participation]:
    round_ = rounds.create_round(session, study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW)
    member = panel.add_expert(
        session, study, name="A", email="a@example.org", group="", language="en",
        actor=None, now=NOW,
    )  # fmt: skip
    panel.record_consent(session, member.participation, language="en", now=NOW)
    return round_, member.participation


def _row(item: Item) -> dict[str, str]:
    """A complete row: 2 on every other variable."""
    columns = next(q for q in item.questions if q.key == "influence").config["columns"]
    return dict.fromkeys(columns, "2")


@pytest.fixture
def first_study(
    session: Session, first_study_definition: SurveyDefinition, facilitator_user: User
) -> Study:
    study = studies.import_study(session, first_study_definition, actor=facilitator_user, now=NOW)
    session.commit()
    return study


def test_a_row_asks_every_other_variable(first_study: Study) -> None:
    lead = next(i for i in first_study.items if i.key == "LEAD")
    columns = next(q for q in lead.questions if q.key == "influence").config["columns"]
    assert "LEAD" not in columns
    assert len(columns) == 12 and columns[0] == "GEO" and columns[-1] == "ALLY"


def test_a_row_is_saved_with_its_potential_cells(session: Session, first_study: Study) -> None:
    round_, me = _open_round(session, first_study)
    lead = next(i for i in first_study.items if i.key == "LEAD")
    row = _row(lead) | {"ECON": "P", "USRU": "۳"}  # Persian digits are read as digits
    saved = answers.save_items(
        session, me, round_, [answers.ItemEntry(lead, {"influence": {"values": row}})], now=NOW
    )
    assert saved.errors == {}
    stored = session.scalars(select(Answer).where(Answer.participation_id == me.id)).one()
    assert stored.value_json is not None
    assert stored.value_json["ECON"] == 0.0 and stored.value_json["USRU"] == 3.0
    assert stored.value_json["_potential"] == ["ECON"]


def test_a_bad_cell_is_refused_naming_its_column_and_nothing_is_half_saved(
    session: Session, first_study: Study
) -> None:
    round_, me = _open_round(session, first_study)
    lead = next(i for i in first_study.items if i.key == "LEAD")
    good = answers.ItemEntry(lead, {"influence": {"values": _row(lead)}})
    assert answers.save_items(session, me, round_, [good], now=NOW).errors == {}
    bad_row = _row(lead) | {"THREAT": "7"}
    bad = answers.ItemEntry(
        lead, {"influence": {"values": bad_row}, "reason": {"text": "A reason"}}
    )
    saved = answers.save_items(session, me, round_, [bad], now=NOW + timedelta(minutes=1))
    message = saved.errors["LEAD"]["influence"][0]
    assert str(message).startswith("THREAT: '7' is not a rating")
    current = session.scalars(
        select(Answer).where(Answer.participation_id == me.id, Answer.is_current.is_(True))
    ).all()
    # the earlier row stands, and the reason sent with the bad row was not saved either
    assert [a.value_json["THREAT"] for a in current if a.value_json] == [2.0]
    assert all(a.text is None for a in current)
    assert session.scalars(select(AnswerDraft)).all() == []


def test_a_row_with_a_blank_cell_is_a_draft_naming_what_is_missing(
    session: Session, first_study: Study
) -> None:
    round_, me = _open_round(session, first_study)
    lead = next(i for i in first_study.items if i.key == "LEAD")
    row = _row(lead)
    del row["ALLY"]
    entry = answers.ItemEntry(lead, {"influence": {"values": row}})
    refused = answers.save_items(session, me, round_, [entry], now=NOW)
    assert refused.errors["LEAD"]["influence"][0].params["missing"] == "ALLY"
    kept = answers.save_items(session, me, round_, [entry], now=NOW, drafts=True)
    assert kept.errors == {}
    draft = session.scalars(select(AnswerDraft)).one()
    assert draft.payload["values"]["GEO"] == "2" and "ALLY" not in draft.payload["values"]
    assert session.scalars(select(Answer).where(Answer.participation_id == me.id)).all() == []


def test_an_unknown_column_is_refused(session: Session, first_study: Study) -> None:
    round_, me = _open_round(session, first_study)
    lead = next(i for i in first_study.items if i.key == "LEAD")
    row = _row(lead) | {"LEAD": "3"}  # the diagonal is not asked
    entry = answers.ItemEntry(lead, {"influence": {"values": row}})
    saved = answers.save_items(session, me, round_, [entry], now=NOW, drafts=True)
    assert saved.errors["LEAD"]["influence"][0].params["columns"] == "LEAD"


def test_feedback_per_cell_is_withheld_under_k_and_shows_the_own_rating(
    session: Session, first_study_definition: SurveyDefinition, facilitator_user: User
) -> None:
    world = seeded_micmac_study(session, first_study_definition, facilitator_user)
    first_expert = world.experts[0]
    shown = feedback.feedback_for(session, first_expert, world.open)
    lead = {pf.label: pf for pf in shown["LEAD"].questions["influence"]}
    # the draft says LEAD -> ALLY is 3; experts 0 and 1 said 3, 2 and 3 said 2, 4 and 5 said 3
    assert lead["ALLY"].n == 6 and lead["ALLY"].median == 3.0
    assert lead["ALLY"].own == 3.0
    geo = {pf.label: pf for pf in shown["GEO"].questions["influence"]}
    assert world.study.k > GEO_RATERS
    assert all(pf.suppressed and pf.median is None for pf in geo.values())
    assert geo["ALLY"].own == 3.0  # the expert's own rating is shown even when withheld


def test_the_pooled_matrix_runs_micmac_as_the_draft_would(
    session: Session, first_study_definition: SurveyDefinition, facilitator_user: User
) -> None:
    world = seeded_micmac_study(session, first_study_definition, facilitator_user)
    found = structural.micmac_panel(session, world.study)
    assert found is not None
    names, _columns, draft = draft_matrix()
    assert found.pooled.names == tuple(names)
    assert found.pooled.experts == 6
    # GEO's row had three raters (< k): its 12 cells are withheld, every other cell stands
    assert found.pooled.withheld == 12
    cell = found.pooled.cells[names.index("ECON")][names.index("SANC")]
    assert cell is not None and cell.value == "P" and cell.n == 6
    # every other cell's median is the draft's value, so MICMAC agrees with the draft's own
    # run once GEO's row is read as no influence
    expected = [
        ["0" if row == column or row == "GEO" else draft[(row, column)] for column in names]
        for row in names
    ]
    oracle = micmac(expected, names)
    assert found.result.direct == oracle.direct
    assert found.result.indirect == oracle.indirect
    assert found.result.potential is not None and oracle.potential is not None
    assert np.allclose(found.result.potential.direct.influence, oracle.potential.direct.influence)
    assert found.row_rounds["LEAD"] == 1


def test_a_study_without_variables_has_no_structural_section(
    session: Session, example_study: Study
) -> None:
    assert structural.has_structural_section(session, example_study) is False
    assert structural.micmac_panel(session, example_study) is None


def test_the_pooled_actor_matrices_run_mactor_as_the_drafts_would(
    session: Session, first_study_definition: SurveyDefinition, facilitator_user: User
) -> None:
    world = seeded_micmac_study(session, first_study_definition, facilitator_user)
    found = structural.mactor_panel(session, world.study)
    assert found is not None
    actors, _same, mid = draft_matrix(DRAFT_MID)
    _actors, objectives, mao = draft_matrix(DRAFT_MAO)
    assert found.result.actors == tuple(f"A_{a}" for a in actors)
    assert found.result.objectives == tuple(objectives)
    assert found.objectives[0].title["ru"].startswith("Заключение")
    assert found.mid.withheld == 0 and found.mao.withheld == 0
    oracle = mactor(
        [[0 if a == b else int(mid[(a, b)]) for b in actors] for a in actors],
        [[int(mao[(a, o)]) for o in objectives] for a in actors],
        actors,
        objectives,
    )
    assert np.allclose(found.result.power, oracle.power)
    assert np.allclose(found.result.caa3, oracle.caa3)
    assert np.allclose(found.result.agreement, oracle.agreement)
    # the draft's reading (surveys/iran_russia_us.md): the US holds the most power
    assert actors[int(np.argmax(found.result.power))] == "US"


def test_positions_outside_minus_4_to_4_are_refused_naming_the_objective(
    session: Session, first_study: Study
) -> None:
    round_, me = _open_round(session, first_study)
    us = next(i for i in first_study.items if i.key == "A_US")
    columns = next(q for q in us.questions if q.key == "positions").config["columns"]
    row = dict.fromkeys(columns, "+2") | {"ARMS": "5"}
    entry = answers.ItemEntry(us, {"positions": {"values": row}})
    saved = answers.save_items(session, me, round_, [entry], now=NOW)
    assert str(saved.errors["A_US"]["positions"][0]).startswith("ARMS: '5' is not a rating")
    good = answers.ItemEntry(us, {"positions": {"values": row | {"ARMS": "-4"}}})
    assert answers.save_items(session, me, round_, [good], now=NOW).errors == {}
    stored = session.scalars(select(Answer).where(Answer.participation_id == me.id)).one()
    assert stored.value_json == dict.fromkeys(columns, 2.0) | {"ARMS": -4.0}


def test_the_pooled_judgements_give_the_drafts_consistent_scenarios(
    session: Session, first_study_definition: SurveyDefinition, facilitator_user: User
) -> None:
    world = seeded_micmac_study(session, first_study_definition, facilitator_user)
    found = structural.cib_panel(session, world.study)
    assert found is not None
    names, columns, draft = draft_matrix(DRAFT_CIB)
    descriptors = list(dict.fromkeys(n.split(":")[0] for n in names))
    variants = [[n.split(":")[1] for n in names if n.startswith(f"{d}:")] for d in descriptors]
    oracle = consistent_scenarios(
        cib_model(
            descriptors,
            variants,
            [[int(draft[(r, c)]) if r != c else 0 for c in columns] for r in names],
        )
    )
    # every judgement's median is the draft's: the same scenarios, the same order and scores
    assert [tuple(v for _d, v in s.states) for s in found.scenarios] == [
        tuple(variants[i][k] for i, k in enumerate(t)) for t in oracle.tuples()
    ]
    assert [s.total_impact_score for s in found.scenarios] == list(oracle.total_impact_score)
    assert found.scenarios[0].states[-1] == ("D_REL", "alliance")  # the paper's scenario
    assert found.withheld == 0 and found.cells == 218 and found.experts == 6
    # the ensemble counts experts' matrices, with the pooled judgements where one was blank
    assert all(0 <= s.consistent_in <= 6 for s in found.scenarios)
    assert found.scenarios[0].consistent_in >= 1


def test_a_descriptor_begun_must_be_rated_whole_and_another_may_stay_blank(
    session: Session, first_study: Study
) -> None:
    round_, me = _open_round(session, first_study)
    rel = next(i for i in first_study.items if i.key == "D_REL")
    columns = next(q for q in rel.questions if q.key == "cross_impact").config["columns"]
    usp = {c: "+1" for c in columns if c.split("|")[1] == "D_USP"}
    partial = dict(list(usp.items())[:-1])
    entry = answers.ItemEntry(rel, {"cross_impact": {"values": partial}})
    refused = answers.save_items(session, me, round_, [entry], now=NOW)
    message = str(refused.errors["D_REL"]["cross_impact"][0])
    assert message.startswith("Rate all of D_USP or leave it blank (missing: drift → D_USP: eased")
    entry = answers.ItemEntry(rel, {"cross_impact": {"values": usp | {columns[-1]: ""}}})
    assert answers.save_items(session, me, round_, [entry], now=NOW).errors == {}
    stored = session.scalars(select(Answer).where(Answer.participation_id == me.id)).one()
    assert stored.value_json == dict.fromkeys(usp, 1.0)  # only D_USP was judged


def test_named_scenarios_say_which_consistent_cib_scenarios_support_them(
    session: Session, first_study_definition: SurveyDefinition, facilitator_user: User
) -> None:
    world = seeded_micmac_study(session, first_study_definition, facilitator_user)
    found = structural.cib_panel(session, world.study)
    assert found is not None
    support = {n.key: n.supported_by for n in found.named}
    # the draft's four: the paper's alliance, its mirror (drift), two partnerships
    assert support == {"S1": (1,), "S2": (3, 4), "S3": (3, 4), "S5": (2,)}
    assert "S4" not in support  # it names no descriptor states


def test_keeping_last_rounds_row_keeps_its_potential_cells(
    session: Session, first_study_definition: SurveyDefinition, facilitator_user: User
) -> None:
    world = seeded_micmac_study(session, first_study_definition, facilitator_user)
    expert = world.experts[1]  # said P for ECON -> SANC, as the draft does
    econ = next(i for i in world.study.items if i.key == "ECON")
    kept = answers.keep_previous(session, expert, world.open, [econ], now=NOW + timedelta(days=1))
    assert "ECON" in kept.results and kept.errors == {}
    current = session.scalars(
        select(Answer).where(
            Answer.participation_id == expert.id,
            Answer.round_id == world.open.id,
            Answer.is_current.is_(True),
        )
    ).one()
    assert current.value_json is not None and current.value_json["_potential"] == ["SANC"]
