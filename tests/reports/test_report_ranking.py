"""The report's expected-impact ranking: pooled probability x median impact, largest first."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from app.models import Study, User, utcnow
from app.reports import render
from app.reports.data import build_report
from tests.reports.helpers import scripted_study


def test_expected_impact_ranks_by_probability_times_impact(
    app: Flask, session: Session, example_study: Study, facilitator_user: User
) -> None:
    scripted = scripted_study(session, example_study, facilitator_user)
    with app.test_request_context():
        report = build_report(session, scripted.study, now=utcnow(), with_results=False)
        lines = render.event_lines(report)
        ranked = render.expected_impact_lines(report, lines)
        labels = render.quadrant_labels()
    assert report.ranking is not None and report.ranking.impact_question == "impact"
    assert ranked, "the example's events have probabilities and impacts"
    by_key = {line.key: line for line in lines}
    for row in ranked:
        # the same figures the report lists: headline pooled probability and median impact
        assert row.probability == pytest.approx(by_key[row.key].probability)
        assert row.impact == pytest.approx(by_key[row.key].impact)
        assert row.expected == pytest.approx(row.probability / 100 * row.impact)
        assert row.quadrant in labels
    sizes = [abs(row.expected) for row in ranked]
    assert sizes == sorted(sizes, reverse=True)
    assert {row.key for row in ranked} == {line.key for line in lines if line.impact is not None}
