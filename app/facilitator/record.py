"""The study record page: the reporting items only the study's authors can write.

These routes join the facilitator blueprint. The form starts from the survey file's `[record]`
and, once saved, edits the study's own copy (`Study.record`); the report prints it in its
methods appendix and checks it against CREDES and DELPHISTAR (`app.reports.checklist`). What
the platform measures itself (reminders, non-response, attrition) is listed beside the form.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _

from app.auth import facilitator, facilitator_required
from app.database import atomic
from app.definitions.record import RECORD_FIELDS
from app.extensions import db
from app.facilitator import bp
from app.facilitator.forms import fields_of, texts_from, with_language_fields
from app.forms import Form
from app.messages import render_error
from app.models import DomainError, NotFoundError, utcnow
from app.reports.checklist import record_labels
from app.services import studies as study_service
from app.services import study_record


class RecordForm(Form):
    """The study record: one text per field and language."""


@bp.route("/studies/<int:study_id>/record", methods=["GET", "POST"])
@facilitator_required
@atomic
def study_record_page(study_id: int) -> Any:
    """Show and edit the study record (fields in every study language)."""
    found = study_service.study_for(db.session, facilitator(), study_id)
    labels = record_labels()
    current = study_record.record_texts(found)
    defaults = {
        f"{name}_{language}": text
        for name, texts in current.items()
        for language, text in texts.items()
    }
    form = with_language_fields(
        RecordForm,
        found.languages,
        [(name, labels[name], True) for name in RECORD_FIELDS],
        **defaults,
    )
    summary: list[tuple[str, str]] = []
    if form.validate_on_submit():
        texts = {name: texts_from(form, name, found.languages) for name in RECORD_FIELDS}
        try:
            study_record.save_record(db.session, found, texts, actor=facilitator(), now=utcnow())
        except NotFoundError:
            raise
        except DomainError as error:
            db.session.rollback()
            summary.append((f"{RECORD_FIELDS[0]}_{found.default_language}", render_error(error, _)))
        else:
            flash(_("The study record is saved; the next report prints it."), "success")
            return redirect(url_for("facilitator.study_record_page", study_id=found.id), code=303)
    summary.extend(
        (field.id, f"{field.label.text}: {message}")
        for field in form
        for message in field.errors
        if field.name != "csrf_token"
    )
    return render_template(
        "facilitator/record.html",
        study=found,
        form=form,
        fields=[
            (name, labels[name], fields_of(form, name, found.languages)) for name in RECORD_FIELDS
        ],
        from_file=found.record is None,
        measured=study_record.measured_record(db.session, found),
        summary=summary,
        nav="record",
    ), (422 if summary else 200)
