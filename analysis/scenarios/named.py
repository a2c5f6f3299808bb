"""Probabilities of named scenarios: Boolean expressions over events, e.g. "E01 and not E09".

Each scenario is the set of event states for which its expression is true. Under SMIC it gets the
max-entropy probability and the [min, max] over every distribution that is optimal for SMIC's
objective (two LPs over the union of its states); under the max-entropy model its exact
probability by enumeration (up to EXACT_LIMIT events) or a seeded Monte Carlo estimate with a 95 %
interval; under cross-impact its share of plays with a 95 % Wilson interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import partial

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.errors import InputError
from analysis.expressions import Expression, parse_expression
from analysis.scenarios._common import (
    BoolArray,
    check_positive_int,
    check_seed,
    state_bits,
    wilson_interval,
)
from analysis.scenarios.crossimpact import CrossImpactResult
from analysis.scenarios.experts import ExpertPooling
from analysis.scenarios.maxent import EXACT_LIMIT, Z_95, MaxEntModel
from analysis.scenarios.smic import SmicResult

COLUMNS = ["name", "expression", "method", "probability", "lower", "upper", "note"]


def _matches(expression: Expression, bits: npt.NDArray[np.uint8], keys: Sequence[str]) -> BoolArray:
    env = {key: bits[:, i] for i, key in enumerate(keys)}
    return np.asarray(expression.evaluate_array(env), dtype=bool).reshape(bits.shape[0])


def _check_keys(method: str, given: Sequence[str], expected: Sequence[str]) -> None:
    if tuple(given) != tuple(expected):
        raise InputError(
            f"the {method} result has events {', '.join(given)} but event_keys lists "
            f"{', '.join(expected)} (same events, same order needed)"
        )


def scenario_probabilities(
    expressions: Mapping[str, str],
    *,
    event_keys: Sequence[str],
    smic: SmicResult | None = None,
    maxent: MaxEntModel | None = None,
    crossimpact: CrossImpactResult | None = None,
    experts: ExpertPooling | None = None,
    seed: int = 0,
    samples: int = 200_000,
) -> pd.DataFrame:
    """One row per named scenario and method: probability with [lower, upper] and a note.

    seed and samples are used only for a max-entropy model too large to enumerate.
    """
    keys = tuple(str(k) for k in event_keys)
    if not expressions:
        raise InputError("no named scenarios given")
    parsed: dict[str, Expression] = {}
    for name, text in expressions.items():
        try:
            parsed[name] = parse_expression(text, allowed_names=keys)
        except InputError as error:
            raise InputError(f"scenario {name!r}: {error}") from None
    rows: list[dict[str, object]] = []
    if smic is not None:
        _check_keys("smic", smic.event_keys, keys)
        bits = state_bits(len(keys))
        for name, expression in parsed.items():
            mask = _matches(expression, bits, keys)
            lower, upper = smic.bounds_of(mask)
            rows.append(
                {
                    "name": name,
                    "expression": expressions[name],
                    "method": "smic",
                    "probability": float(smic.probabilities[mask].sum()),
                    "lower": lower,
                    "upper": upper,
                    "note": "max-entropy value; [min, max] over all SMIC-optimal distributions",
                }
            )
    if experts is not None:
        _check_keys("smic_experts", experts.event_keys, keys)
        bits = state_bits(len(keys))
        for name, expression in parsed.items():
            mask = _matches(expression, bits, keys)
            lower, upper = experts.bounds_of(mask)
            value = float(experts.probabilities[mask].sum())
            rows.append(
                {
                    "name": name,
                    "expression": expressions[name],
                    "method": "smic_experts",
                    "probability": value,
                    "lower": min(lower, value),
                    "upper": max(upper, value),
                    "note": f"average of {len(experts.experts)} experts' own SMIC distributions; "
                    "[min, max] averaged",
                }
            )
    if maxent is not None:
        _check_keys("maxent", maxent.event_keys, keys)
        rows.extend(_maxent_rows(parsed, expressions, maxent, keys, seed, samples))
    if crossimpact is not None:
        _check_keys("cross-impact", crossimpact.event_keys, keys)
        bits = state_bits(len(keys), crossimpact.state_indices)
        for name, expression in parsed.items():
            hits = int(crossimpact.state_counts[_matches(expression, bits, keys)].sum())
            lower_array, upper_array = wilson_interval(np.asarray([hits]), crossimpact.plays)
            rows.append(
                {
                    "name": name,
                    "expression": expressions[name],
                    "method": "crossimpact",
                    "probability": hits / crossimpact.plays,
                    "lower": float(lower_array[0]),
                    "upper": float(upper_array[0]),
                    "note": f"share of {crossimpact.plays} plays (seed {crossimpact.seed}); 95 % Wilson interval",
                }
            )
    if not rows:
        raise InputError("give at least one of smic, smic_experts, maxent or crossimpact")
    return pd.DataFrame(rows, columns=COLUMNS)


def _maxent_rows(
    parsed: Mapping[str, Expression],
    expressions: Mapping[str, str],
    model: MaxEntModel,
    keys: Sequence[str],
    seed: int,
    samples: int,
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    if model.n <= EXACT_LIMIT:
        for name, expression in parsed.items():
            value = model.probability_where(partial(_matches, expression, keys=keys))
            rows.append(
                {
                    "name": name,
                    "expression": expressions[name],
                    "method": "maxent",
                    "probability": value,
                    "lower": value,
                    "upper": value,
                    "note": "exact (all scenarios summed)",
                }
            )
        return rows
    seed = check_seed(seed)
    samples = check_positive_int(samples, name="samples")
    bits, chain = model.sample(samples, seed=seed)
    chains = int(chain.max()) + 1
    sizes = np.bincount(chain, minlength=chains)
    for name, expression in parsed.items():
        hit = _matches(expression, bits, keys)
        share = float(hit.mean())
        per_chain = np.bincount(chain, weights=hit, minlength=chains) / np.maximum(sizes, 1)
        error = float(per_chain.std(ddof=1) / math.sqrt(chains)) if chains > 1 else math.nan
        rows.append(
            {
                "name": name,
                "expression": expressions[name],
                "method": "maxent",
                "probability": share,
                "lower": max(0.0, share - Z_95 * error),
                "upper": min(1.0, share + Z_95 * error),
                "note": f"Monte Carlo, {bits.shape[0]} draws (seed {seed}); 95 % interval from {chains} chains",
            }
        )
    return rows
