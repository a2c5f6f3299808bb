"""Consensus rules as data: parsing, presets, three-valued verdicts, the side-by-side table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.consensus import PRESETS, compare_presets, evaluate, parse_rule
from analysis.describe import ScaleSpec, describe, describe_long
from analysis.errors import InputError

NINE = ScaleSpec("likert", 1, 9, agree_region=(7, 9))


def test_parse_rule_keeps_text_and_checks_names() -> None:
    rule = parse_rule("pct_agree >= 0.75 and iqr <= 1", name="mine")
    assert rule.name == "mine" and str(rule) == "pct_agree >= 0.75 and iqr <= 1"
    assert parse_rule("changed_share < 0.15 and not dissensus").expression.names == {
        "changed_share",
        "dissensus",
    }
    with pytest.raises(InputError, match="unknown name pct_agre "):
        parse_rule("pct_agre >= 0.75")


def test_presets_have_label_description_citation() -> None:
    assert set(PRESETS) == {"percent_iqr", "grade", "rand_ucla", "cv"}
    for preset in PRESETS.values():
        assert preset.label and preset.description and preset.citation
        preset.rule()  # parses
    assert str(PRESETS["percent_iqr"].rule("probability")) == "pct_agree >= 0.75 and iqr <= 20"
    assert str(PRESETS["percent_iqr"].rule("continuous")) == "pct_agree >= 0.75 and iqr <= 1"


def test_presets_on_a_clear_consensus_and_a_split() -> None:
    agreeing = describe([8, 8, 9, 8, 7, 8, 9, 8, 8, 7], NINE)
    split = describe([1, 1, 2, 1, 9, 9, 8, 9, 5, 1], NINE)
    for key in ("percent_iqr", "grade", "rand_ucla", "cv"):
        assert evaluate(PRESETS[key].rule(), agreeing) is True, key
        assert evaluate(PRESETS[key].rule(), split) is False, key


def test_grade_by_hand() -> None:
    # 7 of 10 agree (7-9), 2 of 10 in the opposite region (1-3): 20 % > 15 %
    stats = describe([7, 8, 9, 7, 8, 9, 7, 1, 2, 5], NINE)
    assert stats.pct_agree == pytest.approx(0.7) and stats.pct_disagree == pytest.approx(0.2)
    assert evaluate(PRESETS["grade"].rule(), stats) is False
    stats = describe([7, 8, 9, 7, 8, 9, 7, 1, 5, 5], NINE)
    assert evaluate(PRESETS["grade"].rule(), stats) is True


def test_undefined_statistics_cannot_tell() -> None:
    bipolar = describe([1, 1, 2, 1], ScaleSpec("likert", -3, 3, bipolar=True))
    assert evaluate(PRESETS["cv"].rule(), bipolar) is None
    # GRADE without an agree region: there is no opposite region
    assert evaluate(PRESETS["grade"].rule(), describe([4, 4, 5], ScaleSpec("likert", 1, 5))) is None
    assert evaluate(parse_rule("iqr <= 1"), {"iqr": None}) is None


def test_compare_presets_side_by_side_matches_evaluate() -> None:
    rng = np.random.default_rng(8)
    rows = []
    for item in ("E1", "E2", "E3", "E4"):
        spread = {"E1": 0, "E2": 1, "E3": 3, "E4": 4}[item]
        for expert in range(12):
            value = float(np.clip(8 + rng.integers(-spread, spread + 1), 1, 9))
            rows.append((1, f"x{expert}", item, "impact", value))
            rows.append((1, f"x{expert}", item, "likely", float(rng.integers(40, 61))))
    df = pd.DataFrame(rows, columns=["round", "expert", "item", "question", "value"])
    scales = {"impact": NINE, "likely": ScaleSpec("probability")}
    table = describe_long(df, scales)
    rules = {**PRESETS, "strict": parse_rule("pct_agree >= 0.9")}
    side = compare_presets(table, rules, scales=scales)
    assert list(side.columns) == ["round", "item", "question", *PRESETS, "strict"]
    for index, row in table.iterrows():
        cell = df[(df["item"] == row["item"]) & (df["question"] == row["question"])]["value"]
        stats = describe(cell, scales[row["question"]])
        for key, preset in PRESETS.items():
            expected = evaluate(preset.rule(scales[row["question"]].kind), stats)
            got = side.loc[index, key]
            assert (got is pd.NA and expected is None) or bool(got) is expected, (key, row["item"])


def test_compare_presets_suppressed_rows_cannot_tell() -> None:
    df = pd.DataFrame(
        [(1, f"x{i}", "E1", "impact", 8.0) for i in range(3)],
        columns=["round", "expert", "item", "question", "value"],
    )
    table = describe_long(df, {"impact": NINE}, k=5)
    side = compare_presets(table, {"p": PRESETS["percent_iqr"]})
    assert side.loc[0, "p"] is pd.NA
