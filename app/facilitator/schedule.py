"""Automatic reminders and closing at the deadline, and sending failed or unsure emails again.

These routes join the facilitator blueprint (like app/facilitator/record.py). The schedule is
the queue's: its worker runs the reminders that fall due and closes rounds at their deadline
(app/jobs/schedule.py); this page sets them and shows what is planned and what ran.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, StringField
from wtforms.validators import Length

from app.auth import facilitator, facilitator_required
from app.database import atomic
from app.extensions import db
from app.facilitator import bp
from app.facilitator.forms import SimpleForm
from app.forms import Form
from app.jobs.mail import send_after_commit
from app.messages import render_error
from app.models import DomainError, NotFoundError, utcnow
from app.services import outbox, schedule
from app.services import studies as study_service
from app.services.invitations import MailKind


class ScheduleForm(Form):
    """Reminder days before each round's deadline, and closing at the deadline."""

    reminder_days = StringField(
        _l("Remind experts who have not submitted, this many days before the deadline"),
        validators=[Length(max=100)],
        description=_l('For example "7, 2"; whole days from 1 to 60, at most 5; empty: none.'),
    )
    close_at_deadline = BooleanField(
        _l("Close each round at its deadline (only if at least k experts have submitted)")
    )


@bp.route("/studies/<int:study_id>/schedule", methods=["GET", "POST"])
@facilitator_required
@atomic
def schedule_page(study_id: int) -> Any:
    """Show and change the study's reminder schedule and closing at the deadline."""
    found = study_service.study_for(db.session, facilitator(), study_id)
    form = ScheduleForm(
        reminder_days=", ".join(str(d) for d in found.reminder_days or []),
        close_at_deadline=found.close_at_deadline,
    )
    problems: list[tuple[str, str]] = []
    if form.validate_on_submit():
        try:
            days = schedule.parse_reminder_days(form.reminder_days.data or "")
            schedule.set_schedule(
                db.session,
                found,
                reminder_days=days,
                close_at_deadline=bool(form.close_at_deadline.data),
                actor=facilitator(),
                now=utcnow(),
            )
        except NotFoundError:
            raise
        except DomainError as error:
            db.session.rollback()
            message = render_error(error, _)
            form.reminder_days.errors = [*form.reminder_days.errors, message]
            problems.append((form.reminder_days.id, message))
        else:
            flash(_("The schedule is saved."), "success")
            return redirect(url_for("facilitator.schedule_page", study_id=found.id), code=303)
    elif form.is_submitted():
        problems.extend(
            (f.id, f"{f.label.text}: {m}") for f in form for m in f.errors if f.name != "csrf_token"
        )
    return render_template(
        "facilitator/schedule.html",
        study=found,
        form=form,
        problems=problems,
        view=schedule.schedule_view(db.session, found, now=utcnow()),
        delivery=outbox.delivery(db.session, found),
        nav="mail",
    ), (422 if problems else 200)


@bp.post("/studies/<int:study_id>/mail/again")
@facilitator_required
@atomic
def send_again(study_id: int) -> Any:
    """Queue new emails for the failed or unsure ones of a kind (the latest try per expert)."""
    found = study_service.study_for(db.session, facilitator(), study_id)
    kind = request.form.get("kind", "")
    if not SimpleForm().validate_on_submit() or kind not in set(MailKind):
        abort(400)
    try:
        ids = outbox.send_again(db.session, found, kind, actor=facilitator(), now=utcnow())
    except NotFoundError:
        raise
    except DomainError as error:
        db.session.rollback()
        flash(render_error(error, _), "error")
    else:
        send_after_commit(db.session, ids)
        flash(_("Emails queued again: %(n)s.", n=len(ids)), "success")
    return redirect(url_for("facilitator.mail", study_id=found.id) + "#delivery", code=303)
