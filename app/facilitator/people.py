"""Administrators: a person's data held on the panels (data-subject requests), download, erasure.

These routes join the facilitator blueprint. A person is found by email; what is shown and
downloaded follows the linkage model (docs/anonymity.md): panels, groups, invitations and
links, but answers only where the study is confidential, and never a pseudonym of an anonymous
study. Downloads and erasures are audited, with the reason the administrator gives.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp

from app.auth import admin_required, facilitator
from app.database import atomic
from app.extensions import db
from app.facilitator import bp
from app.models import DomainError, Expert, utcnow
from app.services import personal_data


class PersonForm(FlaskForm):
    """Download or erase one person's data (the email names them; a reason is recorded)."""

    email = HiddenField(validators=[DataRequired()])
    reason = TextAreaField(
        _l("Reason (recorded in the audit log)"),
        validators=[DataRequired(), Length(max=1000), Regexp(r"^[^\x00]*$")],
    )
    withdraw = BooleanField(_l("Also withdraw their answers from every study"))
    confirm = BooleanField(_l("I have checked the request; erasure cannot be undone"))


class SearchForm(FlaskForm):
    """Find a person by email."""

    class Meta:
        csrf = False  # a GET search; it changes nothing

    email = StringField(_l("Email"), validators=[DataRequired(), Length(max=254)])


def _person(email: str) -> Expert:
    """The person with this email, or 404."""
    person = personal_data.find_person(db.session, email)
    if person is None:
        abort(404)
    return person


@bp.get("/admin/people")
@admin_required
def people() -> Any:
    """Find a panel member by email; show which panels they are on and what can be done."""
    search = SearchForm(request.args)
    person = None
    searched = bool(request.args.get("email"))
    if searched and search.validate():
        person = personal_data.find_person(db.session, search.email.data or "")
    email = person.email if person else ""
    panels = personal_data.participations_of(db.session, person) if person else []
    return render_template(
        "facilitator/people.html",
        search=search,
        searched=searched,
        person=person,
        panels=panels,
        export_form=PersonForm(formdata=None, prefix="export", email=email),
        erase_form=PersonForm(formdata=None, prefix="erase", email=email),
    )


@bp.post("/admin/people/export")
@admin_required
@atomic
def export_person() -> Any:
    """Download a person's data (answers only from confidential studies); audited."""
    form = PersonForm(prefix="export")
    if not form.validate_on_submit():
        flash(_("Say why the download is needed; it is recorded."), "error")
        return redirect(url_for("facilitator.people", email=form.email.data or ""), code=303)
    person = _person(form.email.data or "")
    now = utcnow()
    data = personal_data.personal_data(db.session, person, now=now)
    personal_data.record_export(
        db.session, person, actor=facilitator(), now=now, reason=form.reason.data
    )
    body = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True)
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = 'attachment; filename="personal-data.json"'
    return response


@bp.post("/admin/people/erase")
@admin_required
@atomic
def erase_person() -> Any:
    """Erase a person's name and email (and, if asked, their answers); audited."""
    form = PersonForm(prefix="erase")
    email = form.email.data or ""
    if not form.validate_on_submit() or not form.confirm.data:
        flash(_("Give the reason and tick the confirmation; nothing was erased."), "error")
        return redirect(url_for("facilitator.people", email=email), code=303)
    person = _person(email)
    try:
        done = personal_data.erase_person(
            db.session,
            person,
            withdraw_answers=bool(form.withdraw.data),
            actor=facilitator(),
            now=utcnow(),
            reason=form.reason.data,
        )
    except DomainError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("facilitator.people", email=email), code=303)
    flash(
        _(
            "Erased: the name and email are gone from %(n)s panels and %(links)s links are "
            "revoked; %(answers)s answers were withdrawn.",
            n=done.studies,
            links=done.links_revoked,
            answers=done.answers_withdrawn,
        ),
        "success",
    )
    return redirect(url_for("facilitator.people"), code=303)


#: the facilitator blueprint, now with these routes (the factory registers it from here)
__all__ = ["bp", "erase_person", "export_person", "people"]
