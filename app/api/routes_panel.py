"""The panel: list members, add one, import a CSV, revoke or re-issue links, withdraw.

New private links are in the response once (link and token); the database keeps only hashes.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import gettext as _

from app.api import bp, present
from app.api.auth import current_user, errors, facilitator_auth, study_of
from app.api.problems import ProblemError
from app.api.schemas import (
    CsvImportSchema,
    CsvUploadSchema,
    LinkSchema,
    MemberSchema,
    NewMemberInputSchema,
    RevokedSchema,
)
from app.database import atomic
from app.extensions import db
from app.models import Participation, Study, utcnow
from app.services import dashboard, panel
from app.services import rounds as round_service

TAGS = ["panel"]


def _rows(study: Study) -> dict[int, dashboard.PanelRow]:
    """The panel rows by participation id."""
    open_round = round_service.open_round_of(db.session, study)
    return {
        row.participation.id: row for row in dashboard.panel_rows(db.session, study, open_round)
    }


def _member(study: Study, participation: Participation) -> dict[str, Any]:
    """One member as the API shows them."""
    db.session.flush()
    return present.member(_rows(study)[participation.id])


def _member_of(study_id: int, member_id: int) -> tuple[Study, Participation]:
    """The study and one of its panel members (404 for another study's member)."""
    study = study_of(study_id)
    return study, panel.participation_for(db.session, study, member_id)


@bp.route("/studies/<id:study_id>/panel", methods=["GET"], tags=TAGS, endpoint="list_panel")
@bp.response(200, MemberSchema(many=True))
@facilitator_auth
def list_panel(study_id: int) -> Any:
    """The panel, by group: identity, link state and progress in the open round."""
    study = study_of(study_id)
    return [present.member(row) for row in _rows(study).values()]


@bp.route("/studies/<id:study_id>/panel", methods=["POST"], tags=TAGS, endpoint="add_member")
@bp.response(201, LinkSchema)
@facilitator_auth
@bp.arguments(NewMemberInputSchema)
@atomic
def add_member(data: dict[str, Any], study_id: int) -> Any:
    """Add one expert; the response holds their private link, this once."""
    study = study_of(study_id)
    new = panel.add_expert(
        db.session,
        study,
        name=data["name"],
        email=data["email"],
        group=data["group"],
        language=data["language"],
        actor=current_user(),
        now=utcnow(),
    )
    return {
        "member": _member(study, new.participation),
        "link": present.link_url(new.token, new.participation.language),
        "token": new.token,
    }, 201


def _csv_bytes() -> bytes:
    """The CSV from a multipart form (field `file`) or the raw request body."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ProblemError(
                422,
                _("Invalid input"),
                _("Send the CSV file in the form field 'file'."),
                errors={"file": [_("Missing.")]},
            )
        return upload.read()
    return request.get_data(cache=False)


@bp.route(
    "/studies/<id:study_id>/panel/import", methods=["POST"], tags=TAGS, endpoint="import_panel"
)
@bp.doc(
    requestBody={
        "required": True,
        "description": "CSV with the columns name, email, group, language (UTF-8).",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {"schema": CsvUploadSchema},
        },
    }
)
@bp.response(201, CsvImportSchema)
@errors(413, 422)
@facilitator_auth
@atomic
def import_panel(study_id: int) -> Any:
    """Add experts from CSV: all rows or none; people already on the panel are skipped."""
    study = study_of(study_id)
    result = panel.import_csv(db.session, study, _csv_bytes(), actor=current_user(), now=utcnow())
    db.session.flush()
    rows = _rows(study)
    return {
        "added": [
            {
                "member": present.member(rows[new.participation.id]),
                "link": present.link_url(new.token, new.participation.language),
                "token": new.token,
            }
            for new in result.added
        ],
        "skipped": result.skipped,
    }, 201


@bp.route(
    "/studies/<id:study_id>/panel/<id:member_id>",
    methods=["GET"],
    tags=TAGS,
    endpoint="get_member",
)
@bp.response(200, MemberSchema)
@facilitator_auth
def get_member(study_id: int, member_id: int) -> Any:
    """One panel member."""
    study, participation = _member_of(study_id, member_id)
    return _member(study, participation)


@bp.route(
    "/studies/<id:study_id>/panel/<id:member_id>/revoke",
    methods=["POST"],
    tags=TAGS,
    endpoint="revoke_links",
)
@bp.response(200, RevokedSchema)
@facilitator_auth
@atomic
def revoke_links(study_id: int, member_id: int) -> Any:
    """Revoke every private link of a member (and end their sessions)."""
    study, participation = _member_of(study_id, member_id)
    count = panel.revoke_links(db.session, participation, actor=current_user(), now=utcnow())
    # in an anonymous study the count would tell how many reminders the expert was sent
    return {
        "member": _member(study, participation),
        "revoked_links": None if study.is_anonymous else count,
    }


@bp.route(
    "/studies/<id:study_id>/panel/<id:member_id>/reissue",
    methods=["POST"],
    tags=TAGS,
    endpoint="reissue_link",
)
@bp.response(201, LinkSchema)
@errors(422)
@facilitator_auth
@atomic
def reissue_link(study_id: int, member_id: int) -> Any:
    """Revoke a member's links and issue a new one; the response holds it, this once."""
    study, participation = _member_of(study_id, member_id)
    token = panel.reissue_link(db.session, participation, actor=current_user(), now=utcnow())
    return {
        "member": _member(study, participation),
        "link": present.link_url(token),
        "token": token,
    }, 201


@bp.route(
    "/studies/<id:study_id>/panel/<id:member_id>/withdraw",
    methods=["POST"],
    tags=TAGS,
    endpoint="withdraw_member",
)
@bp.response(200, MemberSchema)
@facilitator_auth
@atomic
def withdraw_member(study_id: int, member_id: int) -> Any:
    """Withdraw a member: their links stop working; their answers stay in closed rounds."""
    study, participation = _member_of(study_id, member_id)
    panel.set_withdrawn(db.session, participation, True, actor=current_user(), now=utcnow())
    return _member(study, participation)


@bp.route(
    "/studies/<id:study_id>/panel/<id:member_id>/reinstate",
    methods=["POST"],
    tags=TAGS,
    endpoint="reinstate_member",
)
@bp.response(200, MemberSchema)
@facilitator_auth
@atomic
def reinstate_member(study_id: int, member_id: int) -> Any:
    """Reinstate a withdrawn member (re-issue a link afterwards: the old ones stay revoked)."""
    study, participation = _member_of(study_id, member_id)
    panel.set_withdrawn(db.session, participation, False, actor=current_user(), now=utcnow())
    return _member(study, participation)
