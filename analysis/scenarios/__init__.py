"""Scenario probabilities from pooled expert judgments (methods.md section 4).

- `smic`: coherent scenario probabilities from P(i), P(i|j), P(i|not j) by least squares over all
  2^n scenarios (up to 16 events), ranked by the max-entropy optimum, with [min, max] bounds.
- `fit_maxent` / `MaxEntModel`: the pairwise maximum-entropy (log-linear) joint distribution and
  its most likely scenarios without listing all of them (`top_k`).
- `cross_impact`: Gordon-Hayward cross-impact Monte Carlo with calibration.
- `scenario_probabilities`: probabilities of named scenarios (Boolean expressions over events).
- `smic_inputs` / `pool_experts`: SMIC's arrays with unasked pairs unknown (or independent), and
  SMIC run on each expert's own judgements with the experts' scenario probabilities averaged.
- `impacts_from_asked`: cross-impact matrices read in the direction each conditional was asked.

A scenario is labelled by its bit string, event 1 first ("101" = events 1 and 3 occur) and indexed
by sum_i t_i 2^i.
"""

from analysis.scenarios.crossimpact import CrossImpactResult, cross_impact, impacts_from_asked
from analysis.scenarios.experts import (
    ExpertPooling,
    SmicInputs,
    pool_experts,
    run_smic,
    smic_inputs,
)
from analysis.scenarios.maxent import (
    MaxEntModel,
    TopScenarios,
    fit_maxent,
    joint_from_conditionals,
    model_from_parameters,
)
from analysis.scenarios.named import scenario_probabilities
from analysis.scenarios.smic import SmicResult, smic

__all__ = [
    "CrossImpactResult",
    "ExpertPooling",
    "MaxEntModel",
    "SmicInputs",
    "SmicResult",
    "TopScenarios",
    "cross_impact",
    "fit_maxent",
    "impacts_from_asked",
    "joint_from_conditionals",
    "model_from_parameters",
    "pool_experts",
    "run_smic",
    "scenario_probabilities",
    "smic",
    "smic_inputs",
]
