"""Rankings of events: hand-worked orders, quadrants, properties, long data and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.cli import main
from analysis.errors import InputError
from analysis.pooling import pool
from analysis.ranking import (
    QUADRANTS,
    RANK_BY,
    EventFigures,
    figures_from_long,
    impact_reference,
    rank_events,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "analysis" / "examples" / "answers.csv")

#: on a -3..+3 impact scale (neutral 0, largest impact 3)
EVENTS = [
    EventFigures("A", 0.9, 1.0),  # expected 0.9
    EventFigures("B", 0.2, -3.0),  # expected -0.6: the largest impact, but unlikely
    EventFigures("C", 0.6, 2.0),  # expected 1.2
    EventFigures("D", 0.1, 0.5),  # expected 0.05
    EventFigures("E", 0.5, None),  # no impact shown (fewer than k answers)
]


def _keys(rank_by: str, **options: object) -> list[str]:
    ranking = rank_events(EVENTS, rank_by, largest_impact=3.0, **options)  # type: ignore[arg-type]
    return [e.key for e in ranking.events]


def test_each_ranking_by_hand() -> None:
    assert _keys("probability") == ["A", "C", "E", "B", "D"]
    assert _keys("impact") == ["B", "C", "A", "D"]
    # by expected impact C leads; by median impact alone B would
    assert _keys("expected_impact") == ["C", "A", "B", "D"]
    # C high-high; B low probability, high impact; A high probability, low impact; D low-low
    assert _keys("quadrant") == ["C", "B", "A", "D"]


def test_figures_and_unranked_events() -> None:
    ranking = rank_events(EVENTS, "expected_impact", largest_impact=3.0)
    by_key = {e.key: e for e in ranking.events}
    assert by_key["B"].expected_impact == pytest.approx(-0.6)  # the sign stays
    assert by_key["C"].quadrant == "high_probability_high_impact"
    assert by_key["B"].quadrant == "low_probability_high_impact"
    assert by_key["A"].quadrant == "high_probability_low_impact"
    assert by_key["D"].quadrant == "low_probability_low_impact"
    assert [e.rank for e in ranking.events] == [1, 2, 3, 4]
    assert ranking.unranked == ("E",)
    assert (ranking.probability_threshold, ranking.impact_threshold) == (0.5, 1.5)
    assert ranking.as_dict()["events"][0] == {
        "rank": 1,
        "key": "C",
        "probability": 0.6,
        "impact": 2.0,
        "expected_impact": pytest.approx(1.2),
        "quadrant": "high_probability_high_impact",
    }


def test_median_split_uses_the_panels_medians() -> None:
    ranking = rank_events(EVENTS, "quadrant", split="median")
    # medians over A-D: probabilities 0.1, 0.2, 0.6, 0.9 -> 0.4; sizes 0.5, 1, 2, 3 -> 1.5
    assert ranking.probability_threshold == pytest.approx(0.4)
    assert ranking.impact_threshold == pytest.approx(1.5)
    lifted = [EventFigures("A", 0.9, 1.0), EventFigures("B", 0.8, 2.0), EventFigures("C", 0.7, 3)]
    quadrants = {e.key: e.quadrant for e in rank_events(lifted, "quadrant", split="median").events}
    # all likely by the scale's midpoint; the medians (0.8, 2) still separate them
    assert quadrants == {
        "A": "high_probability_low_impact",
        "B": "high_probability_high_impact",
        "C": "low_probability_high_impact",
    }


def test_one_sided_impact_scales_measure_from_the_low_end() -> None:
    assert impact_reference(-3, 3, bipolar=True) == (0.0, 3.0)
    assert impact_reference(1, 9, bipolar=False) == (1.0, 8.0)
    neutral, largest = impact_reference(1, 9, bipolar=False)
    events = [EventFigures("low", 0.9, 1.0), EventFigures("high", 0.5, 5.0)]
    ranking = rank_events(events, "expected_impact", neutral=neutral, largest_impact=largest)
    assert [(e.key, e.expected_impact) for e in ranking.events] == [("high", 2.0), ("low", 0.0)]
    assert ranking.events[0].quadrant == "high_probability_high_impact"  # 5 is the midpoint


def test_bad_input_is_refused() -> None:
    with pytest.raises(InputError, match="rank_by must be one of expected_impact, probability"):
        rank_events(EVENTS, "median", largest_impact=3.0)
    with pytest.raises(InputError, match="split must be one of scale, median"):
        rank_events(EVENTS, split="mean", largest_impact=3.0)
    with pytest.raises(InputError, match="event A appears twice"):
        rank_events([EVENTS[0], EVENTS[0]], largest_impact=3.0)
    with pytest.raises(InputError, match=r"probability 1.5 is outside 0\.\.1"):
        rank_events([EventFigures("X", 1.5, 1.0)], largest_impact=3.0)
    with pytest.raises(InputError, match="needs the largest possible impact"):
        rank_events(EVENTS)


events_strategy = st.lists(
    st.builds(
        EventFigures,
        key=st.text("ABCDEFGHIJ", min_size=1, max_size=3),
        probability=st.none() | st.floats(0, 1),
        impact=st.none() | st.floats(-3, 3),
    ),
    max_size=12,
    unique_by=lambda e: e.key,
)


@settings(max_examples=200, deadline=None)
@given(events=events_strategy, rank_by=st.sampled_from(RANK_BY), data=st.data())
def test_ranking_properties(events: list[EventFigures], rank_by: str, data: st.DataObject) -> None:
    ranking = rank_events(events, rank_by, largest_impact=3.0)
    ranked = [e.key for e in ranking.events]
    # every event is ranked once or left out, and ranks run 1..n
    assert sorted(ranked + list(ranking.unranked)) == sorted(e.key for e in events)
    assert [e.rank for e in ranking.events] == list(range(1, len(ranked) + 1))
    # the order does not depend on the order the events came in
    shuffled = data.draw(st.permutations(events))
    assert [e.key for e in rank_events(shuffled, rank_by, largest_impact=3.0).events] == ranked
    figures = ranking.events
    if rank_by == "expected_impact":
        sizes = [abs(e.expected_impact or 0.0) for e in figures]
        assert sizes == sorted(sizes, reverse=True)
    if rank_by == "quadrant":
        order = [QUADRANTS.index(e.quadrant or "") for e in figures]
        assert order == sorted(order)
    if rank_by == "probability":
        values = [e.probability or 0.0 for e in figures]
        assert values == sorted(values, reverse=True)


def test_figures_from_long_data_pool_and_take_medians() -> None:
    frame = pd.read_csv(EXAMPLE, dtype={"expert": str, "item": str, "question": str})
    figures = {f.key: f for f in figures_from_long(frame, probability="likely", impact="impact")}
    last = frame[(frame["round"] == 2) & (frame["item"] == "E01")]
    shares = last.loc[last["question"] == "likely", "value"].to_numpy() / 100
    assert figures["E01"].probability == pytest.approx(pool(shares, method="logodds").p)
    ratings = last.loc[last["question"] == "impact", "value"].to_numpy()
    assert figures["E01"].impact == pytest.approx(float(np.median(ratings)))
    first = figures_from_long(frame, probability="likely", impact="impact", round_=1)
    assert [f.key for f in first] == ["E01", "E02", "E03"]
    with pytest.raises(InputError, match="question 'risk' is not in the data"):
        figures_from_long(frame, probability="risk", impact="impact")
    with pytest.raises(InputError, match="round 7 is not in the data"):
        figures_from_long(frame, probability="likely", impact="impact", round_=7)


def test_cli_rank_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "rank",
        EXAMPLE,
        "--scale",
        "impact=likert:1:9:agree=7..9",
        "--scale",
        "likely=probability",
        "--probability",
        "likely",
        "--impact",
        "impact",
    ]
    assert main(argv) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["rank_by"] == "expected_impact" and body["neutral"] == 1.0
    assert [e["key"] for e in body["events"]] == ["E01", "E02", "E03"]
    expected = [e["expected_impact"] for e in body["events"]]
    assert expected == sorted(expected, reverse=True)
    assert main([*argv, "--rank-by", "probability", "--round", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["rank_by"] == "probability"
    open_scale = [*argv[:2], "--scale", "impact=continuous", *argv[4:]]
    assert main(open_scale) == 2
    assert "give the impact scale with its ends" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*argv, "--rank-by", "median"])
