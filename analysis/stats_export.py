"""Answers and results for SPSS and R: `.sav` files with labels, and CSV with a JSON description.

Two tables: the long answers (round, expert, item, question, value[, group]) and the tidy
results (describe's statistics per round, item and question, with every consensus preset's
verdict). For SPSS each becomes a `.sav` (pyreadstat, the `spss` extra) with a label for every
variable and value labels for rounds and yes/no flags; for R each becomes a CSV, described by a
`datapackage.json` (the Frictionless Data table schema: each field's type, title, description
and, for coded values, its categories), which R reads with jsonlite or the frictionless package.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import InputError

#: variable labels (SPSS) and field titles (R) of the columns this package writes
LABELS: dict[str, str] = {
    "round": "Delphi round",
    "expert": "Expert (pseudonym)",
    "item": "Item",
    "question": "Question about the item",
    "value": "Answer (probabilities in percent)",
    "group": "Panel group",
    "suppressed": "Cell suppressed (fewer than k answers)",
    "n": "Number of answers",
    "mean": "Mean",
    "median": "Median",
    "sd": "Standard deviation (sample)",
    "q1": "First quartile",
    "q3": "Third quartile",
    "iqr": "Interquartile range",
    "pct_agree": "Share in the agreement region",
    "pct_disagree": "Share in the mirrored region",
    "cv": "Coefficient of variation",
    "rwg": "rwg (within-group agreement)",
    "awg": "awg (Brown and Hauenstein)",
    "ipr": "RAND/UCLA inter-percentile range",
    "iprcp": "RAND/UCLA IPR central point",
    "ipras": "RAND/UCLA IPRAS",
    "rand_disagreement": "RAND/UCLA disagreement",
    "tastle_wierman": "Tastle and Wierman consensus",
    "bimodality": "Bimodality coefficient",
    "dip_p": "Hartigan's dip test p",
    "dissensus": "Dissensus flag",
    "logit_median": "Log-odds of the median",
    "logit_q1": "Log-odds of the first quartile",
    "logit_q3": "Log-odds of the third quartile",
    "consensus_percent_iqr": "Consensus: percent agreement and IQR (Diamond et al. 2014)",
    "consensus_grade": "Consensus: GRADE grid (Jaeschke et al. 2008)",
    "consensus_rand_ucla": "Consensus: RAND/UCLA, no disagreement (Fitch et al. 2001)",
    "consensus_cv": "Consensus: coefficient of variation at most 0.5 (English and Kernan 1976)",
}
YES_NO = {0: "no", 1: "yes"}
VERDICT = {0: "no consensus", 1: "consensus"}


def _flag_columns(frame: pd.DataFrame) -> list[str]:
    return [
        c
        for c in frame.columns
        if pd.api.types.is_bool_dtype(frame[c]) or str(frame[c].dtype) == "boolean"
    ]


def value_labels(frame: pd.DataFrame, verdicts: tuple[str, ...] = ()) -> dict[str, dict[int, str]]:
    """Value labels: rounds, yes/no flags, consensus verdicts."""
    labels: dict[str, dict[int, str]] = {}
    if "round" in frame.columns:
        labels["round"] = {
            int(r): f"Round {int(r)}" for r in sorted(frame["round"].dropna().unique())
        }
    for column in _flag_columns(frame):
        labels[column] = VERDICT if column in verdicts else YES_NO
    return labels


def _numeric_flags(frame: pd.DataFrame) -> pd.DataFrame:
    """Flags as 1.0 / 0.0 / missing (SPSS has no Boolean type)."""
    out = frame.copy()
    for column in _flag_columns(frame):
        out[column] = [np.nan if v is pd.NA or v is None else float(bool(v)) for v in frame[column]]
    for column in out.columns:
        if str(out[column].dtype) in ("Int64", "Float64"):
            out[column] = out[column].astype("float64")
    return out


def write_sav(
    frame: pd.DataFrame, path: Path, *, verdicts: tuple[str, ...] = (), title: str = ""
) -> None:
    """One table as an SPSS .sav file with variable and value labels."""
    try:
        import pyreadstat
    except ImportError:
        raise InputError(
            "writing .sav files needs pyreadstat (pip install 'delphi-analysis[spss]')"
        ) from None
    labels = value_labels(frame, verdicts)
    data = _numeric_flags(frame)
    for column in data.columns:
        if data[column].dtype == object:
            data[column] = data[column].astype(str).replace({"None": "", "nan": ""})
    pyreadstat.write_sav(
        data,
        str(path),
        file_label=title,
        column_labels=[LABELS.get(c, c) for c in data.columns],
        variable_value_labels={c: {float(k): v for k, v in m.items()} for c, m in labels.items()},
        variable_measure={
            c: "nominal" if data[c].dtype == object or c in labels else "scale"
            for c in data.columns
        },
    )


def _field(
    frame: pd.DataFrame, column: str, labels: Mapping[str, Mapping[int, str]]
) -> dict[str, Any]:
    dtype = str(frame[column].dtype)
    if column in _flag_columns(frame):
        kind = "boolean"
    elif dtype in ("int64", "Int64"):
        kind = "integer"
    elif dtype.startswith(("float", "Float")):
        kind = "number"
    else:
        kind = "string"
    field: dict[str, Any] = {"name": column, "type": kind, "title": LABELS.get(column, column)}
    if column in labels and kind != "boolean":
        field["categories"] = [{"value": k, "label": v} for k, v in labels[column].items()]
    elif kind == "boolean":
        names = labels.get(column, YES_NO)
        field["description"] = f"true = {names[1]}, false = {names[0]}; empty = cannot tell"
    return field


def write_csv_package(
    tables: Mapping[str, pd.DataFrame],
    folder: Path,
    *,
    verdicts: tuple[str, ...] = (),
    description: str = "",
) -> Path:
    """Each table as NAME.csv plus one datapackage.json describing them all; returns its path."""
    resources = []
    for name, frame in tables.items():
        out = frame.copy()
        for column in _flag_columns(frame):
            out[column] = [
                "" if v is pd.NA or v is None else str(bool(v)).lower() for v in frame[column]
            ]
        out.to_csv(folder / f"{name}.csv", index=False, lineterminator="\n", na_rep="")
        labels = value_labels(frame, verdicts)
        resources.append(
            {
                "name": name,
                "path": f"{name}.csv",
                "profile": "tabular-data-resource",
                "format": "csv",
                "encoding": "utf-8",
                "schema": {
                    "fields": [_field(frame, c, labels) for c in frame.columns],
                    "missingValues": [""],
                },
            }
        )
    document = {
        "profile": "tabular-data-package",
        "name": "delphi-analysis",
        "description": description,
        "resources": resources,
    }
    path = folder / "datapackage.json"
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
