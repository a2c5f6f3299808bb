"""The facilitators' side: studies, panel, rounds, items, dashboard, audit log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from app.auth import facilitator, facilitator_required
from app.extensions import db
from app.services import studies as study_service

bp = Blueprint("facilitator", __name__, url_prefix="/f")


@bp.get("/")
@facilitator_required
def studies() -> Any:
    """The studies this facilitator may run."""
    return render_template(
        "facilitator/studies.html", studies=study_service.studies_for(db.session, facilitator())
    )


@bp.get("/studies/<int:study_id>")
@facilitator_required
def study(study_id: int) -> Any:
    """A study's dashboard."""
    found = study_service.study_for(db.session, facilitator(), study_id)
    return render_template("facilitator/study.html", study=found)
