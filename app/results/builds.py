"""Built reports and exports: serve a kept file at once, else ask for its build and show its
progress; a page and a small JSON resource per background job of a study (report builds,
large panel imports).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from app.auth import facilitator, facilitator_required
from app.database import atomic
from app.extensions import db
from app.jobs.reports import stage_label
from app.models import Job, JobStatus, NotFoundError, Participation, ReportFile, Study, utcnow
from app.results.forms import BuildForm, ExportForm
from app.services import report_files
from app.services import studies as study_service

bp = Blueprint("builds", __name__, url_prefix="/f")

#: a report page may style itself (its CSS is inline so the file stands alone) but run nothing
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

#: how many added experts an import's result page lists by name
_LISTED = 1000


def _study(study_id: int) -> Study:
    """The study, if this facilitator may see it (404 otherwise)."""
    return study_service.study_for(db.session, facilitator(), study_id)


def file_response(file: ReportFile, *, inline: bool = False) -> Response:
    """A kept file as the download it always was (the HTML report shown in the browser)."""
    response = Response(report_files.content_of(db.session, file), content_type=file.media_type)
    if file.format == "html":
        response.headers["Content-Security-Policy"] = REPORT_CSP
    if not inline:
        response.headers["Content-Disposition"] = f'attachment; filename="{file.filename}"'
    return response


def serve_or_build(
    study: Study,
    language: str,
    fmt: str,
    *,
    inline: bool = False,
    round_number: int | None = None,
) -> Response:
    """The kept file (of the latest closed round, or of round `round_number`) if it is fresh;
    else its build is asked for (and committed): the file if the build is over by then (tests
    run it at once), else a 303 to the job's progress page."""
    found = report_files.cached_file(db.session, study, language, fmt, round_number=round_number)
    if found is not None:
        return file_response(found, inline=inline)
    job = report_files.request_build(
        db.session, study, language, fmt, facilitator(), utcnow(), round_number=round_number
    )
    job_id = job.id
    db.session.commit()  # the build is queued (or, in immediate mode, run) at commit
    found = report_files.cached_file(db.session, study, language, fmt, round_number=round_number)
    if found is not None:
        return file_response(found, inline=inline)
    return redirect(url_for("builds.job", study_id=study.id, job_id=job_id), code=303)  # type: ignore[return-value]


def _job(study: Study, job_id: int) -> Job:
    """A job of this study (404 otherwise)."""
    try:
        return report_files.job_of(db.session, study, job_id)
    except NotFoundError:
        abort(404)


def _download_url(study: Study, job: Job) -> str | None:
    """Where a finished report job's file is fetched (None for an export: that is a POST)."""
    if job.kind != report_files.KIND or job.status != JobStatus.DONE:
        return None
    wanted = report_files.build_request(job)
    if wanted.fmt == "xlsx":
        return None
    extra: dict[str, Any] = {"download": 1} if wanted.fmt == "html" else {}
    return url_for(
        "results.report",
        study_id=study.id,
        fmt=wanted.fmt,
        language=wanted.language,
        round=wanted.round_number,
        **extra,
    )


def job_state(study: Study, job: Job) -> dict[str, Any]:
    """What the progress page and its JSON show of a job."""
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "stage": job.stage,
        "stage_label": stage_label(job.stage) if job.active else "",
        "attempts": job.attempts,
        "error": job.error,
        "done": job.status == JobStatus.DONE,
        "failed": job.status == JobStatus.FAILED,
        "download": _download_url(study, job),
        "page": url_for("builds.job", study_id=study.id, job_id=job.id),
    }


def _import_result(job: Job) -> dict[str, Any]:
    """What a finished panel import added or refused (names from the panel, not the job)."""
    result = job.result or {}
    ids = [int(i) for i in result.get("added", [])][:_LISTED]
    added = (
        db.session.scalars(
            select(Participation).where(Participation.id.in_(ids)).order_by(Participation.id)
        ).all()
        if ids
        else []
    )
    return {
        "added": added,
        "added_count": len(result.get("added", [])),
        "skipped": result.get("skipped", []),
        "summary": result.get("summary", ""),
        "problems": result.get("problems", []),
    }


@bp.get("/studies/<int:study_id>/jobs/<int:job_id>")
@facilitator_required
def job(study_id: int, job_id: int) -> Any:
    """A background job's progress, then its outcome: the download, what an import did, or why
    it failed (with a way to try again)."""
    study = _study(study_id)
    found = _job(study, job_id)
    wanted = report_files.build_request(found) if found.kind == report_files.KIND else None
    return render_template(
        "results/job.html",
        study=study,
        nav="panel" if found.kind == "panel_import" else "results",
        job=found,
        state=job_state(study, found),
        wanted=wanted,
        imported=_import_result(found)
        if found.kind == "panel_import" and not found.active
        else None,
        build_form=BuildForm(formdata=None),
        export_form=ExportForm(formdata=None),
    )


@bp.get("/studies/<int:study_id>/jobs/<int:job_id>.json")
@facilitator_required
def job_json(study_id: int, job_id: int) -> Any:
    """The job's state for the progress page's script."""
    study = _study(study_id)
    response = jsonify(job_state(study, _job(study, job_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/studies/<int:study_id>/results/builds")
@facilitator_required
@atomic
def build(study_id: int) -> Any:
    """Build (again) one file of the latest closed round, then follow its progress."""
    study = _study(study_id)
    form = BuildForm()
    if not form.validate_on_submit():
        abort(400)
    language = form.language.data or ""
    fmt = form.format.data or ""
    if language not in study.languages or fmt not in report_files.FORMATS:
        abort(400)
    number = int(form.round.data) if form.round.data else None
    try:
        job_ = report_files.request_build(
            db.session, study, language, fmt, facilitator(), utcnow(), round_number=number
        )
    except NotFoundError:
        abort(409)
    return redirect(url_for("builds.job", study_id=study.id, job_id=job_.id), code=303)


def overview_builds(study: Study, round_number: int | None = None) -> list[dict[str, Any]]:
    """Every language x format of the latest snapshot (or round `round_number`'s): its kept
    file (fresh or stale) and its latest job, for the results overview."""
    files = {
        (f.language, f.format): (f, fresh)
        for f, fresh in report_files.built_files(db.session, study, round_number)
    }
    jobs = report_files.latest_jobs(db.session, study, round_number)
    rows = []
    for language in study.languages:
        for fmt in report_files.FORMATS:
            kept = files.get((language, fmt))
            rows.append(
                {
                    "language": language,
                    "format": fmt,
                    "file": kept[0] if kept else None,
                    "fresh": bool(kept and kept[1]),
                    "job": jobs.get((language, fmt)),
                }
            )
    return rows


def report_language(study: Study) -> str:
    """The ?language= asked for, else the study's default (404 for one it does not have)."""
    language = request.args.get("language") or study.default_language
    if language not in study.languages:
        abort(404)
    return str(language)
