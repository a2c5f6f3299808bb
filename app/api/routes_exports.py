"""Exports: the study's answers as tidy data (CSV or JSON) and the whole study archive.

Anonymous only (pseudonyms, never names or emails); every download is recorded in the audit
log, as on the web. Recording is a write, so exports are POST requests: a GET never writes.
Identified exports stay on the web pages (administrators, confidential studies, with a stated
reason).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Response, stream_with_context

from app.api import bp
from app.api.auth import current_user, errors, facilitator_auth, study_of
from app.api.schemas import AnswersExportSchema
from app.database import atomic
from app.extensions import db
from app.models import Study, utcnow
from app.services import exports, results

TAGS = ["exports"]
EXPORT_PATH = "/studies/<id:study_id>/exports"


def _audited(study_id: int, kind: str) -> Study:
    """The study, once the download is recorded in the audit log (409 while no round has
    closed: exports hold closed rounds only)."""
    study = study_of(study_id)
    results.require_closed_round(db.session, study)
    exports.authorize_export(db.session, study, actor=current_user(), now=utcnow(), kind=kind)
    return study


def _download(body: bytes | Iterator[bytes], mimetype: str, filename: str) -> Response:
    """A file download; pieces are sent as they are made (the view's transaction, with its
    audit entry, is committed before the first is read)."""
    if not isinstance(body, bytes):
        body = stream_with_context(body)
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.route(f"{EXPORT_PATH}/answers.csv", methods=["POST"], tags=TAGS, endpoint="export_csv")
@bp.response(
    200,
    {"type": "string"},
    content_type="text/csv",
    description="Tidy answers, one row per number or text; formula-like cells escaped",
)
@errors(409)
@facilitator_auth
@atomic
def export_csv(study_id: int) -> Any:
    """The study's current answers as tidy CSV (pseudonyms only)."""
    study = _audited(study_id, "csv")
    chunks = exports.answer_csv_chunks(db.session, study)
    return _download(chunks, "text/csv", f"{study.key}-answers.csv")


@bp.route(f"{EXPORT_PATH}/answers.json", methods=["POST"], tags=TAGS, endpoint="export_json")
@bp.response(200, AnswersExportSchema)
@errors(409)
@facilitator_auth
@atomic
def export_json(study_id: int) -> Any:
    """The study's current answers as tidy JSON rows (pseudonyms only)."""
    study = _audited(study_id, "json-rows")
    return {
        "study": study.key,
        "columns": list(exports.answer_columns(identified=False)),
        "rows": exports.answer_rows(db.session, study),
    }


@bp.route(f"{EXPORT_PATH}/archive.json", methods=["POST"], tags=TAGS, endpoint="export_archive")
@bp.response(
    200,
    {"type": "object", "description": "Canonical JSON: format, version, sha256, study"},
    description="The whole study (definition, panel by pseudonym, rounds, answers, snapshots)",
)
@errors(409)
@facilitator_auth
@atomic
def export_archive(study_id: int) -> Any:
    """The study archive: canonical JSON that another instance can import."""
    study = _audited(study_id, "json")
    return _download(
        exports.archive_chunks(db.session, study), "application/json", f"{study.key}.json"
    )
