"""Facilitator pages for who runs a study (its team) and its audit log, and the administrators'
accounts page.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _

from app.auth import admin_required, facilitator, facilitator_required
from app.database import atomic
from app.extensions import db
from app.facilitator import bp
from app.facilitator.common import (
    errors_into,
    flash_and_redirect,
    flash_domain_errors,
    member_study,
    owned_study,
    redirect_to,
    summary_of,
)
from app.facilitator.forms import AccountForm, MemberForm, MemberRoleForm
from app.models import MemberRole, Role, Study, ValidationError, utcnow
from app.services import accounts as account_service
from app.services import audit, dashboard
from app.services import studies as study_service


@bp.get("/studies/<int:study_id>/audit")
@facilitator_required
def audit_log(study_id: int) -> Any:
    """The study's audit log, newest first (facilitator actions; never answers)."""
    found = member_study(study_id)
    return render_template(
        "facilitator/audit_log.html",
        study=found,
        events=audit.events_for_study(db.session, found),
        nav="audit",
    )


def _team_page(study: Study, form: MemberForm, status: int = 200) -> Any:
    """The team page: facilitators with their roles; owners also get the forms to manage it."""
    return render_template(
        "facilitator/team.html",
        study=study,
        members=dashboard.team(db.session, study),
        form=form,
        role_form=MemberRoleForm(formdata=None),
        may_manage=study_service.may_manage(db.session, study, facilitator()),
        summary=summary_of(form),
        nav="team",
    ), status


@bp.get("/studies/<int:study_id>/team")
@facilitator_required
def team(study_id: int) -> Any:
    """The study's facilitators and their roles."""
    return _team_page(member_study(study_id), MemberForm(formdata=None))


@bp.post("/studies/<int:study_id>/team")
@facilitator_required
@atomic
def add_member(study_id: int) -> Any:
    """Give another account access to the study, as a member or an owner (owners only)."""
    found = owned_study(study_id)
    form = MemberForm()
    if form.validate_on_submit():
        user = dashboard.user_by_email(db.session, form.email.data or "")
        if user is None:
            form.email.errors = [_("No account has this email. An administrator can create one.")]
        else:
            study_service.add_member(
                db.session,
                found,
                user,
                role=MemberRole(form.role.data),
                actor=facilitator(),
                now=utcnow(),
            )
            return flash_and_redirect(
                _("%(name)s can now run this study.", name=user.name), "team", found
            )
    return _team_page(found, form, 422)


@bp.post("/studies/<int:study_id>/team/<int:user_id>/role")
@facilitator_required
@atomic
def set_member_role(study_id: int, user_id: int) -> Any:
    """Make a team member an owner or a member (owners only; one owner always remains)."""
    found = owned_study(study_id)
    member = study_service.member_of(db.session, found, user_id)
    form = MemberRoleForm()
    if not form.validate_on_submit():
        flash(_("Choose owner or member."), "error")
    else:
        with flash_domain_errors():
            study_service.set_member_role(
                db.session,
                found,
                member,
                MemberRole(form.role.data),
                actor=facilitator(),
                now=utcnow(),
            )
            flash(_("The role of %(name)s is changed.", name=member.user.name), "success")
    return redirect_to("team", found)


@bp.post("/studies/<int:study_id>/team/<int:user_id>/remove")
@facilitator_required
@atomic
def remove_member(study_id: int, user_id: int) -> Any:
    """Take a facilitator off the study's team (owners only; one owner always remains)."""
    found = owned_study(study_id)
    member = study_service.member_of(db.session, found, user_id)
    name = member.user.name
    with flash_domain_errors():
        study_service.remove_member(db.session, found, member, actor=facilitator(), now=utcnow())
        flash(_("%(name)s no longer has access to this study.", name=name), "success")
    return redirect_to("team", found)


@bp.route("/admin/accounts", methods=["GET", "POST"])
@admin_required
@atomic
def accounts() -> Any:
    """Administrators: every account, and a form to create one."""
    form = AccountForm()
    if form.validate_on_submit():
        try:
            user = account_service.create_user(
                db.session,
                email=form.email.data or "",
                name=form.name.data or "",
                password=form.password.data or "",
                role=Role(form.role.data),
                now=utcnow(),
            )
        except ValidationError as error:
            db.session.rollback()
            errors_into(form, error)
        else:
            audit.record(
                db.session,
                action="account.create",
                now=utcnow(),
                actor=facilitator(),
                target=user.email,
                role=user.role,
            )
            flash(
                _(
                    "The account %(email)s is created. Give them the password in person.",
                    email=user.email,
                ),
                "success",
            )
            return redirect(url_for("facilitator.accounts"), code=303)
    return render_template(
        "facilitator/accounts.html",
        users=dashboard.all_users(db.session),
        form=form,
        summary=summary_of(form),
    ), (422 if form.errors else 200)
