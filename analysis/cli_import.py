"""`python -m analysis import` (survey-tool exports in) and `export` (SPSS and R out).

import: one-row-per-respondent exports (LimeSurvey, Qualtrics, REDCap, wide CSV/XLSX) to the
long format, driven by a mapping (analysis/wide.py); `--propose` prints a mapping guessed from
the headers. export: the long answers and the tidy results as .sav files with labels, and as
CSV with a datapackage.json (analysis/stats_export.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from analysis.consensus import PRESETS, compare_presets
from analysis.describe import describe_long
from analysis.errors import InputError
from analysis.stats_export import write_csv_package, write_sav
from analysis.wide import FORMATS, propose_mapping, read_mapping, to_long, write_long


def run_import(args: argparse.Namespace) -> None:
    """Convert exports to long CSV, or propose a mapping for them."""
    if args.propose:
        document = propose_mapping(args.files, args.tool)
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return
    if not args.mapping:
        raise InputError("give --mapping MAPPING.json (or --propose to write one)")
    mapping = read_mapping(args.mapping)
    frame = to_long(args.files, mapping, args.rounds)
    if args.pseudonyms:
        names = {e: f"e{i:03d}" for i, e in enumerate(dict.fromkeys(frame["expert"]), start=1)}
        frame["expert"] = frame["expert"].map(names)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            write_long(frame, out)
    else:
        write_long(frame, sys.stdout)
    print(
        f"{len(args.files)} file(s), {frame['expert'].nunique()} respondents, "
        f"{int(frame['value'].notna().sum())} answers in {frame['round'].nunique()} round(s)",
        file=sys.stderr,
    )


def results_table(
    frame: pd.DataFrame, scale_args: list[str] | None, group: str | None, k: int
) -> pd.DataFrame:
    """describe's statistics with every consensus preset's verdict (consensus_NAME columns)."""
    from analysis.cli import scales_from  # the shared --scale parser; imported late, no cycle

    scales = scales_from(scale_args, frame)
    stats = describe_long(frame, scales, group=group, k=k)
    verdicts = compare_presets(stats, dict(PRESETS), scales=scales)
    keys = [c for c in ("round", "item", "question", group) if c]
    renamed = verdicts[[*keys, *PRESETS]].rename(columns={p: f"consensus_{p}" for p in PRESETS})
    return stats.merge(renamed, on=keys, how="left")


def run_export(args: argparse.Namespace) -> None:
    """Write answers and results for SPSS (.sav) and/or R (CSV + datapackage.json)."""
    from analysis.cli import read_long

    answers = read_long(args.csv, args.group)
    results = results_table(answers, args.scale, args.group, args.k)
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    verdicts = tuple(f"consensus_{p}" for p in PRESETS)
    answers = answers.reset_index(drop=True)
    written: list[Path] = []
    if args.to in ("spss", "both"):
        for name, table in (("answers", answers), ("results", results)):
            path = folder / f"{name}.sav"
            write_sav(table, path, verdicts=verdicts, title=f"Delphi {name}")
            written.append(path)
    if args.to in ("r", "both"):
        written.append(
            write_csv_package(
                {"answers": answers, "results": results},
                folder,
                verdicts=verdicts,
                description=f"Delphi answers and results from {Path(args.csv).name}",
            )
        )
    for path in written:
        print(path)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], scale_help: str) -> None:
    """Add the import and export subcommands."""
    importer = sub.add_parser(
        "import", help="survey-tool exports (one row per respondent) to long CSV"
    )
    importer.add_argument("files", nargs="+", help="export files (CSV or XLSX), one per round")
    importer.add_argument("--mapping", metavar="JSON", help="which column is which (see README)")
    importer.add_argument(
        "--propose", action="store_true", help="print a mapping guessed from the headers"
    )
    importer.add_argument(
        "--tool", choices=FORMATS, help="the tool that made the export (default: detected)"
    )
    importer.add_argument(
        "--rounds", type=int, nargs="+", metavar="N", help="round of each file (default 1, 2, ...)"
    )
    importer.add_argument(
        "--pseudonyms", action="store_true", help="replace respondent ids by e001, e002, ..."
    )
    importer.add_argument("-o", "--output", metavar="FILE", help="write here (default stdout)")
    importer.set_defaults(func=run_import)

    exporter = sub.add_parser(
        "export", help="answers and results for SPSS (.sav) and R (CSV + datapackage.json)"
    )
    exporter.add_argument("csv", help="long data: round,expert,item,question,value[,group]")
    exporter.add_argument("--scale", action="append", metavar="SPEC", help=scale_help)
    exporter.add_argument("--group", help="also split the results by this column")
    exporter.add_argument("--k", type=int, default=5, help="suppress cells with fewer answers")
    exporter.add_argument(
        "--to", choices=["spss", "r", "both"], default="both", help="what to write (default both)"
    )
    exporter.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    exporter.set_defaults(func=run_export)
