"""SMIC: hand-solved cases, coherence, bounds against independent LP and NLP oracles, validation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog, minimize

from analysis.errors import InputError
from analysis.scenarios import _lp
from analysis.scenarios._common import state_bits
from analysis.scenarios.smic import smic


def conditionals_of(joint: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P(i), P(i|j) and P(i|not j) of a joint distribution over the 2^n states (by index)."""
    t = state_bits(n).astype(float)
    p = t.T @ joint
    both = (t * joint[:, None]).T @ t
    return p, both / p[None, :], (p[:, None] - both) / (1.0 - p[None, :])


def moments_of(joint: np.ndarray, n: int) -> np.ndarray:
    t = state_bits(n).astype(float)
    rows, cols = np.triu_indices(n, 1)
    return np.concatenate([t.T @ joint, (t[:, rows] * t[:, cols]).T @ joint])


def by_state(result, column: str) -> np.ndarray:
    """A column of the scenario table re-ordered by state index."""
    table = result.scenarios.sort_values("state")
    return table[column].to_numpy()


def test_two_events_hand_solved() -> None:
    # targets: P(1 and 2) from both conditionals (0.3 and 0.4), P(1 and not 2) = 0.2,
    # P(2 and not 1) = 0.1, P(1) = P(2) = 0.5. Setting the gradient to zero by hand gives
    # P*(1 and 2) = 0.35, P*(1) = 0.525, P*(2) = 0.475, inside the feasible set, and the
    # objective 2 * 0.05^2 + 4 * 0.025^2 = 0.0075.
    result = smic([0.5, 0.5], [[0, 0.6], [0.8, 0]], [[0, 0.4], [0.2, 0]], event_keys=["A", "B"])
    assert result.objective == pytest.approx(0.0075, abs=1e-12)
    assert result.p_star == pytest.approx([0.525, 0.475], abs=1e-12)
    assert result.p_given_star[0, 1] == pytest.approx(0.35 / 0.475, abs=1e-12)
    assert result.p_given_star[1, 0] == pytest.approx(0.35 / 0.525, abs=1e-12)
    assert result.p_given_not_star[0, 1] == pytest.approx(0.175 / 0.525, abs=1e-12)
    assert np.isnan(result.p_given_star[0, 0])
    table = result.scenarios
    assert table["label"].tolist() == ["00", "11", "10", "01"]  # tie 0.35/0.35: lower index first
    assert table["occurring"].tolist() == ["none", "A + B", "A", "B"]
    assert table["probability"].to_numpy() == pytest.approx([0.35, 0.35, 0.175, 0.125], abs=1e-10)
    # two events: the three moments fix all four probabilities, so the bounds are tight
    assert table["lower"].to_numpy() == pytest.approx(table["probability"].to_numpy(), abs=1e-9)
    assert table["upper"].to_numpy() == pytest.approx(table["probability"].to_numpy(), abs=1e-9)


def test_two_events_without_the_marginal_terms() -> None:
    # same answers, objective without [P(i) - P*(i)]^2: P*(1 and not 2) = 0.2 and
    # P*(2 and not 1) = 0.1 are met exactly, P*(1 and 2) = 0.35 splits 0.3 and 0.4
    result = smic([0.5, 0.5], [[0, 0.6], [0.8, 0]], [[0, 0.4], [0.2, 0]], include_marginals=False)
    assert not result.include_marginals
    assert result.objective == pytest.approx(0.005, abs=1e-12)
    assert result.p_star == pytest.approx([0.55, 0.45], abs=1e-12)
    assert by_state(result, "probability") == pytest.approx([0.35, 0.2, 0.1, 0.35], abs=1e-10)


