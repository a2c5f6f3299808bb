"""Item statistics: each against an independent oracle (numpy, scipy, diptest) or a hand value."""

from __future__ import annotations

import math

import diptest
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.describe import (
    LOGIT_EPS,
    STAT_NAMES,
    ScaleSpec,
    describe,
    describe_long,
    histogram,
)
from analysis.dip import dip_statistic, dip_test
from analysis.errors import InputError
from analysis.quantiles import NUMPY_NAMES, QUANTILE_METHODS, quantile

NINE = ScaleSpec("likert", 1, 9, agree_region=(7, 9))
FIVE = ScaleSpec("likert", 1, 5)
PROBABILITY = ScaleSpec("probability")


# --- quantiles ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", QUANTILE_METHODS)
def test_quantile_types_match_numpy(method: str) -> None:
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 4, 5, 10, 11, 37):
        for sample in (rng.normal(size=n), rng.integers(1, 6, size=n).astype(float)):
            for p in (0.0, 0.1, 0.25, 0.3, 0.5, 0.7, 0.75, 0.9, 1.0):
                expected = np.quantile(sample, p, method=NUMPY_NAMES[method])  # type: ignore[call-overload]
                assert quantile(sample, p, method) == pytest.approx(expected, abs=1e-12)


def test_quantile_method_by_name_changes_quartiles() -> None:
    values = [1, 2, 3, 4, 5, 6, 7, 8]
    assert describe(values, NINE).q1 == 2.75  # R type 7
    assert describe(values, NINE, quantile_method="type6").q1 == 2.25  # SPSS
    with pytest.raises(InputError, match="unknown quantile method 'spss'"):
        describe(values, NINE, quantile_method="spss")


# --- centre, spread, agreement ---------------------------------------------------------------


def test_basic_statistics_match_numpy() -> None:
    values = np.array([7, 8, 9, 9, 8, 7, 1, 2, 8, 9], dtype=float)
    result = describe(values, NINE)
    assert result.n == 10
    assert result.mean == pytest.approx(values.mean())
    assert result.median == 8.0
    assert result.sd == pytest.approx(values.std(ddof=1))
    assert result.iqr == pytest.approx(np.quantile(values, 0.75) - np.quantile(values, 0.25))
    assert result.pct_agree == pytest.approx(0.8)  # 7-9 region
    assert result.pct_disagree == pytest.approx(0.2)  # mirror region 1-3
    assert result.cv == pytest.approx(values.std(ddof=1) / values.mean())


def test_missing_answers_are_skipped() -> None:
    assert describe([1, np.nan, 3], FIVE).n == 2


def test_default_agreement_is_within_one_point_or_ten_percentage_points() -> None:
    assert describe([3, 4, 4, 5, 1], FIVE).pct_agree == pytest.approx(0.8)
    assert describe([50, 60, 61, 39, 41], PROBABILITY).pct_agree == pytest.approx(0.6)
    assert describe([1.0, 2.0], ScaleSpec("continuous")).pct_agree is None
    assert describe(
        [1, 2, 5], ScaleSpec("likert", 1, 5, agree_within=0)
    ).pct_agree == pytest.approx(1 / 3)


def test_cv_is_never_a_number_on_bipolar_scales_or_at_mean_zero() -> None:
    assert describe([-1, 0, 2], ScaleSpec("likert", -3, 3, bipolar=True)).cv is None
    assert describe([-1, 0, 2], ScaleSpec("likert", -3, 3)).cv is None  # negative low end
    assert describe([0, 0, 0], ScaleSpec("likert", 0, 4)).cv is None


def test_rwg_against_hand_value() -> None:
    # 5-point scale: uniform variance (25 - 1) / 12 = 2; sample variance 0.7 -> 1 - 0.35
    assert describe([4, 4, 5, 5, 3], FIVE).rwg == pytest.approx(0.65)
    # more spread than uniform: truncated at 0
    assert describe([1, 1, 5, 5], FIVE).rwg == 0.0
    # step 0.5 on 1..3 (5 points): the uniform variance scales with step^2
    half = ScaleSpec("likert", 1, 3, step=0.5)
    assert describe([2, 2, 2.5, 2.5, 1.5], half).rwg == pytest.approx(0.65)


