"""Tables of a study's spreadsheet export besides the answers: statistics and group statistics
from the frozen snapshots, the items with every wording, and the panel as counts of people."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analysis.snapshot import SnapshotData
from app.models import Participation, ParticipationStatus, Study
from app.services.exports.common import FORMULA_STARTS, escape_formula


@dataclass(frozen=True)
class Table:
    """A named table of rows with fixed columns."""

    name: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]

    def cells(self) -> list[list[Any]]:
        """Rows as lists in column order, text escaped against formulas."""
        return [[escape_formula(row.get(c)) for c in self.columns] for row in self.rows]


@dataclass(frozen=True)
class StreamedTable:
    """A named table whose rows are read while it is written (the answers: too many to hold).

    `produce` gives the rows as cells in column order, each time it is called.
    """

    name: str
    columns: tuple[str, ...]
    produce: Callable[[], Iterable[Sequence[Any]]]
    #: the same rows as a workbook's XML in pieces with their row counts, where the database
    #: writes them (None from it where it cannot: the rows are then written from `produce`)
    xml_rows: Callable[[], Iterable[tuple[str, int]] | None] | None = None
    #: column widths in characters when the rows are not read to measure them (XML rows)
    widths: Sequence[float] = ()

    def cells(self) -> Iterator[list[Any]]:
        """Rows as lists in column order, text escaped against formulas."""
        starts = FORMULA_STARTS
        for row in self.produce():
            # escape_formula inlined: a call per cell was a tenth of the demo's workbook
            yield [
                "'" + value if type(value) is str and value.startswith(starts) else value
                for value in row
            ]


#: statistics reported per question part, in this order
STAT_COLUMNS = (
    "n",
    "mean",
    "median",
    "q1",
    "q3",
    "iqr",
    "sd",
    "pct_agree",
    "cv",
    "rwg",
    "awg",
    "tastle_wierman",
    "bimodality",
    "dip_p",
    "rand_disagreement",
    "dissensus",
)


def _number(value: Any) -> Any:
    """A JSON number as a cell: None for missing or not finite."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def snapshot_rows(
    snapshots: Sequence[tuple[int, SnapshotData]], presets: Sequence[str]
) -> list[dict[str, Any]]:
    """One row per round, item, question and part: statistics, consensus, pooling, stability."""
    rows: list[dict[str, Any]] = []
    for number, data in snapshots:
        for item_key, item in data.items.items():
            for question_key, question in item.questions.items():
                for part_key, part in question.parts.items():
                    consensus = part.consensus
                    pooled = part.pooled
                    stability = part.stability
                    row: dict[str, Any] = {
                        "round": number,
                        "item": item_key,
                        "item_version": item.version,
                        "question": question_key,
                        "part": part_key,
                        "suppressed": part.suppressed,
                    }
                    for column in STAT_COLUMNS:
                        row[column] = _number(part.stat(column)) if column != "n" else part.n
                    row["consensus_rule"] = consensus.rule if consensus else None
                    row["consensus"] = consensus.reached if consensus else None
                    for preset in presets:
                        row[f"preset_{preset}"] = (
                            consensus.presets.get(preset) if consensus else None
                        )
                    for method in ("logodds", "linear", "median"):
                        row[f"pooled_{method}"] = _number(pooled.method(method) if pooled else None)
                    for figure in ("changed_share", "distribution_change", "wilcoxon_p"):
                        row[figure] = _number(stability.figure(figure) if stability else None)
                    row["wilcoxon_method"] = stability.wilcoxon_method if stability else None
                    row["mcnemar_p"] = _number(stability.mcnemar_p if stability else None)
                    rows.append(row)
    return rows


def statistics_columns(presets: Sequence[str]) -> tuple[str, ...]:
    """Columns of snapshot_rows."""
    return (
        *("round", "item", "item_version", "question", "part", "suppressed"),
        *STAT_COLUMNS,
        *("consensus_rule", "consensus"),
        *(f"preset_{p}" for p in presets),
        *("pooled_logodds", "pooled_linear", "pooled_median"),
        *("changed_share", "distribution_change", "wilcoxon_p", "wilcoxon_method", "mcnemar_p"),
    )


GROUP_COLUMNS = (
    "round",
    "item",
    "question",
    "part",
    "group",
    "n",
    "median",
    "q1",
    "q3",
    "iqr",
    "pct_agree",
)


def group_rows(snapshots: Sequence[tuple[int, SnapshotData]]) -> list[dict[str, Any]]:
    """Per-group statistics as the snapshots hold them (groups under k stay suppressed)."""
    rows: list[dict[str, Any]] = []
    for number, data in snapshots:
        for item_key, item in data.items.items():
            for question_key, question in item.questions.items():
                for part_key, part in question.parts.items():
                    for group, entry in sorted((part.groups or {}).items()):
                        suppressed = entry.suppressed
                        rows.append(
                            {
                                "round": number,
                                "item": item_key,
                                "question": question_key,
                                "part": part_key,
                                "group": group,
                                "n": "suppressed (fewer than k)" if suppressed else entry.n,
                                **{
                                    c: None if suppressed else _number(entry.stat(c))
                                    for c in ("median", "q1", "q3", "iqr", "pct_agree")
                                },
                            }
                        )
    return rows


def item_rows(study: Study) -> list[dict[str, Any]]:
    """Items with every version's wording in every language of the study."""
    rows: list[dict[str, Any]] = []
    for item in study.items:
        for version in item.versions:
            row: dict[str, Any] = {
                "item": item.key,
                "kind": item.kind,
                "category": item.category.key if item.category else "",
                "status": item.status,
                "version": version.number,
                "from_round": version.introduced_in_round,
            }
            for language in study.languages:
                row[f"title_{language}"] = version.title.get(language, "")
                row[f"text_{language}"] = version.text.get(language, "")
            row["change_note"] = version.change_note.get(study.default_language, "")
            rows.append(row)
    return rows


def item_columns(study: Study) -> tuple[str, ...]:
    """Columns of item_rows."""
    texts = tuple(
        f"{kind}_{language}" for language in study.languages for kind in ("title", "text")
    )
    return ("item", "kind", "category", "status", "version", "from_round", *texts, "change_note")


def panel_counts(session: Session, study: Study) -> dict[str, dict[str, int]]:
    """Panel members per group and status (counts only)."""
    counts: dict[str, dict[str, int]] = {}
    rows = session.execute(
        select(Participation.group, Participation.status, func.count())
        .where(Participation.study_id == study.id)
        .group_by(Participation.group, Participation.status)
    ).tuples()
    for group, status, count in rows:
        counts.setdefault(group or "", {s.value: 0 for s in ParticipationStatus})[status] = count
    return dict(sorted(counts.items()))