def test_three_independent_events_hand_solved() -> None:
    # Independent events: the max-entropy joint is the product. Pairwise moments leave one free
    # direction, eps * prod(2 t_i - 1); pi >= 0 allows eps in [-0.01, 0.01] (the smallest
    # products), so every scenario ranges over its product +- 0.01.
    p = np.array([0.5, 0.2, 0.9])
    given = np.tile(p[:, None], (1, 3))
    result = smic(p, given, given, bounds_for="all")
    assert result.objective == pytest.approx(0.0, abs=1e-20)
    product = np.array([np.prod(np.where(t, p, 1 - p)) for t in state_bits(3).astype(bool)])
    assert result.probabilities == pytest.approx(product, abs=1e-10)
    assert by_state(result, "lower") == pytest.approx(np.maximum(product - 0.01, 0.0), abs=1e-9)
    assert by_state(result, "upper") == pytest.approx(product + 0.01, abs=1e-9)
    assert result.scenarios["label"].iloc[0] == "001"
    assert result.support_size == 8


@st.composite
def joints(draw: st.DrawFn, max_events: int = 5) -> tuple[int, np.ndarray]:
    n = draw(st.integers(2, max_events))
    weights = draw(
        st.lists(st.floats(0.0, 1.0), min_size=2**n, max_size=2**n).filter(lambda w: sum(w) > 0.1)
    )
    joint = np.asarray(weights) / sum(weights)
    # mix in a little uniform so that no event is certain or impossible
    return n, 0.95 * joint + 0.05 / 2**n


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(joints())
def test_coherent_inputs_come_back_unchanged(case: tuple[int, np.ndarray]) -> None:
    n, joint = case
    p, given, given_not = conditionals_of(joint, n)
    result = smic(p, given, given_not, bounds_for="all")
    assert result.objective <= 1e-18
    assert result.p_star == pytest.approx(p, abs=1e-9)
    off = ~np.eye(n, dtype=bool)
    assert result.p_given_star[off] == pytest.approx(given[off], abs=1e-8)
    assert result.p_given_not_star[off] == pytest.approx(given_not[off], abs=1e-8)
    probabilities = result.probabilities
    assert probabilities.min() >= 0.0 and probabilities.sum() == pytest.approx(1.0, abs=1e-12)
    # the generating joint is one of the optimal distributions: inside every bound ...
    assert np.all(by_state(result, "lower") <= joint + 1e-7)
    assert np.all(joint <= by_state(result, "upper") + 1e-7)
    # ... and the reported one has the most entropy among them
    entropy = -np.sum(probabilities[probabilities > 0] * np.log(probabilities[probabilities > 0]))
    assert entropy >= -np.sum(joint * np.log(joint)) - 1e-9


def slsqp_oracle(p, given, given_not, n: int) -> tuple[float, np.ndarray]:
    """The SMIC objective minimised directly over pi by a generic solver (small n only)."""
    t = state_bits(n).astype(float)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]

    def objective(pi: np.ndarray) -> float:
        m = t.T @ pi
        both = (t * pi[:, None]).T @ t
        total = sum((p[i] - m[i]) ** 2 for i in range(n))
        for i, j in pairs:
            total += (given[i, j] * p[j] - both[i, j]) ** 2
            total += (given_not[i, j] * (1 - p[j]) - (m[i] - both[i, j])) ** 2
        return float(total)

    best = None
    for start in (np.full(2**n, 1 / 2**n), np.random.default_rng(0).dirichlet(np.ones(2**n))):
        found = minimize(
            objective,
            start,
            method="SLSQP",
            bounds=[(0, 1)] * 2**n,
            constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}],
            options={"ftol": 1e-15, "maxiter": 1000},
        )
        if best is None or found.fun < best.fun:
            best = found
    return float(best.fun), t.T @ best.x


def test_incoherent_inputs_match_a_generic_solver() -> None:
    rng = np.random.default_rng(7)
    for n in (3, 4):
        p = rng.uniform(0.1, 0.9, n)
        given = rng.uniform(0.05, 0.95, (n, n))
        given_not = rng.uniform(0.05, 0.95, (n, n))
        result = smic(p, given, given_not, bounds_for=0)
        value, marginals = slsqp_oracle(p, given, given_not, n)
        assert result.objective == pytest.approx(value, abs=1e-8)
        assert result.objective <= value + 1e-12
        assert result.p_star == pytest.approx(marginals, abs=1e-4)


