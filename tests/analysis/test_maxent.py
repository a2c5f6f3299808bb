"""Pairwise max-entropy model: fit reproduces moments, independence, top-k against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.errors import InputError
from analysis.scenarios import fit_maxent, joint_from_conditionals, model_from_parameters, smic
from analysis.scenarios._common import state_bits
from analysis.scenarios.maxent import MaxEntModel


def random_model(n: int, seed: int, coupling: float = 0.6) -> MaxEntModel:
    rng = np.random.default_rng(seed)
    h = rng.normal(-0.4, 1.0, n)
    J = np.triu(rng.normal(0.0, coupling, (n, n)), 1)
    return model_from_parameters(h, J + J.T)


def brute_force(model: MaxEntModel) -> np.ndarray:
    """Probability of every state by index, straight from the definition."""
    bits = state_bits(model.n).astype(float)
    weights = bits @ model.h + 0.5 * np.einsum("ki,ij,kj->k", bits, model.J, bits)
    weights = np.exp(weights - weights.max())
    return weights / weights.sum()


@pytest.mark.parametrize(("n", "seed"), [(2, 0), (5, 1), (9, 2), (14, 3)])
def test_fit_reproduces_marginals_and_pairs_and_recovers_parameters(n: int, seed: int) -> None:
    truth = random_model(n, seed)
    p, joint = truth.moments()
    fitted = fit_maxent(p, joint)
    fitted_p, fitted_joint = fitted.moments()
    assert fitted_p == pytest.approx(p, abs=1e-9)
    assert fitted_joint == pytest.approx(joint, abs=1e-9)
    # the max-entropy distribution with these moments is the model that generated them
    assert fitted.h == pytest.approx(truth.h, abs=1e-6)
    assert pytest.approx(truth.J, abs=1e-6) == fitted.J
    assert fitted.max_moment_error <= 1e-9
    assert fitted.all_probabilities() == pytest.approx(brute_force(truth), abs=1e-9)


def test_moments_by_enumeration_match_brute_force() -> None:
    model = random_model(7, 4)
    probabilities = brute_force(model)
    bits = state_bits(7).astype(float)
    p, joint = model.moments()
    assert p == pytest.approx(bits.T @ probabilities, abs=1e-12)
    assert joint == pytest.approx((bits * probabilities[:, None]).T @ bits, abs=1e-12)


def test_independent_events_factorise() -> None:
    p = np.array([0.1, 0.5, 0.7, 0.95])
    joint = np.outer(p, p)
    model = fit_maxent(p, joint, event_keys=["a", "b", "c", "d"])
    assert pytest.approx(np.zeros((4, 4)), abs=1e-7) == model.J
    assert model.h == pytest.approx(np.log(p / (1 - p)), abs=1e-7)
    states = state_bits(4)
    product = np.prod(np.where(states == 1, p, 1 - p), axis=1)
    assert model.probability(states) == pytest.approx(product, abs=1e-9)
    assert model.probability(["1010"]) == pytest.approx([0.1 * 0.5 * 0.7 * 0.05], abs=1e-9)


def test_relabelling_events_permutes_the_model() -> None:
    truth = random_model(6, 12)
    p, joint = truth.moments()
    order = np.array([3, 5, 0, 1, 4, 2])
    first = fit_maxent(p, joint)
    second = fit_maxent(p[order], joint[np.ix_(order, order)])
    assert second.h == pytest.approx(first.h[order], abs=1e-8)
    assert pytest.approx(first.J[np.ix_(order, order)], abs=1e-8) == second.J
    probabilities = first.all_probabilities()
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-12) and probabilities.min() > 0
    moved = (state_bits(6)[:, order].astype(np.int64) << np.arange(6)).sum(axis=1)
    assert second.all_probabilities()[moved] == pytest.approx(probabilities, abs=1e-10)


def test_smic_max_entropy_optimum_is_the_fitted_model() -> None:
    # two independent implementations (dense Newton in SMIC, Newton-CG on the two-halves grid)
    model = random_model(6, 9, coupling=0.4)
    p, joint = model.moments()
    given = joint / p[None, :]
    given_not = (p[:, None] - joint) / (1 - p[None, :])
    result = smic(p, given, given_not, bounds_for=0)
    assert result.support_size == 64
    assert result.probabilities == pytest.approx(model.all_probabilities(), abs=1e-9)


def test_monte_carlo_fit_is_close_to_the_exact_one_and_seeded() -> None:
    truth = random_model(10, 31, coupling=0.5)
    p, joint = truth.moments()
    fitted = fit_maxent(p, joint, method="montecarlo", seed=4)
    again = fit_maxent(p, joint, method="montecarlo", seed=4)
    assert fitted.method == "montecarlo"
    assert np.array_equal(fitted.h, again.h) and np.array_equal(fitted.J, again.J)
    fitted_p, fitted_joint = fitted.moments()  # exact moments of the fitted model
    assert np.max(np.abs(fitted_p - p)) < 0.01
    assert np.max(np.abs(fitted_joint - joint)) < 0.01
    assert fitted.max_moment_error < 0.015  # its own Monte Carlo estimate of the same
    exact = fit_maxent(p, joint).top_k(3).table["state"].tolist()
    assert fitted.top_k(3).table["state"].tolist() == exact


def test_auto_fit_switches_to_monte_carlo_beyond_twenty_events() -> None:
    p = np.linspace(0.2, 0.6, 21)
    joint = np.outer(p, p)
    model = fit_maxent(p, joint, seed=1)
    assert model.method == "montecarlo"
    assert np.max(np.abs(model.J)) < 0.1  # independent events: couplings near 0
    assert model.h == pytest.approx(np.log(p / (1 - p)), abs=0.1)


def test_joint_from_conditionals_averages_both_products() -> None:
    p = [0.5, 0.4]
    joint = joint_from_conditionals(p, [[np.nan, 0.5], [0.3, np.nan]])
    assert joint[0, 1] == pytest.approx((0.5 * 0.4 + 0.3 * 0.5) / 2)
    assert joint[0, 1] == joint[1, 0]
    assert np.diag(joint) == pytest.approx(p)


def test_incoherent_pairs_are_refused() -> None:
    # each pair is possible on its own, but three events with P = 0.5 that pairwise co-occur
    # only 5 % of the time would need P(all three) = -0.35
    with pytest.raises(InputError, match="not coherent"):
        fit_maxent([0.5, 0.5, 0.5], np.full((3, 3), 0.05))
    with pytest.raises(InputError, match=r"p_joint\[E01, E02\] = 0.5 is not strictly between"):
        fit_maxent([0.5, 0.5], [[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(InputError, match="symmetric"):
        fit_maxent([0.5, 0.5], [[0.5, 0.2], [0.3, 0.5]])
    with pytest.raises(InputError, match=r"p\[E02\] = 1.0"):
        fit_maxent([0.5, 1.0], [[0.5, 0.5], [0.5, 1.0]])
    with pytest.raises(InputError, match="stops at 26 events"):
        fit_maxent(np.full(27, 0.5), np.full((27, 27), 0.25), method="exact")


@st.composite
def models(draw: st.DrawFn) -> tuple[MaxEntModel, int]:
    n = draw(st.integers(1, 12))
    h = draw(st.lists(st.floats(-3, 3), min_size=n, max_size=n))
    coupled = draw(st.booleans())
    couplings = np.zeros((n, n))
    if coupled:
        values = draw(st.lists(st.floats(-2, 2), min_size=n * n, max_size=n * n))
        couplings = np.triu(np.reshape(values, (n, n)), 1)
        couplings = couplings + couplings.T
    k = draw(st.integers(1, 2**n + 3))
    return model_from_parameters(h, couplings), k


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models())
def test_top_k_equals_brute_force(case: tuple[MaxEntModel, int]) -> None:
    model, k = case
    probabilities = brute_force(model)
    expected = np.sort(probabilities)[::-1][: min(k, 2**model.n)]
    methods = ["auto", "search"] + ([] if model.independent else ["enumerate"])
    for method in methods:
        top = model.top_k(k, method=method)
        table = top.table
        assert top.exact
        # ties may list different states, so compare probabilities and check each state's own
        assert table["probability"].to_numpy() == pytest.approx(expected, abs=1e-12)
        assert probabilities[table["state"].to_numpy()] == pytest.approx(
            table["probability"].to_numpy(), abs=1e-12
        )
        assert table["state"].is_unique


def test_best_first_for_forty_independent_events() -> None:
    rng = np.random.default_rng(1)
    h = rng.normal(-1.0, 1.5, 40)
    model = model_from_parameters(h, np.zeros((40, 40)))
    top = model.top_k(50)
    table = top.table
    assert top.method == "search" and top.exact
    assert table["state"].iloc[0] == int(((h > 0).astype(np.int64) << np.arange(40)).sum())
    assert np.all(np.diff(table["probability"].to_numpy()) <= 1e-18)
    p = 1 / (1 + np.exp(-h))
    bits = state_bits(40, table["state"].to_numpy())
    product = np.prod(np.where(bits == 1, p, 1 - p), axis=1)
    assert table["probability"].to_numpy() == pytest.approx(product, rel=1e-9)
    # the 50th best state's cost is an upper bound on any cheaper set of flips it skipped:
    # every single flip cheaper than it must be listed
    costs = np.abs(h)
    worst = -np.log(table["relative"].iloc[-1])
    singles = {int(table["state"].iloc[0]) ^ (1 << int(i)) for i in np.flatnonzero(costs < worst)}
    assert singles <= set(table["state"].tolist())


def test_astar_matches_enumeration_for_dependent_events() -> None:
    model = random_model(14, 21, coupling=0.5)
    exact = model.top_k(30, method="enumerate").table
    searched = model.top_k(30, method="search").table
    assert searched["state"].tolist() == exact["state"].tolist()
    assert searched["probability"].to_numpy() == pytest.approx(exact["probability"].to_numpy())


def test_astar_gives_up_past_its_node_budget() -> None:
    model = random_model(24, 2, coupling=1.5)
    with pytest.raises(InputError, match="max_nodes"):
        model.top_k(50, method="search", max_nodes=10)


def test_monte_carlo_top_k_is_seeded_and_its_intervals_cover_the_truth() -> None:
    model = random_model(10, 5, coupling=0.5)
    probabilities = brute_force(model)
    first = model.top_k(10, method="montecarlo", seed=3, samples=100_000, chains=500)
    again = model.top_k(10, method="montecarlo", seed=3, samples=100_000, chains=500)
    other = model.top_k(10, method="montecarlo", seed=4, samples=100_000, chains=500)
    assert first.table.equals(again.table)
    assert not first.table["probability"].equals(other.table["probability"])
    assert first.seed == 3 and first.samples == 100_000 and not first.exact
    table = first.table
    assert table["state"].tolist() == list(np.argsort(-probabilities, kind="stable")[:10])
    truth = probabilities[table["state"].to_numpy()]
    assert np.all((table["lower"] <= truth) & (truth <= table["upper"]))
    assert np.all(table["upper"] - table["lower"] < 0.2 * truth)


def test_gibbs_sampler_matches_exact_moments_for_many_events() -> None:
    # 22 weakly coupled events: too many for exact sampling, so Gibbs runs; its marginals must
    # agree with the exact ones (by enumeration) within Monte Carlo error
    model = random_model(22, 8, coupling=0.15)
    p, _ = model.moments()
    bits, chain = model.sample(60_000, seed=1, chains=600, burn_in=50)
    assert bits.shape == (60_000, 22) and chain.max() == 599
    per_chain = np.array([bits[chain == c].mean(axis=0) for c in range(600)])
    error = per_chain.std(axis=0, ddof=1) / np.sqrt(600)
    assert np.all(np.abs(bits.mean(axis=0) - p) < 5 * error + 1e-3)


def test_dependent_model_without_normaliser_refuses_exact_probabilities() -> None:
    rng = np.random.default_rng(0)
    J = np.triu(rng.normal(0, 0.1, (30, 30)), 1)
    model = model_from_parameters(rng.normal(-1, 1, 30), J + J.T)
    assert model.log_partition is None
    with pytest.raises(InputError, match="not known exactly"):
        model.probability([np.zeros(30)])
    table = model.top_k(5).table  # A* finds the states; their probabilities stay unknown
    assert table["probability"].isna().all()
    assert table["relative"].iloc[0] == 1.0


def test_model_parameters_are_checked() -> None:
    with pytest.raises(InputError, match="symmetric"):
        model_from_parameters([0.0, 0.0], [[0, 1], [0, 0]])
    with pytest.raises(InputError, match="finite"):
        model_from_parameters([0.0, np.inf], np.zeros((2, 2)))
    with pytest.raises(InputError, match="2 columns"):
        model_from_parameters([0.0, 0.0], np.zeros((2, 2))).probability([[1, 0, 1]])
