"""Feedback and report histograms: whole-number bars for whole-number answers, round ticks."""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict
from types import SimpleNamespace

import numpy as np
import pytest
from flask import Flask
from flask_babel import force_locale

from analysis.describe import ScaleSpec, chart_histogram
from app.reports.charts import RoundDistribution, distribution_svg
from app.templating import histogram_chart, round_ticks

# pages and texts, the same on any database: the PostgreSQL pass skips them
pytestmark = pytest.mark.once


def _part(bins: list[dict[str, float]]) -> SimpleNamespace:
    return SimpleNamespace(histogram=bins, q1=None, q3=None, median=None, own=None)


def test_round_ticks_never_fall_between_round_values() -> None:
    assert round_ticks(0, 145.4) == [0, 100, 145.4]  # not the middle, 72.7
    assert round_ticks(0, 100, whole=True) == [0, 50, 100]
    assert round_ticks(0, 3, whole=True) == [0, 2, 3]  # whole numbers only
    assert all(float(t).is_integer() for t in round_ticks(1, 7, whole=True, count=5))


def test_feedback_chart_of_whole_number_answers_has_a_bar_and_a_tick_per_value(
    app: Flask,
) -> None:
    bins = [asdict(b) for b in chart_histogram([0, 1, 1, 2, 2, 2], ScaleSpec("continuous"))]
    with app.test_request_context(), force_locale("en"):
        chart = histogram_chart(_part(bins))
        edges = np.linspace(0, 145.4, 11)
        odd = histogram_chart(
            _part(
                [
                    {"low": float(lo), "high": float(hi), "count": 1}
                    for lo, hi in itertools.pairwise(edges)
                ]
            )
        )
    assert chart is not None and odd is not None
    assert [t.text for t in chart.ticks] == ["0", "1", "2"]
    assert [b.count for b in chart.bars] == [1, 2, 3]
    assert "72.7" not in [t.text for t in odd.ticks]
    assert "100" in [t.text for t in odd.ticks]


def test_report_histogram_of_whole_number_answers_labels_whole_numbers(app: Flask) -> None:
    bins = [asdict(b) for b in chart_histogram([0, 1, 4, 25, 40], ScaleSpec("continuous"))]
    row = RoundDistribution("R1", bins, median=4, q1=1, q3=25, final=True)
    with app.test_request_context():
        svg = distribution_svg([row], title="years")
    ticks = re.findall(r'text-anchor="middle" fill="[^"]+">([^<]+)</text>', svg)
    assert ticks and all(t.isdigit() for t in ticks), ticks
