"""`python -m analysis rank`: items ranked by probability, impact, expected impact or quadrant."""

from __future__ import annotations

import argparse
import sys

from analysis.errors import InputError
from analysis.ranking import (
    DEFAULT_RANK_BY,
    DEFAULT_SPLIT,
    RANK_BY,
    SPLITS,
    figures_from_long,
    impact_reference,
    rank_events,
)


def run_rank(args: argparse.Namespace) -> None:
    """Rank the items of one round of long data (JSON)."""
    # the shared CSV reader and printer live in analysis.cli, which imports this module
    from analysis.cli import emit, read_long, scales_from

    frame = read_long(args.csv)
    scales = scales_from(args.scale, frame)
    impact_scale = scales.get(args.impact)
    if impact_scale is None or impact_scale.low is None or impact_scale.high is None:
        raise InputError(
            f"give the impact scale with its ends: --scale {args.impact}=likert:LOW:HIGH"
        )
    neutral, largest = impact_reference(
        impact_scale.low, impact_scale.high, bipolar=impact_scale.bipolar
    )
    rounds = sorted(frame["round"].dropna().unique().tolist()) if "round" in frame else []
    wanted = next((r for r in rounds if str(r) == args.round), None) if args.round else None
    if args.round and wanted is None:
        raise InputError(f"round {args.round!r} is not in the data")
    figures = figures_from_long(
        frame, probability=args.probability, impact=args.impact, round_=wanted
    )
    ranking = rank_events(
        figures, args.rank_by, neutral=neutral, largest_impact=largest, split=args.split
    )
    emit(ranking.as_dict(), "json", sys.stdout)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], scale_help: str) -> None:
    """Add the `rank` subcommand."""
    rank = sub.add_parser(
        "rank", help="rank items by probability, impact, expected impact or matrix quadrant"
    )
    rank.add_argument("csv", help="long data: round,expert,item,question,value")
    rank.add_argument("--scale", action="append", metavar="SPEC", help=scale_help)
    rank.add_argument("--probability", required=True, help="the probability question (percent)")
    rank.add_argument("--impact", required=True, help="the impact question (a rating scale)")
    rank.add_argument("--round", help="the round (default: the last)")
    rank.add_argument(
        "--rank-by",
        choices=RANK_BY,
        default=DEFAULT_RANK_BY,
        help=f"the ranking (default {DEFAULT_RANK_BY}: pooled probability x median impact)",
    )
    rank.add_argument(
        "--split",
        choices=SPLITS,
        default=DEFAULT_SPLIT,
        help="quadrant thresholds: the scales' midpoints (scale, default) or the panel's medians",
    )
    rank.set_defaults(func=run_rank)
