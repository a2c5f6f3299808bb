"""The expert's own data: what the platform holds about them, a download (JSON), and erasure.

These routes join the expert blueprint. Downloading and erasing are POSTs (both are audited,
and a GET never writes); erasing ends the expert's session, since their link is revoked.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, abort, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import BooleanField

from app.auth import EXPERT_SESSION_KEY, current_participation, expert_required
from app.database import atomic
from app.expert.routes import bp
from app.extensions import db
from app.models import Participation, utcnow
from app.services import personal_data


class ErasureForm(FlaskForm):
    """Erase my name and email; optionally withdraw my answers too."""

    confirm = BooleanField()
    withdraw = BooleanField()


class DownloadForm(FlaskForm):
    """A download button (the CSRF token only)."""


def _me() -> Participation:
    """The expert of this request (behind expert_required)."""
    participation = current_participation()
    if participation is None:
        abort(401)
    return participation


def _page(form: ErasureForm, error: str | None = None) -> Any:
    """The page, with what is held in this study."""
    me = _me()
    return render_template(
        "expert/my_data.html",
        study=me.study,
        me=me,
        form=form,
        download=DownloadForm(),
        error=error,
    ), (422 if error else 200)


@bp.get("/my-data")
@expert_required
def my_data() -> Any:
    """What the platform holds about the expert, how to download it, and how to erase it."""
    return _page(ErasureForm())


@bp.post("/my-data/export")
@expert_required
@atomic
def export_my_data() -> Any:
    """Download everything held about the expert, their answers in this study included."""
    if not DownloadForm().validate_on_submit():
        abort(400)
    me = _me()
    now = utcnow()
    data = personal_data.personal_data(db.session, me.expert, now=now, own=me)
    personal_data.record_export(db.session, me.expert, actor=None, now=now, study=me.study)
    body = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True)
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = 'attachment; filename="my-data.json"'
    return response


@bp.post("/my-data/erase")
@expert_required
@atomic
def erase_my_data() -> Any:
    """Erase the expert's name and email (and, if they ask, their answers); sign them out."""
    form = ErasureForm()
    if not form.validate_on_submit():
        abort(400)
    if not form.confirm.data:
        return _page(form, _("Tick the box to confirm; nothing was erased."))
    me = _me()
    personal_data.erase_person(
        db.session, me.expert, withdraw_answers=bool(form.withdraw.data), actor=None, now=utcnow()
    )
    session.pop(EXPERT_SESSION_KEY, None)
    flash(
        _("Your name and email are erased and your links no longer work.")
        + " "
        + (
            _("Your answers are withdrawn from the study.")
            if form.withdraw.data
            else _("Your answers stay in the study, under a code that no longer leads to you.")
        ),
        "success",
    )
    return redirect(url_for("public.link_needed"), code=303)
