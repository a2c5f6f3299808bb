"""The consensus report as HTML (one self-contained file) and PDF (WeasyPrint), and its charts.

The report is rendered in one language (the study's default unless asked otherwise) with the
app's templates and translations; charts are SVG embedded as data: URIs, so the HTML file
needs nothing else and the PDF keeps vector graphics.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from analysis.settings import AnalysisSettings
from app import numbers
from app.definitions.model import ItemKind, QuestionKind, ScaleKind
from app.i18n import localise_digits, text_direction
from app.messages import Message, render
from app.models import Question, pick_text
from app.reports import charts, structural
from app.reports.checklist import ChecklistFacts, record_labels, reporting_checklist
from app.reports.data import ItemReport, PartResult, Report
from app.reports.scenario_text import scenario_context
from app.services import study_look
from app.services.analysis_settings import settings_of
from app.services.tidy import TREND_IMPACT_PARTS
from app.wording import part_name, question_title, round_state, rule_in_words, scale_title

#: the report's stylesheet, inlined into the HTML (the file must stand alone)
STYLESHEET = Path(__file__).resolve().parent.parent / "templates" / "reports" / "report.css"

#: a callback told the name of each step as the report is made (for progress bars)
Progress = Callable[[str], None]


def _noop(_step: str) -> None:
    """No progress reporting."""


@dataclass
class ReportCharts:
    """Every chart of a report, as SVG text, by name."""

    overview: dict[str, str] = field(default_factory=dict)
    #: (item key, question key) -> SVG
    items: dict[tuple[str, str], str] = field(default_factory=dict)
    #: trend key -> SVG
    trends: dict[str, str] = field(default_factory=dict)


def text_in(texts: Mapping[str, str] | None, language: str, fallback: str) -> str:
    """A translated text in the report's language."""
    return pick_text(dict(texts or {}), language, fallback)


def grouped_reasons(reasons: Sequence[str]) -> list[tuple[str, int]]:
    """Reasons with identical texts shown once, with how often they were given (in the
    snapshot's shuffled order of first appearance)."""
    counts: dict[str, int] = {}
    for reason in reasons:
        counts[reason] = counts.get(reason, 0) + 1
    return list(counts.items())


def fmt(value: Any, digits: int = 1, language: str = "en") -> str:
    """A number for tables in the report's language: fixed decimals without trailing zeros,
    the language's digits; '–' when missing."""
    if value is None or isinstance(value, bool):
        return numbers.MISSING
    return numbers.decimal(float(value), digits, language)


def pct(value: Any, digits: int = 0, language: str = "en") -> str:
    """A share (0-1) in percent as the language writes it; tiny shares with two significant
    digits instead of 0."""
    if value is None or isinstance(value, bool):
        return numbers.MISSING
    return numbers.percent(float(value) * 100.0, digits, language)


def report_message(message: object, language: str = "en") -> str:
    """A service's note in the report's language, its numbers in the language's digits.

    Only numbers are rewritten: item keys and codes among the values (E06, T01) stay as written.
    """
    if not isinstance(message, Message):
        return str(message)
    params = {
        key: localise_digits(value, language)
        if isinstance(value, int | float) and not isinstance(value, bool)
        else value
        for key, value in message.params.items()
    }
    return render(Message(message.template, params), _)


def _round_rows(
    report: ItemReport, question: Question, part: str
) -> list[charts.RoundDistribution]:
    """The distribution rows of one part, one per round."""
    rows = []
    series = report.series(question.key, part)
    for position, (number, result) in enumerate(series):
        if result.suppressed:
            continue
        rows.append(
            charts.RoundDistribution(
                label=_("R%(n)s", n=number),
                histogram=result.histogram,
                median=result.stats.get("median"),
                q1=result.stats.get("q1"),
                q3=result.stats.get("q3"),
                final=position == len(series) - 1,
            )
        )
    return rows


