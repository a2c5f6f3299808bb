"""Facilitator result views (statistics, consensus, scenarios, trend impact), the consensus
report (HTML, PDF) and data downloads (CSV, XLSX, JSON; audited), and archive import.

Every figure comes from frozen snapshots through the report assembly and the results service;
nothing here computes statistics. The pages that draw charts import `app.reports.charts` and
`render` when they run: those load matplotlib, and a process that never draws a chart (an
export, a mail worker, the CLI) starts half a second sooner without it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _

from app.auth import facilitator, facilitator_required
from app.database import atomic
from app.definitions.model import ItemKind, QuestionKind, ScaleKind
from app.extensions import db
from app.jobs.reports import analysis_store
from app.models import DomainError, NotFoundError, RoundState, Study, utcnow
from app.reports.data import Report, build_report
from app.reports.tables import study_tables, workbook_bytes
from app.results import builds
from app.results.forms import ArchiveImportForm, BuildForm, ExportForm, IdentifiedExportForm
from app.services import calibration, exports, linkage, results, rounds
from app.services import structural as structural_service
from app.services import studies as study_service
from app.services.analysis_store import kept
from app.templating import current_language

bp = Blueprint("results", __name__, url_prefix="/f")

MIME = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "pdf": "application/pdf",
    "html": "text/html; charset=utf-8",
}


def _study(study_id: int) -> Study:
    """The study, if this facilitator may see it (404 otherwise)."""
    return study_service.study_for(db.session, facilitator(), study_id)


def _report(study: Study, *, with_results: bool, up_to: int | None = None) -> Report:
    """The study's report data in the page's language (404 while no round has closed)."""
    return build_report(
        db.session,
        study,
        now=utcnow(),
        language=current_language(),
        with_results=with_results,
        up_to=up_to,
        # the analyses kept at close, read only: a page view never writes them
        store=analysis_store(keep=False),
    )


def _round_argument(study: Study) -> int | None:
    """The ?round= the page asks for, if it is one of the study's closed rounds."""
    value = request.args.get("round", type=int)
    if value is None:
        return None
    if value not in _closed_numbers(study):
        abort(404)
    return value


def _closed_numbers(study: Study) -> list[int]:
    """The numbers of the study's closed rounds."""
    return [r.number for r in rounds.rounds_of(db.session, study) if r.state == RoundState.CLOSED]


def _download(
    content: bytes | Iterator[bytes], study: Study, extension: str, *, suffix: str = ""
) -> Response:
    """A file download named after the study; pieces are sent as they are made (the view's
    transaction, with its audit entry, is committed before the first is read)."""
    if not isinstance(content, bytes):
        content = stream_with_context(content)
    # the types carry their charset already: as the whole header, not a mimetype to extend
    response = Response(content, content_type=MIME[extension])
    name = f"{study.key}{suffix}.{extension}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.get("/studies/<int:study_id>/results")
@facilitator_required
def overview(study_id: int) -> Any:
    """Every development's estimates, consensus (study rule and presets), stability and dissent,
    the probability-impact matrix and convergence across rounds."""
    from app.reports import charts, render

    study = _study(study_id)
    try:
        report = _report(study, with_results=False, up_to=_round_argument(study))
    except NotFoundError:
        return render_template("results/empty.html", study=study, nav="results")
    made = render.ReportCharts()
    with force_locale(current_language()):
        made = render.overview_charts(report)
    return render_template(
        "results/overview.html",
        study=study,
        nav="results",
        report=report,
        charts=made,
        data_uri=charts.data_uri,
        closed=[r.number for r, _d in results.closed_snapshots(db.session, study)],
        export_form=ExportForm(),
        identified_form=IdentifiedExportForm(),
        may_identify=exports.may_export_identified(study, facilitator()),
        disclosure=linkage.disclosure(db.session, study),
        built=builds.overview_builds(study, report.final_round),
        build_form=BuildForm(formdata=None),
        **_helpers(report),
    )


#: what the structural chapter (reports/_structural.html) reads from the report's context
STRUCTURAL_KEYS = (
    "micmac_lines",
    "micmac_matrix",
    "micmac_quadrants",
    "mactor_actors",
    "mactor_convergences",
    "mactor_divergences",
    "mactor_objectives",
    "cib_lines",
    "cib_named",
)

