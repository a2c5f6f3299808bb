"""The report's tables for spreadsheets (one sheet each) and the XLSX workbook they make."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from analysis.snapshot import SnapshotData
from app.collector import full_collections_held
from app.reports.data import Report
from app.services import calibration, exports
from app.services.analysis_settings import settings_of
from app.services.analysis_store import kept
from app.services.exports import StreamedTable, Table
from app.services.exports.xlsx import (
    MAX_SHEET_NAME,
    MAX_SHEET_ROWS,
    Continued,
    Sheet,
    xlsx_bytes,
)
from app.services.snapshots import POOLING_METHODS


def round_table(report: Report) -> Table:
    """Rounds with their dates and counts of people."""
    rows = [
        {
            "round": f.round.number,
            "state": f.round.state,
            "opened": f.round.opened_at.date().isoformat() if f.round.opened_at else None,
            "closed": f.round.closed_at.date().isoformat() if f.round.closed_at else None,
            "items": f.items,
            "panel": f.panel,
            "answered": f.respondents,
            "response_rate": f.response_rate,
            "submitted": f.submitted if f.respondents is not None else None,
            "left": f.left,
            "joined": f.joined,
            "synthetic": f.round.synthetic,
        }
        for f in report.rounds
    ]
    return Table("Rounds", tuple(rows[0]) if rows else ("round",), rows)


def panel_table(report: Report) -> Table:
    """Panel members per group and status (counts of people only)."""
    rows = [
        {
            "group": group,
            "invited": sum(counts.values()),
            "active": counts.get("active", 0),
            "not_started": counts.get("invited", 0),
            "withdrawn": counts.get("withdrawn", 0),
        }
        for group, counts in report.panel.items()
    ]
    return Table("Panel", ("group", "invited", "active", "not_started", "withdrawn"), rows)


def scenario_tables(report: Report) -> list[Table]:
    """Named scenarios under each method, and each method's most likely scenarios."""
    results = report.scenarios
    if results is None:
        return []
    named = [
        {
            "scenario": n.key,
            "title": n.title.get(report.language) or n.title.get(report.study.default_language, ""),
            "expression": n.expression,
            "method": e.method,
            "probability": e.probability,
            "lower": e.lower,
            "upper": e.upper,
            "note": e.note,
        }
        for n in results.named
        for e in n.estimates
    ]
    ranking = [
        {
            "method": m.method,
            "rank": s.rank,
            "occurring": " + ".join(s.occurring) or "none",
            "probability": s.probability,
            "lower": s.lower,
            "upper": s.upper,
        }
        for m in results.methods
        for s in m.top
    ]
    events = [
        {
            "event": e.key,
            "panel_probability": e.probability,
            "round": e.round_number,
            "smic_coherent": e.coherent,
            "smic_experts": e.coherent_experts,
            "crossimpact_simulated": e.simulated,
        }
        for e in results.events
    ]
    # pseudonyms only, and none in an anonymous study under k experts (the service leaves
    # coherence_experts empty then; the panel row is always there)
    coherence = [
        {
            "expert": row["expert"],
            "checks": row["checks"],
            "violations": row["violations"],
            "mean_violation": row["mean_violation"],
            "max_violation": row["max_violation"],
            "score": row["score"],
            "smic_objective": row.get("smic_objective"),
        }
        for row in results.coherence_experts
    ]
    if results.coherence:
        panel = results.coherence
        coherence.append(
            {
                "expert": "panel",
                "checks": panel["checks"],
                "violations": panel["violations"],
                "mean_violation": panel["mean_violation"],
                "max_violation": panel["max_violation"],
                "score": panel["mean_score"],
                "smic_objective": None,
            }
        )
    return [
        Table(
            "Scenarios",
            ("scenario", "title", "expression", "method", "probability", "lower", "upper", "note"),
            named,
        ),
        Table(
            "Scenario ranking",
            ("method", "rank", "occurring", "probability", "lower", "upper"),
            ranking,
        ),
        Table(
            "Event probabilities",
            (
                "event",
                "panel_probability",
                "round",
                "smic_coherent",
                "smic_experts",
                "crossimpact_simulated",
            ),
            events,
        ),
        Table(
            "Expert coherence",
            (
                "expert",
                "checks",
                "violations",
                "mean_violation",
                "max_violation",
                "score",
                "smic_objective",
            ),
            coherence,
        ),
    ]


