"""`python -m analysis experts`: per-expert coherence and scenario probabilities by both poolings.

Input: one CSV of every expert's judgements, long format, columns expert, event, given, value:
an empty `given` is the expert's P(event); `given` = B is P(event | B); `given` = "not B" is
P(event | not B). Values are probabilities 0-1. Output: a JSON document with the coherence of
each expert and of the panel, and SMIC on the pooled inputs (log-odds pool of each cell) and/or
SMIC per expert averaged (--pooling), unasked pairs unknown or independent (--unasked).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import InputError
from analysis.expert_coherence import Judgements, panel_coherence
from analysis.pooling import pool
from analysis.scenarios.cli import _emit, _head, _nonnegative, _probability, _rows
from analysis.scenarios.experts import (
    POOLING_CHOICES,
    UNASKED_CHOICES,
    pool_experts,
    run_smic,
    smic_inputs,
)
from analysis.settings import AnalysisSettings

#: clipping before the log-odds pool of the inputs: the platform's default (`pooling_eps`)
POOLING_EPS = AnalysisSettings().pooling_eps


def read_judgements(path: str) -> tuple[list[str], dict[str, Judgements]]:
    """(event keys in first-seen order, expert -> judgements) from the long CSV."""
    rows = _rows(path)
    header = [cell.strip().lower() for cell in rows[0]]
    for needed in ("expert", "event", "given", "value"):
        if needed not in header:
            raise InputError(f"{path}: the header needs a {needed!r} column")
    at = {name: header.index(name) for name in ("expert", "event", "given", "value")}
    keys: list[str] = []
    p: dict[str, dict[str, float]] = {}
    given: dict[str, dict[tuple[str, str], float]] = {}
    given_not: dict[str, dict[tuple[str, str], float]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) <= max(at.values()):
            raise InputError(f"{path}, line {line}: expected {max(at.values()) + 1} cells")
        expert, event = row[at["expert"]].strip(), row[at["event"]].strip()
        condition = row[at["given"]].strip()
        if not expert or not event:
            raise InputError(f"{path}, line {line}: empty expert or event")
        value = _probability(row[at["value"]], f"{path}, line {line}, value")
        if event not in keys:
            keys.append(event)
        if not condition:
            p.setdefault(expert, {})[event] = value
        elif condition.lower().startswith("not "):
            given_not.setdefault(expert, {})[(event, condition[4:].strip())] = value
        else:
            given.setdefault(expert, {})[(event, condition)] = value
    experts = sorted(set(p) | set(given) | set(given_not))
    for own in (*given.values(), *given_not.values()):
        for _, other in own:
            if other not in keys:
                keys.append(other)
    return keys, {
        e: Judgements(p.get(e, {}), given.get(e, {}), given_not.get(e, {})) for e in experts
    }


def _pooled_inputs(keys: list[str], experts: dict[str, Judgements]) -> Judgements:
    """Each P(i) and each asked cell pooled over the experts who gave it (log-odds)."""

    def logodds(values: list[float]) -> float:
        return float(pool(np.asarray(values), method="logodds", eps=POOLING_EPS).p)

    p: dict[str, float] = {}
    for key in keys:
        values = [j.p[key] for j in experts.values() if key in j.p]
        if not values:
            raise InputError(f"no expert gave P({key})")
        p[key] = logodds(values)
    cells = {cell for j in experts.values() for cell in j.given if cell in j.given_not}
    given = {c: logodds([j.given[c] for j in experts.values() if c in j.given]) for c in cells}
    given_not = {
        c: logodds([j.given_not[c] for j in experts.values() if c in j.given_not]) for c in cells
    }
    return Judgements(p, given, given_not)


def run_experts(args: argparse.Namespace) -> int:
    """experts: per-expert coherence and scenario probabilities under both poolings."""
    keys, experts = read_judgements(args.judgements)
    coherence = panel_coherence(experts, tolerance=args.tolerance)
    document: dict[str, Any] = {
        "method": "experts",
        "settings": {"scenario_pooling": args.pooling, "unasked_pairs": args.unasked},
        "events": keys,
        "coherence": {
            "panel": coherence.summary(),
            "experts": [e.as_dict() for e in coherence.experts],
        },
    }
    table = None
    if len(keys) >= 2:
        pooled = _pooled_inputs(keys, experts)
        inputs = smic_inputs(keys, pooled, unasked=args.unasked)
        document["unasked_pairs"] = [list(cell) for cell in inputs.unasked]
        if args.pooling in ("inputs", "both"):
            result = run_smic(inputs, bounds_for=args.top or "all")  # type: ignore[arg-type]
            table = _head(result.scenarios, args.top)
            document["inputs"] = {
                "objective": result.objective,
                "p_star": dict(zip(keys, result.p_star.tolist(), strict=True)),
                "scenarios": table,
            }
        if args.pooling in ("experts", "both"):
            by_expert = pool_experts(
                keys, experts, fallback_p=pooled.p, unasked=args.unasked, top=args.top or 2**20
            )
            table = by_expert.scenarios
            document["experts"] = {
                "p_star": dict(zip(keys, by_expert.p_star.tolist(), strict=True)),
                "fits": [fit.__dict__ for fit in by_expert.experts],
                "scenarios": table,
            }
    return _emit(args, document, table if table is not None else pd.DataFrame())


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the experts subcommand."""
    parser = subparsers.add_parser(
        "experts",
        help="per-expert coherence, and SMIC on pooled inputs beside SMIC per expert averaged",
        description="Reads every expert's P(event), P(event | B), P(event | not B) (long CSV: "
        "expert, event, given, value; given empty, B or 'not B') and reports each expert's "
        "coherence and the scenario probabilities under both poolings.",
    )
    parser.add_argument("--judgements", required=True, metavar="CSV", help="long CSV, see above")
    parser.add_argument(
        "--pooling", choices=POOLING_CHOICES, default="both", help="scenario pooling (default both)"
    )
    parser.add_argument(
        "--unasked",
        choices=UNASKED_CHOICES,
        default="unknown",
        help="a pair nobody was asked: unknown (default, no constraint) or independent",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="violations above this many percentage points are counted (default 0)",
    )
    parser.add_argument(
        "--top", type=_nonnegative, default=10, help="scenarios to list (default 10; 0 = all)"
    )
    parser.add_argument(
        "--format",
        choices=("json", "csv"),
        default="json",
        help="JSON document (default) or the last scenario table as CSV",
    )
    parser.set_defaults(func=run_experts)