@pytest.mark.parametrize(("seed", "support"), [(0, 8), (1, 6)])
def test_max_entropy_optimum_matches_a_generic_solver(seed: int, support: int) -> None:
    # seed 1 puts the optimum on a face of the feasible set: two scenarios must be 0
    rng = np.random.default_rng(seed)
    n = 3
    p = rng.uniform(0.2, 0.8, n)
    given = rng.uniform(0.1, 0.9, (n, n))
    given_not = rng.uniform(0.1, 0.9, (n, n))
    result = smic(p, given, given_not)
    assert result.support_size == support
    features = _lp.moment_features(state_bits(n))
    found = minimize(
        lambda x: float(np.sum(x * np.log(np.maximum(x, 1e-300)))),
        np.full(2**n, 1 / 2**n),
        method="SLSQP",
        bounds=[(0, 1)] * 2**n,
        constraints=[
            {"type": "eq", "fun": lambda x: x.sum() - 1},
            {"type": "eq", "fun": lambda x: features @ x - result.optimal_moments},
        ],
        options={"ftol": 1e-14, "maxiter": 500},
    )
    assert found.success
    assert result.probabilities == pytest.approx(found.x, abs=1e-5)


def test_bounds_match_cold_linear_programs_and_the_fallback_path(monkeypatch) -> None:
    rng = np.random.default_rng(11)
    n = 4
    p = rng.uniform(0.2, 0.8, n)
    given = np.clip(p[:, None] + rng.normal(0, 0.15, (n, n)), 0.02, 0.98)
    given_not = np.clip(p[:, None] + rng.normal(0, 0.15, (n, n)), 0.02, 0.98)
    warm = smic(p, given, given_not, bounds_for="all")
    features = _lp.moment_features(state_bits(n))
    a_eq = np.vstack([features, np.ones(2**n)])
    b_eq = np.append(warm.optimal_moments, 1.0)
    for state in range(2**n):
        cost = np.zeros(2**n)
        cost[state] = 1.0
        low = linprog(cost, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs").fun
        high = -linprog(-cost, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs").fun
        assert by_state(warm, "lower")[state] == pytest.approx(max(low, 0.0), abs=1e-8)
        assert by_state(warm, "upper")[state] == pytest.approx(high, abs=1e-8)
    # column generation (used beyond 4,096 scenarios) must agree too, also for a set of states
    monkeypatch.setattr(_lp, "WARM_LIMIT", 0)
    generated = smic(p, given, given_not, bounds_for="all")
    assert by_state(generated, "lower") == pytest.approx(by_state(warm, "lower"), abs=1e-8)
    assert by_state(generated, "upper") == pytest.approx(by_state(warm, "upper"), abs=1e-8)
    first_event = state_bits(n)[:, 0] == 1
    assert generated.bounds_of(first_event) == pytest.approx(warm.bounds_of(first_event), abs=1e-8)
    monkeypatch.setattr(_lp, "WARM_LIMIT", 4096)
    monkeypatch.setattr(_lp, "_bundled_highs", lambda: None)
    cold = smic(p, given, given_not, bounds_for="all")
    assert by_state(cold, "lower") == pytest.approx(by_state(warm, "lower"), abs=1e-8)
    assert by_state(cold, "upper") == pytest.approx(by_state(warm, "upper"), abs=1e-8)
    # a set of states: the kept HiGHS model (warm) and linprog (cold) agree, for many sets
    for events in itertools.combinations(range(n), 2):
        both = (state_bits(n)[:, list(events)] == 1).all(axis=1)
        assert cold.bounds_of(both) == pytest.approx(warm.bounds_of(both), abs=1e-8)


def test_exclusive_events_keep_impossible_scenarios_at_zero() -> None:
    # E1 and E2 never occur together: every optimal pi gives those scenarios 0, and the
    # max-entropy fit runs on the remaining face (the unconstrained dual would diverge).
    joint = np.full(8, 1 / 6)
    t = state_bits(3).astype(bool)
    joint[t[:, 0] & t[:, 1]] = 0.0
    p, given, given_not = conditionals_of(joint, 3)
    result = smic(p, given, given_not, bounds_for="all")
    both = t[:, 0] & t[:, 1]
    assert result.maxent_converged
    assert result.probabilities[both] == pytest.approx(0.0, abs=1e-12)
    assert by_state(result, "upper")[both] == pytest.approx(0.0, abs=1e-9)
    assert result.support_size == 6
    assert result.p_star == pytest.approx(p, abs=1e-9)
    assert result.probabilities.sum() == pytest.approx(1.0)


def test_a_face_no_pair_reveals_is_found_by_linear_programs() -> None:
    # pi(000) = pi(111) = 0, the other six 1/6: every pair's 2 x 2 table is positive, but the
    # one free direction eps * prod(2t - 1) moves 000 and 111 in opposite directions, so both
    # must stay 0 and the optimum is unique
    joint = np.full(8, 1 / 6)
    joint[[0, 7]] = 0.0
    p, given, given_not = conditionals_of(joint, 3)
    result = smic(p, given, given_not, bounds_for="all")
    assert result.support_size == 6
    assert result.maxent_converged
    assert result.probabilities == pytest.approx(joint, abs=1e-9)
    assert by_state(result, "lower") == pytest.approx(joint, abs=1e-8)
    assert by_state(result, "upper") == pytest.approx(joint, abs=1e-8)


def test_relabelling_events_permutes_the_results() -> None:
    rng = np.random.default_rng(5)
    n = 4
    p = rng.uniform(0.1, 0.9, n)
    given = rng.uniform(0.05, 0.95, (n, n))
    given_not = rng.uniform(0.05, 0.95, (n, n))
    permutation = np.array([2, 0, 3, 1])
    first = smic(p, given, given_not, bounds_for="all")
    second = smic(
        p[permutation],
        given[np.ix_(permutation, permutation)],
        given_not[np.ix_(permutation, permutation)],
        bounds_for="all",
    )
    assert second.objective == pytest.approx(first.objective, abs=1e-12)
    assert second.p_star == pytest.approx(first.p_star[permutation], abs=1e-9)
    bits = state_bits(n)
    moved = (bits[:, permutation].astype(np.int64) << np.arange(n)).sum(axis=1)
    assert second.probabilities[moved] == pytest.approx(first.probabilities, abs=1e-8)
    assert by_state(second, "upper")[moved] == pytest.approx(by_state(first, "upper"), abs=1e-7)


def test_bounds_for_selects_scenarios() -> None:
    p = np.array([0.3, 0.6, 0.5])
    given = np.tile(p[:, None], (1, 3))
    top_two = smic(p, given, given, bounds_for=2)
    assert top_two.scenarios["upper"].notna().tolist() == [True, True] + [False] * 6
    by_label = smic(p, given, given, bounds_for=["111", 0])
    computed = by_label.scenarios.dropna(subset=["upper"])
    assert sorted(computed["label"]) == ["000", "111"]
    lower, upper = by_label.bounds_of(state_bits(3)[:, 0] == 1)
    assert lower == pytest.approx(0.3) and upper == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (([0.5], [[0]], [[0]]), "at least 2 events"),
        (([0.5, 1.2], np.eye(2), np.eye(2)), r"p\[E02\] = 1.2"),
        (([0.5, 0.5], [[0, 0.5, 0], [0.5, 0, 0]], np.eye(2)), "2 x 2 matrix, not 2 x 3"),
        (([0.5, 0.5], [[0, -0.1], [0.5, 0]], np.eye(2)), r"p_given\[E01, E02\] = -0.1"),
        (([0.5, 0.5], np.eye(2), [[0, 0.5], [np.nan, 0]]), r"p_given_not\[E02, E01\] = nan"),
        (([0.5] * 17, np.eye(17), np.eye(17)), "stops at 16 events"),
        (("ab", np.eye(2), np.eye(2)), "must be numbers"),
    ],
)
def test_bad_input_is_named(arguments, message: str) -> None:
    with pytest.raises(InputError, match=message):
        smic(*arguments)