#: what the scenario texts (reports/_scenarios.html) read from the report's context
SCENARIO_TEXT_KEYS = ("event_titles", "scenario_clauses", "top_groups", "named_titles")


def _helpers(report: Report) -> dict[str, Any]:
    """Formatting helpers and labels the result templates share with the report."""
    from app.reports import render

    context = render.template_context(report, render.ReportCharts(), standalone=False)
    keep = (
        "tx",
        "fmt",
        "pct",
        "part_name",
        "presets",
        "question_title",
        "method_labels",
        "preset_abbreviation",
        "preset_legend",
        "message",
        "probability_key",
        "impact_key",
        "dissent_items",
        "rule_in_words",
        "preset_labels",
        "round_state",
    )
    return {
        **{key: context[key] for key in keep},
        "ItemKind": ItemKind,
        "QuestionKind": QuestionKind,
        "ScaleKind": ScaleKind,
        "has_structural": structural_service.has_structural_section(db.session, report.study),
    }


@bp.get("/studies/<int:study_id>/results/items/<key>")
@facilitator_required
def item(study_id: int, key: str) -> Any:
    """One item in every closed round: statistics, every consensus definition, stability,
    dissent flags, groups (k-suppressed), distributions and the panel's reasons."""
    from app.reports import charts, render

    study = _study(study_id)
    try:
        report = _report(study, with_results=False)
    except NotFoundError:
        abort(404)
    found = report.item(key)
    if found is None or not found.rounds:
        abort(404)
    # the same answers under self-rated and performance weights, for each round that asked it
    weightings: dict[int, calibration.WeightedPooling] = {}
    if any(
        q.scale is not None and q.scale.kind == ScaleKind.PROBABILITY for q in found.item.questions
    ):
        asked = {r.number for r in found.rounds}
        store = analysis_store(keep=False)
        weightings = {
            r.number: kept(
                db.session,
                study,
                store,
                "weighting",
                r.number,
                functools.partial(calibration.weighted_pooling, db.session, study, r),
            )
            for r, _d in results.closed_snapshots(db.session, study)
            if r.number in asked
        }
    item_charts: dict[str, str] = {}
    with force_locale(current_language()):
        for question in found.item.questions:
            if question.kind in (QuestionKind.TEXT, QuestionKind.TREND_IMPACT):
                continue
            svg = render.item_chart(found, question, report.language, width=460)
            if svg:
                item_charts[question.key] = svg
    return render_template(
        "results/item.html",
        study=study,
        nav="results",
        report=report,
        entry=found,
        item_charts=item_charts,
        weightings=weightings,
        data_uri=charts.data_uri,
        **_helpers(report),
    )


@bp.get("/studies/<int:study_id>/results/scenarios")
@facilitator_required
def scenarios(study_id: int) -> Any:
    """Named scenarios under SMIC (pooled inputs and per expert), maximum entropy and
    cross-impact, each expert's coherence, the most likely scenarios, and the trend impact
    analysis with its fan charts."""
    from app.reports import charts, render

    study = _study(study_id)
    try:
        report = _report(study, with_results=True, up_to=_round_argument(study))
    except NotFoundError:
        return render_template("results/empty.html", study=study, nav="results")
    with force_locale(current_language()):
        made = render.overview_charts(report)
    context = render.template_context(report, made, standalone=False)
    return render_template(
        "results/scenarios.html",
        study=study,
        nav="results",
        report=report,
        charts=made,
        data_uri=charts.data_uri,
        conditionals=context["conditionals"],
        scenario_ranking=context["scenario_ranking"],
        scenario_methods=context["scenario_methods"],
        **{key: context[key] for key in SCENARIO_TEXT_KEYS},
        **_helpers(report),
    )


@bp.get("/studies/<int:study_id>/results/structural")
@facilitator_required
def structural(study_id: int) -> Any:
    """The panel's structural analysis: MICMAC on the pooled influence matrix, its map, the
    direct and indirect rankings and the pooled matrix itself."""
    from app.reports import charts, render

    study = _study(study_id)
    try:
        report = _report(study, with_results=False, up_to=_round_argument(study))
    except NotFoundError:
        return render_template("results/empty.html", study=study, nav="results")
    made = render.ReportCharts()
    with force_locale(current_language()):
        render.structural_charts(report, made)
    context = render.template_context(report, made, standalone=False)
    return render_template(
        "results/structural.html",
        study=study,
        nav="results",
        report=report,
        charts=made,
        data_uri=charts.data_uri,
        **{key: context[key] for key in STRUCTURAL_KEYS},
        **_helpers(report),
    )


