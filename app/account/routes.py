"""Facilitator login, logout and password change."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from wtforms import RadioField, SelectMultipleField, StringField, widgets
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from app.account.forms import LoginForm, PasswordForm
from app.auth import facilitator, facilitator_required, log_in, log_out
from app.database import atomic
from app.extensions import db, limiter
from app.forms import Form
from app.models import ValidationError, utcnow
from app.services import accounts, api_keys
from app.services import studies as study_service

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
            # a language picked on the login page becomes the account's, unless it has one
            picked = str(session.get("language", ""))
            log_in(user)
            if user.language is None and picked in current_app.config["LANGUAGES"]:
                accounts.set_language(
                    db.session, user, picked, tuple(current_app.config["LANGUAGES"])
                )
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


@bp.post("/language")
@facilitator_required
@atomic
def language() -> Any:
    """Remember the language the account's pages speak, then show the same page again."""
    code = request.form.get("language", "")
    try:
        accounts.set_language(
            db.session, facilitator(), code, tuple(current_app.config["LANGUAGES"])
        )
    except ValidationError:
        abort(400)
    target = request.form.get("next", "")
    # only local paths: never redirect elsewhere
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("facilitator.studies")
    return redirect(target, code=303)


@bp.route("/password", methods=["GET", "POST"])
@facilitator_required
@atomic
def password() -> Any:
    """Change the password; every session of the account ends, so log in again, and its API
    keys are revoked unless the form asks to keep them."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            revoked = accounts.change_password(
                db.session,
                facilitator(),
                current=form.current_password.data or "",
                new=form.new_password.data or "",
                now=utcnow(),
                keep_api_keys=bool(form.keep_api_keys.data),
            )
        except ValidationError as error:
            for name, messages in error.errors.items():
                field = form.current_password if name == "current_password" else form.new_password
                field.errors = list(messages)
            return render_template("account/password.html", form=form), 422
        log_out()
        flash(_("Your password is changed. Log in with the new one."), "success")
        if revoked:
            flash(
                ngettext(
                    "%(num)d API key was revoked; make a new one on your account page.",
                    "%(num)d API keys were revoked; make new ones on your account page.",
                    revoked,
                ),
                "info",
            )
        return redirect(url_for("account.login"), code=303)
    status = 422 if form.is_submitted() else 200
    return render_template("account/password.html", form=form), status


# API keys (for the JSON API): made here, shown once, stored hashed, revocable.


class ApiKeyForm(Form):
    """A new API key: a name, and all the user's studies or only some."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    scope = RadioField(
        _l("The key may act on"),
        choices=[
            SelectChoice("all", _l("All my studies")),
            SelectChoice("some", _l("Only the studies ticked below")),
        ],
        default="all",
    )
    studies = SelectMultipleField(
        _l("Studies"),
        coerce=int,
        option_widget=widgets.CheckboxInput(),
        widget=widgets.ListWidget(prefix_label=False),
    )


class RevokeKeyForm(Form):
    """The revoke button (CSRF token only; CSRFProtect checks it before the view runs)."""


def _api_keys_page(form: ApiKeyForm, status: int = 200) -> Any:
    """The API keys page: the user's keys and the form for a new one."""
    user = facilitator()
    studies = {s.id: s for s in study_service.studies_for(db.session, user)}
    return render_template(
        "account/api_keys.html",
        form=form,
        keys=api_keys.keys_of(db.session, user),
        studies=studies,
        revoke_form=RevokeKeyForm(),
    ), status


def _key_form() -> ApiKeyForm:
    """The new-key form, with the user's studies to choose from."""
    form = ApiKeyForm()
    form.studies.choices = [
        SelectChoice(s.id, s.text("title", s.default_language))
        for s in study_service.studies_for(db.session, facilitator())
    ]
    return form


@bp.get("/api-keys")
@facilitator_required
def api_keys_list() -> Any:
    """The user's API keys and the form to make one."""
    return _api_keys_page(_key_form())


@bp.post("/api-keys")
@facilitator_required
@atomic
def api_keys_create() -> Any:
    """Make a key and show it once (only its hash is stored)."""
    form = _key_form()
    if not form.validate_on_submit():
        return _api_keys_page(form, 422)
    study_ids = None if form.scope.data == "all" else list(form.studies.data or [])
    try:
        new = api_keys.create_key(
            db.session, facilitator(), name=form.name.data or "", study_ids=study_ids, now=utcnow()
        )
    except ValidationError as error:
        form.studies.errors = [str(error)] if "study_ids" in error.errors else []
        form.name.errors = [str(error)] if "name" in error.errors else []
        return _api_keys_page(form, 422)
    return render_template("account/api_keys_created.html", key=new.key, secret=new.secret)


@bp.post("/api-keys/<int:key_id>/revoke")
@facilitator_required
@atomic
def api_keys_revoke(key_id: int) -> Any:
    """Revoke one of the user's keys; programs using it stop working at once."""
    key = api_keys.key_of(db.session, facilitator(), key_id)
    api_keys.revoke_key(db.session, key, actor=facilitator(), now=utcnow())
    flash(_("The key %(prefix)s… is revoked.", prefix=key.prefix), "success")
    return redirect(url_for("account.api_keys_list"), code=303)