def item_chart(report: ItemReport, question: Question, language: str, width: int = 206) -> str:
    """The chart of one question of an item across rounds (distributions or ranges)."""
    final = report.final
    asked = final.question(question.key) if final is not None else None
    parts = [p.part for p in asked.parts] if asked is not None else []
    title = _("%(item)s: %(question)s, by round", item=report.key, question=question.key)
    if question.kind == QuestionKind.TREND_IMPACT or not parts:
        return ""
    if parts == [""]:
        rows = _round_rows(report, question, "")
        # one bar per value: Likert points, and whole-number answers over a few values
        points = (question.scale is not None and question.scale.kind == ScaleKind.LIKERT) or (
            bool(rows) and all(b["low"] == b["high"] for r in rows for b in r.histogram)
        )
        return charts.distribution_svg(rows, title=title, points=points, width=width)
    range_rows = []
    for part in parts:
        values = []
        for number, result in report.series(question.key, part):
            if result.suppressed:
                continue
            stats = result.stats
            values.append((str(number), stats.get("q1"), stats.get("median"), stats.get("q3")))
        if values:
            range_rows.append(charts.RangeRow(label=part_name(question, part), rounds=values))
    scale = question.scale
    probability = scale is not None and scale.kind == ScaleKind.PROBABILITY
    return charts.ranges_svg(
        range_rows,
        title=title,
        width=max(width * 2, 420),
        low=0.0 if probability else None,
        high=100.0 if probability else None,
    )