def test_awg_against_brown_and_hauenstein_formula() -> None:
    values = np.array([4, 4, 5, 5, 3], dtype=float)
    n, m, s2 = len(values), values.mean(), values.var(ddof=1)
    maximum = ((5 + 1) * m - m * m - 5 * 1) * n / (n - 1)
    assert describe(values, FIVE).awg == pytest.approx(1 - 2 * s2 / maximum)
    # unanimous at a scale end: no room to vary, awg undefined
    assert describe([5, 5, 5], FIVE).awg is None


def test_rand_ucla_disagreement_on_nine_points() -> None:
    # polarised panel: P30 = 1.7, P70 = 8.3 (type 7), IPR 6.6 > IPRAS 2.35 + 1.5 * 0 = 2.35
    polarised = describe([1, 1, 1, 1, 1, 9, 9, 9, 9, 9], NINE)
    assert polarised.ipr == pytest.approx(
        np.quantile([1] * 5 + [9] * 5, 0.7) * 1 - 1.0 * np.quantile([1] * 5 + [9] * 5, 0.3)
    )
    assert polarised.iprcp == pytest.approx(5.0)
    assert polarised.ipras == pytest.approx(2.35)
    assert polarised.rand_disagreement is True
    agreeing = describe([7, 8, 8, 9, 8, 7], NINE)
    assert agreeing.rand_disagreement is False
    assert agreeing.ipras == pytest.approx(2.35 + 1.5 * abs(5 - agreeing.iprcp))  # type: ignore[operator]


def test_rand_rescales_other_likert_scales_to_one_to_nine() -> None:
    five = describe([1, 2, 5, 5, 4], FIVE)
    nine = describe([1, 3, 9, 9, 7], NINE)  # the same answers mapped by 1 + 2 (x - 1)
    assert five.ipr == pytest.approx(nine.ipr)
    assert five.iprcp == pytest.approx(nine.iprcp)
    assert describe([10, 20], PROBABILITY).ipr is None


def test_tastle_wierman_extremes_and_hand_value() -> None:
    assert describe([3, 3, 3], FIVE).tastle_wierman == pytest.approx(1.0)
    assert describe([1, 1, 5, 5], FIVE).tastle_wierman == pytest.approx(0.0)
    uniform = [1, 2, 3, 4, 5]
    expected = 1 + sum(math.log2(1 - abs(x - 3) / 4) for x in uniform) / 5
    assert describe(uniform, FIVE).tastle_wierman == pytest.approx(expected)


def test_bimodality_coefficient_matches_scipy_moments() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(1, 10, size=40).astype(float)
    n = len(values)
    g = stats.skew(values, bias=False)
    kappa = stats.kurtosis(values, bias=False)
    expected = (g**2 + 1) / (kappa + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3)))
    assert describe(values, NINE).bimodality_coefficient == pytest.approx(expected)
    assert describe([1, 2, 3], NINE).bimodality_coefficient is None  # needs n >= 4
    assert describe([4, 4, 4, 4], NINE).bimodality_coefficient is None  # no spread


