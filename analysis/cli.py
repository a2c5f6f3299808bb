"""`python -m analysis`: the analyses on CSV files from any survey tool, printed as JSON or CSV.

Long data: one row per answer with columns round, expert, item, question, value (and a group
column when asked for). Row numbers in error messages are the CSV's line numbers (the header is
line 1). Bad input ends with a one-line `error: ...` on stderr and exit status 2.

Every subcommand sets `func` (args -> exit status or None); analysis.scenarios.cli.register adds
the scenario subcommands the same way.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import numpy as np
import pandas as pd

from analysis import __version__, cli_import
from analysis.agreement import kendall_w, krippendorff_alpha
from analysis.consensus import DEFAULT_PRESET, PRESETS, Preset, Rule, compare_presets, parse_rule
from analysis.cooke import DEFAULT_OVERSHOOT, decision_maker, read_excalibur
from analysis.describe import ScaleSpec, describe_long
from analysis.errors import InputError
from analysis.pooling import DEFAULT_EPS, METHODS, pool
from analysis.quantiles import QUANTILE_METHODS
from analysis.ranking_cli import register as register_rank
from analysis.scenarios import cli as scenarios_cli
from analysis.scenarios import cli_experts as experts_cli
from analysis.scoring_cli import register as register_score
from analysis.stability import (
    DEFAULT_STABILITY_RULE,
    WILCOXON_EXACT_UP_TO,
    WILCOXON_METHODS,
    Stability,
    stability_long,
    stopping_verdict,
)
from analysis.structural import cli as structural_cli

#: `--rule NAME=RULE`: a name, then "=" that does not start "=="
_NAMED_RULE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)(.*)$", re.S)
SCALE_HELP = (
    "QUESTION=KIND[:LOW:HIGH][:OPTION...], KIND likert|probability|continuous, options "
    "agree=LO..HI, within=D, step=S, bipolar; e.g. impact=likert:1:9:agree=7..9, "
    "likely=probability, effect=likert:-3:3:bipolar (repeat for each question)"
)


# ---------------------------------------------------------------------------------------------
# Input


def parse_scale(text: str) -> tuple[str, ScaleSpec]:
    """`impact=likert:1:9:agree=7..9` -> ("impact", ScaleSpec(...))."""
    if "=" not in text:
        raise InputError(f"--scale {text!r}: expected QUESTION=KIND[:LOW:HIGH][:OPTION...]")
    question, spec = text.split("=", 1)
    parts = spec.split(":")
    kind, rest = parts[0].strip().lower(), parts[1:]
    numbers: list[float] = []
    options: dict[str, Any] = {}
    try:
        while rest and "=" not in rest[0] and rest[0] != "bipolar":
            numbers.append(float(rest.pop(0)))
        for option in rest:
            if option == "bipolar":
                options["bipolar"] = True
            elif option.startswith("agree="):
                region_low, region_high = option.removeprefix("agree=").split("..")
                options["agree_region"] = (float(region_low), float(region_high))
            elif option.startswith("within="):
                options["agree_within"] = float(option.removeprefix("within="))
            elif option.startswith("step="):
                options["step"] = float(option.removeprefix("step="))
            else:
                raise InputError(f"--scale {text!r}: unknown option {option!r}")
    except InputError:
        raise
    except ValueError:
        raise InputError(f"--scale {text!r}: expected numbers (agree=LO..HI)") from None
    if len(numbers) not in (0, 2):
        raise InputError(f"--scale {text!r}: give both ends LOW:HIGH, or neither")
    low, high = (numbers[0], numbers[1]) if numbers else (None, None)
    try:
        scale = ScaleSpec(kind, low, high, **options)  # type: ignore[arg-type]
    except InputError as error:
        raise InputError(f"--scale {text!r}: {error}") from None
    return question.strip(), scale


def read_long(path: str, group: str | None = None) -> pd.DataFrame:
    """Long data from CSV, indexed by line number (header = line 1)."""
    text_columns = {c: str for c in ("expert", "item", "question", group) if c}
    frame = pd.read_csv(path, dtype=text_columns, skipinitialspace=True)  # type: ignore[arg-type]
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    return frame


def scales_from(arguments: Sequence[str] | None, frame: pd.DataFrame) -> dict[str, ScaleSpec]:
    """The --scale options, checked against the questions in the data."""
    scales = dict(parse_scale(text) for text in arguments or ())
    if "question" in frame.columns:
        unknown = sorted(set(frame["question"].dropna().astype(str)) - set(scales))
        if unknown:
            raise InputError(
                f"no --scale for question{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                f"(e.g. --scale {unknown[0]}=likert:1:5)"
            )
    return scales


# ---------------------------------------------------------------------------------------------
# Output


def _plain(value: Any) -> Any:
    """JSON-safe: NaN/NA -> null, numpy scalars -> Python."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    return value


