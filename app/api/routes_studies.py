"""Studies: create one from a survey file, list them, read one."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from app.api import bp, present
from app.api.auth import current_key, current_user, errors, facilitator_auth, study_of
from app.api.problems import ProblemError
from app.api.schemas import StudyDetailSchema, StudySchema, SurveyUploadSchema
from app.database import atomic
from app.definitions import DefinitionError, parse_definition
from app.extensions import db
from app.models import utcnow
from app.services import api_keys
from app.services import studies as study_service

TAGS = ["studies"]


@bp.route("/studies", methods=["GET"], tags=TAGS, endpoint="list_studies")
@bp.response(200, StudySchema(many=True))
@facilitator_auth
def list_studies() -> Any:
    """The studies this key may act on."""
    key = current_key()
    found = study_service.studies_for(db.session, current_user())
    return [present.study(s) for s in found if api_keys.key_allows_study(key, s.id)]


def _survey_bytes() -> tuple[bytes, str]:
    """The survey file from a multipart form (field `file`) or the raw request body."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ProblemError(
                422,
                _("Invalid input"),
                _("Send the survey file in the form field 'file'."),
                errors={"file": [_("Missing.")]},
            )
        return upload.read(), upload.filename or "survey.toml"
    return request.get_data(cache=False), "survey.toml"


@bp.route("/studies", methods=["POST"], tags=TAGS, endpoint="create_study")
@bp.doc(
    requestBody={
        "required": True,
        "description": "A survey file (TOML), as the body or as the form field `file`.",
        "content": {
            "application/toml": {"schema": {"type": "string"}},
            "multipart/form-data": {"schema": SurveyUploadSchema},
        },
    }
)
@bp.response(201, StudyDetailSchema)
@errors(403, 413, 422)
@facilitator_auth
@atomic
def create_study() -> Any:
    """Create a study from a survey file; a bad file imports nothing and lists every problem."""
    if current_key().study_ids is not None:
        raise ProblemError(
            403,
            _("Not allowed"),
            _("This key is limited to some studies; creating a study needs an unlimited key."),
        )
    data, filename = _survey_bytes()
    if not data.strip():
        raise ProblemError(
            422, _("Invalid input"), _("The survey file is empty."), errors={"file": [_("Empty.")]}
        )
    try:
        definition = parse_definition(data, filename)
    except DefinitionError as error:
        count = len(error.problems)
        raise ProblemError(
            422,
            _("Invalid survey file"),
            ngettext(
                "The survey file has %(num)d problem; nothing was imported.",
                "The survey file has %(num)d problems; nothing was imported.",
                count,
            ),
            problems=[
                {"file": p.file, "line": p.line, "field": p.field, "message": p.message}
                for p in error.problems
            ],
        ) from None
    study = study_service.import_study(db.session, definition, actor=current_user(), now=utcnow())
    location = url_for("api.get_study", study_id=study.id)
    return present.study_detail(study), 201, {"Location": location}


@bp.route("/studies/<id:study_id>", methods=["GET"], tags=TAGS, endpoint="get_study")
@bp.response(200, StudyDetailSchema)
@facilitator_auth
def get_study(study_id: int) -> Any:
    """One study, with its rules, items and scenarios."""
    return present.study_detail(study_of(study_id))
