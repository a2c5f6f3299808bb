"""Command-line subcommands cib, micmac, mactor and fleiss (see analysis/README.md).

Results go to standard output as JSON. Bad input raises InputError, which the `python -m
analysis` entry point reports as a one-line `error: ...` with exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.agreement import fleiss_kappa
from analysis.errors import InputError
from analysis.jsonable import finite
from analysis.structural.cib import (
    CibModel,
    balance_table,
    cib_model,
    inconsistency,
    succession,
    total_impact_score,
)
from analysis.structural.cib_ensemble import Ensemble, noise_ensemble, panel_ensemble
from analysis.structural.cib_search import consistent_scenarios
from analysis.structural.mactor import mactor
from analysis.structural.micmac import MicmacResult, MicmacView, micmac
from analysis.structural.scw import read_scw, write_scw


def _text(path: str) -> str:
    """A UTF-8 text file's content, or an InputError naming it."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None


def _table(path: str) -> tuple[list[str], list[str], list[list[str]]]:
    """A labelled CSV table: the header's labels, the first column's labels, the cells."""
    try:
        rows = [r for r in csv.reader(_text(path).splitlines()) if any(c.strip() for c in r)]
    except csv.Error as error:
        raise InputError(f"{path}: not a CSV file ({error})") from None
    if len(rows) < 2 or len(rows[0]) < 2:
        raise InputError(f"{path}: needs a header row of labels and labelled rows")
    header = [c.strip() for c in rows[0][1:]]
    labels = [r[0].strip() for r in rows[1:]]
    for number, row in enumerate(rows[1:], start=2):
        if len(row) - 1 != len(header):
            raise InputError(f"{path}: line {number} has {len(row) - 1} values for {len(header)}")
    return header, labels, [[c.strip() for c in r[1:]] for r in rows[1:]]


def _numbers(cells: list[list[str]], path: str) -> np.ndarray:
    """The cells as floats (blank = 0), or an error naming the line and column."""
    out = np.zeros((len(cells), len(cells[0]) if cells else 0))
    for i, row in enumerate(cells):
        for j, cell in enumerate(row):
            try:
                out[i, j] = float(cell) if cell else 0.0
            except ValueError:
                raise InputError(
                    f"{path}: line {i + 2}, column {j + 2}: {cell!r} is not a number"
                ) from None
    return out


def read_model(path: str) -> CibModel:
    """A CIB model from a ScenarioWizard .scw file or a labelled CSV matrix."""
    if path.lower().endswith(".scw"):
        return read_scw(_text(path))
    header, labels, cells = _table(path)
    if header != labels:
        raise InputError(f"{path}: the header and the first column must list the same variants")
    descriptors: list[str] = []
    variants: list[list[str]] = []
    for label in labels:
        if ":" not in label:
            raise InputError(f"{path}: label {label!r} is not DESCRIPTOR:VARIANT")
        descriptor, variant = (part.strip() for part in label.split(":", 1))
        if descriptors and descriptors[-1] == descriptor:
            variants[-1].append(variant)
        elif descriptor in descriptors:
            raise InputError(f"{path}: the variants of {descriptor!r} must be listed together")
        else:
            descriptors.append(descriptor)
            variants.append([variant])
    return cib_model(descriptors, variants, _numbers(cells, path), name=Path(path).name)


def parse_scenario(model: CibModel, text: str) -> list[int]:
    """`A2,B1,...`: one variant per descriptor, by name or 1-based number, in descriptor order."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != len(model.descriptors):
        raise InputError(
            f"scenario {text!r}: give {len(model.descriptors)} variants, one per descriptor"
        )
    chosen = []
    for descriptor, block, part in zip(model.descriptors, model.variants, parts, strict=True):
        if part in block:
            chosen.append(block.index(part))
        elif part.isdigit() and 1 <= int(part) <= len(block):
            chosen.append(int(part) - 1)
        else:
            raise InputError(f"scenario {text!r}: {descriptor!r} has no variant {part!r}")
    return chosen


def _scenario_json(model: CibModel, scenario: Sequence[int]) -> dict[str, str]:
    """A scenario as {descriptor: variant name}."""
    return dict(zip(model.descriptors, model.label(scenario), strict=True))


def _ensemble_json(ensemble: Ensemble) -> dict[str, Any]:
    """An ensemble's table as JSON-ready rows, most frequent scenario first."""
    frame = ensemble.table
    rows = []
    for key, (_, row) in zip(frame.attrs["scenarios"], frame.iterrows(), strict=True):
        rows.append(
            {
                "scenario": _scenario_json(ensemble.model, key),
                "consistent_in": int(row["consistent_in"]),
                "share": float(row["share"]),
                "in_sum": row["in_sum"],
            }
        )
    return {"members": ensemble.members, "per_member": list(ensemble.per_member), "scenarios": rows}


