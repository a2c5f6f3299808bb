"""The first study's file (surveys/iran_russia_us.toml) as revised from its paper."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from analysis.expressions import parse_expression
from app.definitions import ItemKind, SurveyDefinition, load_definition

FIRST_STUDY = Path(__file__).parents[2] / "surveys" / "iran_russia_us.toml"


@pytest.fixture(scope="module")
def definition() -> SurveyDefinition:
    """The parsed study file."""
    return load_definition(FIRST_STUDY)


def test_every_item_says_by_when_and_where_it_resolves(definition: SurveyDefinition) -> None:
    # structural variables, actors and descriptors are not forecasts: nothing about them resolves
    unresolved = [
        i.key
        for i in definition.items
        if i.kind not in (ItemKind.VARIABLE, ItemKind.ACTOR, ItemKind.DESCRIPTOR)
        and (i.resolves_by is None or not i.resolution_source)
    ]
    assert unresolved == []
    for event in definition.events:
        assert event.resolves_by is not None and event.resolves_by.year == definition.study.horizon


def test_calibration_asks_published_quantities_not_years(definition: SurveyDefinition) -> None:
    seeds = [i for i in definition.items if i.kind is ItemKind.CALIBRATION]

    def is_year(value: float | None) -> bool:
        return value is not None and value.is_integer() and 1900 <= value <= 2100

    quantities = [i for i in seeds if not is_year(i.true_value)]
    assert len(quantities) >= 10
    assert [i.key for i in seeds if is_year(i.true_value)] == []


def test_the_revision_adds_the_developments_the_paper_discusses(
    definition: SurveyDefinition,
) -> None:
    keys = {event.key for event in definition.events}
    assert {f"E{n:02d}" for n in range(1, 35)} == keys
    # the burden of the expert round is unchanged: the same six key events, 30 pairs
    assert len(definition.conditional_pairs) == 30


def test_s1_is_the_papers_alliance_and_four_scenarios_split_every_outcome(
    definition: SurveyDefinition,
) -> None:
    scenarios = {s.key: parse_expression(s.expression) for s in definition.scenarios}
    assert definition.scenarios[0].key == "S1" and definition.scenarios[0].expression == "E01"
    partition = [scenarios[k] for k in ("S1", "S2", "S3", "S5")]
    names = sorted(set().union(*(e.names for e in partition)))
    for values in itertools.product((False, True), repeat=len(names)):
        world = dict(zip(names, values, strict=True))
        assert sum(bool(e.evaluate(world)) for e in partition) == 1, world
