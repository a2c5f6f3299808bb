"""Facilitator pages for invitations and reminders: who would get them and what they say."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.auth import facilitator, facilitator_required
from app.database import atomic
from app.emails import render_in
from app.extensions import db
from app.facilitator import bp
from app.facilitator.common import (
    flash_and_redirect,
    flash_domain_errors,
    link_for,
    member_study,
    panel_member,
    redirect_to,
)
from app.facilitator.forms import InvitationsForm, SimpleForm
from app.jobs.mail import send_after_commit
from app.models import Participation, ParticipationStatus, Round, Study, utcnow
from app.services import invitations, outbox
from app.services import panel as panel_service
from app.services import rounds as round_service
from app.services.invitations import MailContext, MailKind, QueueSummary


def queue_invitations_for(study: Study, members: list[Participation]) -> QueueSummary:
    """Queue invitations (each gets a fresh private link when it is sent) for after the commit."""
    summary = invitations.queue_invitations(
        db.session, study, members, actor=facilitator(), now=utcnow()
    )
    send_after_commit(db.session, summary.ids)
    return summary


def flash_mail_summary(summary: QueueSummary) -> None:
    """Report a mailing request: how many emails were queued and how many members skipped.

    Counts only: who got a reminder is who has not submitted, which the panel page does not
    tell in an anonymous study (docs/anonymity.md). The mail page shows how delivery went.
    """
    if summary.kind == MailKind.INVITATION:
        flash(_("Invitations queued: %(n)s.", n=summary.queued), "success")
    else:
        flash(_("Reminders queued: %(n)s.", n=summary.queued), "success")
    if summary.skipped_count:
        flash(
            _(
                "Skipped: %(n)s (withdrawn, submitted already, or an email still waiting to go).",
                n=summary.skipped_count,
            ),
            "info",
        )


def _preview(study: Study, kind: MailKind, round_: Round | None) -> Any:
    """An email as experts in the study's default language would get it (with a dummy link)."""
    language = study.default_language
    context = MailContext(
        kind=kind,
        name=_("(expert's name)"),
        study_title=study.text("title", language),
        link=link_for("(personal-link)", language),
        round_number=round_.number if round_ else None,
        deadline=round_.deadline if round_ else None,
        message=(round_.message or {}).get(language, "") if round_ else "",
    )
    return render_in(language, context)


@bp.get("/studies/<int:study_id>/mail")
@facilitator_required
def mail(study_id: int) -> Any:
    """Invitations and reminders: who would get them, and what the email says."""
    found = member_study(study_id)
    open_round = round_service.open_round_of(db.session, found)
    members = panel_service.panel(db.session, found)
    current = [m for m in members if m.status != ParticipationStatus.WITHDRAWN]
    pending = invitations.non_submitters(db.session, found, open_round) if open_round else []
    return render_template(
        "facilitator/mail.html",
        study=found,
        open_round=open_round,
        never=sum(1 for m in current if m.invited_at is None),
        everyone=len(current),
        pending=len(pending),
        form=InvitationsForm(),
        reminder_form=SimpleForm(),
        invitation=_preview(found, MailKind.INVITATION, open_round),
        reminder=_preview(found, MailKind.REMINDER, open_round) if open_round else None,
        backend=current_app.config.get("MAIL_BACKEND"),
        delivery=outbox.delivery(db.session, found),
        nav="mail",
    )


@bp.post("/studies/<int:study_id>/mail/invitations")
@facilitator_required
@atomic
def send_invitations(study_id: int) -> Any:
    """Email invitations (each with a fresh private link) to the chosen part of the panel."""
    found = member_study(study_id)
    form = InvitationsForm()
    if not form.validate_on_submit():
        return flash_and_redirect(_("Choose whom to invite."), "mail", found, "error")
    members = [
        m
        for m in panel_service.panel(db.session, found)
        if m.status != ParticipationStatus.WITHDRAWN
    ]
    if form.audience.data == "new":
        members = [m for m in members if m.invited_at is None]
    if not members:
        return flash_and_redirect(
            _("Nobody to invite: everyone on the panel has been invited already."),
            "mail",
            found,
            "info",
        )
    flash_mail_summary(queue_invitations_for(found, members))
    return redirect_to("mail", found)


@bp.post("/studies/<int:study_id>/panel/<int:participation_id>/invite")
@facilitator_required
@atomic
def invite_one(study_id: int, participation_id: int) -> Any:
    """Email one panel member an invitation with a fresh link."""
    found = member_study(study_id)
    member = panel_member(found, participation_id)
    flash_mail_summary(queue_invitations_for(found, [member]))
    return redirect_to("mail", found)


@bp.post("/studies/<int:study_id>/mail/reminders")
@facilitator_required
@atomic
def send_reminders(study_id: int) -> Any:
    """Remind everyone who has not submitted the open round."""
    found = member_study(study_id)
    with flash_domain_errors():
        summary = invitations.queue_reminders(db.session, found, actor=facilitator(), now=utcnow())
        send_after_commit(db.session, summary.ids)
        flash_mail_summary(summary)
    target = request.form.get("next", "")
    if target not in ("study", "mail"):
        target = "study"
    return redirect(url_for(f"facilitator.{target}", study_id=found.id), code=303)
