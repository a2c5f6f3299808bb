"""Facilitator pages for the panel: adding and importing experts, their private links, withdrawing.

Private links are shown once, in the response to the POST that created them, and never stored.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage
from wtforms.fields.choices import SelectChoice

from app.auth import facilitator, facilitator_required
from app.database import atomic
from app.extensions import db
from app.facilitator import bp
from app.facilitator.common import (
    errors_into,
    flash_and_redirect,
    flash_domain_errors,
    link_for,
    member_study,
    panel_member,
    redirect_to,
    summary_of,
)
from app.facilitator.forms import ExpertForm, ImportForm, SimpleForm
from app.facilitator.routes_mail import flash_mail_summary, queue_invitations_for
from app.jobs.runner import run_after_commit
from app.models import (
    DomainError,
    NotFoundError,
    ParticipationStatus,
    Study,
    ValidationError,
    utcnow,
)
from app.services import dashboard
from app.services import panel as panel_service
from app.services import rounds as round_service
from app.templating import LANGUAGE_NAMES


@bp.get("/studies/<int:study_id>/panel")
@facilitator_required
def panel(study_id: int) -> Any:
    """The panel: identities, groups, status, invitations, link state and progress."""
    found = member_study(study_id)
    open_round = round_service.open_round_of(db.session, found)
    rows = dashboard.panel_rows(db.session, found, open_round)
    by_group = (
        dashboard.submitted_by_group(db.session, found, open_round)
        if open_round is not None and found.is_anonymous
        else []
    )
    return render_template(
        "facilitator/panel.html",
        study=found,
        rows=rows,
        by_group=by_group,
        open_round=open_round,
        form=SimpleForm(),
        nav="panel",
    )


def _expert_form(study: Study) -> ExpertForm:
    """The add-an-expert form with the study's languages."""
    form = ExpertForm()
    form.language.choices = _language_choices(study)
    if not form.is_submitted():
        form.language.data = study.default_language
    return form


def _language_choices(study: Study) -> list[SelectChoice]:
    """The study's languages as choices, by their own names."""
    return [SelectChoice(code, LANGUAGE_NAMES.get(code, code)) for code in study.languages]


@bp.route("/studies/<int:study_id>/panel/add", methods=["GET", "POST"])
@facilitator_required
@atomic
def add_expert(study_id: int) -> Any:
    """Add one expert; on success show their private link once."""
    found = member_study(study_id)
    form = _expert_form(found)
    loose: list[str] = []
    if form.validate_on_submit():
        try:
            member = panel_service.add_expert(
                db.session,
                found,
                name=form.name.data or "",
                email=form.email.data or "",
                group=form.group.data or "",
                language=form.language.data or "",
                actor=facilitator(),
                now=utcnow(),
            )
        except ValidationError as error:
            db.session.rollback()
            loose = errors_into(form, error)
        else:
            return render_template(
                "facilitator/add_expert.html",
                study=found,
                form=_blank_expert_form(found),
                created=member.participation,
                link=link_for(member.token, member.participation.language),
                invite_form=SimpleForm(),
                nav="panel",
            )
    summary = summary_of(form) + [("name", message) for message in loose]
    return render_template(
        "facilitator/add_expert.html",
        study=found,
        form=form,
        summary=summary,
        created=None,
        nav="panel",
    ), (422 if summary else 200)


def _blank_expert_form(study: Study) -> ExpertForm:
    """An empty add-an-expert form (after one was added)."""
    form = ExpertForm(formdata=None)
    form.language.choices = _language_choices(study)
    form.language.data = study.default_language
    return form


