"""Scenario tables assembled for reporting: ranked rows, named-scenario estimates and the
pairwise maximum-entropy model over all events built from SMIC's coherent pairwise moments.

The service (app/services/scenario_results.py) reads the panel's estimates and calls these;
everything here is pure: plain data and DataFrames in, frozen dataclasses and models out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.expressions import parse_expression
from analysis.jsonable import finite
from analysis.scenarios.maxent import (
    EXACT_LIMIT,
    MaxEntModel,
    fit_maxent,
    model_from_parameters,
)

#: probabilities are held this far from 0 and 1 before taking log-odds
_CLIP = 1e-6


@dataclass(frozen=True)
class RankedScenario:
    """One scenario (which events occur; the others do not) and its probability."""

    rank: int
    occurring: tuple[str, ...]
    probability: float
    lower: float | None
    upper: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "rank": self.rank,
            "occurring": list(self.occurring),
            "probability": finite(self.probability),
            "lower": finite(self.lower),
            "upper": finite(self.upper),
        }


@dataclass(frozen=True)
class ScenarioEstimate:
    """A named scenario's probability under one method, with bounds or an interval."""

    method: str
    probability: float
    lower: float
    upper: float
    note: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "method": self.method,
            "probability": finite(self.probability),
            "lower": finite(self.lower),
            "upper": finite(self.upper),
            "note": self.note,
        }


def logit(p: float) -> float:
    """log(p / (1 - p))."""
    return math.log(p / (1.0 - p))


def expression_events(expression: str, keys: Sequence[str]) -> tuple[str, ...]:
    """The event keys an expression uses, in the order of `keys`, then unknown names sorted."""
    names = parse_expression(expression).names
    return tuple(k for k in keys if k in names) + tuple(sorted(n for n in names if n not in keys))


def occurring(label: Any) -> tuple[str, ...]:
    """Event keys from analysis' 'E01 + E06' labels ('none' when no event occurs)."""
    if isinstance(label, str):
        return () if label in ("", "none") else tuple(label.split(" + "))
    return tuple(str(k) for k in label)


def ranked(
    table: pd.DataFrame, limit: int, value: str = "probability"
) -> tuple[RankedScenario, ...]:
    """The first `limit` rows of an analysis scenario table."""
    rows = []
    for _, row in table.head(limit).iterrows():
        lower = row.get("lower")
        upper = row.get("upper")
        rows.append(
            RankedScenario(
                rank=int(row["rank"]),
                occurring=occurring(row["occurring"]),
                probability=float(row[value]),
                lower=None if lower is None or pd.isna(lower) else float(lower),
                upper=None if upper is None or pd.isna(upper) else float(upper),
            )
        )
    return tuple(rows)


def estimates_by_name(table: pd.DataFrame) -> dict[str, list[ScenarioEstimate]]:
    """Named-scenario rows (scenario_probabilities' table) grouped by scenario name."""
    found: dict[str, list[ScenarioEstimate]] = {}
    for _, row in table.iterrows():
        found.setdefault(str(row["name"]), []).append(
            ScenarioEstimate(
                method=str(row["method"]),
                probability=float(row["probability"]),
                lower=float(row["lower"]),
                upper=float(row["upper"]),
                note=str(row["note"]),
            )
        )
    return found


def merge_estimates(
    into: dict[str, list[ScenarioEstimate]], new: Mapping[str, list[ScenarioEstimate]]
) -> None:
    """Append estimates per scenario (in place)."""
    for key, rows in new.items():
        into.setdefault(key, []).extend(rows)


def block_maxent(
    keys: Sequence[str],
    probabilities: Mapping[str, float],
    block: Sequence[str],
    moments: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None,
    needed: set[str],
    *,
    blend: float,
) -> tuple[MaxEntModel, MaxEntModel, dict[str, Any]]:
    """The pairwise max-entropy model over all events: the block's coherent pairwise moments
    (SMIC's), blended towards independence by `blend`, every other event independent.

    Returns the full model, the model restricted to the block and the `needed` events (exact
    when small enough) and facts (blend, block, events, max_moment_error)."""
    p = {k: probabilities[k] for k in keys}
    h = {k: logit(min(max(p[k], _CLIP), 1 - _CLIP)) for k in keys}
    couplings: dict[tuple[str, str], float] = {}
    facts: dict[str, Any] = {"blend": 0.0, "block": list(block)}
    log_block = 0.0
    if moments is not None and len(block) >= 2:
        marginal, joint = moments
        marginal = np.clip(marginal, _CLIP, 1 - _CLIP)
        independent = np.outer(marginal, marginal)
        blended = (1.0 - blend) * joint + blend * independent
        np.fill_diagonal(blended, marginal)
        fitted = fit_maxent(marginal, blended, event_keys=block)
        facts["blend"] = blend
        facts["max_moment_error"] = float(fitted.max_moment_error)
        for i, a in enumerate(block):
            h[a] = float(fitted.h[i])
            for j, b in enumerate(block):
                if i != j and fitted.J[i, j] != 0.0:
                    couplings[(a, b)] = float(fitted.J[i, j])
        log_block = float(fitted.log_partition or 0.0)
    else:
        block = []
    index = {k: i for i, k in enumerate(keys)}
    fields = np.array([h[k] for k in keys])
    matrix = np.zeros((len(keys), len(keys)))
    for (a, b), value in couplings.items():
        matrix[index[a], index[b]] = value
    outside = [h[k] for k in keys if k not in set(block)]
    log_z = log_block + float(sum(np.logaddexp(0.0, v) for v in outside))
    full = MaxEntModel(
        event_keys=tuple(keys), h=fields, J=matrix, log_partition=log_z, method="block"
    )
    facts["events"] = len(keys)
    return full, restricted_model(full, set(block) | set(needed)), facts


def restricted_model(model: MaxEntModel, needed: set[str]) -> MaxEntModel:
    """The model over the `needed` events, when they are independent of the rest.

    Summing out events that are independent of these leaves these events' model unchanged;
    with at most EXACT_LIMIT events it is summed exactly, else the full model is returned (and
    sampled by its user)."""
    keys = list(model.event_keys)
    chosen = [k for k in keys if k in needed]
    if len(chosen) > EXACT_LIMIT or len(chosen) == len(keys):
        return model
    picks = [keys.index(k) for k in chosen]
    return model_from_parameters(model.h[picks], model.J[np.ix_(picks, picks)], event_keys=chosen)
