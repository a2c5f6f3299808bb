"""A complete Delphi analysis, start to finish: `python -m analysis.examples.worked_example`.

Three rounds, ten experts in two groups (academia, industry), four developments E01-E04, each
rated for `impact` (1-9, agreement region 7-9) and `likely` (probability, 0-100), from
`panel.csv` beside this file. The steps: who answered, item statistics (overall and by group),
the consensus presets, stability between the last two rounds with the stopping verdict, pooled
probabilities, and SMIC scenarios from the pooled probabilities and the panel's conditional
judgements (`panel_given.csv`, `panel_given_not.csv`).

The printed output is kept in `worked_example.txt`; `--check` compares a fresh run with it (the
tests and `make analysis-dist` do), so the numbers quoted in the README cannot drift.
"""

from __future__ import annotations

import argparse
import difflib
import io
import sys
from collections.abc import Iterable, Sequence
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.consensus import PRESETS, compare_presets
from analysis.describe import ScaleSpec, describe_long
from analysis.pooling import pool
from analysis.scenarios import smic
from analysis.scenarios.cli import read_matrix
from analysis.stability import DEFAULT_STABILITY_RULE, compare_rounds, stopping_verdict

HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "worked_example.txt"
SCALES = {
    "impact": ScaleSpec("likert", 1, 9, agree_region=(7, 9)),
    "likely": ScaleSpec("probability", 0, 100),
}


def _cell(value: object) -> str:
    """One table cell: numbers to 3 decimals, missing as '-'."""
    if value is None or value is pd.NA:
        return "-"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return "-" if np.isnan(value) else f"{float(value):.3f}"
    return str(value)


def show(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Print a titled, aligned table."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    print(f"\n## {title}\n")
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def analyse(folder: Path = HERE) -> None:
    """Run every step on the example panel and print the results."""
    answers = pd.read_csv(folder / "panel.csv", dtype={"expert": str, "item": str})
    rounds = sorted(answers["round"].unique().tolist())
    last, before_last = rounds[-1], rounds[-2]

    # 1. Who answered: the panel shrinks when an expert leaves (attrition).
    show(
        "Experts answering, by round and group",
        ["round", "academia", "industry", "answers", "missing"],
        [
            (
                r,
                part.loc[part["group"] == "academia", "expert"].nunique(),
                part.loc[part["group"] == "industry", "expert"].nunique(),
                int(part["value"].notna().sum()),
                int(part["value"].isna().sum()),
            )
            for r, part in answers.groupby("round")
        ],
    )

    # 2. Item statistics of the last round (cells with fewer than k = 5 answers are suppressed).
    stats = describe_long(answers, SCALES)
    final = stats[stats["round"] == last]
    show(
        f"Round {last}: item statistics",
        ["item", "question", "n", "median", "q1", "q3", "iqr", "pct_agree", "dissensus"],
        final[
            ["item", "question", "n", "median", "q1", "q3", "iqr", "pct_agree", "dissensus"]
        ].itertuples(index=False),
    )
    by_group = describe_long(answers[answers["question"] == "impact"], SCALES, group="group", k=4)
    by_group = by_group[by_group["round"] == last]
    show(
        f"Round {last}: impact by group (k = 4)",
        ["item", "group", "n", "median", "iqr", "pct_agree"],
        by_group[["item", "group", "n", "median", "iqr", "pct_agree"]].itertuples(index=False),
    )

    # 3. The consensus presets side by side, on every round.
    verdicts = compare_presets(stats, dict(PRESETS), scales=SCALES)
    show(
        "Consensus presets by round",
        ["round", "item", "question", *PRESETS],
        verdicts[["round", "item", "question", *PRESETS]].itertuples(index=False),
    )

    # 4. Stability between the last two rounds (experts paired by pseudonym) and the verdict:
    #    stop when stable; consensus alone never stops a study.
    rows = []
    last_verdicts = verdicts[verdicts["round"] == last].set_index(["item", "question"])
    for (item, question), cell in answers.groupby(["item", "question"]):
        earlier = cell[cell["round"] == before_last]
        later = cell[cell["round"] == last]
        stability = compare_rounds(
            dict(zip(earlier["expert"], earlier["value"], strict=True)),
            dict(zip(later["expert"], later["value"], strict=True)),
            SCALES[str(question)],
        )
        consensus = last_verdicts.loc[(item, question), "percent_iqr"]
        verdict = stopping_verdict(
            None if consensus is pd.NA else bool(consensus), stability, DEFAULT_STABILITY_RULE
        )
        rows.append(
            (
                item,
                question,
                stability.n_paired,
                stability.changed_share,
                stability.distribution_change,
                stability.wilcoxon_p,
                verdict.decision,
            )
        )
    show(
        f"Stability, round {before_last} to {last} (rule: {DEFAULT_STABILITY_RULE})",
        ["item", "question", "paired", "changed", "net_change", "wilcoxon_p", "decision"],
        rows,
    )

    # 5. One probability per development from the last round's answers (percent -> share).
    likely = answers[(answers["round"] == last) & (answers["question"] == "likely")]
    pooled: dict[str, float] = {}
    rows = []
    for item, cell in likely.groupby("item"):
        shares = cell["value"].dropna().to_numpy(dtype=float) / 100.0
        results = {m: pool(shares, method=m).p for m in ("logodds", "linear", "median")}
        pooled[str(item)] = results["logodds"]
        rows.append((item, len(shares), *results.values()))
    show(
        f"Round {last}: pooled probabilities",
        ["item", "n", "logodds", "linear", "median"],
        rows,
    )

    # 6. SMIC: coherent scenario probabilities from the pooled P(i) and the panel's P(i | j),
    #    P(i | not j) (cell [i, j]).
    keys = sorted(pooled)
    result = smic(
        np.array([pooled[k] for k in keys]),
        read_matrix(str(folder / "panel_given.csv"), keys),
        read_matrix(str(folder / "panel_given_not.csv"), keys),
        event_keys=keys,
        bounds_for=5,
    )
    print(f"\n## SMIC: objective {result.objective:.5f} (0 = the judgements were coherent)")
    show(
        "SMIC: coherent probabilities",
        ["event", "pooled", "coherent"],
        [(k, pooled[k], float(result.p_star[i])) for i, k in enumerate(keys)],
    )
    top = result.scenarios.head(5)
    show(
        "SMIC: the five most likely scenarios (probability, and its range over all optima)",
        ["rank", "scenario", "occurring", "probability", "lower", "upper"],
        top[["rank", "label", "occurring", "probability", "lower", "upper"]].itertuples(
            index=False
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Print the worked example; with --check, compare it with worked_example.txt instead."""
    parser = argparse.ArgumentParser(prog="python -m analysis.examples.worked_example")
    parser.add_argument("--check", action="store_true", help="compare with worked_example.txt")
    args = parser.parse_args(argv)
    if not args.check:
        analyse()
        return 0
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        analyse()
    expected = EXPECTED.read_text(encoding="utf-8")
    if buffer.getvalue() == expected:
        print(f"worked example: output matches {EXPECTED.name}")
        return 0
    sys.stdout.writelines(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            buffer.getvalue().splitlines(keepends=True),
            fromfile=EXPECTED.name,
            tofile="this run",
        )
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
