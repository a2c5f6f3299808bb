"""Who is asking: facilitators (Flask-Login over server-side sessions) and experts (link sessions)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, abort, current_app, g, redirect, session, url_for
from flask_babel import gettext as _
from flask_login import UserMixin, current_user, login_user, logout_user

from app.errors import problem, wants_json
from app.extensions import db, login_manager
from app.models import Participation, User, utcnow
from app.services import accounts, panel

F = TypeVar("F", bound=Callable[..., Any])

#: session keys: the facilitator's login token lives under Flask-Login's own key
EXPERT_SESSION_KEY = "expert"
SEEN_KEY = "seen"


class FacilitatorLogin(UserMixin):
    """Flask-Login's view of a logged-in account: the user and the session token."""

    def __init__(self, user: User, token: str) -> None:
        self.user = user
        self.token = token

    def get_id(self) -> str:
        """The session token (so that revoking the session logs this browser out)."""
        return self.token


def init_auth(app: Flask) -> None:
    """Configure Flask-Login and the idle timeout of facilitator sessions."""
    login_manager.init_app(app)
    login_manager.login_view = "account.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def _load(token: str) -> FacilitatorLogin | None:
        seen = session.get(SEEN_KEY, 0)
        idle = current_app.config["FACILITATOR_SESSION_IDLE"].total_seconds()
        if time.time() - float(seen) > idle:
            return None
        row = accounts.load_session(db.session, token)
        if row is None:
            return None
        session[SEEN_KEY] = int(time.time())
        return FacilitatorLogin(row.user, token)


def log_in(user: User) -> None:
    """Start a server-side session for the user and put its token in the cookie."""
    expert = session.get(EXPERT_SESSION_KEY)
    session.clear()  # no session fixation: a new session for a new principal
    if expert:
        session[EXPERT_SESSION_KEY] = expert
    token = accounts.start_session(db.session, user, utcnow())
    session[SEEN_KEY] = int(time.time())
    login_user(FacilitatorLogin(user, token))


def log_out() -> None:
    """Revoke the server-side session and forget it in the cookie."""
    if current_user.is_authenticated:
        accounts.end_session(db.session, current_user.token, utcnow())
    logout_user()
    session.pop(SEEN_KEY, None)


def facilitator() -> User:
    """The logged-in account (call only behind login_required)."""
    return cast(FacilitatorLogin, current_user).user


def facilitator_required(view: F) -> F:
    """Require a logged-in facilitator or admin."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return view(*args, **kwargs)

    return cast(F, wrapper)


def admin_required(view: F) -> F:
    """Require a logged-in admin."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not facilitator().is_admin:
            abort(403)
        return view(*args, **kwargs)

    return cast(F, wrapper)


def current_participation() -> Participation | None:
    """The expert behind this browser's link session, if any (cached per request)."""
    if "participation" not in g:
        token = session.get(EXPERT_SESSION_KEY)
        g.participation = panel.load_expert_session(db.session, token) if token else None
    return cast(Participation | None, g.participation)


def expert_required(view: F) -> F:
    """Require an expert session; otherwise explain how to get in (through the private link)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_participation() is None:
            if wants_json():
                # the page's script must learn the session ended, not follow a redirect to
                # an HTML page and take its 200 for an acknowledged save
                return problem(
                    401,
                    "Signed out",
                    _("Your session has ended. Open the personal link from your invitation."),
                )
            return redirect(url_for("public.link_needed"))
        return view(*args, **kwargs)

    return cast(F, wrapper)