def emit(result: Any, fmt: str, out: TextIO) -> None:
    """Print a DataFrame (JSON records or CSV) or a plain structure (JSON)."""
    if isinstance(result, pd.DataFrame):
        if fmt == "csv":
            result.to_csv(out, index=False, lineterminator="\n")
            return
        records = [_plain(dict(row)) for row in result.to_dict(orient="records")]
        json.dump(records, out, indent=2)
    else:
        json.dump(_plain(result), out, indent=2)
    out.write("\n")


def _add_format(parser: argparse.ArgumentParser, tabular: bool = True) -> None:
    choices = ["json", "csv"] if tabular else ["json"]
    parser.add_argument("--format", choices=choices, default="json", help="output format")


def _add_long_input(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("csv", help="long data: round,expert,item,question,value[,group]")
    parser.add_argument("--scale", action="append", metavar="SPEC", help=SCALE_HELP)
    parser.add_argument(
        "--quantile-method",
        choices=QUANTILE_METHODS,
        default="type7",
        help="R quantile type (type7: R/numpy default; type6: SPSS)",
    )


# ---------------------------------------------------------------------------------------------
# Subcommands


def run_describe(args: argparse.Namespace) -> None:
    """Item statistics per round, item and question."""
    frame = read_long(args.csv, args.group)
    table = describe_long(
        frame,
        scales_from(args.scale, frame),
        group=args.group,
        k=args.k,
        quantile_method=args.quantile_method,
        dip_test=args.dip,
    )
    emit(table, args.format, sys.stdout)


def _rules(args: argparse.Namespace) -> dict[str, Rule | Preset]:
    rules: dict[str, Rule | Preset] = {}
    for key in args.preset or ([] if args.rule else list(PRESETS)):
        if key not in PRESETS:
            raise InputError(f"unknown preset {key!r}; use one of {', '.join(PRESETS)}")
        rules[key] = PRESETS[key]
    for number, text in enumerate(args.rule or [], start=1):
        named = _NAMED_RULE.match(text)
        name, body = (named.group(1), named.group(2)) if named else (f"rule{number}", text)
        rules[name] = parse_rule(body, name=name)
    return rules


def run_consensus(args: argparse.Namespace) -> None:
    """The side-by-side consensus table: one True/False/null column per rule."""
    frame = read_long(args.csv, args.group)
    scales = scales_from(args.scale, frame)
    rules = _rules(args)
    table = describe_long(
        frame, scales, group=args.group, k=args.k, quantile_method=args.quantile_method
    )
    emit(compare_presets(table, rules, scales=scales), args.format, sys.stdout)


def run_kendall(args: argparse.Namespace) -> None:
    """Kendall's W (and Krippendorff's alpha) over the items of one round and question."""
    frame = read_long(args.csv)
    for column in ("round", "expert", "item", "question", "value"):
        if column not in frame.columns:
            raise InputError(f"missing column: {column}")
    rounds = sorted(frame["round"].unique().tolist())
    chosen_round = _pick(args.round, rounds, "round")
    questions = sorted(frame["question"].dropna().astype(str).unique().tolist())
    chosen_question = _pick(args.question, questions, "question")
    cell = frame[
        (frame["round"].astype(str) == str(chosen_round)) & (frame["question"] == chosen_question)
    ]
    values = pd.to_numeric(cell["value"], errors="coerce")
    if values.isna().any() and cell["value"].notna().any():
        bad = cell.index[values.isna() & cell["value"].notna()]
        if len(bad):
            raise InputError(f"row {bad[0]}: value {cell.loc[bad[0], 'value']!r} is not a number")
    if cell.duplicated(["expert", "item"]).any():
        row = cell.index[cell.duplicated(["expert", "item"])][0]
        raise InputError(
            f"row {row}: expert {cell.loc[row, 'expert']} answered {cell.loc[row, 'item']} twice"
        )
    matrix = cell.assign(value=values).pivot(index="expert", columns="item", values="value")
    w = kendall_w(matrix.to_numpy())
    alpha = krippendorff_alpha(matrix.to_numpy(), args.level)
    emit(
        {
            "round": chosen_round,
            "question": chosen_question,
            "raters": w.m,
            "items": w.n,
            "kendall_w": w.w,
            "kendall_w_corrected": w.w_corrected,
            "chi2": w.chi2,
            "df": w.df,
            "p": w.p,
            "raters_dropped": w.raters_dropped,
            "items_dropped": w.items_dropped,
            "krippendorff_alpha": alpha.alpha,
            "krippendorff_level": alpha.level,
        },
        "json",
        sys.stdout,
    )


def _pick(wanted: str | None, available: list[Any], what: str) -> Any:
    if wanted is None:
        if len(available) != 1 and what == "question":
            raise InputError(
                f"several questions ({', '.join(map(str, available))}): choose one with --question"
            )
        return available[-1]
    for value in available:
        if str(value) == wanted:
            return value
    raise InputError(f"{what} {wanted!r} is not in the data ({', '.join(map(str, available))})")


def run_stability(args: argparse.Namespace) -> None:
    """Paired stability between two rounds, with the stopping verdict per item."""
    frame = read_long(args.csv)
    scales = scales_from(args.scale, frame)
    rounds = sorted(frame["round"].unique().tolist()) if "round" in frame.columns else []
    if args.rounds:
        first, second = (_pick(r, rounds, "round") for r in args.rounds)
    elif len(rounds) >= 2:
        first, second = rounds[-2], rounds[-1]
    else:
        raise InputError("stability needs two rounds in the data")
    table = stability_long(
        frame,
        scales,
        first,
        second,
        tolerance=args.tolerance,
        quantile_method=args.quantile_method,
        wilcoxon=args.wilcoxon,
        wilcoxon_exact_up_to=args.wilcoxon_exact_up_to,
    )
    later = frame[frame["round"] == second]
    stats_table = describe_long(later, scales, k=args.k, quantile_method=args.quantile_method)
    preset = PRESETS[args.preset]
    consensus = compare_presets(stats_table, {"consensus": preset}, scales=scales)
    merged = table.merge(
        consensus[["item", "question", "consensus"]], on=["item", "question"], how="left"
    )
    decisions, labels = [], []
    for record in merged.to_dict(orient="records"):
        stability = Stability(
            n_paired=int(record["n_paired"]),
            n_changed=int(record["n_changed"]),
            changed_share=_optional(record["changed_share"]),
            distribution_change=_optional(record["distribution_change"]),
            wilcoxon_statistic=_optional(record["wilcoxon_statistic"]),
            wilcoxon_p=_optional(record["wilcoxon_p"]),
            wilcoxon_method=str(record["wilcoxon_method"]),
            agree_to_disagree=int(record["agree_to_disagree"]),
            disagree_to_agree=int(record["disagree_to_agree"]),
            mcnemar_p=_optional(record["mcnemar_p"]),
            delta_iqr=_optional(record["delta_iqr"]),
            delta_cv=_optional(record["delta_cv"]),
        )
        consensus_value = record["consensus"]
        verdict = stopping_verdict(
            None if consensus_value is pd.NA or consensus_value is None else bool(consensus_value),
            stability,
            args.rule,
        )
        decisions.append(verdict.decision)
        labels.append(verdict.label)
    merged.insert(0, "round_b", second)
    merged.insert(0, "round_a", first)
    merged["decision"] = decisions
    merged["verdict"] = labels
    emit(merged, args.format, sys.stdout)


def _optional(value: Any) -> float | None:
    if value is None or value is pd.NA:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _one_question_round(args: argparse.Namespace) -> tuple[pd.DataFrame, str, Any]:
    """The long data's answers to one question in one round (--question, --round or the only
    one), with the question and round chosen."""
    cell, question, chosen_round = _one_question_round(args)
    return cell, question, chosen_round


def run_bootstrap(args: argparse.Namespace) -> None:
    """Percentile bootstrap intervals of every item's pooled probability, as JSON."""
    from analysis.bootstrap import pooled_intervals

    found, question, chosen_round = _one_question_round(args)
    cell = found.copy()
    cell["value"] = pd.to_numeric(cell["value"], errors="coerce")
    wide = cell.pivot_table(index="expert", columns="item", values="value", aggfunc="first")
    values = wide.to_numpy(dtype=float) / 100.0
    result = pooled_intervals(
        values, eps=args.eps, resamples=args.resamples, seed=args.seed, level=args.level
    )
    emit(
        {
            "round": chosen_round,
            "question": question,
            **result.info.as_dict(),
            "items": {
                str(item): {m: result.intervals[m][i].as_dict() for m in result.intervals}
                for i, item in enumerate(wide.columns)
            },
        },
        "json",
        sys.stdout,
    )


def run_pool(args: argparse.Namespace) -> None:
    """Pooled probability per item (long data in percent), or of the numbers given with --p."""
    options = {"method": args.method, "eps": args.eps, "a": args.a, "trim": args.trim}
    if args.p:
        result = pool(args.p, **options)
        emit(result.__dict__, "json", sys.stdout)
        return
    if not args.csv:
        raise InputError("give a CSV of long data or probabilities with --p")
    frame = read_long(args.csv)
    for column in ("round", "expert", "item", "question", "value"):
        if column not in frame.columns:
            raise InputError(f"missing column: {column}")
    questions = sorted(frame["question"].dropna().astype(str).unique().tolist())
    question = _pick(args.question, questions, "question")
    rounds = sorted(frame[frame["question"] == question]["round"].unique().tolist())
    chosen_round = _pick(args.round, rounds, "round")
    cell = frame[(frame["question"] == question) & (frame["round"] == chosen_round)]
    weights = _read_weights(args.weights) if args.weights else None
    rows = []
    for item, answers in cell.groupby("item", sort=True):
        values = pd.to_numeric(answers["value"], errors="coerce")
        bad = values.isna() | (values < 0) | (values > 100)
        if bad.any():
            row = answers.index[bad.to_numpy()][0]
            raise InputError(
                f"row {row}: value {answers.loc[row, 'value']!r} is not a percentage 0..100"
            )
        w = None
        if weights is not None:
            missing = sorted(set(answers["expert"]) - set(weights))
            if missing:
                raise InputError(
                    f"no weight for expert{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
                )
            w = [weights[e] for e in answers["expert"]]
        result = pool(values.to_numpy() / 100.0, weights=w, **options)
        rows.append(
            {
                "round": chosen_round,
                "item": item,
                "question": question,
                "n": result.n,
                "p": result.p,
                "percent": 100.0 * result.p,
                "method": result.method,
                "eps": result.eps,
                "a": result.a,
                "weights": "equal" if weights is None else "given",
            }
        )
    emit(pd.DataFrame(rows), args.format, sys.stdout)


def _read_weights(path: str) -> dict[str, float]:
    frame = pd.read_csv(path, dtype={"expert": str})
    if not {"expert", "weight"} <= set(frame.columns):
        raise InputError(f"{path}: needs columns expert,weight")
    weights = pd.to_numeric(frame["weight"], errors="coerce")
    if weights.isna().any() or (weights < 0).any():
        row = int(np.flatnonzero((weights.isna() | (weights < 0)).to_numpy())[0]) + 2
        raise InputError(f"{path}, row {row}: weight must be a non-negative number")
    return dict(zip(frame["expert"], weights.astype(float), strict=True))


def run_cooke(args: argparse.Namespace) -> None:
    """Cooke's classical model on an Excalibur case (.dtt and .rls)."""
    data = read_excalibur(args.dtt, args.rls)
    dm = decision_maker(
        data,
        weights=args.weights,
        alpha=args.alpha,
        overshoot=args.overshoot,
        calibration_power=args.calibration_power,
    )
    scores = dm.experts
    in_dm = dm.weights.mean(axis=1) if args.weights == "item" else dm.weights[:, 0]
    experts = pd.DataFrame(
        {
            "expert": list(scores.experts),
            "calibration": scores.calibration,
            "information_total": scores.information_total,
            "information_seed": scores.information_seed,
            "seeds_answered": pd.array(scores.seeds_answered, dtype="Int64"),
            "combined_score": scores.combined_score,
            "weight_in_dm" if args.weights != "item" else "mean_item_weight_in_dm": in_dm,
        }
    )
    summary = {
        "weights": dm.weight_type,
        "alpha": dm.alpha,
        "alpha_optimised": dm.optimised,
        "overshoot": args.overshoot,
        "calibration_power": args.calibration_power,
        "n_effective": scores.n_effective,
        "calibration": dm.calibration,
        "information_total": dm.information_total,
        "information_seed": dm.information_seed,
        "combined_score": dm.combined_score,
    }
    if args.format == "csv":
        dm_row = {
            "expert": "DM",
            **{
                k: summary[k]
                for k in ("calibration", "information_total", "information_seed", "combined_score")
            },
        }
        emit(pd.concat([experts, pd.DataFrame([dm_row])], ignore_index=True), "csv", sys.stdout)
        return
    quantiles = {
        item: dict(zip([f"q{round(level * 100):g}" for level in data.levels], row, strict=True))
        for item, row in zip(data.items, dm.quantiles.tolist(), strict=True)
    }
    emit(
        {
            "levels": data.levels.tolist(),
            "experts": [_plain(dict(r)) for r in experts.to_dict(orient="records")],
            "decision_maker": {**summary, "quantiles": quantiles},
        },
        "json",
        sys.stdout,
    )


# ---------------------------------------------------------------------------------------------
# The parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Delphi analysis on CSV files: item statistics, consensus, agreement, "
        "stability, pooling, Cooke's classical model, scenarios and trend impacts.",
    )
    parser.add_argument("--version", action="version", version=f"delphi-analysis {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    describe = sub.add_parser("describe", help="item statistics per round, item and question")
    _add_long_input(describe)
    describe.add_argument("--group", help="also split by this column (e.g. group)")
    describe.add_argument(
        "--k", type=int, default=5, help="suppress cells with fewer answers (default 5)"
    )
    describe.add_argument("--dip", action="store_true", help="run Hartigan's dip test (slower)")
    _add_format(describe)
    describe.set_defaults(func=run_describe)

    consensus = sub.add_parser("consensus", help="consensus verdicts per item, rule by rule")
    _add_long_input(consensus)
    consensus.add_argument(
        "--preset",
        action="append",
        metavar="NAME",
        help=f"one of {', '.join(PRESETS)} (default: all, unless --rule)",
    )
    consensus.add_argument(
        "--rule",
        action="append",
        metavar="[NAME=]RULE",
        help="a rule such as 'pct_agree >= 0.8 and iqr <= 1'",
    )
    consensus.add_argument("--group", help="also split by this column")
    consensus.add_argument("--k", type=int, default=5, help="suppress cells with fewer answers")
    _add_format(consensus)
    consensus.set_defaults(func=run_consensus)

    kendall = sub.add_parser("kendall", help="Kendall's W and Krippendorff's alpha across items")
    kendall.add_argument("csv", help="long data: round,expert,item,question,value")
    kendall.add_argument("--round", help="the round (default: the last)")
    kendall.add_argument("--question", help="the question (needed when there are several)")
    kendall.add_argument(
        "--level",
        choices=["nominal", "ordinal", "interval", "ratio"],
        default="ordinal",
        help="Krippendorff's alpha level (default ordinal)",
    )
    kendall.set_defaults(func=run_kendall)

    stability = sub.add_parser(
        "stability", help="paired stability between two rounds and the stopping verdict"
    )
    _add_long_input(stability)
    stability.add_argument(
        "--rounds", nargs=2, metavar=("A", "B"), help="the two rounds (default: the last two)"
    )
    stability.add_argument(
        "--rule",
        default=DEFAULT_STABILITY_RULE,
        help=f"stability rule (default '{DEFAULT_STABILITY_RULE}')",
    )
    stability.add_argument(
        "--preset",
        choices=list(PRESETS),
        default=DEFAULT_PRESET,
        help="consensus preset for the verdict",
    )
    stability.add_argument(
        "--tolerance", type=float, default=0.0, help="a change larger than this counts as a change"
    )
    stability.add_argument(
        "--wilcoxon",
        choices=WILCOXON_METHODS,
        default="auto",
        help="Wilcoxon p: exact, normal, or auto (exact up to --wilcoxon-exact-up-to changes)",
    )
    stability.add_argument(
        "--wilcoxon-exact-up-to",
        type=int,
        default=WILCOXON_EXACT_UP_TO,
        help=f"auto is exact up to this many non-zero changes (default {WILCOXON_EXACT_UP_TO})",
    )
    stability.add_argument("--k", type=int, default=5, help="suppress cells with fewer answers")
    _add_format(stability)
    stability.set_defaults(func=run_stability)

    pooling = sub.add_parser(
        "pool", help="pooled probabilities (percent answers in long data, or --p)"
    )
    pooling.add_argument("csv", nargs="?", help="long data with a probability question (0-100)")
    pooling.add_argument(
        "--p", type=float, nargs="+", metavar="P", help="probabilities in [0, 1] to pool instead"
    )
    pooling.add_argument(
        "--question", help="the probability question (needed when there are several)"
    )
    pooling.add_argument("--round", help="the round (default: the last)")
    pooling.add_argument(
        "--method", choices=METHODS, default="logodds", help="pooling method (default logodds)"
    )
    pooling.add_argument(
        "--eps",
        type=float,
        default=DEFAULT_EPS,
        help=f"clip to [eps, 1-eps] before log-odds (default {DEFAULT_EPS})",
    )
    pooling.add_argument(
        "--a", type=float, default=1.0, help="extremizing factor (extremized, baron)"
    )
    pooling.add_argument(
        "--trim", type=float, default=0.1, help="share cut from each end (trimmed)"
    )
    pooling.add_argument(
        "--weights", metavar="CSV", help="expert,weight file (e.g. self-rated expertise)"
    )
    _add_format(pooling)
    pooling.set_defaults(func=run_pool)

    boot = sub.add_parser(
        "bootstrap", help="bootstrap intervals of pooled probabilities (resampling experts)"
    )
    boot.add_argument("csv", help="long data with a probability question (0-100)")
    boot.add_argument("--question", help="the probability question (needed when there are several)")
    boot.add_argument("--round", help="the round (default: the last)")
    boot.add_argument("--resamples", type=int, default=1000, help="resamples (default 1000)")
    boot.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    boot.add_argument("--level", type=float, default=0.9, help="interval level (default 0.9)")
    boot.add_argument("--eps", type=float, default=DEFAULT_EPS, help="log-odds clipping")
    boot.set_defaults(func=run_bootstrap)

    cooke = sub.add_parser("cooke", help="Cooke's classical model on Excalibur .dtt/.rls files")
    cooke.add_argument("dtt", help="Excalibur assessments (.dtt)")
    cooke.add_argument("rls", help="Excalibur realisations (.rls)")
    cooke.add_argument(
        "--weights",
        choices=["global", "item", "equal"],
        default="global",
        help="weighting (default global)",
    )
    cooke.add_argument("--alpha", type=float, help="calibration threshold (default: optimised)")
    cooke.add_argument(
        "--overshoot",
        type=float,
        default=DEFAULT_OVERSHOOT,
        help="intrinsic range overshoot (default 0.1)",
    )
    cooke.add_argument(
        "--calibration-power", type=float, default=1.0, help="calibration power (default 1)"
    )
    _add_format(cooke)
    cooke.set_defaults(func=run_cooke)

    register_rank(sub, SCALE_HELP)
    register_score(sub)
    scenarios_cli.register(sub)
    experts_cli.register(sub)
    structural_cli.register(sub)
    cli_import.register(sub, SCALE_HELP)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; bad input prints `error: ...` and returns 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.func(args)
    except InputError as error:
        return _fail(str(error))
    except FileNotFoundError as error:
        return _fail(f"cannot read {error.filename}: no such file")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        return _fail(
            f"cannot read the CSV: {str(error).splitlines()[0] if str(error) else type(error).__name__}"
        )
    except BrokenPipeError:  # pragma: no cover - e.g. piped into head: stop quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the interpreter flushes it at exit
        return 0
    except OSError as error:
        return _fail(f"cannot read {error.filename or 'the input'}: {error.strerror or error}")
    return 0 if status is None else int(status)


def _fail(message: str) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return 2
