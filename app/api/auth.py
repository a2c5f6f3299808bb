"""Who is calling the API: a facilitator's key (Bearer) or an expert's link token (header).

No cookies are read, so the API needs no CSRF token. Missing, unknown, revoked and expired
credentials all get the same 401. Rate limits: every API call counts against the client
address's budget, and failed authentications against a much smaller one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import current_app, g, request
from flask.wrappers import Response
from flask_babel import gettext as _
from flask_smorest import Blueprint

from app.api import bp
from app.api.openapi import EXPERT_SCHEME, FACILITATOR_SCHEME
from app.api.problems import ProblemError
from app.database import begin_write
from app.extensions import db, limiter
from app.models import ApiKey, NotFoundError, Participation, Study, User, utcnow
from app.services import api_keys
from app.services import studies as study_service

F = TypeVar("F", bound=Callable[..., Any])

EXPERT_HEADER = "X-Expert-Token"
_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _api_rate_limit() -> str:
    """API calls per client address (config RATELIMIT_API)."""
    return str(current_app.config["RATELIMIT_API"])


def _auth_failure_limit() -> str:
    """Failed authentications per client address (config RATELIMIT_API_AUTH)."""
    return str(current_app.config["RATELIMIT_API_AUTH"])


def _is_auth_failure(response: Response) -> bool:
    """Whether a response refused the caller's credentials."""
    return response.status_code == 401


# One budget for the whole API, and a stricter one that only failed authentications spend.
limiter.shared_limit(_api_rate_limit, scope="api")(bp)
limiter.shared_limit(_auth_failure_limit, scope="api-auth", deduct_when=_is_auth_failure)(bp)


def _unauthorized(detail: str, scheme: str) -> ProblemError:
    """A 401 problem with the WWW-Authenticate challenge."""
    error = ProblemError(401, _("Not authenticated"), detail)
    error.headers["WWW-Authenticate"] = scheme
    return error


def _record_use(touch: Callable[[], None], last_used_at: Any) -> None:
    """Write a credential's last use in a short transaction of its own (at most once a minute).

    On SQLite the write takes the lock up front (never a read upgraded to a write), and a
    write request gets its write lock back afterwards.
    """
    now = utcnow()
    if not api_keys.needs_touch(last_used_at, now):
        return
    db.session.rollback()
    begin_write()
    touch()
    db.session.commit()
    if request.method in _WRITE_METHODS:
        begin_write()


def current_key() -> ApiKey:
    """The API key of this request (behind `facilitator_auth`)."""
    return cast(ApiKey, g.api_key)


def current_user() -> User:
    """The facilitator of this request (behind `facilitator_auth`)."""
    return current_key().user


def current_expert() -> Participation:
    """The expert of this request (behind `expert_auth`)."""
    return cast(Participation, g.participation)


def _authenticate_facilitator() -> ApiKey:
    """The key in the Authorization header, or a 401 problem."""
    header = request.headers.get("Authorization", "")
    scheme, _sep, secret = header.partition(" ")
    key = (
        api_keys.authenticate_key(db.session, secret.strip())
        if scheme.lower() == "bearer"
        else None
    )
    if key is None:
        raise _unauthorized(
            _(
                "Send a valid API key: 'Authorization: Bearer dlp_...'. "
                "Keys are made on your account page."
            ),
            'Bearer realm="delphi"',
        )
    key_id = key.id
    _record_use(lambda: api_keys.touch_key(db.session, key_id, utcnow()), key.last_used_at)
    return key


def _authenticate_expert() -> Participation:
    """The participation behind the link token in X-Expert-Token, or a 401 problem."""
    token = request.headers.get(EXPERT_HEADER, "").strip()
    link = api_keys.link_for_token(db.session, token) if token else None
    if link is None:
        raise _unauthorized(
            _("Send the token of your personal link in the X-Expert-Token header."),
            'ExpertToken realm="delphi"',
        )
    link_id = link.id
    _record_use(lambda: api_keys.touch_link(db.session, link_id, utcnow()), link.last_used_at)
    return link.participation


def facilitator_auth(view: F) -> F:
    """Require a facilitator's API key; the view then uses `current_user()` / `study_of()`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.api_key = _authenticate_facilitator()
        g.api_study = None
        if "study_id" in kwargs:
            # before the body is read: another study's address gets 404, whatever was sent
            g.api_study = study_of(kwargs["study_id"])
        return view(*args, **kwargs)

    documented = Blueprint.doc(security=[{FACILITATOR_SCHEME: []}])(wrapper)
    return cast(F, _document_errors(documented, 401, 404, 429))


def expert_auth(view: F) -> F:
    """Require an expert's link token; the view then uses `current_expert()`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.participation = _authenticate_expert()  # also picks the expert's language
        return view(*args, **kwargs)

    documented = Blueprint.doc(security=[{EXPERT_SCHEME: []}])(wrapper)
    return cast(F, _document_errors(documented, 401, 429))


def _document_errors(view: Any, *statuses: int) -> Any:
    """Add error responses (problem details) to a view's documentation."""
    for status in statuses:
        view = bp.alt_response(status, _RESPONSE_NAMES[status])(view)
    return view


_RESPONSE_NAMES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    413: "REQUEST_ENTITY_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE_ENTITY",
    429: "TOO_MANY_REQUESTS",
}


def errors(*statuses: int) -> Callable[[F], F]:
    """Document more error responses of a view (problem details)."""

    def decorator(view: F) -> F:
        return cast(F, _document_errors(view, *statuses))

    return decorator


def study_of(study_id: int) -> Study:
    """A study the calling key may act on: its owner's access and the key's scope, else 404."""
    cached = g.get("api_study")
    if cached is not None and cached.id == study_id:
        return cast(Study, cached)
    key = current_key()
    if not api_keys.key_allows_study(key, study_id):
        raise NotFoundError(_("No such study."))
    return study_service.study_for(db.session, key.user, study_id)
