"""Tables of a study's spreadsheet export besides the answers: statistics and group statistics
from the frozen snapshots, the items with every wording, and the panel as counts of people."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Participation, ParticipationStatus, Study
from app.services.exports.common import escape_formula


@dataclass(frozen=True)
class Table:
    """A named table of rows with fixed columns."""

    name: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]

    def cells(self) -> list[list[Any]]:
        """Rows as lists in column order, text escaped against formulas."""
        return [[escape_formula(row.get(c)) for c in self.columns] for row in self.rows]


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
    snapshots: Sequence[tuple[int, Mapping[str, Any]]], presets: Sequence[str]
) -> list[dict[str, Any]]:
    """One row per round, item, question and part: statistics, consensus, pooling, stability."""
    rows: list[dict[str, Any]] = []
    for number, data in snapshots:
        for item_key, item in data.get("items", {}).items():
            for question_key, question in item.get("questions", {}).items():
                for part_key, part in question.get("parts", {}).items():
                    stats = part.get("stats") or {}
                    consensus = part.get("consensus") or {}
                    pooled = part.get("pooled") or {}
                    stability = part.get("stability") or {}
                    row: dict[str, Any] = {
                        "round": number,
                        "item": item_key,
                        "item_version": item.get("version"),
                        "question": question_key,
                        "part": part_key,
                        "suppressed": bool(part.get("suppressed")),
                    }
                    for column in STAT_COLUMNS:
                        row[column] = _number(stats.get(column)) if column != "n" else part.get("n")
                    row["consensus_rule"] = consensus.get("rule")
                    row["consensus"] = consensus.get("reached")
                    for preset in presets:
                        row[f"preset_{preset}"] = (consensus.get("presets") or {}).get(preset)
                    row["pooled_logodds"] = _number(pooled.get("logodds"))
                    row["pooled_linear"] = _number(pooled.get("linear"))
                    row["pooled_median"] = _number(pooled.get("median"))
                    row["changed_share"] = _number(stability.get("changed_share"))
                    row["distribution_change"] = _number(stability.get("distribution_change"))
                    row["wilcoxon_p"] = _number(stability.get("wilcoxon_p"))
                    row["wilcoxon_method"] = stability.get("wilcoxon_method")
                    row["mcnemar_p"] = _number(stability.get("mcnemar_p"))
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


def group_rows(snapshots: Sequence[tuple[int, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Per-group statistics as the snapshots hold them (groups under k stay suppressed)."""
    rows: list[dict[str, Any]] = []
    for number, data in snapshots:
        for item_key, item in data.get("items", {}).items():
            for question_key, question in item.get("questions", {}).items():
                for part_key, part in question.get("parts", {}).items():
                    for group, entry in sorted((part.get("groups") or {}).items()):
                        stats = entry.get("stats") or {}
                        suppressed = bool(entry.get("suppressed"))
                        rows.append(
                            {
                                "round": number,
                                "item": item_key,
                                "question": question_key,
                                "part": part_key,
                                "group": group,
                                "n": "suppressed (fewer than k)" if suppressed else entry.get("n"),
                                **{
                                    c: None if suppressed else _number(stats.get(c))
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