def trend_table(report: Report) -> Table:
    """Every trend's forecast, year by year."""
    rows = [
        {
            "trend": t.key,
            "year": f.year,
            "baseline": f.baseline,
            "expected": f.expected,
            "p10": f.low,
            "p50": f.median,
            "p90": f.high,
        }
        for t in report.trends
        for f in t.forecast
    ]
    return Table(
        "Trend impact", ("trend", "year", "baseline", "expected", "p10", "p50", "p90"), rows
    )


#: the weighted pooling sheet's columns: every weighting x method, then Cooke's caveats
WEIGHTED_COLUMNS = (
    *("round", "item", "question", "part", "n"),
    *(f"{w}_{m}" for w in calibration.WEIGHTINGS for m in POOLING_METHODS),
    *("counted_self_rated", "counted_performance", "self_rating_source"),
    *("performance_seeds", "performance_min_seeds", "performance_few_seeds"),
)


def weighted_table(session: Session, report: Report) -> Table:
    """Every closed round's pooled probabilities under equal (the headline), self-rated and
    performance weights, with the seed count behind the performance weights."""
    rows: list[dict[str, Any]] = []
    for round_, _data in _snapshots(session, report):
        # the report computed the last round's already
        pooling = (
            report.weighting
            if report.weighting is not None and round_.number == report.final_round
            else kept(
                session,
                report.study,
                report.store,
                "weighting",
                round_.number,
                functools.partial(calibration.weighted_pooling, session, report.study, round_),
            )
        )
        cal = pooling.calibration
        for row in pooling.rows:
            cells: dict[str, Any] = {
                "round": round_.number,
                "item": row.item,
                "question": row.question,
                "part": row.part,
                "n": row.n,
                "counted_self_rated": row.counted.get("self_rated"),
                "counted_performance": row.counted.get("performance"),
                "self_rating_source": pooling.self_rating_source,
                "performance_seeds": len(cal.seeds),
                "performance_min_seeds": cal.min_seeds,
                "performance_few_seeds": cal.few_seeds,
            }
            for weighting in calibration.WEIGHTINGS:
                pooled = row.pooled.get(weighting) or {}
                for method in POOLING_METHODS:
                    cells[f"{weighting}_{method}"] = pooled.get(method)
            rows.append(cells)
    return Table("Weighted pooling", WEIGHTED_COLUMNS, rows)


def methods_table(report: Report) -> Table:
    """The settings every figure depends on."""
    study = report.study
    rows: list[dict[str, Any]] = [
        {"setting": "consensus_rule", "value": study.consensus_rule},
        {"setting": "stability_rule", "value": study.stability_rule},
        {"setting": "compare_presets", "value": ", ".join(study.compare_presets)},
        {"setting": "k", "value": study.k},
        {"setting": "k_comments", "value": study.k_comments},
        {"setting": "quantile_method", "value": study.quantile_method},
        {"setting": "pooling_eps", "value": settings_of(study).pooling_eps},
        {"setting": "definition_sha256", "value": study.definition_hash},
        {"setting": "answers_withdrawn", "value": report.answers_withdrawn},
    ]
    if study.conditional_pairs_per_expert is not None:
        rows.append(
            {"setting": "conditional_pairs_per_expert", "value": study.conditional_pairs_per_expert}
        )
    for scale in study.scales:
        if scale.consensus:
            rows.append({"setting": f"consensus_rule[{scale.key}]", "value": scale.consensus})
    rows.extend(
        {"setting": f"analysis[{name}]", "value": value}
        for name, value in settings_of(study).as_dict().items()
    )
    if report.scenarios is not None:
        rows.append({"setting": "seed", "value": report.scenarios.seed})
    rows.extend({"setting": f"software[{k}]", "value": v} for k, v in report.software.items())
    return Table("Methods", ("setting", "value"), rows)


