"""Cooke's settings read from the study's [analysis] table: minimum seeds, fixed or optimised
alpha (against anduryl on a TU Delft case), and the log score's clipping."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis.cooke import read_excalibur
from app.definitions import parse_definition
from app.models import Participation, Study, User
from app.services import calibration, forecast_scores, results, studies
from tests.conftest import NOW
from tests.services.test_calibration import FIXTURES, HERE, _answer_case, _case_survey


@pytest.fixture
def arkansas(session: Session, facilitator_user: User) -> Study:
    """The Arkansas case: four experts, ten realised seeds, round 1 closed."""
    case = read_excalibur(
        HERE / "data" / "cooke" / "Arkansas.dtt", HERE / "data" / "cooke" / "Arkansas.rls"
    )
    study = studies.import_study(
        session, parse_definition(_case_survey(case), "case.toml"), actor=facilitator_user, now=NOW
    )
    _answer_case(session, study, case, facilitator_user)
    return study


def _set(session: Session, study: Study, **settings: Any) -> None:
    """Give the study an [analysis] table, as its survey file would."""
    study.definition = {**study.definition, "analysis": settings}
    session.flush()


def test_a_fixed_alpha_of_zero_matches_anduryl(session: Session, arkansas: Study) -> None:
    _set(session, arkansas, cooke_alpha="fixed", cooke_fixed_alpha=0.0)
    result = calibration.score_panel(session, arkansas)
    reference = FIXTURES["cases"]["Arkansas"]["decision_makers"]["global_alpha0"]
    assert not result.alpha_optimised and result.alpha == 0.0
    assert result.as_dict()["alpha_optimised"] is False
    by_pseudonym = {e.pseudonym: e.weight for e in result.experts}
    # pseudonyms in the order the case's experts joined the panel
    joined = session.scalars(
        select(Participation.pseudonym)
        .where(Participation.study_id == arkansas.id)
        .order_by(Participation.id)
    ).all()
    for e, pseudonym in enumerate(joined):
        assert by_pseudonym[pseudonym] == pytest.approx(
            reference["expert_global_weights"][e], abs=1e-6
        )
    assert result.dm_calibration == pytest.approx(reference["calibration"], abs=1e-6)
    assert result.dm_information == pytest.approx(reference["information_seed"], abs=1e-6)


def test_a_fixed_alpha_above_every_expert_gives_no_weights_and_says_so(
    session: Session, arkansas: Study
) -> None:
    _set(session, arkansas, cooke_alpha="fixed", cooke_fixed_alpha=1.0)
    result = calibration.score_panel(session, arkansas)
    assert all(e.weight == 0.0 for e in result.experts)
    assert result.dm_calibration is None
    assert any("fixed significance level" in str(n) for n in result.notes)
    last = results.closed_snapshots(session, arkansas)[-1][0]
    pooling = calibration.weighted_pooling(session, arkansas, last)
    assert all(row.pooled["performance"] is None for row in pooling.rows)


def test_the_minimum_seed_count_and_log_clipping_come_from_the_settings(
    session: Session, arkansas: Study
) -> None:
    assert not calibration.score_panel(session, arkansas).few_seeds  # ten seeds, default 8
    _set(session, arkansas, cooke_min_seeds=12, log_score_eps=0.01)
    result = calibration.score_panel(session, arkansas)
    assert result.few_seeds and result.min_seeds == 12
    assert result.as_dict()["min_seeds"] == 12
    assert any("wants at least 12" in str(n) for n in result.notes)
    last = results.closed_snapshots(session, arkansas)[-1][0]
    assert forecast_scores.score_round(session, arkansas, last).eps == 0.01