def test_dip_statistic_matches_diptest_package() -> None:
    rng = np.random.default_rng(11)
    for n in (4, 5, 9, 30, 200):
        for sample in (
            rng.normal(size=n),
            rng.integers(1, 6, size=n).astype(float),
            np.concatenate([rng.normal(size=n // 2), rng.normal(5, 1, size=n - n // 2)]),
        ):
            ordered = np.sort(sample)
            assert dip_statistic(ordered) == pytest.approx(
                diptest.dipstat(ordered, allow_zero=False), abs=1e-12
            )


def test_dip_p_value_close_to_diptest_package() -> None:
    rng = np.random.default_rng(5)
    for n in (12, 50, 300):
        for shift in (0.0, 2.5, 4.0):
            sample = np.concatenate(
                [rng.normal(size=n // 2), rng.normal(shift, 1, size=n - n // 2)]
            )
            _, ours = dip_test(sample)
            _, theirs = diptest.diptest(sample)
            assert ours == pytest.approx(theirs, abs=0.03)


def test_dissensus_flags_a_split_panel_and_not_a_unanimous_one() -> None:
    split = describe([1] * 10 + [9] * 10, NINE)
    assert split.dissensus is True  # bimodality coefficient and the RAND/UCLA rule
    calm = describe([7, 8, 8, 8, 9, 8, 7, 8], NINE)
    assert calm.dissensus is False


def test_dip_test_only_where_answers_are_continuous() -> None:
    # on a few repeated Likert points the dip is large whatever the shape: not a test there
    calm = describe([6, 7, 7, 7, 7, 8, 8, 8, 8, 8, 9, 7, 8, 7], NINE)
    assert calm.dip_p is None and calm.dissensus is False
    rng = np.random.default_rng(3)
    split = np.clip(np.concatenate([rng.normal(15, 3, 20), rng.normal(85, 3, 20)]), 0, 100)
    described = describe(split, PROBABILITY)
    assert described.dip_p is not None and described.dip_p < 0.05
    assert described.dissensus is True
    rounded = describe([50] * 12 + [55] * 12 + [60] * 12, PROBABILITY)  # mostly ties
    assert rounded.dip_p is None


def test_probability_logits_use_declared_eps() -> None:
    result = describe([0, 0, 0, 50, 100], PROBABILITY)
    assert result.logit_median == pytest.approx(math.log(LOGIT_EPS / (1 - LOGIT_EPS)))
    assert result.logit_q3 == pytest.approx(0.0)
    assert describe([1, 2], FIVE).logit_median is None


def test_as_dict_names_are_the_rule_variables() -> None:
    values = describe([1, 2, 3, 4, 5], FIVE).as_dict()
    assert tuple(values) == STAT_NAMES
    for name in ("n", "iqr", "pct_agree", "cv", "bimodality", "dip_p", "dissensus"):
        assert name in values


def test_off_scale_values_are_named() -> None:
    with pytest.raises(InputError, match=r"value 1: 10 is off the likert scale 1..9"):
        describe([1, 10], NINE)
    with pytest.raises(InputError, match="in steps of 1"):
        describe([1.5], NINE)
    with pytest.raises(InputError, match=r"off the probability scale 0\.\.100"):
        describe([-1], PROBABILITY)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "likert"}, "needs its low and high"),
        ({"kind": "likert", "low": 5, "high": 1}, "must be below"),
        ({"kind": "probability", "low": 0, "high": 1}, "0 to 100"),
        ({"kind": "likert", "low": 1, "high": 2, "step": 0.3}, "whole number of steps"),
        ({"kind": "ordinal", "low": 1, "high": 2}, "scale kind"),
    ],
)
def test_scale_spec_rejects_nonsense(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        ScaleSpec(**kwargs)  # type: ignore[arg-type]


# --- histogram ------------------------------------------------------------------------------


def test_histogram_one_bin_per_likert_point() -> None:
    bins = histogram([1, 2, 2, 5], FIVE)
    assert [b.label for b in bins] == ["1", "2", "3", "4", "5"]
    assert [b.count for b in bins] == [1, 2, 0, 0, 1]


def test_histogram_probability_tens_with_100_in_the_last() -> None:
    bins = histogram([0, 9.99, 10, 95, 100], PROBABILITY)
    assert len(bins) == 10
    assert bins[0].label == "0-10" and bins[-1].label == "90-100"
    assert [b.count for b in bins] == [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]


def test_histogram_continuous_ten_equal_bins() -> None:
    bins = histogram(np.arange(100.0), ScaleSpec("continuous"))
    assert len(bins) == 10
    assert sum(b.count for b in bins) == 100
    assert bins[0].low == 0 and bins[-1].high == 99


# --- long data ------------------------------------------------------------------------------


def _long(seed: int = 0, experts: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for round_ in (1, 2):
        for expert in range(experts):
            for item in ("E1", "E2", "E3"):
                rows.append(
                    (
                        round_,
                        f"x{expert}",
                        item,
                        "likely",
                        float(rng.integers(0, 101)),
                        "A" if expert % 2 else "B",
                    )
                )
                rows.append(
                    (
                        round_,
                        f"x{expert}",
                        item,
                        "impact",
                        float(rng.integers(1, 10)),
                        "A" if expert % 2 else "B",
                    )
                )
    return pd.DataFrame(rows, columns=["round", "expert", "item", "question", "value", "group"])


SCALES = {"likely": PROBABILITY, "impact": NINE}


@pytest.mark.parametrize("method", ["type7", "type6", "type1"])
def test_describe_long_equals_describe_per_cell(method: str) -> None:
    df = _long()
    table = describe_long(df, SCALES, quantile_method=method, dip_test=True)
    assert len(table) == 2 * 3 * 2
    for row in table.itertuples(index=False):
        cell = df[
            (df["round"] == row.round) & (df["item"] == row.item) & (df["question"] == row.question)
        ]
        expected = describe(cell["value"], SCALES[row.question], quantile_method=method).as_dict()  # type: ignore[index]
        for name, value in expected.items():
            got = getattr(row, name)
            if value is None:
                assert got is pd.NA or (isinstance(got, float) and math.isnan(got)), name
            elif isinstance(value, bool):
                assert bool(got) is value, name
            else:
                assert got == pytest.approx(value, rel=1e-12, abs=1e-12), name


def test_describe_long_suppresses_small_groups_and_hides_n() -> None:
    df = _long(experts=9)  # groups A and B have 4 and 5 experts
    table = describe_long(df, SCALES, group="group", k=5)
    small = table[table["group"] == "A"]
    large = table[table["group"] == "B"]
    assert small["suppressed"].all() and not large["suppressed"].any()
    assert (
        small["n"].isna().all() and small["median"].isna().all() and small["dissensus"].isna().all()
    )
    assert (large["n"] == 5).all()


def test_describe_long_missing_values_are_no_answers() -> None:
    df = _long()
    df.loc[0, "value"] = np.nan
    table = describe_long(df, SCALES)
    first = table[(table["round"] == 1) & (table["item"] == "E1") & (table["question"] == "likely")]
    assert int(first["n"].iloc[0]) == 11


def test_describe_long_names_the_bad_row() -> None:
    df = _long()
    df.loc[5, "value"] = 12.0
    df.loc[5, "question"] = "impact"
    with pytest.raises(InputError, match=r"row 5: 12 is off the likert scale 1\.\.9"):
        describe_long(df, SCALES)
    df = _long()
    df["value"] = df["value"].astype(object)
    df.loc[7, "value"] = "high"
    with pytest.raises(InputError, match="row 7: value 'high' is not a number"):
        describe_long(df, SCALES)
    with pytest.raises(InputError, match="missing column: value"):
        describe_long(_long().drop(columns="value"), SCALES)
    with pytest.raises(InputError, match="no scale for question: impact"):
        describe_long(_long(), {"likely": PROBABILITY})


def test_describe_long_rejects_an_expert_answering_twice() -> None:
    df = _long()
    df = pd.concat([df, df.iloc[[3]]], ignore_index=True)
    with pytest.raises(InputError, match=r"rows 3 and \d+: expert x0 answered .*item=E2.* twice"):
        describe_long(df, SCALES)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 9), min_size=1, max_size=30),
    st.randoms(use_true_random=False),
)
def test_describe_is_invariant_to_answer_order(values: list[int], random: object) -> None:
    shuffled = list(values)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    one, other = describe(values, NINE).as_dict(), describe(shuffled, NINE).as_dict()
    for name in one:
        if isinstance(one[name], float):
            assert other[name] == pytest.approx(one[name], abs=1e-9)
        else:
            assert other[name] == one[name]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=2, max_size=30))
def test_describe_bounds(values: list[int]) -> None:
    result = describe(values, NINE)
    assert 1 <= result.q1 <= result.median <= result.q3 <= 9  # type: ignore[operator]
    assert 0 <= result.pct_agree <= 1  # type: ignore[operator]
    assert 0 <= result.rwg <= 1  # type: ignore[operator]
    assert -1e-12 <= result.tastle_wierman <= 1 + 1e-12  # type: ignore[operator]
