"""Facilitator login, logout and password change."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.account.forms import LoginForm, PasswordForm
from app.auth import facilitator, facilitator_required, log_in, log_out
from app.database import atomic
from app.extensions import db, limiter
from app.models import ValidationError, utcnow
from app.services import accounts

bp = Blueprint("account", __name__, url_prefix="/account")


def _login_rate_limit() -> str:
    """The login rate limit from the config (per client address)."""
    return str(current_app.config["RATELIMIT_LOGIN"])


@bp.get("/login")
def login() -> Any:
    """The login form."""
    return render_template("account/login.html", form=LoginForm())


@bp.post("/login")
@limiter.limit(_login_rate_limit)
@atomic
def login_post() -> Any:
    """Check the password and start a server-side session."""
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(db.session, form.email.data or "", form.password.data or "")
        if user is not None:
            log_in(user)
            target = request.args.get("next", "")
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("facilitator.studies")
            return redirect(target, code=303)
        form.password.errors = [_("Wrong email or password.")]
    return render_template("account/login.html", form=form), 422


@bp.post("/logout")
@atomic
def logout() -> Any:
    """End the session on the server too."""
    log_out()
    flash(_("You are logged out."), "success")
    return redirect(url_for("account.login"), code=303)


@bp.route("/password", methods=["GET", "POST"])
@facilitator_required
@atomic
def password() -> Any:
    """Change the password; every session of the account ends, so log in again."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(
                db.session,
                facilitator(),
                current=form.current_password.data or "",
                new=form.new_password.data or "",
                now=utcnow(),
            )
        except ValidationError as error:
            for name, messages in error.errors.items():
                field = form.current_password if name == "current_password" else form.new_password
                field.errors = list(messages)
            return render_template("account/password.html", form=form), 422
        log_out()
        flash(_("Your password is changed. Log in with the new one."), "success")
        return redirect(url_for("account.login"), code=303)
    status = 422 if form.is_submitted() else 200
    return render_template("account/password.html", form=form), status