@full_collections_held()
def study_tables(
    session: Session, report: Report, *, identified: bool = False
) -> list[Table | StreamedTable]:
    """Every table of a study's spreadsheet export (the answers read while they are written)."""
    study = report.study
    snapshots = [(r.number, data) for r, data in _snapshots(session, report)]
    tables: list[Table | StreamedTable] = [
        StreamedTable(
            "Answers",
            exports.answer_columns(identified),
            lambda: exports.answer_cells(session, study, identified=identified),
            xml_rows=lambda: exports.answer_sheet_rows(session, study, identified=identified),
            widths=[ANSWER_WIDTHS.get(c, 12) for c in exports.answer_columns(identified)],
        ),
        Table("Items", exports.item_columns(study), exports.item_rows(study)),
        Table(
            "Statistics",
            exports.statistics_columns(study.compare_presets),
            exports.snapshot_rows(snapshots, study.compare_presets),
        ),
        Table("Groups", exports.GROUP_COLUMNS, exports.group_rows(snapshots)),
        round_table(report),
        panel_table(report),
        *scenario_tables(report),
    ]
    if report.trends:
        tables.append(trend_table(report))
    tables.append(weighted_table(session, report))
    tables.append(methods_table(report))
    return tables


def _snapshots(session: Session, report: Report) -> list[tuple[Any, SnapshotData]]:
    """The closed rounds' typed snapshots."""
    from app.services.results import closed_snapshots

    return closed_snapshots(session, report.study)


@full_collections_held()
def workbook_bytes(tables: Sequence[Table | StreamedTable]) -> bytes:
    """An XLSX workbook with one sheet per table: a bold header row, frozen, filterable; a
    table longer than a sheet continues on the next ones, and a Notes sheet says so."""
    sheets: list[Sheet] = []
    for table in tables:
        if isinstance(table, StreamedTable) and table.xml_rows is not None:
            written = table.xml_rows()
            if written is not None:
                sheets.append(
                    Sheet(
                        name=table.name[:MAX_SHEET_NAME],
                        header=table.columns,
                        rows=table.cells(),
                        widths=table.widths,
                        xml_rows=written,
                    )
                )
                continue
        # the widths come from the first rows, which are then written first
        rows: Iterator[Sequence[Any]] = iter(table.cells())
        first = list(itertools.islice(rows, WIDTH_ROWS))
        sheets.append(
            Sheet(
                name=table.name[:MAX_SHEET_NAME],
                header=table.columns,
                rows=itertools.chain(first, rows),
                widths=[_width(column, first, index) for index, column in enumerate(table.columns)],
            )
        )
    return xlsx_bytes(sheets, note=_continued_note)


#: the rows a column's width is measured on
WIDTH_ROWS = 200
#: the answers sheet's widths when the database writes its rows (nothing is measured)
ANSWER_WIDTHS = {
    "round": 8,
    "expert": 12,
    "group": 16,
    "item": 10,
    "item_version": 14,
    "question": 16,
    "part": 10,
    "value": 10,
    "no_answer": 11,
    "text": 60,
    "kept": 8,
    "synthetic": 11,
    "name": 24,
    "email": 30,
}


def _continued_note(continued: Continued) -> str:
    """The Notes sheet's line about a table that continues on further sheets."""
    return _(
        "The table %(table)s has %(rows)s rows, more than one sheet holds (%(limit)s): "
        "it continues on %(sheets)s.",
        table=continued.table,
        rows=f"{continued.rows:,}",
        limit=f"{MAX_SHEET_ROWS:,}",
        sheets=", ".join(continued.sheets[1:]),
    )


def _width(column: str, rows: Sequence[Sequence[Any]], index: int) -> int:
    """A column's width in characters: its longest value in these rows, 8 to 60."""
    longest = max([len(str(column))] + [len(str(row[index] or "")) for row in rows])
    return min(max(8, longest + 2), 60)
