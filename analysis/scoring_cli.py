"""`python -m analysis score`: Brier and log scores of forecasts once their events resolve."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

import numpy as np
import pandas as pd

from analysis.errors import InputError
from analysis.pooling import pool
from analysis.scoring import DEFAULT_EPS, score_forecasts


def run_score(args: argparse.Namespace) -> None:
    """Score each expert and the panel's pooled forecasts against the outcomes (JSON)."""
    from analysis.cli import emit  # analysis.cli imports this module

    try:
        forecasts = pd.read_csv(args.forecasts)
        outcomes = pd.read_csv(args.outcomes)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read the CSV files: {error}") from None
    for name, frame, columns in (
        ("forecasts", forecasts, ("expert", "item", "p")),
        ("outcomes", outcomes, ("item", "outcome")),
    ):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputError(f"the {name} file lacks the column(s) {', '.join(missing)}")
    if outcomes["item"].duplicated().any():
        item = outcomes.loc[outcomes["item"].duplicated(), "item"].iloc[0]
        raise InputError(f"the outcomes file gives item {item!r} twice")
    scale = 100.0 if args.percent else 1.0
    joined = forecasts.merge(outcomes[["item", "outcome"]], on="item", how="inner")
    joined = joined[joined["p"].notna()]
    if joined.empty:
        raise InputError("no forecast is of an item with an outcome")
    experts = {}
    for expert, rows in joined.groupby("expert", sort=True):
        score = score_forecasts(
            (rows["p"].astype(float) / scale).tolist(),
            rows["outcome"].astype(float).tolist(),
            eps=args.eps,
        )
        experts[str(expert)] = asdict(score)
    pooled = {
        str(item): float(pool(rows["p"].astype(float).to_numpy() / scale, method=args.pooling).p)
        for item, rows in joined.groupby("item", sort=True)
    }
    truth = outcomes.set_index("item")["outcome"].astype(float)
    panel = score_forecasts(
        list(pooled.values()), [float(truth[item]) for item in pooled], eps=args.eps
    )
    emit(
        {
            "pooling": args.pooling,
            "eps": args.eps,
            "items": sorted(pooled),
            "panel": asdict(panel),
            "panel_forecasts": {k: float(np.round(v, 6)) for k, v in pooled.items()},
            "experts": experts,
        },
        "json",
        sys.stdout,
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `score` subcommand."""
    score = sub.add_parser(
        "score", help="Brier and log scores per expert and for the panel's pooled forecast"
    )
    score.add_argument("forecasts", help="CSV: expert,item,p (probability, 0-1 or --percent)")
    score.add_argument("outcomes", help="CSV: item,outcome (1 it happened, 0 it did not)")
    score.add_argument("--percent", action="store_true", help="p is given in percent")
    score.add_argument(
        "--pooling",
        choices=("logodds", "linear", "median"),
        default="logodds",
        help="how the panel's forecast pools the experts' (default logodds)",
    )
    score.add_argument(
        "--eps",
        type=float,
        default=DEFAULT_EPS,
        help=f"forecasts are clipped to [eps, 1 - eps] in the log score (default {DEFAULT_EPS})",
    )
    score.set_defaults(func=run_score)
