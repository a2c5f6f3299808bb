"""The study's analysis settings choose the Wilcoxon computation and the default ranking."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from analysis.errors import InputError
from analysis.settings import AnalysisSettings
from app.models import Study, User
from app.services import results
from app.services.ranking import event_ranking
from tests.reports.helpers import scripted_study


def test_defaults_and_refusals() -> None:
    settings = AnalysisSettings()
    assert (settings.wilcoxon, settings.wilcoxon_exact_up_to) == ("auto", 200)
    assert (settings.rank_by, settings.quadrant_split) == ("expected_impact", "scale")
    with pytest.raises(InputError, match="'wilcoxon': must be one of auto, exact, normal"):
        AnalysisSettings.from_mapping({"wilcoxon": "approx"})
    with pytest.raises(InputError, match="'rank_by': must be one of expected_impact"):
        AnalysisSettings.from_mapping({"rank_by": "risk"})
    with pytest.raises(InputError, match="'wilcoxon_exact_up_to': must be between 0 and 1000"):
        AnalysisSettings.from_mapping({"wilcoxon_exact_up_to": 5000})


def test_a_study_that_asks_for_the_normal_approximation_gets_it(
    session: Session, example_study: Study, facilitator_user: User
) -> None:
    example_study.definition = {
        **example_study.definition,
        "analysis": {"wilcoxon": "normal", "rank_by": "probability", "quadrant_split": "median"},
    }
    session.flush()
    scripted_study(session, example_study, facilitator_user)
    second = results.closed_snapshots(session, example_study)[-1][1]
    assert second.wilcoxon is not None
    assert (second.wilcoxon.method, second.wilcoxon.exact_up_to) == ("normal", 200)
    methods = {
        part.stability.wilcoxon_method
        for item in second.items.values()
        for question in item.questions.values()
        for part in question.parts.values()
        if part.stability is not None
    }
    assert "normal" in methods and "exact" not in methods
    ranking = event_ranking(session, example_study)
    assert (ranking.ranking.rank_by, ranking.ranking.split) == ("probability", "median")
    chances = [e.probability or 0.0 for e in ranking.ranking.events]
    assert chances == sorted(chances, reverse=True)
    assert event_ranking(session, example_study, rank_by="impact").ranking.rank_by == "impact"
