"""Command-line subcommands: smic, maxent, crossimpact and tia (see analysis/README.md).

Inputs are small CSV files (events; matrices of conditional probabilities with event keys as the
header row and first column) or, for tia, a JSON specification. Results go to standard output as
JSON, or as CSV for the main table with --format csv. Bad input raises InputError, which the
`python -m analysis` entry point reports as a one-line error with exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import InputError
from analysis.scenarios.crossimpact import cross_impact
from analysis.scenarios.maxent import fit_maxent, joint_from_conditionals
from analysis.scenarios.named import scenario_probabilities
from analysis.scenarios.smic import smic
from analysis.tia import tia_from_spec

Handler = Callable[[argparse.Namespace], int]


# ---------------------------------------------------------------------------------------------
# Reading inputs


def _rows(path: str) -> list[list[str]]:
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{path} is not a UTF-8 CSV file ({error})") from None
    if len(rows) < 2:
        raise InputError(f"{path}: needs a header row and at least one data row")
    return rows


def _probability(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: {text.strip()!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise InputError(f"{where}: {value:g} is not a probability in [0, 1]")
    return value


def read_events(path: str) -> tuple[list[str], np.ndarray, list[str]]:
    """(keys, probabilities, labels) from a CSV with columns key, p and optionally label."""
    rows = _rows(path)
    header = [cell.strip().lower() for cell in rows[0]]
    for needed in ("key", "p"):
        if needed not in header:
            found = ", ".join(cell.strip() for cell in rows[0])
            raise InputError(f"{path}: the header needs a {needed!r} column (found {found})")
    key_at, p_at = header.index("key"), header.index("p")
    label_at = header.index("label") if "label" in header else None
    keys: list[str] = []
    values: list[float] = []
    labels: list[str] = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) <= max(key_at, p_at):
            raise InputError(
                f"{path}, line {line}: expected at least {max(key_at, p_at) + 1} cells"
            )
        key = row[key_at].strip()
        if not key:
            raise InputError(f"{path}, line {line}: empty event key")
        if key in keys:
            raise InputError(f"{path}, line {line}: event {key!r} appears twice")
        keys.append(key)
        values.append(_probability(row[p_at], f"{path}, line {line}, p"))
        labels.append(row[label_at].strip() if label_at is not None and label_at < len(row) else "")
    return keys, np.asarray(values), labels


def read_matrix(path: str, keys: Sequence[str]) -> np.ndarray:
    """Matrix [row event, column event] in `keys` order; the diagonal may be empty (NaN)."""
    rows = _rows(path)
    columns = [cell.strip() for cell in rows[0][1:]]
    index = {key: i for i, key in enumerate(keys)}
    for column in columns:
        if column not in index:
            raise InputError(f"{path}: column {column!r} is not an event in the events file")
    missing = [key for key in keys if key not in columns]
    if missing:
        raise InputError(f"{path}: no column for event(s) {', '.join(missing)}")
    matrix = np.full((len(keys), len(keys)), np.nan)
    seen: set[str] = set()
    for line, row in enumerate(rows[1:], start=2):
        key = row[0].strip()
        if key not in index:
            raise InputError(f"{path}, line {line}: row {key!r} is not an event in the events file")
        if key in seen:
            raise InputError(f"{path}, line {line}: row {key!r} appears twice")
        seen.add(key)
        for column, cell in zip(columns, row[1:], strict=False):
            if column == key and not cell.strip():
                continue
            where = f"{path}, line {line}, column {column}"
            if not cell.strip():
                raise InputError(f"{where}: empty cell")
            matrix[index[key], index[column]] = _probability(cell, where)
        if len(row) - 1 < len(columns):
            raise InputError(
                f"{path}, line {line}: {len(row) - 1} cells for {len(columns)} columns"
            )
    missing_rows = [key for key in keys if key not in seen]
    if missing_rows:
        raise InputError(f"{path}: no row for event(s) {', '.join(missing_rows)}")
    return matrix


def read_scenarios(path: str) -> dict[str, str]:
    """Named scenarios from a CSV with columns name, expression."""
    rows = _rows(path)
    header = [cell.strip().lower() for cell in rows[0]]
    if "name" not in header or "expression" not in header:
        raise InputError(f"{path}: the header needs 'name' and 'expression' columns")
    name_at, expression_at = header.index("name"), header.index("expression")
    scenarios: dict[str, str] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) <= max(name_at, expression_at):
            raise InputError(f"{path}, line {line}: expected a name and an expression")
        name = row[name_at].strip()
        if name in scenarios:
            raise InputError(f"{path}, line {line}: scenario {name!r} appears twice")
        scenarios[name] = row[expression_at]
    return scenarios


def read_json(path: str) -> Any:
    """A JSON document; InputError with the line and column of a syntax error."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path}, line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None