def overview_charts(
    report: Report, progress: Progress = _noop, *, raster: bool = False
) -> ReportCharts:
    """Every chart of the report (the large ones as PNG with raster, for the PDF)."""
    made = ReportCharts()
    language = report.language
    fallback = report.study.default_language
    events = report.of_kind(ItemKind.EVENT)
    probability_key, impact_key = _probability_and_impact(report)
    points = []
    for item in events:
        p = item.headline(probability_key) if probability_key else None
        i = item.headline(impact_key) if impact_key else None
        if p is None or i is None or p.suppressed or i.suppressed:
            continue
        pooled = p.pooled.get("logodds")
        if pooled is None or i.median is None:
            continue
        points.append(
            charts.MatrixPoint(
                key=item.key,
                probability=float(pooled),
                impact=float(i.median),
                agreement=i.stats.get("pct_agree"),
                consensus=bool(p.consensus) and bool(i.consensus),
            )
        )
    impact_question = report.question(impact_key) if impact_key else None
    if points and impact_question is not None and impact_question.scale is not None:
        scale = impact_question.scale
        made.overview["matrix"] = charts.probability_impact_svg(
            points,
            title=_("Probability-impact matrix"),
            x_label=_("Pooled probability (log-odds pooling), %"),
            y_label=_(
                "Median impact (%(scale)s)",
                scale=f"{fmt(scale.min, 0, language)} … {fmt(scale.max, 0, language)}",
            ),
            impact_range=(float(scale.min or -3), float(scale.max or 3)),
            legend_consensus=_("consensus on probability and impact"),
            legend_no_consensus=_("no consensus on one or both"),
            raster=raster,
        )
    progress("matrix")
    panels = []
    for key in report.headline_questions:
        question = report.question(key)
        if question is None:
            continue
        series: dict[str, list[tuple[int, float]]] = {}
        for item in events:
            final = item.final
            found = final.question(key) if final else None
            if found is None or not found.parts:
                continue
            headline = item.headline(key)
            part_key = headline.part if headline is not None else ""
            values = [
                (number, float(result.stats["iqr"]))
                for number, result in item.series(key, part_key)
                if not result.suppressed and result.stats.get("iqr") is not None
            ]
            if values:
                series[item.key] = values
        unit = text_in(question.scale.unit, language, fallback) if question.scale else ""
        panels.append(
            charts.ConvergencePanel(
                title=_question_title(question),
                unit=_("IQR (%(unit)s)", unit=unit) if unit else _("IQR (scale points)"),
                series=series,
            )
        )
    made.overview["convergence"] = charts.convergence_svg(
        panels,
        title=_("Convergence: interquartile range by round"),
        round_label=_("Round"),
        median_label=_("median over items"),
        raster=raster,
    )
    progress("convergence")
    flows = [f for f in report.rounds if f.respondents is not None]
    boxes = []
    for index, flow in enumerate(flows):
        following = flows[index + 1] if index + 1 < len(flows) else None
        side = ""
        if following is not None and following.left is not None:
            side = _("%(n)s did not answer round %(r)s", n=following.left, r=following.round.number)
            if following.joined:
                side += "; " + _("%(n)s joined", n=following.joined)
        boxes.append(
            charts.FlowBox(
                heading=_("Round %(n)s", n=flow.round.number),
                lines=[
                    _("panel %(n)s", n=flow.panel),
                    _(
                        "answered %(n)s (%(p)s)",
                        n=flow.respondents,
                        p=pct(flow.response_rate, 0, language),
                    ),
                    _("submitted %(n)s", n=flow.submitted),
                    _("%(n)s items", n=flow.items),
                ],
                side=side,
            )
        )
    for flow in report.rounds:
        if flow.respondents is None and flow.round.state == "open":
            opened = flow.round.opened_at.strftime("%Y-%m-%d") if flow.round.opened_at else ""
            boxes.append(
                charts.FlowBox(
                    heading=_("Round %(n)s (open)", n=flow.round.number),
                    lines=[
                        _("opened %(date)s", date=opened),
                        _("%(n)s items", n=flow.items),
                        _("reported when it closes"),
                    ],
                    side="",
                )
            )
    made.overview["flow"] = charts.round_flow_svg(
        boxes, title=_("Round flow and attrition"), raster=raster
    )
    progress("flow")
    if report.scenarios is not None:
        bars = []
        labels = method_labels()
        for named in report.scenarios.named:
            if not named.estimates:
                continue
            bars.append(
                charts.ScenarioBar(
                    label=f"{named.key} {text_in(named.title, language, fallback)}",
                    estimates=[
                        (
                            labels.get(e.method, e.method),
                            100 * e.probability,
                            100 * e.lower,
                            100 * e.upper,
                        )
                        for e in named.estimates
                    ],
                )
            )
        made.overview["scenarios"] = charts.scenarios_svg(
            bars,
            title=_("Named scenarios: probability by method"),
            x_label=_("Probability, %"),
            raster=raster,
        )
    progress("scenarios")
    for trend in report.trends:
        if not trend.forecast:
            continue
        unit = text_in(trend.unit, language, fallback)
        made.trends[trend.key] = charts.fan_svg(
            charts.FanSeries(
                history=list(trend.baseline),
                years=[f.year for f in trend.forecast],
                baseline=[f.baseline for f in trend.forecast],
                expected=[f.expected for f in trend.forecast],
                low=[f.low for f in trend.forecast],
                high=[f.high for f in trend.forecast],
                panel_estimate=trend.panel_estimate,
                end_year=trend.end_year,
            ),
            title=_("Trend impact analysis of %(trend)s", trend=trend.key),
            y_label=unit,
            labels={
                "band": _("10–90 % band"),
                "baseline": _("surprise-free baseline"),
                "expected": _("expected (with events)"),
                "history": _("baseline data"),
                "panel": _("panel's median estimate"),
            },
            raster=raster,
        )
    progress("trends")
    structural_charts(report, made, raster=raster)
    for item in report.items:
        if not item.rounds:
            continue
        for question in item.item.questions:
            # an influence row has a part per variable: the structural chapter shows it whole
            if question.kind in (
                QuestionKind.TEXT,
                QuestionKind.TREND_IMPACT,
                QuestionKind.INFLUENCE,
            ):
                continue
            svg = item_chart(item, question, language)
            if svg:
                made.items[(item.key, question.key)] = svg
    progress("items")
    return made


def _question_title(question: Question) -> str:
    """A short title for a question in the report's language (never its internal key)."""
    return question_title(question)


def _probability_and_impact(report: Report) -> tuple[str | None, str | None]:
    """The headline probability question and the headline bipolar (impact) question."""
    probability = impact = None
    for key in report.headline_questions:
        question = report.question(key)
        if question is None or question.scale is None:
            continue
        if probability is None and question.scale.kind == ScaleKind.PROBABILITY:
            probability = key
        if impact is None and question.scale.kind == ScaleKind.LIKERT and question.scale.bipolar:
            impact = key
    return probability, impact


def method_labels() -> dict[str, str]:
    """Readers' names of the scenario methods."""
    return {
        "smic": _("SMIC"),
        "smic_experts": _("SMIC per expert"),
        "maxent": _("Maximum entropy"),
        "crossimpact": _("Cross-impact"),
    }


