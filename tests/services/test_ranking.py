"""The ranking service: figures from the final snapshots, recomputed from the raw answers."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy.orm import Session

from analysis.errors import InputError
from analysis.pooling import pool
from app.models import NotFoundError, Study, User
from app.services.ranking import event_ranking, impact_question
from app.services.snapshots import POOLING_EPS
from app.services.tidy import tidy_answers
from tests.reports.helpers import scripted_study


def _last(session: Session, study: Study, item: str, question: str, part: str) -> np.ndarray:
    frame = tidy_answers(session, study)
    rows = frame[
        (frame["round"] == frame["round"].max())
        & (frame["item"] == item)
        & (frame["question"] == question)
        & (frame["part"] == part)
        & frame["value"].notna()
    ]
    return rows["value"].astype(float).to_numpy()


def test_expected_impact_from_the_raw_answers(
    session: Session, example_study: Study, facilitator_user: User
) -> None:
    scripted_study(session, example_study, facilitator_user)
    question = impact_question(example_study)
    assert question is not None and question.key == "impact"
    result = event_ranking(session, example_study)
    assert result.impact_question == "impact" and result.round_number == 2
    by_key = {e.key: e for e in result.ranking.events}
    p = pool(_last(session, example_study, "E01", "probability", "") / 100, eps=POOLING_EPS).p
    impact = float(np.median(_last(session, example_study, "E01", "impact", "")))
    assert by_key["E01"].probability == pytest.approx(p, abs=1e-9)
    assert by_key["E01"].impact == pytest.approx(impact)
    assert by_key["E01"].expected_impact == pytest.approx(p * impact, abs=1e-9)
    # E02 asks by 2030, 2035 and 2040: the horizon's (2040) probability is the one ranked
    p2 = pool(_last(session, example_study, "E02", "timing", "2040") / 100, eps=POOLING_EPS).p
    assert by_key["E02"].probability == pytest.approx(p2, abs=1e-9)
    body = result.as_dict()
    assert body["rank_by"] == "expected_impact" and body["events"][0]["round"] == 2
    first = event_ranking(session, example_study, 1, rank_by="quadrant", split="median")
    assert first.round_number == 1 and first.ranking.split == "median"
    with pytest.raises(InputError, match="rank_by must be one of"):
        event_ranking(session, example_study, rank_by="risk")


def test_no_closed_round_no_ranking(session: Session, example_study: Study) -> None:
    with pytest.raises(NotFoundError):
        event_ranking(session, example_study)
