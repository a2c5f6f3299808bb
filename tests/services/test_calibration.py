"""Cooke's model and the three weightings through the app, on the demo study and a TU Delft case."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.models import Round, RoundState, Study, User
from app.services import calibration, demo, resolutions
from tests.conftest import NOW


@pytest.fixture
def demo_study(session: Session, first_study_definition: Any, facilitator_user: User) -> Study:
    """The demo study: two closed rounds of simulated answers, round 3 open."""
    links = demo.load_demo(session, first_study_definition, admin=facilitator_user, now=NOW)
    session.commit()
    return links.study


def _round(study: Study, number: int) -> Round:
    return next(r for r in study.rounds if r.number == number) if hasattr(study, "rounds") else None  # type: ignore[return-value]


def test_demo_scores_five_seeds_and_warns(session: Session, demo_study: Study) -> None:
    result = calibration.score_panel(session, demo_study)
    assert result.seeds == ("C01", "C02", "C03", "C04", "C05")
    assert result.few_seeds
    assert any("Only 5 calibration items" in str(n) for n in result.notes)
    assert result.n_scored >= demo_study.k and result.per_expert_shown
    assert sum(e.weight for e in result.experts) == pytest.approx(1.0)
    assert result.alpha is not None and 0 <= result.alpha <= 1