#: short column heads for the consensus presets
PRESET_ABBREVIATIONS = {"percent_iqr": "P+I", "grade": "GR", "rand_ucla": "RU", "cv": "CV"}


def preset_abbreviation(name: str) -> str:
    """A two- or three-letter column head for a preset."""
    return PRESET_ABBREVIATIONS.get(name, name[:3].upper())


def preset_legend(names: list[str]) -> str:
    """'P+I = Percent agreement + IQR; ...' for the presets compared."""
    labels = preset_labels()
    return "; ".join(f"{preset_abbreviation(n)} = {labels[n]}" for n in names if n in labels)


def preset_labels() -> dict[str, str]:
    """Readers' names of the consensus presets, in the page's language."""
    from analysis.consensus import PRESETS

    translated = {
        "percent_iqr": _("Percent agreement + IQR"),
        "grade": _("GRADE 70/15"),
        "rand_ucla": _("RAND/UCLA (no disagreement)"),
        "cv": _("Coefficient of variation at most 0.5"),
    }
    return {key: translated.get(key, preset.label) for key, preset in PRESETS.items()}


@dataclass(frozen=True)
class EventLine:
    """An event's headline figures, for the summary's rankings."""

    key: str
    title: str
    probability: float
    impact: float | None
    consensus: bool | None


def event_lines(report: Report) -> list[EventLine]:
    """Every event with a pooled probability, with its median impact and consensus."""
    language = report.language
    fallback = report.study.default_language
    probability_key, impact_key = _probability_and_impact(report)
    lines = []
    for item in report.of_kind(ItemKind.EVENT):
        p = item.headline(probability_key) if probability_key else None
        if p is None or p.suppressed or p.pooled.get("logodds") is None:
            continue
        i = item.headline(impact_key) if impact_key else None
        shown = i is not None and not i.suppressed
        verdicts = [p.consensus] + ([i.consensus] if shown and i is not None else [])
        consensus = None if any(v is None for v in verdicts) else all(bool(v) for v in verdicts)
        final = item.final
        title = text_in(item.version(final.version).title, language, fallback) if final else ""
        lines.append(
            EventLine(
                key=item.key,
                title=title,
                probability=float(p.pooled["logodds"]),
                impact=i.median if shown and i is not None else None,
                consensus=consensus,
            )
        )
    return lines


@dataclass(frozen=True)
class RankedLine:
    """An event in the expected-impact ranking, for the summary."""

    key: str
    title: str
    probability: float  #: percent
    impact: float
    expected: float  #: pooled probability (0-1) x median impact
    quadrant: str | None
    consensus: bool | None


def quadrant_labels() -> dict[str, str]:
    """Readers' names of the probability-impact quadrants."""
    return {
        "high_probability_high_impact": _("likely, large impact"),
        "low_probability_high_impact": _("unlikely, large impact"),
        "high_probability_low_impact": _("likely, small impact"),
        "low_probability_low_impact": _("unlikely, small impact"),
    }


def expected_impact_lines(report: Report, lines: list[EventLine]) -> list[RankedLine]:
    """Events by expected impact (largest first), from the report's ranking."""
    if report.ranking is None:
        return []
    by_key = {line.key: line for line in lines}
    found = []
    for event in report.ranking.ranking.events:
        line = by_key.get(event.key)
        if line is None or event.probability is None or event.impact is None:
            continue
        found.append(
            RankedLine(
                key=event.key,
                title=line.title,
                probability=100.0 * event.probability,
                impact=event.impact,
                expected=event.expected_impact or 0.0,
                quadrant=event.quadrant,
                consensus=line.consensus,
            )
        )
    return found


def dissent_items(report: Report) -> list[tuple[ItemReport, Question, PartResult]]:
    """(item, question, part) where a headline question did not reach consensus (or cannot tell
    and the answers are split)."""
    found = []
    for item in report.of_kind(ItemKind.EVENT):
        for key in report.headline_questions:
            part = item.headline(key)
            question = report.question(key)
            if part is None or part.suppressed or question is None:
                continue
            if part.consensus is False or (part.consensus is None and part.dissent):
                found.append((item, question, part))
    return found


