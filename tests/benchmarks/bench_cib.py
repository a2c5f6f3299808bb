"""CIB at the sizes the project promises (`python -m tests.benchmarks cib`).

Seeded random models with judgements -3..+3 (40 % of them 0, as in practice most pairs have no
direct influence), and the public 17-descriptor ScenarioWizard model of the tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from analysis.structural.cib import CibModel, cib_model
from analysis.structural.cib_ensemble import panel_ensemble
from analysis.structural.cib_search import consistent_scenarios
from analysis.structural.scw import read_scw
from tests.benchmarks.harness import Case

NESTED = Path(__file__).resolve().parents[1] / "analysis" / "data" / "cib" / "CIB_nested.scw"


def random_model(counts: list[int], seed: int) -> CibModel:
    """A seeded CIB model with the given variant counts."""
    rng = np.random.default_rng(seed)
    size = sum(counts)
    matrix = rng.integers(-3, 4, (size, size))
    matrix[rng.random((size, size)) < 0.4] = 0
    return cib_model(
        [f"D{i + 1}" for i in range(len(counts))],
        [[f"v{j + 1}" for j in range(c)] for c in counts],
        matrix,
    )


def solve(model: CibModel) -> dict[str, str]:
    """All consistent scenarios; reports how many and the partial scenarios visited."""
    found = consistent_scenarios(model)
    return {
        "configurations / consistent / visited": (
            f"{model.configurations:,} / {len(found)} / {found.visited:,}"
        )
    }


def panel(counts: list[int], members: int) -> dict[str, Any]:
    """A base model and `members` experts' matrices: the base with one-step disagreements."""
    model = random_model(counts, 7)
    rng = np.random.default_rng(8)
    base = np.asarray(model.matrix)
    matrices = [
        np.clip(base + rng.integers(-1, 2, base.shape) * (rng.random(base.shape) < 0.3), -3, 3)
        for _ in range(members)
    ]
    return {"model": model, "matrices": matrices}


def run_panel(data: dict[str, Any]) -> dict[str, str]:
    """The panel ensemble; reports the scenarios found and the best one's share."""
    ensemble = panel_ensemble(data["model"], data["matrices"])
    top = ensemble.table["share"].iloc[0] if len(ensemble.table) else 0.0
    return {"scenarios in any member / best share": f"{len(ensemble.table)} / {top:.2f}"}


CASES = [
    Case(
        "cib: 12 descriptors (6,6,6 + 9 x 5), 4.2e8 configurations",
        10.0,
        solve,
        setup=lambda: random_model([6, 6, 6] + [5] * 9, 2),
        repeat=2,
    ),
    Case(
        "cib: ScenarioWizard model, 17 descriptors, 4.1e8 configs",
        10.0,
        solve,
        setup=lambda: read_scw(NESTED.read_text()),
    ),
    Case(
        "cib: 10 descriptors of 4 variants, 1.0e6 configurations",
        0.2,
        solve,
        setup=lambda: random_model([4] * 10, 2),
    ),
    Case(
        "cib: panel ensemble, 100 matrices of a 1e5-config model",
        5.0,
        run_panel,
        setup=lambda: panel([5, 5, 5, 5, 5, 4, 4, 2], 100),
        repeat=2,
    ),
]
