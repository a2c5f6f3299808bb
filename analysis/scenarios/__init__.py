"""Scenario probabilities from pooled expert judgments (methods.md section 4).

- `smic`: coherent scenario probabilities from P(i), P(i|j), P(i|not j) by least squares over all
  2^n scenarios (up to 16 events), ranked by the max-entropy optimum, with [min, max] bounds.
- `fit_maxent` / `MaxEntModel`: the pairwise maximum-entropy (log-linear) joint distribution and
  its most likely scenarios without listing all of them (`top_k`).
- `cross_impact`: Gordon-Hayward cross-impact Monte Carlo with calibration.
- `scenario_probabilities`: probabilities of named scenarios (Boolean expressions over events).

A scenario is labelled by its bit string, event 1 first ("101" = events 1 and 3 occur) and indexed
by sum_i t_i 2^i.
"""

from analysis.scenarios.crossimpact import CrossImpactResult, cross_impact
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
    "MaxEntModel",
    "SmicResult",
    "TopScenarios",
    "cross_impact",
    "fit_maxent",
    "joint_from_conditionals",
    "model_from_parameters",
    "scenario_probabilities",
    "smic",
]
