"""Named scenarios in words and the top configurations grouped by them; whole-number bars."""

from __future__ import annotations

import numpy as np

from analysis.describe import ScaleSpec, chart_histogram, histogram, integer_histogram
from analysis.scenarios.assemble import RankedScenario
from analysis.scenarios.words import Clause, clauses, group_top

NAMED = {
    "S1": "E01",
    "S2": "not E01 and not E21 and not E22",
    "S4": "E06 and not E21",
    "S5": "not E01 and (E22 or E30)",
}


def test_a_definition_splits_into_conditions_a_reader_can_state() -> None:
    assert clauses("E06 and not E21") == (Clause("happens", ("E06",)), Clause("not", ("E21",)))
    assert clauses("not E01 and (E22 or E30 or E34)") == (
        Clause("not", ("E01",)),
        Clause("any", ("E22", "E30", "E34")),
    )
    assert clauses("not (E02 or E03)") == (Clause("none", ("E02", "E03")),)
    # what has no plain wording is kept as written
    (rest,) = clauses("E01 or (E02 and E03)")
    assert rest.kind == "text" and rest.text == "E01 or E02 and E03"


def _top(*rows: tuple[str, ...], p: float = 0.01) -> tuple[RankedScenario, ...]:
    return tuple(
        RankedScenario(rank=i + 1, occurring=row, probability=p / (i + 1), lower=None, upper=None)
        for i, row in enumerate(rows)
    )


def test_top_configurations_are_grouped_by_the_named_scenarios_they_fall_in() -> None:
    events = ("E01", "E06", "E21", "E22", "E30")
    top = _top(("E01", "E06"), (), ("E06",), ("E01",), ("E22", "E06"), ("E21",))
    groups = group_top(top, NAMED, events)
    by_named = {g.named: g.ranks for g in groups}
    assert by_named == {
        ("S1", "S4"): (1,),
        ("S2",): (2,),
        ("S2", "S4"): (3,),
        ("S1",): (4,),
        ("S4", "S5"): (5,),
        (): (6,),  # E21 alone: no alliance, a US deal, Russia stays: none of them
    }
    assert [min(g.ranks) for g in groups] == sorted(min(g.ranks) for g in groups)
    assert sum(g.probability for g in groups) == sum(s.probability for s in top)


def test_a_scenario_on_events_the_method_left_out_cannot_be_told() -> None:
    groups = group_top(_top(("E01",), ("E06",)), NAMED, ("E01", "E06"))
    first, second = groups
    assert first.named == ("S1",) and first.unsure == ()
    # E06 without knowing E21: S4 might hold; S2 and S5 need E21/E22/E30 too
    assert second.named == () and set(second.unsure) == {"S2", "S4", "S5"}


def test_whole_number_answers_get_whole_number_bars() -> None:
    # years: few values, one bar each, never "0-0.2"
    bins = chart_histogram([0, 1, 1, 2, 2, 2], ScaleSpec("continuous"))
    assert [(b.low, b.high, b.label, b.count) for b in bins] == [
        (0, 0, "0", 1),
        (1, 1, "1", 2),
        (2, 2, "2", 3),
    ]
    # a wide range: round widths starting at a multiple of the width
    wide = chart_histogram([3, 17, 47, 47], ScaleSpec("continuous"))
    assert [b.label for b in wide][:3] == ["0-4", "5-9", "10-14"]
    assert all(float(b.low).is_integer() and float(b.high).is_integer() for b in wide)
    assert sum(b.count for b in wide) == 4 and wide[-1].label == "45-49"
    # the top of a bounded scale ends the last bar, as 100 does on probability scales
    index = integer_histogram(np.array([0, 55, 100]), 0, 100)
    assert len(index) == 10 and index[-1].label == "90-100" and index[-1].count == 1
    # fractions keep equal bands; stability's bands never change with whole answers
    assert chart_histogram([0.5, 1.25], ScaleSpec("continuous"))[0].label != "0"
    assert len(histogram([0, 1, 2], ScaleSpec("continuous"))) == 10
