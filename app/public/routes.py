"""Pages for anyone: the front page and the private-link landing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from wtforms import HiddenField

from app.auth import EXPERT_SESSION_KEY
from app.database import atomic
from app.extensions import db, limiter
from app.forms import Form
from app.models import utcnow
from app.services import panel

bp = Blueprint("public", __name__)


class LinkForm(Form):
    """The one-button form that exchanges a private link's token for a session."""

    token = HiddenField()


def _link_rate_limit() -> str:
    """The landing rate limit from the config (per client address)."""
    return str(current_app.config["RATELIMIT_LINK"])


@bp.get("/")
def index() -> Any:
    """The front page: facilitators log in; experts are sent their private links."""
    if current_user.is_authenticated:
        return redirect(url_for("facilitator.studies"))
    if session.get(EXPERT_SESSION_KEY):
        return redirect(url_for("expert.home"))
    return render_template("public/index.html")


@bp.route("/t/<token>", methods=["GET", "HEAD"])
def landing(token: str) -> Any:
    """A private link. Looking at it changes nothing (mail scanners prefetch links): it only
    offers a button. The page is the same for good and bad links."""
    form = LinkForm(token=token)
    return render_template("public/landing.html", form=form)


@bp.post("/t")
@limiter.limit(_link_rate_limit)
@atomic
def enter() -> Any:
    """Exchange the token for an expert session and continue on an address without it."""
    form = LinkForm()
    token = (form.token.data or "").strip() if form.validate_on_submit() else ""
    session_token = panel.open_session_from_link(db.session, token, utcnow()) if token else None
    if session_token is None:
        return render_template("public/link_invalid.html"), 404
    language = session.get("language")
    for key in (EXPERT_SESSION_KEY, "language"):
        session.pop(key, None)
    session[EXPERT_SESSION_KEY] = session_token
    if language:
        session["language"] = language
    session.permanent = True
    return redirect(url_for("expert.home"), code=303)


@bp.get("/favicon.ico")
def favicon() -> Any:
    """The site's icon where browsers look for it without a link (kept a day)."""
    # a few kilobytes, sent as bytes: no open file is left to the client to close
    icon = Path(current_app.static_folder or "static", "favicon.ico").read_bytes()
    response = Response(icon, mimetype="image/vnd.microsoft.icon")
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response


@bp.get("/link-needed")
def link_needed() -> Any:
    """Shown to experts without a session: open the link from your invitation."""
    return render_template("public/link_needed.html")


@bp.post("/language")
def choose_language() -> Any:
    """Remember a language choice for pages shown before an expert session exists."""
    language = request.form.get("language", "")
    if language in current_app.config["LANGUAGES"]:
        session["language"] = language
        session.permanent = True  # remembered on this device, not only until the browser closes
    target = request.form.get("next", "")
    # only local paths: never redirect elsewhere
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("public.index")
    return redirect(target, code=303)