def structural_charts(report: Report, made: ReportCharts, *, raster: bool = False) -> None:
    """The structural chapter's charts: the MICMAC maps and MACTOR's convergence graph."""
    if report.structural is not None:
        made.overview["micmac"] = structural.micmac_chart(report.structural, raster=raster)
        made.overview["micmac_indirect"] = structural.micmac_chart(
            report.structural, indirect=True, raster=raster
        )
    if report.mactor is not None:
        made.overview["mactor"] = structural.mactor_chart(report.mactor, raster=raster)


def report_sections(report: Report) -> list[tuple[str, str]]:
    """(anchor, numbered title) of the report's chapters, in order, as the contents list them."""
    chapters: list[tuple[str, str]] = [
        ("summary", _("Summary")),
        ("criteria", _("Consensus criteria")),
        ("panel", _("Panel and rounds")),
        ("overview", _("Results at a glance")),
        ("events", _("Developments, item by item")),
    ]
    if report.of_kind(ItemKind.TREND) or report.of_kind(ItemKind.CALIBRATION):
        chapters.append(("estimates", _("Trends and calibration questions")))
    if report.scenarios is not None:
        chapters.append(("scenarios", _("Scenarios")))
    if report.trends:
        chapters.append(("tia", _("Trend impact analysis")))
    if report.structural is not None or report.mactor is not None or report.cib is not None:
        chapters.append(("structure", _("Structural analysis: drivers and actors")))
    chapters.append(("dissent", _("Minority views and dissent")))
    numbered = [
        (anchor, f"{localise_digits(n, report.language)}. {title}")
        for n, (anchor, title) in enumerate(chapters, start=1)
    ]
    return [
        *numbered,
        ("methods", _("Appendix A: methods")),
        ("wording", _("Appendix B: the survey's wording")),
        ("checklist", _("Appendix C: reporting checklist (CREDES / DELPHISTAR)")),
    ]


def analysis_settings_rows(settings: AnalysisSettings) -> list[tuple[str, str, bool]]:
    """(name, value, set by the study) for every analysis setting, in the documented order."""
    changed = settings.changed()
    return [
        # plain digits: a seed is an identifier, and every value is one a reader may copy back
        (name, f"{value:g}" if isinstance(value, float) else str(value), name in changed)
        for name, value in settings.as_dict().items()
    ]