def run_cib(args: argparse.Namespace) -> None:
    """Consistent scenarios, a balance sheet, a succession or an ensemble of one CIB model."""
    model = read_model(args.model)
    if args.write_scw:
        Path(args.write_scw).write_text(write_scw(model), encoding="utf-8")
    out: dict[str, Any] = {
        "model": {
            "name": model.name,
            "descriptors": [
                {"name": d, "variants": list(v)}
                for d, v in zip(model.descriptors, model.variants, strict=True)
            ],
            "configurations": model.configurations,
        },
        "tolerance": args.tolerance,
    }
    if args.balances:
        chosen = parse_scenario(model, args.balances)
        out["balances"] = {
            "scenario": _scenario_json(model, chosen),
            "inconsistency": inconsistency(model, chosen),
            "total_impact_score": total_impact_score(model, chosen),
            "descriptors": [row.__dict__ for row in balance_table(model, chosen)],
        }
    elif args.start:
        path = succession(model, parse_scenario(model, args.start), args.succession)
        out["succession"] = {
            "mode": args.succession,
            "path": [_scenario_json(model, s) for s in path.path],
            "end": _scenario_json(model, path.end) if path.end else None,
            "cycle": [_scenario_json(model, s) for s in path.cycle],
        }
    elif args.panel:
        members = [read_model(p).matrix for p in args.panel]
        out["ensemble"] = _ensemble_json(
            panel_ensemble(model, members, args.tolerance, args.method)
        )
    elif args.noise:
        out["ensemble"] = _ensemble_json(
            noise_ensemble(
                model,
                args.noise,
                args.seed,
                args.change,
                tolerance=args.tolerance,
                method=args.method,
            )
        )
    else:
        found = consistent_scenarios(model, args.tolerance, args.method)
        out["method"] = found.method
        out["count"] = len(found)
        out["scenarios"] = [
            {
                "scenario": _scenario_json(model, key),
                "inconsistency": float(ic),
                "total_impact_score": float(tis),
            }
            for key, ic, tis in zip(
                found.tuples(), found.inconsistency, found.total_impact_score, strict=True
            )
        ]
    _dump(out)


def _view_json(variables: Sequence[str], view: MicmacView) -> list[dict[str, Any]]:
    """One MICMAC reading as one record per variable."""
    return [
        {
            "variable": name,
            "influence": view.influence[i],
            "dependence": view.dependence[i],
            "influence_per_mille": view.influence_share[i],
            "dependence_per_mille": view.dependence_share[i],
            "influence_rank": view.influence_rank[i],
            "dependence_rank": view.dependence_rank[i],
            "quadrant": view.quadrant[i],
        }
        for i, name in enumerate(variables)
    ]


def _micmac_json(result: MicmacResult) -> dict[str, Any]:
    """The direct, indirect and potential readings, the power and the movers."""
    return {
        "direct": _view_json(result.variables, result.direct),
        "indirect": _view_json(result.variables, result.indirect),
        "power": result.power,
        "settled": result.settled,
        "movers": [m.__dict__ for m in result.movers],
        "potential": _micmac_json(result.potential) if result.potential else None,
    }


def run_micmac(args: argparse.Namespace) -> None:
    """MICMAC of a labelled direct influence matrix (0-3, P)."""
    header, labels, cells = _table(args.matrix)
    if header != labels:
        raise InputError(f"{args.matrix}: the header and first column must list the same variables")
    result = micmac(cells, labels, args.potential_value, args.max_power)
    _dump(_micmac_json(result))


