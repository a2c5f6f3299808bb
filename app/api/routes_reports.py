"""The consensus report (PDF, HTML) and the spreadsheet of all tables (XLSX), built in the
background and kept per closed round, language and format.

A kept, fresh file is answered at once (200). Otherwise its build is asked for and the answer
is 202 with a `Location` of the job resource; poll it (`GET .../jobs/{job_id}`) until its status
is `done`, then ask for the file again. The spreadsheet is an export: POST, recorded in the audit
log, anonymous only.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, url_for
from marshmallow import Schema, fields, validate

from app.api import bp
from app.api.auth import current_user, errors, facilitator_auth, study_of
from app.api.problems import ProblemError
from app.database import atomic
from app.extensions import db
from app.jobs.reports import stage_label
from app.models import Job, JobStatus, NotFoundError, Study, utcnow
from app.services import exports, report_files, results

TAGS = ["reports"]
STUDY_PATH = "/studies/<id:study_id>"
_LOCATION = {"Location": {"description": "The job resource", "schema": {"type": "string"}}}


class ReportQuerySchema(Schema):
    """Which language of the report."""

    language = fields.String(
        load_default=None,
        validate=validate.Length(min=2, max=8),
        metadata={"description": "One of the study's languages (default: its default language)"},
    )


class JobLinksSchema(Schema):
    """Where to go next."""

    self = fields.String(required=True)
    download = fields.String(
        allow_none=True, metadata={"description": "The file, once the job is done (reports)"}
    )


class JobSchema(Schema):
    """A background job: a report build or a panel import."""

    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"description": "report | panel_import"})
    status = fields.String(
        required=True,
        validate=validate.OneOf([s.value for s in JobStatus]),
        metadata={"description": "queued | running | done | failed"},
    )
    progress = fields.Integer(required=True, metadata={"description": "Percent"})
    stage = fields.String(required=True, metadata={"description": "What it is doing now"})
    attempts = fields.Integer(required=True)
    error = fields.String(required=True, metadata={"description": "Why an attempt failed"})
    language = fields.String(allow_none=True)
    format = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(allow_none=True)
    links = fields.Nested(JobLinksSchema, required=True)


def _download_link(study: Study, job: Job) -> str | None:
    """The file's address once a report job is done."""
    if job.kind != report_files.KIND or job.status != JobStatus.DONE:
        return None
    wanted = report_files.build_request(job)
    if wanted.fmt == "xlsx":
        return url_for("api.export_tables", study_id=study.id)
    return url_for("api.report_file", study_id=study.id, fmt=wanted.fmt, language=wanted.language)


def _present(study: Study, job: Job) -> dict[str, Any]:
    """A job as the API shows it."""
    wanted = report_files.build_request(job) if job.kind == report_files.KIND else None
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "stage": stage_label(job.stage) if job.active else "",
        "attempts": job.attempts,
        "error": job.error,
        "language": wanted.language if wanted else None,
        "format": wanted.fmt if wanted else None,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "links": {
            "self": url_for("api.study_job", study_id=study.id, job_id=job.id),
            "download": _download_link(study, job),
        },
    }


def _file_or_job(study: Study, language: str, fmt: str) -> Response:
    """The kept file (200), else its build asked for (202 with the job and its Location)."""
    found = report_files.cached_file(db.session, study, language, fmt)
    if found is not None:
        response = Response(
            report_files.content_of(db.session, found), content_type=found.media_type
        )
        response.headers["Content-Disposition"] = f'attachment; filename="{found.filename}"'
        return response
    job = report_files.request_build(db.session, study, language, fmt, current_user(), utcnow())
    body = _present(study, job)
    response = jsonify(JobSchema().dump(body))
    response.status_code = 202
    response.headers["Location"] = body["links"]["self"]
    return response


def _language(study: Study, asked: str | None) -> str:
    """The language asked for, or a 422 problem naming the study's languages."""
    language = asked or study.default_language
    if language not in study.languages:
        raise ProblemError(
            422,
            "Unknown language",
            f"The study's languages are {', '.join(study.languages)}; {language!r} is not one.",
        )
    return language


@bp.route(f"{STUDY_PATH}/report.<fmt>", methods=["GET"], tags=TAGS, endpoint="report_file")
@bp.response(200, {"type": "string", "format": "binary"}, content_type="application/pdf")
@bp.alt_response(202, schema=JobSchema, description="Being built: poll the job", headers=_LOCATION)
@errors(409, 422)
@facilitator_auth
@bp.arguments(ReportQuerySchema, location="query")
@atomic
def report_file(query: dict[str, Any], study_id: int, fmt: str) -> Any:
    """The consensus report of every closed round: `report.pdf`, or `report.html` (one
    self-contained page).

    200 with the file when a fresh build is kept; else 202 and the build job (409 before the
    first round has closed).
    """
    study = study_of(study_id)
    if fmt not in ("pdf", "html"):
        raise NotFoundError(f"The report comes as report.pdf or report.html, not report.{fmt}.")
    results.require_closed_round(db.session, study)
    return _file_or_job(study, _language(study, query.get("language")), fmt)


@bp.route(
    f"{STUDY_PATH}/exports/tables.xlsx", methods=["POST"], tags=TAGS, endpoint="export_tables"
)
@bp.response(
    200,
    {"type": "string", "format": "binary"},
    content_type=report_files.MEDIA_TYPES["xlsx"],
    description="Every table of the report, pseudonyms only",
)
@bp.alt_response(202, schema=JobSchema, description="Being built: poll the job", headers=_LOCATION)
@errors(409)
@facilitator_auth
@atomic
def export_tables(study_id: int) -> Any:
    """The spreadsheet of all tables (anonymous; recorded in the audit log), in the study's
    default language."""
    study = study_of(study_id)
    results.require_closed_round(db.session, study)
    exports.authorize_export(db.session, study, actor=current_user(), now=utcnow(), kind="xlsx")
    return _file_or_job(study, study.default_language, "xlsx")


@bp.route(f"{STUDY_PATH}/jobs/<id:job_id>", methods=["GET"], tags=TAGS, endpoint="study_job")
@bp.response(200, JobSchema)
@facilitator_auth
def study_job(study_id: int, job_id: int) -> Any:
    """A background job of the study: its status, progress and, once done, the file's link."""
    study = study_of(study_id)
    return _present(study, report_files.job_of(db.session, study, job_id))
