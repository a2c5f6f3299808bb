"""Pooling expert probabilities: each method by hand or against scipy/statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from analysis.errors import InputError
from analysis.pooling import METHODS, expertise_weights, fit_extremizing, pool, weighted_median

PROBABILITIES = [0.1, 0.3, 0.6, 0.7, 0.95]


def test_linear_pool_is_the_weighted_mean() -> None:
    result = pool(PROBABILITIES, method="linear", weights=[1, 1, 1, 1, 4])
    expected = (0.1 + 0.3 + 0.6 + 0.7 + 4 * 0.95) / 8
    assert result.p == pytest.approx(expected)
    assert result.weights == pytest.approx((0.125, 0.125, 0.125, 0.125, 0.5))
    assert result.method == "linear" and result.n == 5


def test_logodds_pool_is_the_geometric_mean_of_odds() -> None:
    odds = [p / (1 - p) for p in PROBABILITIES]
    geometric = math.prod(odds) ** (1 / len(odds))
    assert pool(PROBABILITIES).p == pytest.approx(geometric / (1 + geometric))
    assert pool(PROBABILITIES).method == "logodds"


def test_logodds_clips_to_eps() -> None:
    result = pool([0.0, 1.0, 1.0], eps=0.01)
    z = (special.logit(0.01) + 2 * special.logit(0.99)) / 3
    assert result.p == pytest.approx(special.expit(z))
    assert result.eps == 0.01


def test_extremized_and_baron() -> None:
    z = np.mean(special.logit(PROBABILITIES))
    assert pool(PROBABILITIES, method="extremized", a=2.5).p == pytest.approx(
        special.expit(2.5 * z)
    )
    mean = np.mean(PROBABILITIES)
    expected = mean**2 / (mean**2 + (1 - mean) ** 2)
    result = pool(PROBABILITIES, method="baron", a=2.0)
    assert result.p == pytest.approx(expected) and result.a == 2.0


def test_median_and_trimmed_mean() -> None:
    assert pool(PROBABILITIES, method="median").p == pytest.approx(0.6)
    assert pool([0.1, 0.2, 0.3, 0.4], method="median").p == pytest.approx(
        np.median([0.1, 0.2, 0.3, 0.4])
    )
    assert pool([0.1, 0.2, 0.9], method="median", weights=[1, 1, 3]).p == 0.9
    data = [0.01, 0.2, 0.3, 0.35, 0.4, 0.5, 0.55, 0.6, 0.7, 0.99]
    assert pool(data, method="trimmed", trim=0.1).p == pytest.approx(stats.trim_mean(data, 0.1))
    with pytest.raises(InputError, match="takes no weights"):
        pool(data, method="trimmed", weights=range(1, 11))


def test_weighted_median_by_hand() -> None:
    assert weighted_median(np.array([3.0, 1.0, 2.0]), np.array([1.0, 1.0, 1.0])) == 2.0
    assert weighted_median(np.array([1.0, 2.0]), np.array([1.0, 3.0])) == 2.0


def test_expertise_weights() -> None:
    assert expertise_weights([1, 5, 3]).tolist() == pytest.approx([1 / 9, 5 / 9, 3 / 9])
    with pytest.raises(InputError, match="expertise rating 1"):
        expertise_weights([1, 0])


@pytest.mark.parametrize(
    ("probabilities", "message"),
    [
        ([0.2, 1.2], "probability 1 is 1.2"),
        ([0.2, -0.1], "probability 1 is -0.1"),
        ([math.nan], "probability 0 is nan"),
        ([], "non-empty"),
    ],
)
def test_outside_unit_interval_names_the_index(probabilities: list[float], message: str) -> None:
    with pytest.raises(InputError, match=message):
        pool(probabilities)


def test_bad_weights_and_options() -> None:
    with pytest.raises(InputError, match="weight 1 is -1"):
        pool([0.2, 0.3], weights=[1, -1])
    with pytest.raises(InputError, match="2 weights for 3"):
        pool([0.2, 0.3, 0.4], weights=[1, 1])
    with pytest.raises(InputError, match="unknown pooling method"):
        pool([0.2], method="mean")
    with pytest.raises(InputError, match="a must be positive"):
        pool([0.2], method="extremized", a=0)


def test_fit_extremizing_matches_logistic_regression_without_intercept() -> None:
    rng = np.random.default_rng(4)
    truth = rng.random(200)
    outcomes = (rng.random(200) < truth).astype(float)
    # under-confident experts: their log-odds are shrunk towards 0
    experts = special.expit(0.4 * special.logit(truth)[:, None] + rng.normal(0, 0.3, size=(200, 5)))
    a = fit_extremizing(experts, outcomes)
    z = special.logit(np.clip(experts, 1e-3, 1 - 1e-3)).mean(axis=1)
    reference = sm.Logit(outcomes, z[:, None]).fit(disp=0).params[0]
    assert a == pytest.approx(reference, rel=1e-5)
    assert a > 1  # under-confidence calls for extremizing


def test_fit_extremizing_ignores_missing_answers_and_checks_outcomes() -> None:
    probabilities = np.array([[0.8, np.nan], [0.3, 0.2], [0.9, 0.7], [0.4, np.nan]])
    assert fit_extremizing(probabilities, [1, 0, 1, 0]) > 0
    with pytest.raises(InputError, match="outcome 1 is 2"):
        fit_extremizing(probabilities, [1, 2, 1, 0])
    with pytest.raises(InputError, match="question 0, expert 1"):
        fit_extremizing([[0.5, 1.5]], [1])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 1), min_size=1, max_size=12),
    st.sampled_from(METHODS),
    st.floats(0.2, 5),
    st.randoms(use_true_random=False),
)
def test_pooled_probability_stays_in_range_and_ignores_order(
    probabilities: list[float], method: str, a: float, random: object
) -> None:
    result = pool(probabilities, method=method, a=a)
    assert 0 <= result.p <= 1
    low, high = min(probabilities), max(probabilities)
    if method in ("linear", "median", "trimmed"):
        assert low - 1e-12 <= result.p <= high + 1e-12
    shuffled = list(probabilities)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    assert pool(shuffled, method=method, a=a).p == pytest.approx(result.p, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.01, 0.99), min_size=1, max_size=10))
def test_logodds_pool_is_symmetric_under_relabelling(probabilities: list[float]) -> None:
    # pooling P(not A) gives 1 - the pool of P(A)
    forward = pool(probabilities).p
    backward = pool([1 - p for p in probabilities]).p
    assert backward == pytest.approx(1 - forward, abs=1e-12)