def run_mactor(args: argparse.Namespace) -> None:
    """MACTOR from a labelled MID (actors x actors) and 2MAO (actors x objectives)."""
    header, actors, cells = _table(args.mid)
    if header != actors:
        raise InputError(f"{args.mid}: the header and first column must list the same actors")
    objectives, position_actors, positions = _table(args.mao)
    if position_actors != actors:
        raise InputError(f"{args.mao}: the rows must list the actors of {args.mid}, in order")
    result = mactor(_numbers(cells, args.mid), _numbers(positions, args.mao), actors, objectives)
    matrices = ("mid", "midi", "mao1", "mao2", "mao3", "caa1", "caa2", "caa3", "daa1", "daa2")
    out: dict[str, Any] = {"actors": list(actors), "objectives": list(objectives)}
    for name in (*matrices, "daa3"):
        out[name] = getattr(result, name).tolist()
    for name in ("influence", "dependence", "power", "agreement", "disagreement"):
        out[name] = getattr(result, name).tolist()
    _dump(out)


def run_fleiss(args: argparse.Namespace) -> None:
    """Fleiss' kappa of long data: experts sorting items into categories (the value column)."""
    frame = pd.read_csv(args.csv, dtype=str, skipinitialspace=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = {"expert", "item", "value"} - set(frame.columns)
    if missing:
        raise InputError(f"{args.csv}: missing column(s) {', '.join(sorted(missing))}")
    for column, wanted in (("round", args.round), ("question", args.question)):
        if wanted is not None:
            if column not in frame.columns:
                raise InputError(f"{args.csv}: no {column} column to pick {wanted!r} from")
            frame = frame[frame[column].astype(str) == wanted]
    frame = frame.dropna(subset=["value"])
    if frame.empty:
        raise InputError(f"{args.csv}: no ratings to analyse")
    counts = pd.crosstab(frame["item"], frame["value"])
    result = fleiss_kappa(counts.to_numpy(dtype=float))
    out = {k: finite(v) for k, v in result.__dict__.items()}
    out["categories_seen"] = [str(c) for c in counts.columns]
    _dump(out)


def _dump(out: dict[str, Any]) -> None:
    """Print the result as indented JSON (NaN as null)."""
    json.dump(out, sys.stdout, indent=2, default=finite)
    sys.stdout.write("\n")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the cib, micmac, mactor and fleiss subcommands."""
    cib = sub.add_parser("cib", help="cross-impact balance analysis (consistent scenarios)")
    cib.add_argument("model", help="a ScenarioWizard .scw file or a DESCRIPTOR:VARIANT CSV matrix")
    cib.add_argument("--tolerance", type=float, default=0.0, help="inconsistency allowed (0)")
    cib.add_argument("--method", choices=("auto", "exhaustive", "pruned"), default="auto")
    cib.add_argument("--balances", metavar="SCENARIO", help="balance sheet of A2,B1,... instead")
    cib.add_argument("--start", metavar="SCENARIO", help="succession from A2,B1,... instead")
    cib.add_argument("--succession", choices=("global", "adjacent"), default="global")
    cib.add_argument("--panel", nargs="+", metavar="MODEL", help="members' matrices (ensemble)")
    cib.add_argument("--noise", type=int, metavar="RUNS", help="judgement-noise ensemble runs")
    cib.add_argument("--change", type=float, default=0.3, help="noise: P(judgement moves 1)")
    cib.add_argument("--seed", type=int, default=1, help="noise: random seed (1)")
    cib.add_argument("--write-scw", metavar="PATH", help="also write the model as a .scw file")
    cib.set_defaults(func=run_cib)

    mic = sub.add_parser("micmac", help="MICMAC: direct and indirect influence and dependence")
    mic.add_argument("matrix", help="CSV: variables as header and first column, cells 0-3 or P")
    mic.add_argument("--potential-value", type=float, default=3.0, help="P counts as (3)")
    mic.add_argument("--max-power", type=int, default=30, help="highest matrix power (30)")
    mic.set_defaults(func=run_micmac)

    act = sub.add_parser("mactor", help="MACTOR: actors' balance of power and convergences")
    act.add_argument("mid", help="CSV: actors x actors direct influences 0-4")
    act.add_argument("mao", help="CSV: actors x objectives positions -4..+4 (2MAO)")
    act.set_defaults(func=run_mactor)

    fle = sub.add_parser("fleiss", help="Fleiss' kappa for nominal ratings (long data)")
    fle.add_argument("csv", help="long data: expert,item,value[,round,question]")
    fle.add_argument("--round", help="only this round")
    fle.add_argument("--question", help="only this question")
    fle.set_defaults(func=run_fleiss)
