"""Scenario methods at the sizes the project promises (`python -m tests.benchmarks scenario`).

Inputs are seeded and realistic: pairwise probabilities of a random sparse log-linear joint
distribution, then rounded to two decimals with a little noise, as a panel's pooled answers
would be (so the SMIC inputs are slightly incoherent).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from analysis.scenarios import cross_impact, fit_maxent, model_from_parameters, smic
from tests.benchmarks.harness import Case


def random_model(n: int, seed: int, density: float = 0.3, scale: float = 0.8) -> Any:
    """A sparse log-linear model: events mostly unlikely, a third of the pairs linked."""
    rng = np.random.default_rng(seed)
    h = rng.normal(-1.0, 1.0, n)
    links = np.triu(rng.normal(0.0, scale, (n, n)) * (rng.random((n, n)) < density), 1)
    return model_from_parameters(h, links + links.T)


def panel_answers(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P(i), P(i|j), P(i|not j) from a random joint, with noise, rounded like pooled answers."""
    p, joint = random_model(n, seed).moments()
    rng = np.random.default_rng(seed + 1)

    def answer(x: np.ndarray) -> np.ndarray:
        return np.round(np.clip(x + rng.normal(0.0, 0.02, np.shape(x)), 0.01, 0.99), 2)

    return answer(p), answer(joint / p[None, :]), answer((p[:, None] - joint) / (1.0 - p[None, :]))


def run_smic(bounds_for: int | str) -> Any:
    """SMIC on prepared answers; reports the objective and how many bounds were computed."""

    def run(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict[str, str]:
        result = smic(*data, bounds_for=bounds_for)  # type: ignore[arg-type]
        return {
            "objective": f"{result.objective:.3g}",
            "support": str(result.support_size),
            "bounds computed": str(int(result.scenarios["upper"].notna().sum())),
        }

    return run


def fit(data: tuple[np.ndarray, np.ndarray]) -> dict[str, str]:
    """Exact max-entropy fit; reports iterations and the moment error."""
    model = fit_maxent(*data)
    return {
        "iterations": str(model.iterations),
        "max moment error": f"{model.max_moment_error:.2g}",
    }


def sampled_moments(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """P(i) and P(i and j) of a sparse log-linear model, estimated from 200,000 draws."""
    bits, _ = random_model(n, seed, density=0.2, scale=0.5).sample(200_000, seed=seed)
    values = bits.astype(np.float64)
    return values.mean(axis=0), np.einsum("ki,kj->ij", values, values) / values.shape[0]


def fit_montecarlo(data: tuple[np.ndarray, np.ndarray]) -> dict[str, str]:
    """Seeded Monte Carlo max-entropy fit; reports its estimated moment error."""
    model = fit_maxent(*data, method="montecarlo", seed=1)
    return {"estimated max moment error": f"{model.max_moment_error:.2g}"}


def top_independent(model: Any) -> dict[str, str]:
    """Exact best-first top 50 of 40 independent events."""
    top = model.top_k(50)
    return {
        "method": top.method,
        "exact": str(top.exact),
        "p(top)": f"{top.table['probability'].iloc[0]:.3g}",
    }


def top_dependent(model: Any) -> dict[str, str]:
    """Seeded Gibbs top 50 of 40 dependent events, with 95 % intervals."""
    top = model.top_k(50, method="montecarlo", seed=1)
    row = top.table.iloc[0]
    return {
        "samples": str(top.samples),
        "top scenario": f"{row['probability']:.3g} [{row['lower']:.3g}, {row['upper']:.3g}]",
    }


def simulate(data: tuple[np.ndarray, np.ndarray]) -> dict[str, str]:
    """1,000,000 calibrated cross-impact plays of 20 events."""
    result = cross_impact(*data, plays=1_000_000, seed=1)
    return {
        "calibration iterations": str(result.calibration_iterations),
        "largest |frequency - P|": f"{np.max(np.abs(result.frequency - result.p)):.2g}",
        "distinct scenarios": str(result.state_indices.size),
    }


def cross_impact_inputs() -> tuple[np.ndarray, np.ndarray]:
    """P(j) and P(j | i occurs) for 20 events, from a random joint (rounded)."""
    p, joint = random_model(20, 5).moments()
    given = joint / p[:, None]  # [i, j] = P(j | i)
    return np.round(p, 2), np.round(np.clip(given, 0.01, 0.99), 2)


CASES = [
    Case(
        "scenarios smic: 12 events (4096 scenarios), bounds for top 50",
        5.0,
        run_smic(50),
        setup=lambda: panel_answers(12, 1),
        note="QP by NNLS, max-entropy optimum, 100 warm-started LPs",
    ),
    Case(
        "scenarios smic: 8 events, bounds for all 256 scenarios",
        2.0,
        run_smic("all"),
        setup=lambda: panel_answers(8, 2),
    ),
    Case(
        "scenarios maxent: exact fit, 16 events",
        5.0,
        fit,
        setup=lambda: random_model(16, 3).moments(),
    ),
    Case(
        "scenarios maxent: exact fit, 20 events",
        60.0,
        fit,
        setup=lambda: random_model(20, 4).moments(),
        repeat=1,
        note="2^20 states summed per Newton-CG step",
    ),
    Case(
        "scenarios maxent: Monte Carlo fit, 40 events",
        10.0,
        fit_montecarlo,
        setup=lambda: sampled_moments(40, 8),
        note="400 stochastic-approximation steps on 2,000 Gibbs chains",
    ),
    Case(
        "scenarios maxent: top 50 of 40 independent events (exact)",
        1.0,
        top_independent,
        setup=lambda: model_from_parameters(
            np.random.default_rng(6).normal(-1, 1.5, 40), np.zeros((40, 40))
        ),
    ),
    Case(
        "scenarios maxent: top 50 of 40 dependent events (Monte Carlo)",
        5.0,
        top_dependent,
        setup=lambda: random_model(40, 7, density=0.2, scale=0.5),
        note="200,000 Gibbs draws in 1,000 chains",
    ),
    Case(
        "scenarios crossimpact: 1,000,000 plays x 20 events, calibrated",
        5.0,
        simulate,
        setup=cross_impact_inputs,
    ),
]