def template_context(report: Report, made: ReportCharts, *, standalone: bool) -> dict[str, Any]:
    """What the report templates need."""
    from analysis.consensus import PRESETS

    language = report.language
    fallback = report.study.default_language
    settings = settings_of(report.study)
    probability_key, impact_key = _probability_and_impact(report)
    lines = event_lines(report)
    scenarios = report.scenarios
    conditionals: dict[tuple[str, str], tuple[float, float]] = {}
    ranking = []
    if scenarios is not None:
        inputs_given = _conditionals(report)
        conditionals = inputs_given
        ranking = sorted(
            scenarios.named,
            key=lambda n: -(n.estimate("maxent").probability if n.estimate("maxent") else -1.0),  # type: ignore[union-attr]
        )
    questions: dict[str, Question] = {}
    for item in report.items:
        for question in item.item.questions:
            questions.setdefault(question.key, question)
    sections = report_sections(report)
    checklist = reporting_checklist(
        ChecklistFacts(
            record=report.record,
            measured=report.measured,
            closed_rounds=len(report.closed),
            headings=dict(sections),
        )
    )
    return {
        "record_labels": record_labels(),
        "checklist": checklist,
        "sections": sections,
        "heading": dict(sections),
        "top_likely": sorted(lines, key=lambda e: -e.probability)[:5],
        # ranked by pooled probability x median impact, not by the impact alone
        "top_impact": expected_impact_lines(report, lines)[:5] if impact_key else [],
        "ranking": report.ranking.ranking if report.ranking else None,
        "quadrant_labels": quadrant_labels(),
        "scenario_ranking": ranking,
        "scenario_methods": [
            m
            for m in ("smic", "smic_experts", "maxent", "crossimpact")
            if scenarios is not None and scenarios.method(m) is not None
        ]
        or ["smic", "maxent", "crossimpact"],
        "conditionals": conditionals,
        "dissent_items": dissent_items(report),
        "pooling_eps": settings.pooling_eps,
        "analysis_settings": analysis_settings_rows(settings),
        "questions": sorted(questions.items()),
        "report": report,
        "study": report.study,
        "charts": made,
        "data_uri": charts.data_uri,
        "tx": lambda texts: text_in(texts, language, fallback),
        "part_name": part_name,
        "grouped_reasons": grouped_reasons,
        "preset_abbreviation": preset_abbreviation,
        "preset_legend": preset_legend,
        "preset_labels": preset_labels(),
        "fmt": functools.partial(fmt, language=language),
        "pct": functools.partial(pct, language=language),
        "message": functools.partial(report_message, language=language),
        "method_labels": method_labels(),
        "presets": PRESETS,
        "probability_key": probability_key,
        "impact_key": impact_key,
        "question_title": _question_title,
        "round_state": round_state,
        "rule_in_words": rule_in_words,
        "scale_title": scale_title,
        "language": language,
        "direction": text_direction(language),
        "standalone": standalone,
        "stylesheet": STYLESHEET.read_text(encoding="utf-8"),
        "ItemKind": ItemKind,
        "QuestionKind": QuestionKind,
        "ScaleKind": ScaleKind,
        "TREND_IMPACT_PARTS": TREND_IMPACT_PARTS,
        "synthetic": any(f.round.synthetic for f in report.rounds),
        "study_logo": study_look.logo_data_uri(report.study),
        "micmac_lines": (
            structural.variable_lines(report.structural, language, fallback)
            if report.structural is not None
            else []
        ),
        "micmac_matrix": (
            structural.matrix_rows(report.structural) if report.structural is not None else []
        ),
        "micmac_quadrants": structural.micmac_quadrant_labels(),
        "mactor_actors": (
            structural.actor_lines(report.mactor, language, fallback) if report.mactor else []
        ),
        "mactor_convergences": structural.pair_lines(report.mactor) if report.mactor else [],
        "mactor_divergences": (
            structural.pair_lines(report.mactor, divergent=True) if report.mactor else []
        ),
        "cib_lines": structural.cib_lines(report.cib, language, fallback) if report.cib else [],
        "cib_named": structural.named_lines(report.cib, language, fallback) if report.cib else [],
        "mactor_objectives": (
            structural.objective_lines(report.mactor, language, fallback) if report.mactor else []
        ),
        **scenario_context(report, language),
    }


def _conditionals(report: Report) -> dict[tuple[str, str], tuple[float, float]]:
    """Pooled P(i | j) and P(i | not j) of the key events, from the items' final rounds (0-1)."""
    found: dict[tuple[str, str], tuple[float, float]] = {}
    for item in report.of_kind(ItemKind.EVENT):
        final = item.final
        if final is None:
            continue
        for question in final.questions:
            if question.question.kind != QuestionKind.CONDITIONAL:
                continue
            for other in question.question.config.get("given", []):
                yes = question.part(f"{other}|given")
                no = question.part(f"{other}|given_not")
                if yes is None or no is None or yes.suppressed or no.suppressed:
                    continue
                a, b = yes.pooled.get("logodds"), no.pooled.get("logodds")
                if a is not None and b is not None:
                    found[(item.key, other)] = (float(a) / 100.0, float(b) / 100.0)
    return found


def render_html(
    report: Report,
    *,
    progress: Progress = _noop,
    made: ReportCharts | None = None,
    raster: bool = False,
) -> str:
    """The report as one self-contained HTML document (raster: large charts as PNG)."""
    with force_locale(report.language):
        made = made or overview_charts(report, progress, raster=raster)
        html = render_template(
            "reports/report.html", **template_context(report, made, standalone=True)
        )
    progress("html")
    return html


def render_pdf(report: Report, *, progress: Progress = _noop) -> bytes:
    """The report as PDF (A4, page numbers, running title)."""
    from weasyprint import HTML

    html = render_html(report, progress=progress, raster=True)
    pdf: bytes = HTML(string=html, base_url=current_app.root_path).write_pdf()
    progress("pdf")
    return pdf
