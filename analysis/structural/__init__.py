"""Structural analysis: CIB scenarios, MICMAC influence maps and MACTOR actor analysis.

- `cib_model`, `consistent_scenarios`, `succession`, `impact_balances`, `balance_table`:
  cross-impact balance analysis (Weimer-Jehle); `panel_ensemble` and `noise_ensemble` for many
  matrices; `read_scw` / `write_scw` for ScenarioWizard files.
- `micmac`: direct and indirect influence and dependence of variables (Godet).
- `mactor`: actors' balance of power, positions on objectives, convergences and divergences.
"""

from analysis.structural.cib import (
    CibModel,
    Succession,
    balance_table,
    cib_model,
    impact_balances,
    inconsistency,
    is_consistent,
    succession,
    total_impact_score,
)
from analysis.structural.cib_ensemble import Ensemble, noise_ensemble, panel_ensemble
from analysis.structural.cib_search import ScenarioSet, consistent_scenarios
from analysis.structural.mactor import MactorResult, mactor
from analysis.structural.micmac import MicmacResult, micmac
from analysis.structural.scw import read_scw, read_solution_list, write_scw

__all__ = [
    "CibModel",
    "Ensemble",
    "MactorResult",
    "MicmacResult",
    "ScenarioSet",
    "Succession",
    "balance_table",
    "cib_model",
    "consistent_scenarios",
    "impact_balances",
    "inconsistency",
    "is_consistent",
    "mactor",
    "micmac",
    "noise_ensemble",
    "panel_ensemble",
    "read_scw",
    "read_solution_list",
    "succession",
    "total_impact_score",
    "write_scw",
]