def test_diagonal_is_ignored_and_keys_are_checked() -> None:
    given = np.array([[np.nan, 0.5], [0.5, 7.0]])
    result = smic([0.5, 0.5], given, given, event_keys=["x", "y"])
    assert result.event_keys == ("x", "y")
    with pytest.raises(InputError, match="appears twice"):
        smic([0.5, 0.5], given, given, event_keys=["x", "x"])
    with pytest.raises(InputError, match="bounds_for"):
        smic([0.5, 0.5], given, given, bounds_for="some")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="scenario label"):
        smic([0.5, 0.5], given, given, bounds_for=["1x"])


def test_labels_list_every_scenario_once() -> None:
    result = smic([0.4, 0.6, 0.5], np.full((3, 3), 0.5), np.full((3, 3), 0.5), bounds_for=0)
    labels = result.scenarios["label"].tolist()
    assert sorted(labels) == ["".join(bits) for bits in itertools.product("01", repeat=3)]
    assert result.scenarios["rank"].tolist() == list(range(1, 9))
    assert np.all(np.diff(result.scenarios["probability"].to_numpy()) <= 1e-12)


def test_an_optimum_off_the_gradients_face_still_bounds_every_scenario() -> None:
    # One simulated expert of a 5,000-strong panel (eight events, the last two never paired):
    # the rounding of the gradient left some states of the least-squares optimum off the face,
    # so no distribution on the face had the optimum's moments, the max-entropy fit failed and
    # every bound LP was infeasible. The optimum's own states now belong to the face.
    p = [0.66, 0.03, 0.39, 0.7, 0.23, 0.48, 0.18, 0.18]
    given = [
        [0.66, 0.58, 0.72, 0.58, 0.56, 0.6, 0.66, 0.66],
        [0.02, 0.03, 0.12, 0.03, 0.14, 0.12, 0.03, 0.03],
        [0.45, 0.34, 0.39, 0.3, 0.3, 0.34, 0.39, 0.39],
        [0.69, 0.86, 0.64, 0.7, 0.82, 0.77, 0.7, 0.7],
        [0.29, 0.31, 0.34, 0.28, 0.23, 0.21, 0.23, 0.23],
        [0.64, 0.45, 0.61, 0.49, 0.44, 0.48, 0.48, 0.48],
        [0.18] * 8,
        [0.18] * 8,
    ]
    given_not = [
        [0.66, 0.74, 0.6, 0.74, 0.76, 0.72, 0.66, 0.66],
        [0.04, 0.03, 0.01, 0.03, 0.01, 0.01, 0.03, 0.03],
        [0.33, 0.44, 0.39, 0.48, 0.48, 0.44, 0.39, 0.39],
        [0.71, 0.54, 0.76, 0.7, 0.58, 0.63, 0.7, 0.7],
        [0.17, 0.15, 0.12, 0.18, 0.23, 0.25, 0.23, 0.23],
        [0.32, 0.51, 0.35, 0.47, 0.52, 0.48, 0.48, 0.48],
        [0.18] * 8,
        [0.18] * 8,
    ]
    asked = np.zeros((8, 8), dtype=bool)
    asked[:6, :6] = True
    np.fill_diagonal(asked, False)
    result = smic(p, given, given_not, asked=asked, bounds_for=0)
    assert result.maxent_converged
    assert result.possible[result.sparse_optimum > 0].all()
    # the max-entropy pi has the optimum's moments
    features = _lp.moment_features(state_bits(8))
    assert np.allclose(features[:8] @ result.probabilities, result.p_star, atol=1e-7)
    top = [int(s) for s in result.scenarios["state"][:5]]
    lower, upper = result.state_bounds(top)
    assert np.all(lower <= result.probabilities[top] + 1e-9)
    assert np.all(result.probabilities[top] <= upper + 1e-9)
    # the bounds agree with plain LPs over every state (no face assumed)
    matrix = np.vstack([features[result.constrained], np.ones((1, 256))])
    rhs = np.append(result.optimal_moments[result.constrained], 1.0)
    for state, low, high in zip(top, lower, upper, strict=True):
        cost = np.zeros(256)
        cost[state] = 1.0
        best = linprog(-cost, A_eq=matrix, b_eq=rhs, bounds=(0, None), method="highs")
        worst = linprog(cost, A_eq=matrix, b_eq=rhs, bounds=(0, None), method="highs")
        assert high == pytest.approx(-best.fun, abs=1e-7)
        assert low == pytest.approx(worst.fun, abs=1e-7)
