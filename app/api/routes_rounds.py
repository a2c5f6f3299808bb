"""Rounds: list with state and response funnel, create a draft, open, close; finish the study."""

from __future__ import annotations

from typing import Any

from flask import current_app

from app.api import bp, present
from app.api.auth import current_user, errors, facilitator_auth, study_of
from app.api.schemas import RoundCreateSchema, RoundOpenSchema, RoundSchema, StudySchema
from app.database import atomic
from app.extensions import db
from app.models import Round, Study, utcnow
from app.services import dashboard, report_files
from app.services import rounds as round_service

TAGS = ["rounds"]


def _present_rounds(study: Study, rounds: list[Round]) -> list[dict[str, Any]]:
    """Rounds with their funnels (counts of people, never answers)."""
    db.session.flush()
    funnels = {f.number: f for f in dashboard.funnel(db.session, study).rounds}
    return [
        present.round_(
            r,
            funnels.get(r.number),
            r.snapshot.answer_count if r.snapshot is not None else None,
        )
        for r in rounds
    ]


@bp.route("/studies/<id:study_id>/rounds", methods=["GET"], tags=TAGS, endpoint="list_rounds")
@bp.response(200, RoundSchema(many=True))
@facilitator_auth
def list_rounds(study_id: int) -> Any:
    """The study's rounds in order, each with its state and response funnel."""
    study = study_of(study_id)
    return _present_rounds(study, round_service.rounds_of(db.session, study))


@bp.route(
    "/studies/<id:study_id>/rounds/<id:number>", methods=["GET"], tags=TAGS, endpoint="get_round"
)
@bp.response(200, RoundSchema)
@facilitator_auth
def get_round(study_id: int, number: int) -> Any:
    """One round with its state and response funnel."""
    study = study_of(study_id)
    return _present_rounds(study, [round_service.round_for(db.session, study, number)])[0]


@bp.route("/studies/<id:study_id>/rounds", methods=["POST"], tags=TAGS, endpoint="create_round")
@bp.response(201, RoundSchema)
@errors(409)
@facilitator_auth
@bp.arguments(RoundCreateSchema, required=False)
@atomic
def create_round(data: dict[str, Any], study_id: int) -> Any:
    """Prepare the next round as a draft (the previous one must be closed)."""
    study = study_of(study_id)
    round_ = round_service.create_round(
        db.session,
        study,
        actor=current_user(),
        now=utcnow(),
        message={k: v for k, v in data["message"].items() if v.strip()},
        deadline=data["deadline"],
    )
    return _present_rounds(study, [round_])[0], 201


@bp.route(
    "/studies/<id:study_id>/rounds/<id:number>/open",
    methods=["POST"],
    tags=TAGS,
    endpoint="open_round",
)
@bp.response(200, RoundSchema)
@errors(409)
@facilitator_auth
@bp.arguments(RoundOpenSchema, required=False)
@atomic
def open_round(data: dict[str, Any], study_id: int, number: int) -> Any:
    """Open a draft round with the study's active items; optionally set the deadline."""
    study = study_of(study_id)
    round_ = round_service.round_for(db.session, study, number)
    round_service.open_round(
        db.session, round_, actor=current_user(), now=utcnow(), deadline=data["deadline"]
    )
    return _present_rounds(study, [round_])[0]


@bp.route(
    "/studies/<id:study_id>/rounds/<id:number>/close",
    methods=["POST"],
    tags=TAGS,
    endpoint="close_round",
)
@bp.response(200, RoundSchema)
@errors(409)
@facilitator_auth
@atomic
def close_round(study_id: int, number: int) -> Any:
    """Close an open round and freeze its snapshot (the statistics every result reads)."""
    study = study_of(study_id)
    round_ = round_service.round_for(db.session, study, number)
    snapshot = round_service.close_round(db.session, round_, actor=current_user(), now=utcnow())
    if current_app.config["BUILD_REPORTS_ON_CLOSE"]:  # built after the close commits
        report_files.request_builds_after_close(db.session, study, snapshot, utcnow())
    return _present_rounds(study, [round_])[0]


@bp.route("/studies/<id:study_id>/finish", methods=["POST"], tags=TAGS, endpoint="finish_study")
@bp.response(200, StudySchema)
@errors(403, 409)
@facilitator_auth
@atomic
def finish_study(study_id: int) -> Any:
    """End the study once no round is open: no round can follow; the results are final.
    Only the study's owners (and administrators) may."""
    study = study_of(study_id)
    round_service.finish_study(db.session, study, actor=current_user(), now=utcnow())
    return present.study(study)
