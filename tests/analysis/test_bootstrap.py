"""Bootstrap over experts: oracle intervals, coverage on simulated panels, determinism, bands."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from analysis import bootstrap
from analysis.baseline import extrapolate_baseline
from analysis.bootstrap import (
    expected_trend_intervals,
    loglinear_scenarios,
    pool_columns,
    pooled_intervals,
    resample_indices,
    resampled_median_profiles,
    scenario_intervals,
)
from analysis.errors import InputError
from analysis.pooling import METHODS, pool
from analysis.tia import ImpactProfile, TrendEvent, trend_impact


def test_percentile_interval_equals_scipy_bootstrap_with_the_same_seed() -> None:
    answers = np.array([0.2, 0.35, 0.4, 0.55, 0.6, 0.9])
    ours = pooled_intervals(answers[:, None], methods=["linear"], resamples=999, seed=7, level=0.9)
    scipy_result = stats.bootstrap(
        (answers,),
        np.mean,
        n_resamples=999,
        confidence_level=0.9,
        method="percentile",
        random_state=np.random.default_rng(7),
    )
    interval = ours.intervals["linear"][0]
    assert interval.estimate == pytest.approx(answers.mean())
    assert interval.lower == pytest.approx(scipy_result.confidence_interval.low)
    assert interval.upper == pytest.approx(scipy_result.confidence_interval.high)


def test_known_small_case_two_experts() -> None:
    # resample means of {0.2, 0.6} are 0.2, 0.4, 0.6 with chances 1/4, 1/2, 1/4: the 90 %
    # percentile interval of many resamples runs from 0.2 to 0.6
    result = pooled_intervals(np.array([[0.2], [0.6]]), methods=["linear"], resamples=4000, seed=1)
    interval = result.intervals["linear"][0]
    assert (interval.lower, interval.estimate, interval.upper) == pytest.approx((0.2, 0.4, 0.6))
    assert "understates" in result.info.note
    assert result.info.experts == 2 and result.info.resamples == 4000 and result.info.seed == 1


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12),
    st.sampled_from(METHODS),
)
def test_vectorised_pool_matches_pooling_pool(values: list[float], method: str) -> None:
    ours = pool_columns(np.array(values)[:, None], method, a=1.7)[0]
    assert ours == pytest.approx(pool(values, method=method, a=1.7).p, abs=1e-12)


def test_unanswered_cells_are_left_out() -> None:
    values = np.array([[0.2, np.nan], [0.4, 0.7], [np.nan, 0.9]])
    pooled = pool_columns(values, "linear")
    assert pooled == pytest.approx([0.3, 0.8])


def test_same_seed_same_numbers_other_seed_other_numbers() -> None:
    rng = np.random.default_rng(0)
    values = rng.uniform(0.05, 0.95, (12, 4))
    a = pooled_intervals(values, resamples=300, seed=5)
    b = pooled_intervals(values, resamples=300, seed=5)
    c = pooled_intervals(values, resamples=300, seed=6)
    assert a.intervals == b.intervals
    assert a.intervals != c.intervals
    assert np.array_equal(resample_indices(5, 10, 3), resample_indices(5, 10, 3))


def test_coverage_on_simulated_panels() -> None:
    """Panels of 20 experts drawn from a known Beta: the 90 % interval of the linear pool
    covers the true mean in roughly 90 % of 200 seeded repetitions (a loose band: the
    percentile bootstrap undercovers a little at n = 20)."""
    rng = np.random.default_rng(2024)
    truth = 0.3  # Beta(3, 7)
    covered = 0
    repetitions = 200
    for r in range(repetitions):
        panel = rng.beta(3, 7, 20)
        interval = pooled_intervals(
            panel[:, None], methods=["linear"], resamples=400, seed=r
        ).intervals["linear"][0]
        covered += interval.lower <= truth <= interval.upper
    assert 0.78 <= covered / repetitions <= 0.97


def test_invalid_inputs_are_named() -> None:
    with pytest.raises(InputError, match="resamples"):
        pooled_intervals(np.array([[0.5]]), resamples=0)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        pooled_intervals(np.array([[1.5]]))


def test_loglinear_keeps_marginals_and_matches_independence() -> None:
    p = np.array([0.2, 0.5, 0.7])
    independent = np.tile(p[:, None], (1, 3))
    probs = loglinear_scenarios(p, independent, independent)
    bits = (np.arange(8)[:, None] >> np.arange(3)) & 1
    expected = np.prod(np.where(bits == 1, p, 1 - p), axis=1)
    assert probs == pytest.approx(expected, abs=1e-9)
    # with a coupling the marginals are still the pooled probabilities
    given = independent.copy()
    given[0, 1] = 0.6  # P(0 | 1) > P(0)
    not_given = independent.copy()
    not_given[0, 1] = 0.05
    coupled = loglinear_scenarios(p, given, not_given)
    assert coupled @ bits == pytest.approx(p, abs=1e-8)
    both = coupled[bits[:, 0] & bits[:, 1] == 1].sum()
    assert both > p[0] * p[1]


def test_scenario_intervals_are_deterministic_and_cover_the_estimate() -> None:
    rng = np.random.default_rng(3)
    experts, n = 15, 4
    p = rng.uniform(0.1, 0.9, (experts, n))
    given = np.clip(np.repeat(p[:, :, None], n, axis=2) + 0.2, 0.01, 0.99)
    given_not = np.clip(np.repeat(p[:, :, None], n, axis=2) - 0.1, 0.01, 0.99)
    keys = ["A", "B", "C", "D"]
    kwargs = {"event_keys": keys, "expressions": {"S": "A and not B"}, "resamples": 200, "seed": 9}
    first = scenario_intervals(p, given, given_not, **kwargs)
    again = scenario_intervals(p, given, given_not, **kwargs)
    assert first == again
    named = first.named["S"]
    assert named.lower <= named.estimate <= named.upper
    assert [r.rank for r in first.top] == list(range(1, len(first.top) + 1))
    assert all(r.rank_lower <= r.rank_upper for r in first.top)
    assert first.as_dict()["named"]["S"]["lower"] == named.lower


def test_baseline_matches_statsmodels_ols_prediction_interval() -> None:
    history = {2012: 35.0, 2015: 50.0, 2018: 60.0, 2022: 70.0, 2024: 75.0}
    forecast = extrapolate_baseline(history, start_year=2024, end_year=2035, level=0.8)
    x = np.array(list(history), dtype=float)
    fit = sm.OLS(np.array(list(history.values())), sm.add_constant(x)).fit()
    frame = fit.get_prediction(sm.add_constant(np.arange(2024, 2036.0))).summary_frame(alpha=0.2)
    assert forecast.mean == pytest.approx(frame["mean"].tolist())
    assert forecast.lower == pytest.approx(frame["obs_ci_lower"].tolist())
    assert forecast.upper == pytest.approx(frame["obs_ci_upper"].tolist())
    assert forecast.df == 3
    with pytest.raises(InputError, match="at least 3"):
        extrapolate_baseline({2020: 1.0, 2021: 2.0}, start_year=2021, end_year=2030)
    floored = extrapolate_baseline(history, start_year=2024, end_year=2035, bounds=(0.0, None))
    assert not floored.clipped and floored.mean == forecast.mean  # the line never reaches 0


def test_a_bounded_baseline_is_a_logistic_trend_that_stays_inside_the_scale() -> None:
    history = {2021: 60.0, 2023: 80.0, 2024: 95.0}  # a share: a straight line passes 100 by 2026
    line = extrapolate_baseline(history, start_year=2024, end_year=2035)
    assert max(line.mean) > 100
    bounded = extrapolate_baseline(history, start_year=2024, end_year=2035, bounds=(0.0, 100.0))
    assert bounded.logistic and not bounded.clipped
    # the oracle: statsmodels OLS on the logit of the share, mapped back
    x = np.array(list(history), dtype=float)
    z = special.logit(np.array(list(history.values())) / 100.0)
    fit = sm.OLS(z, sm.add_constant(x)).fit()
    frame = fit.get_prediction(sm.add_constant(np.arange(2024, 2036.0))).summary_frame(alpha=0.2)
    assert bounded.mean == pytest.approx((100 * special.expit(frame["mean"])).tolist())
    assert bounded.upper == pytest.approx((100 * special.expit(frame["obs_ci_upper"])).tolist())
    assert all(
        0.0 < lo <= m <= hi < 100.0
        for lo, m, hi in zip(bounded.lower, bounded.mean, bounded.upper, strict=True)
    )
    assert list(bounded.mean) == sorted(bounded.mean)  # still rising, flattening towards 100
    steps = np.diff(bounded.mean)
    assert steps[-1] < steps[0]
    with pytest.raises(InputError, match="on the scale"):
        extrapolate_baseline(
            {2020: 10.0, 2021: 120.0, 2022: 50.0},
            start_year=2022,
            end_year=2030,
            bounds=(0.0, 100.0),
        )


def _band_width(profiles: tuple[ImpactProfile, ...], **kwargs: object) -> float:
    event = TrendEvent(
        "E1",
        ((2030, 0.9),),
        ImpactProfile(1, 2, 4, 10.0, 5.0, "absolute"),
        profiles=profiles,
    )
    result = trend_impact(
        {2025: 50.0, 2035: 50.0},
        [event],
        start_year=2025,
        end_year=2035,
        seed=4,
        runs=4000,
        **kwargs,
    )  # type: ignore[arg-type]
    last = result.forecast.iloc[-1]
    return float(last["p90"] - last["p10"])


def test_band_widens_when_experts_disagree() -> None:
    same = tuple(ImpactProfile(1, 2, 4, 10.0, 5.0, "absolute") for _ in range(6))
    split = tuple(
        ImpactProfile(1, 2, 4, peak, peak / 2, "absolute") for peak in (-10, 0, 5, 15, 20, 30)
    )
    assert _band_width(split) > _band_width(same) + 5.0
    # the same profile from every expert is the panel-median analysis
    assert _band_width(same) == pytest.approx(_band_width(()))


def test_baseline_interval_widens_the_band_and_keeps_the_expectation() -> None:
    se = {2025: 0.0, 2035: 4.0}
    plain = _band_width(())
    wider = _band_width((), baseline_se=se, baseline_df=3.0)
    assert wider > plain + 2.0


def test_expected_trend_interval_centres_on_the_closed_form_and_widens_with_disagreement() -> None:
    names = [f"x{i}" for i in range(6)]
    split = [ImpactProfile(1, 2, 4, peak, peak / 2, "absolute") for peak in (-10, 0, 5, 15, 20, 30)]
    same = [ImpactProfile(1, 2, 4, 10.0, 5.0, "absolute") for _ in names]
    widths = {}
    for label, profiles in (("split", split), ("same", same)):
        for statistic in ("median", "mean"):
            event = TrendEvent(
                "E1",
                ((2030, 0.9),),
                ImpactProfile(1, 2, 4, 10.0, 5.0, "absolute"),  # the panel median of both
                profiles=tuple(profiles) if statistic == "mean" else (),
            )
            result = trend_impact(
                {2025: 50.0, 2035: 50.0}, [event], start_year=2025, end_year=2035, seed=1, runs=50
            )
            whole, lower, upper, info = expected_trend_intervals(
                result.forecast["baseline"],
                result.occurrence[["E1"]].to_numpy().T,
                [profiles],
                [names],
                relative=False,
                resamples=500,
                seed=3,
                statistic=statistic,  # type: ignore[arg-type]
            )
            assert whole == pytest.approx(result.forecast["expected"].to_numpy())
            assert (lower <= whole + 1e-9).all() and (whole <= upper + 1e-9).all()
            assert info.experts == 6
            widths[(label, statistic)] = float(upper[-1] - lower[-1])
    assert widths[("same", "mean")] == pytest.approx(0.0)
    assert widths[("split", "mean")] > 3.0 and widths[("split", "median")] > 3.0


def test_resampled_median_profiles_are_deterministic_medians() -> None:
    profiles = [ImpactProfile(1, 2, 4, peak, peak / 2, "absolute") for peak in (0, 10, 20)]
    first = resampled_median_profiles(profiles, resamples=50, seed=2)
    assert first == resampled_median_profiles(profiles, resamples=50, seed=2)
    assert len(first) == 50
    assert {p.i_max for p in first} <= {0.0, 10.0, 20.0}


@pytest.mark.parametrize("method", METHODS)
def test_pooling_resamples_a_slice_at_a_time_gives_the_same_numbers(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 1, (40, 9))
    x[rng.uniform(size=x.shape) < 0.15] = np.nan
    rows = resample_indices(40, 101, 3)
    monkeypatch.setattr(bootstrap, "SLICE_ANSWERS", 40 * 9 * 7)  # slices of 7 resamples
    np.testing.assert_array_equal(
        bootstrap.pool_resampled(x, rows, method), pool_columns(x[rows], method)
    )


def test_the_mean_of_drawn_curves_by_counts_is_the_mean_of_the_drawn_stack() -> None:
    """The mean statistic weighs each expert's curve by how often a resample drew them, which
    is the mean over the stack of drawn curves (silent experts left out) to rounding."""
    rng = np.random.default_rng(11)
    curves = rng.normal(size=(30, 12))
    curves[rng.uniform(size=30) < 0.3] = np.nan  # experts without a profile of this event
    index = resample_indices(30, 200, 5)
    counts = bootstrap.draw_counts(index, 30)
    assert counts.sum(axis=1).tolist() == [30.0] * 200
    given = ~np.isnan(curves)
    by_counts = (counts @ np.where(given, curves, 0.0)) / (counts @ given)
    np.testing.assert_allclose(by_counts, np.nanmean(curves[index], axis=1), rtol=1e-12)
