"""Scenario ranking and trend impact analysis over the panel's final (frozen) estimates.

The public entry point of the result services, gathered from the modules that do the work:

- result_inputs.py: the closed rounds' snapshots and the pooled probabilities and conditionals
  every method starts from (`closed_snapshots`, `latest_item_data`, `event_inputs`,
  `probability_question`, `require_closed_round`);
- scenario_results.py: SMIC, the pairwise maximum-entropy model and cross-impact Monte Carlo
  (`scenario_results`), assembled by analysis.scenarios.assemble;
- trend_results.py: trend impact analysis (`tia_results`), assembled by analysis.trend_assembly.

Nothing here is cached; every random procedure takes a seed and the result says which.
"""

from __future__ import annotations

from analysis.scenarios.assemble import RankedScenario, ScenarioEstimate
from analysis.trend_assembly import ForecastYear, TiaEvent
from app.services.result_inputs import (
    EventInputs,
    closed_snapshots,
    event_inputs,
    latest_item_data,
    probability_question,
    require_closed_round,
)
from app.services.scenario_results import (
    TOP_SCENARIOS,
    EventEstimate,
    MethodSummary,
    NamedScenario,
    ScenarioResults,
    scenario_results,
)
from app.services.trend_results import (
    BOOTSTRAP_LEVEL,
    TIA_QUANTILES,
    TrendImpact,
    tia_results,
)

__all__ = [
    "BOOTSTRAP_LEVEL",
    "TIA_QUANTILES",
    "TOP_SCENARIOS",
    "EventEstimate",
    "EventInputs",
    "ForecastYear",
    "MethodSummary",
    "NamedScenario",
    "RankedScenario",
    "ScenarioEstimate",
    "ScenarioResults",
    "TiaEvent",
    "TrendImpact",
    "closed_snapshots",
    "event_inputs",
    "latest_item_data",
    "probability_question",
    "require_closed_round",
    "scenario_results",
    "tia_results",
]
