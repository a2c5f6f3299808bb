"""Trend estimates scored against realised values: pinball loss and interval hits (demo study)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.models import Study
from app.services import resolutions, results, trend_scores
from app.services.tidy import tidy_answers
from tests.conftest import NOW
from tests.services.test_calibration import demo_study  # noqa: F401 - the fixture

#: recording a value for the horizon year needs a clock past it
LATER = NOW.replace(year=2036)


def _loss(quantiles: list[float], levels: list[float], y: float) -> float:
    """The pinball loss written out by its definition (an independent oracle)."""
    total = 0.0
    for q, tau in zip(quantiles, levels, strict=True):
        total += tau * (y - q) if y >= q else (1 - tau) * (q - y)
    return total / len(levels)


def _record(session: Session, study: Study, key: str, year: int, value: float) -> None:
    resolutions.record_trend_value(
        session,
        study,
        key,
        year=year,
        value=value,
        source="statistics office",
        actor=None,
        now=LATER,
    )


def test_nothing_is_scored_before_a_value_for_the_horizon(
    session: Session,
    demo_study: Study,  # noqa: F811
) -> None:
    last = results.closed_snapshots(session, demo_study)[-1][0]
    _record(session, demo_study, "T01", 2030, 70.0)
    scored = trend_scores.score_trends(session, demo_study, last)
    assert scored.targets == () and scored.experts == ()
    notes = " ".join(str(n) for n in scored.notes)
    assert "No trend has a realised value for 2035" in notes
    assert "other than 2035 are kept but score nothing" in notes


def test_panel_and_pseudonyms_are_scored_by_pinball_loss_and_hits(
    session: Session,
    demo_study: Study,  # noqa: F811
) -> None:
    closed = results.closed_snapshots(session, demo_study)
    last = closed[-1][0]
    _record(session, demo_study, "T01", 2035, 81.0)
    scored = trend_scores.score_trends(session, demo_study, last)
    assert [t.item for t in scored.targets] == ["T01"]
    target = scored.targets[0]
    assert target.levels == (0.05, 0.5, 0.95) and target.coverage == pytest.approx(0.9)
    # the panel's estimate: the frozen median at each level of the round that asked T01
    asked = next(d for r, d in reversed(closed) if "T01" in d.items)
    parts = asked.items["T01"].questions["trend_index"].parts
    panel = [parts[p].median for p in ("5", "50", "95")]
    assert target.panel == pytest.approx(tuple(panel))
    assert target.pinball == pytest.approx(_loss(panel, [0.05, 0.5, 0.95], 81.0))
    assert target.inside == (panel[0] <= 81.0 <= panel[2])
    # each pseudonym's loss from its own answers
    frame = tidy_answers(session, demo_study, [r for r, _d in closed if r.number == target.round])
    rows = frame[(frame["item"] == "T01") & frame["value"].notna()]
    assert scored.per_expert_shown and len(scored.experts) == target.n >= demo_study.k
    for expert in scored.experts:
        mine = rows[rows["expert"] == expert.pseudonym]
        answer = dict(zip(mine["part"], mine["value"].astype(float), strict=True))
        quantiles = [answer[p] for p in ("5", "50", "95")]
        assert expert.pinball["T01"] == pytest.approx(_loss(quantiles, [0.05, 0.5, 0.95], 81.0))
        assert expert.hits == int(quantiles[0] <= 81.0 <= quantiles[2])
    body: dict[str, Any] = scored.as_dict()
    assert body["panel"]["n"] == 1 and body["year"] == 2035


def test_a_panel_under_k_shows_the_panel_only(
    session: Session,
    demo_study: Study,  # noqa: F811
) -> None:
    last = results.closed_snapshots(session, demo_study)[-1][0]
    _record(session, demo_study, "T02", 2035, 6.0)
    demo_study.k = 1000  # more than the panel
    scored = trend_scores.score_trends(session, demo_study, last)
    assert not scored.per_expert_shown and scored.experts == ()
    assert scored.as_dict()["experts"] == []
    assert any("only the panel's scores" in str(n) for n in scored.notes)