@bp.route("/studies/<int:study_id>/panel/import", methods=["GET", "POST"])
@facilitator_required
@atomic
def import_panel(study_id: int) -> Any:
    """Add experts from a CSV file, all rows or none; then email them, or show their links once."""
    found = member_study(study_id)
    form = ImportForm()
    problems: list[str] = []
    if form.validate_on_submit():
        upload = form.file.data if isinstance(form.file.data, FileStorage) else None
        if upload is None or not upload.filename:
            problems.append(_("Choose a CSV file."))
        elif (
            panel_service.csv_rows(data := upload.read())
            > current_app.config["PANEL_IMPORT_JOB_ROWS"]
        ):
            # a large file is imported by a job with progress; its page lists the outcome
            job = panel_service.request_import(
                db.session,
                found,
                data,
                actor=facilitator(),
                now=utcnow(),
                send_now=bool(form.send_now.data),
            )
            run_after_commit(db.session, job)
            return redirect(url_for("builds.job", study_id=found.id, job_id=job.id), code=303)
        else:
            try:
                result = panel_service.import_csv(
                    db.session, found, data, actor=facilitator(), now=utcnow()
                )
            except ValidationError as error:
                db.session.rollback()
                problems.append(str(error))
                for messages in error.errors.values():
                    problems.extend(messages)
            else:
                if form.send_now.data and result.added:
                    summary = queue_invitations_for(found, [m.participation for m in result.added])
                    _flash_import(len(result.added), result.skipped)
                    flash_mail_summary(summary)
                    return redirect_to("panel", found)
                _flash_import(len(result.added), result.skipped)
                return render_template(
                    "facilitator/import_panel.html",
                    study=found,
                    form=ImportForm(formdata=None),
                    added=[
                        (m.participation, link_for(m.token, m.participation.language))
                        for m in result.added
                    ],
                    problems=[],
                    nav="panel",
                )
    return render_template(
        "facilitator/import_panel.html",
        study=found,
        form=form,
        added=[],
        problems=problems,
        nav="panel",
    ), (422 if problems else 200)


def _flash_import(added: int, skipped: list[str]) -> None:
    """Say how many experts a CSV import added and skipped."""
    flash(_("%(n)s experts added to the panel.", n=added), "success")
    if skipped:
        flash(
            _(
                "%(n)s were on the panel already and were skipped: %(emails)s",
                n=len(skipped),
                emails=", ".join(skipped[:20]) + (" …" if len(skipped) > 20 else ""),
            ),
            "info",
        )


@bp.post("/studies/<int:study_id>/panel/<int:participation_id>/revoke")
@facilitator_required
@atomic
def revoke_links(study_id: int, participation_id: int) -> Any:
    """Revoke every private link of a panel member and end their sessions."""
    found = member_study(study_id)
    member = panel_member(found, participation_id)
    with flash_domain_errors():
        count = panel_service.revoke_links(db.session, member, actor=facilitator(), now=utcnow())
        if found.is_anonymous:
            # how many links someone held counts their reminders, i.e. rounds not submitted
            flash(
                _(
                    "The links of %(p)s are revoked; their sessions are ended.",
                    p=member.name,
                ),
                "success",
            )
        else:
            flash(
                _(
                    "%(n)s links of %(p)s revoked; their sessions are ended.",
                    n=count,
                    p=member.name,
                ),
                "success",
            )
    return redirect_to("panel", found)


@bp.post("/studies/<int:study_id>/panel/<int:participation_id>/reissue")
@facilitator_required
@atomic
def reissue_link(study_id: int, participation_id: int) -> Any:
    """Revoke a member's links and show a new one, once."""
    found = member_study(study_id)
    member = panel_member(found, participation_id)
    try:
        token = panel_service.reissue_link(db.session, member, actor=facilitator(), now=utcnow())
    except NotFoundError:
        raise
    except DomainError as error:
        db.session.rollback()
        return flash_and_redirect(str(error), "panel", found, "error")
    return render_template(
        "facilitator/reissue_link.html",
        study=found,
        member=member,
        link=link_for(token, member.language),
        nav="panel",
    )


@bp.post("/studies/<int:study_id>/panel/<int:participation_id>/withdraw")
@facilitator_required
@atomic
def withdraw(study_id: int, participation_id: int) -> Any:
    """Withdraw a member from the panel: their links stop working."""
    found = member_study(study_id)
    member = panel_member(found, participation_id)
    with flash_domain_errors():
        panel_service.set_withdrawn(db.session, member, True, actor=facilitator(), now=utcnow())
        flash(_("%(p)s is withdrawn; their links no longer work.", p=member.name), "success")
    return redirect_to("panel", found)


@bp.post("/studies/<int:study_id>/panel/<int:participation_id>/reinstate")
@facilitator_required
@atomic
def reinstate(study_id: int, participation_id: int) -> Any:
    """Bring a withdrawn member back (they need a new link)."""
    found = member_study(study_id)
    member = panel_member(found, participation_id)
    with flash_domain_errors():
        if member.status != ParticipationStatus.WITHDRAWN:
            flash(_("%(p)s is not withdrawn.", p=member.name), "info")
        else:
            panel_service.set_withdrawn(
                db.session, member, False, actor=facilitator(), now=utcnow()
            )
            flash(
                _(
                    "%(p)s is back on the panel. Send an invitation or a new link.",
                    p=member.name,
                ),
                "success",
            )
    return redirect_to("panel", found)