# ---------------------------------------------------------------------------------------------
# Writing outputs


def plain(value: Any) -> Any:
    """JSON-ready copy: numpy scalars and arrays to Python, NaN and infinities to null."""
    if isinstance(value, pd.DataFrame):
        return [plain(record) for record in value.to_dict(orient="records")]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def _matrix_object(matrix: np.ndarray, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {row: {col: matrix[i, j] for j, col in enumerate(keys)} for i, row in enumerate(keys)}


def _emit(args: argparse.Namespace, document: Mapping[str, Any], table: pd.DataFrame) -> int:
    if args.format == "csv":
        table.to_csv(sys.stdout, index=False, lineterminator="\n", float_format="%.6g")
    else:
        sys.stdout.write(json.dumps(plain(document), indent=2, ensure_ascii=False, allow_nan=False))
        sys.stdout.write("\n")
    return 0


def _head(table: pd.DataFrame, top: int) -> pd.DataFrame:
    return table if top == 0 else table.head(top)


def _nonnegative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _bounds(text: str) -> int | str:
    return "all" if text == "all" else _nonnegative(text)


# ---------------------------------------------------------------------------------------------
# Subcommands


def run_smic(args: argparse.Namespace) -> int:
    """smic: coherent probabilities and ranked scenarios with bounds."""
    keys, p, labels = read_events(args.events)
    given = read_matrix(args.given, keys)
    given_not = read_matrix(args.given_not, keys)
    result = smic(
        p,
        given,
        given_not,
        event_keys=keys,
        include_marginals=not args.no_marginals,
        bounds_for=args.bounds,
    )
    document: dict[str, Any] = {
        "method": "smic",
        "objective": result.objective,
        "include_marginals": result.include_marginals,
        "support_size": result.support_size,
        "maxent_converged": result.maxent_converged,
        "events": [
            {"key": k, "label": label, "p": p[i], "p_star": result.p_star[i]}
            for i, (k, label) in enumerate(zip(keys, labels, strict=True))
        ],
        "p_given_star": _matrix_object(result.p_given_star, keys),
        "p_given_not_star": _matrix_object(result.p_given_not_star, keys),
        "scenarios": _head(result.scenarios, args.top),
    }
    if args.scenarios:
        document["named_scenarios"] = scenario_probabilities(
            read_scenarios(args.scenarios), event_keys=keys, smic=result
        )
    return _emit(args, document, _head(result.scenarios, args.top))


def run_maxent(args: argparse.Namespace) -> int:
    """maxent: fit the pairwise max-entropy model and list its most likely scenarios."""
    keys, p, _ = read_events(args.events)
    if (args.joint is None) == (args.given is None):
        raise InputError("give either --joint or --given")
    coherent_by = "as given"
    if args.joint is not None:
        joint = read_matrix(args.joint, keys)
        np.fill_diagonal(joint, p)
    elif args.given_not is not None:
        coherent = smic(
            p,
            read_matrix(args.given, keys),
            read_matrix(args.given_not, keys),
            event_keys=keys,
            bounds_for=0,
        )
        p = coherent.p_star
        rows, cols = np.triu_indices(len(keys), 1)
        joint = np.diag(p)
        joint[rows, cols] = joint[cols, rows] = coherent.optimal_moments[len(keys) :]
        coherent_by = f"smic (objective {coherent.objective:.3g})"
    else:
        joint = joint_from_conditionals(p, read_matrix(args.given, keys))
        coherent_by = "mean of P(i|j)P(j) and P(j|i)P(i)"
    model = fit_maxent(p, joint, event_keys=keys, method=args.fit, seed=args.seed)
    top = model.top_k(args.top, method=args.method, seed=args.seed, samples=args.samples)
    document: dict[str, Any] = {
        "method": "maxent",
        "fit": model.method,
        "pairs_from": coherent_by,
        "iterations": model.iterations,
        "max_moment_error": model.max_moment_error,
        "events": [{"key": k, "p": p[i], "h": model.h[i]} for i, k in enumerate(keys)],
        "J": _matrix_object(model.J, keys),
        "top": {"method": top.method, "exact": top.exact, "seed": top.seed, "samples": top.samples},
        "scenarios": top.table,
    }
    if args.scenarios:
        document["named_scenarios"] = scenario_probabilities(
            read_scenarios(args.scenarios),
            event_keys=keys,
            maxent=model,
            seed=args.seed,
            samples=args.samples,
        )
    return _emit(args, document, top.table)


def run_crossimpact(args: argparse.Namespace) -> int:
    """crossimpact: seeded cross-impact simulation."""
    keys, p, labels = read_events(args.events)
    result = cross_impact(
        p,
        read_matrix(args.impacts, keys),
        p_given_not=read_matrix(args.impacts_not, keys) if args.impacts_not else None,
        plays=args.plays,
        seed=args.seed,
        calibrate=not args.no_calibrate,
        event_keys=keys,
    )
    events = result.events_table()
    events.insert(1, "label", labels)
    scenarios = result.scenarios(args.top if args.top else len(result.state_indices))
    document: dict[str, Any] = {
        "method": "crossimpact",
        "plays": result.plays,
        "seed": result.seed,
        "eps": result.eps,
        "calibrated": result.calibrated,
        "calibration_iterations": result.calibration_iterations,
        "calibration_plays": result.calibration_plays,
        "calibration_error": result.calibration_error,
        "events": events,
        "co_occurrence": _matrix_object(result.co_occurrence, keys),
        "conditional": _matrix_object(result.conditional, keys),
        "scenarios": scenarios,
    }
    if args.scenarios:
        document["named_scenarios"] = scenario_probabilities(
            read_scenarios(args.scenarios), event_keys=keys, crossimpact=result
        )
    return _emit(args, document, scenarios)


def run_tia(args: argparse.Namespace) -> int:
    """tia: trend impact analysis from a JSON specification."""
    spec = read_json(args.spec)
    result = tia_from_spec(spec, seed=args.seed, runs=args.runs)
    document = {
        "method": "tia",
        "title": spec.get("title", "") if isinstance(spec, Mapping) else "",
        "seed": result.seed,
        "runs": result.runs,
        "interpolation": result.interpolation,
        "quantiles": list(result.quantiles),
        "quantile_method": result.quantile_method,
        "cross_impacts": result.cross_impacts,
        "forecast": result.forecast,
        "contributions": result.contributions,
        "occurrence": result.occurrence,
    }
    return _emit(args, document, result.forecast)


def _common(parser: argparse.ArgumentParser, *, events: bool = True) -> None:
    if events:
        parser.add_argument(
            "--events", required=True, metavar="CSV", help="events: columns key, p (and label)"
        )
        parser.add_argument(
            "--scenarios",
            metavar="CSV",
            help="named scenarios: columns name, expression (e.g. E01 and not E21)",
        )
    parser.add_argument(
        "--format",
        choices=("json", "csv"),
        default="json",
        help="JSON document (default) or the main table as CSV",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the smic, maxent, crossimpact and tia subcommands."""
    matrix_help = "CSV matrix with event keys as header row and first column"

    smic_parser = subparsers.add_parser(
        "smic",
        help="coherent scenario probabilities from P(i), P(i|j), P(i|not j) (SMIC)",
        description="SMIC: least-squares coherent probabilities over all 2^n scenarios (n <= 16), "
        "ranked by the maximum-entropy optimum, with [min, max] bounds over all optima.",
    )
    _common(smic_parser)
    smic_parser.add_argument(
        "--given", required=True, metavar="CSV", help=f"P(row | column): {matrix_help}"
    )
    smic_parser.add_argument(
        "--given-not", required=True, metavar="CSV", help=f"P(row | not column): {matrix_help}"
    )
    smic_parser.add_argument(
        "--no-marginals", action="store_true", help="leave [P(i) - P*(i)]^2 out of the objective"
    )
    smic_parser.add_argument(
        "--bounds",
        type=_bounds,
        default=50,
        metavar="N|all",
        help="bounds for the top N scenarios (default 50) or all",
    )
    smic_parser.add_argument(
        "--top", type=_nonnegative, default=20, help="scenarios to print (default 20; 0 = all)"
    )
    smic_parser.set_defaults(func=run_smic)

    maxent_parser = subparsers.add_parser(
        "maxent",
        help="pairwise maximum-entropy scenario model and its most likely scenarios",
        description="Fit the log-linear model with given P(i) and P(i and j) and list the top scenarios. "
        "With --given and --given-not the pairs are first made coherent by SMIC.",
    )
    _common(maxent_parser)
    maxent_parser.add_argument("--joint", metavar="CSV", help=f"P(row and column): {matrix_help}")
    maxent_parser.add_argument("--given", metavar="CSV", help=f"P(row | column): {matrix_help}")
    maxent_parser.add_argument(
        "--given-not", metavar="CSV", help=f"P(row | not column): {matrix_help}"
    )
    maxent_parser.add_argument(
        "--fit",
        choices=("auto", "exact", "montecarlo"),
        default="auto",
        help="fit: exact up to 20 events, seeded Monte Carlo beyond (default auto)",
    )
    maxent_parser.add_argument(
        "--method",
        choices=("auto", "enumerate", "search", "montecarlo"),
        default="auto",
        help="top-k method",
    )
    maxent_parser.add_argument(
        "--top", type=int, default=10, help="how many scenarios (default 10)"
    )
    maxent_parser.add_argument(
        "--seed", type=_nonnegative, default=0, help="seed for Monte Carlo (default 0)"
    )
    maxent_parser.add_argument(
        "--samples", type=int, default=200_000, help="Monte Carlo draws (default 200000)"
    )
    maxent_parser.set_defaults(func=run_maxent)

    cross_parser = subparsers.add_parser(
        "crossimpact",
        help="cross-impact Monte Carlo (Gordon-Hayward) with calibration",
        description="Each play decides the events in random order; an occurrence multiplies the odds of "
        "undecided events by odds(P(j|i))/odds(P(j)).",
    )
    _common(cross_parser)
    cross_parser.add_argument(
        "--impacts", required=True, metavar="CSV", help=f"P(column | row occurs): {matrix_help}"
    )
    cross_parser.add_argument(
        "--impacts-not", metavar="CSV", help=f"P(column | row does not occur): {matrix_help}"
    )
    cross_parser.add_argument(
        "--plays", type=int, default=100_000, help="number of plays (default 100000)"
    )
    cross_parser.add_argument(
        "--seed", type=_nonnegative, default=0, help="random seed (default 0)"
    )
    cross_parser.add_argument(
        "--no-calibrate", action="store_true", help="use the panel's P(j) as starting values"
    )
    cross_parser.add_argument(
        "--top", type=_nonnegative, default=20, help="scenarios to print (default 20; 0 = all)"
    )
    cross_parser.set_defaults(func=run_crossimpact)

    tia_parser = subparsers.add_parser(
        "tia",
        help="trend impact analysis from a JSON specification",
        description="Expected and Monte Carlo forecasts of a trend adjusted by uncertain events.",
    )
    _common(tia_parser, events=False)
    tia_parser.add_argument(
        "--spec", required=True, metavar="JSON", help="TIA specification (see analysis/README.md)"
    )
    tia_parser.add_argument("--seed", type=_nonnegative, help="override the specification's seed")
    tia_parser.add_argument("--runs", type=int, help="override the specification's number of runs")
    tia_parser.set_defaults(func=run_tia)