@bp.get("/studies/<int:study_id>/results/report.<any(html, pdf):fmt>")
@facilitator_required
def report(study_id: int, fmt: str) -> Any:
    """The consensus report: HTML (a self-contained page) or PDF, served from its kept build, or
    built in the background with a progress page."""
    study = _study(study_id)
    language = builds.report_language(study)
    results.require_closed_round(db.session, study)
    inline = fmt == "html" and not request.args.get("download")
    number = _round_argument(study)  # ?round=N: the report as of that closed round
    return builds.serve_or_build(study, language, fmt, inline=inline, round_number=number)


@bp.post("/studies/<int:study_id>/results/export")
@facilitator_required
@atomic
def export(study_id: int) -> Any:
    """Download the study's data, anonymous (pseudonyms only); the download is audited."""
    study = _study(study_id)
    form = ExportForm()
    if not form.validate_on_submit():
        abort(400)
    fmt = form.format.data or "csv"
    results.require_closed_round(db.session, study)
    number = int(form.round.data) if form.round.data else None  # the spreadsheet's round
    if number is not None and number not in _closed_numbers(study):
        abort(404)
    exports.authorize_export(db.session, study, actor=facilitator(), now=utcnow(), kind=fmt)
    if fmt == "xlsx":  # the spreadsheet is kept like the report; the audit entry is written first
        return builds.serve_or_build(study, study.default_language, "xlsx", round_number=number)
    return _download(_export_bytes(study, fmt, identified=False), study, fmt)


@bp.post("/studies/<int:study_id>/results/export/identified")
@facilitator_required
@atomic
def export_identified(study_id: int) -> Any:
    """Answers with names and emails: confidential studies, administrators only, audited."""
    study = _study(study_id)
    if not exports.may_export_identified(study, facilitator()):
        abort(403)
    form = IdentifiedExportForm()
    if not form.validate_on_submit():
        flash(_("Say why the identified export is needed; it is recorded."), "error")
        return redirect(url_for("results.overview", study_id=study.id) + "#downloads", code=303)
    fmt = form.format.data or "csv"
    results.require_closed_round(db.session, study)
    exports.authorize_export(
        db.session,
        study,
        actor=facilitator(),
        now=utcnow(),
        kind=fmt,
        identified=True,
        reason=form.reason.data,
    )
    return _download(_export_bytes(study, fmt, identified=True), study, fmt, suffix="-identified")


def _export_bytes(study: Study, fmt: str, *, identified: bool) -> bytes | Iterator[bytes]:
    """The export file's content (the archive and the CSV in pieces, as they are read)."""
    if fmt == "json":
        return exports.archive_chunks(db.session, study)
    if fmt == "csv":
        return exports.answer_csv_chunks(db.session, study, identified=identified)
    data = build_report(
        db.session,
        study,
        now=utcnow(),
        language=study.default_language,
        store=analysis_store(keep=False),
    )
    return workbook_bytes(study_tables(db.session, data, identified=identified))


@bp.route("/archives/import", methods=["GET", "POST"])
@facilitator_required
@atomic
def import_archive() -> Any:
    """Create a study from a study archive; a damaged archive imports nothing."""
    form = ArchiveImportForm()
    error: str | None = None
    problems: list[str] = []
    if form.validate_on_submit():
        upload = form.archive.data
        try:
            study = exports.import_archive(
                db.session, upload.read(), actor=facilitator(), now=utcnow()
            )
        except exports.ArchiveError as refused:
            db.session.rollback()
            error, problems = refused.summary, refused.problems
        except DomainError as problem:
            db.session.rollback()
            error = str(problem)
        else:
            flash(_("The study was imported from its archive."), "success")
            return redirect(url_for("results.overview", study_id=study.id), code=303)
    return render_template("results/import.html", form=form, error=error, problems=problems), (
        422 if error else 200
    )
