"""Error pages and problem details: clear words, the right status, never a traceback."""

from __future__ import annotations

import contextlib
import math
import time
import traceback
from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from app.extensions import db, limiter
from app.messages import render_error
from app.models import DomainError, ValidationError


def wants_json() -> bool:
    """Whether the client asked for JSON (API calls and the autosave script)."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    """An RFC 9457 problem-details response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def _page(status: int, title: str, detail: str) -> tuple[str, int]:
    """The HTML error page."""
    return render_template("errors/error.html", status=status, title=title, detail=detail), status


def csrf_failure() -> Any:
    """The answer to a form whose CSRF token is missing or stale: nothing changed, try again."""
    db.session.rollback()
    detail = _(
        "The form was open too long or your session changed, so it could not be accepted. "
        "Nothing was changed. Go back, reload the page and try again."
    )
    if wants_json():
        return problem(400, "CSRF token missing or invalid", detail)
    return _page(400, _("Please try again"), detail)


def _seconds_until_reset() -> int:
    """Seconds until the rate limit that refused this request lets the client in again."""
    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, math.ceil(current.reset_at - time.time()))


def register_error_handlers(app: Flask) -> None:
    """Install handlers for domain errors, HTTP errors, CSRF failures and database outages."""

    @app.errorhandler(DomainError)
    def _domain(error: DomainError) -> Any:
        db.session.rollback()
        if wants_json():
            extra = {"errors": error.errors} if isinstance(error, ValidationError) else {}
            return problem(error.status, type(error).__name__, render_error(error, _), **extra)
        return _page(error.status, _("That did not work"), render_error(error, _))

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError) -> Any:
        return csrf_failure()

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Any:
        status = error.code or 500
        titles = {
            400: _("Bad request"),
            403: _("Not allowed"),
            404: _("Not found"),
            405: _("Not allowed"),
            413: _("File too large"),
            429: _("Too many requests"),
        }
        title = titles.get(status, error.name)
        detail = {
            403: _("You do not have access to this page."),
            404: _("There is nothing here. Check the address, or go back."),
            413: _("The file is larger than this platform accepts."),
            429: _("Too many attempts from your address. Wait a minute and try again."),
        }.get(status, error.description or "")
        response = (
            problem(status, title, detail)
            if wants_json()
            else current_app.make_response(_page(status, title, detail))
        )
        # keep what the exception says in headers (Allow on 405, Retry-After on 429, ...)
        for name, value in error.get_headers():
            if name.lower() not in {"content-type", "content-length"}:
                response.headers[name] = value
        return response

    @app.after_request
    def _retry_after_a_refusal(response: Response) -> Response:
        """A 429 (from any blueprint, the API's own error handler included) says when to
        come back; the limiter's countdown on other answers is X-RateLimit-Retry-After."""
        if response.status_code == 429 and "Retry-After" not in response.headers:
            response.headers["Retry-After"] = str(_seconds_until_reset())
        return response

    @app.errorhandler(OperationalError)
    def _database_down(error: OperationalError) -> Any:
        app.logger.warning("database unavailable: %s", type(error.orig).__name__)
        with contextlib.suppress(DBAPIError):
            db.session.rollback()
        detail = _(
            "The database cannot be reached right now. Nothing was saved by this request; "
            "please try again in a minute."
        )
        if wants_json():
            response = problem(503, "Service unavailable", detail)
        else:
            body, _status = _page(503, _("Temporarily unavailable"), detail)
            response = Response(body, status=503, mimetype="text/html")
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        if isinstance(error, DBAPIError):
            # the database's own message may quote the row it refused ("Failing row contains
            # ..."): answers, names. Log what and where, with the stack, never that message.
            app.logger.error(
                "unhandled error on %s %s: %s from the database (SQLSTATE %s, constraint %s)\n%s",
                request.method,
                request.endpoint,
                type(error.orig).__name__,
                getattr(error.orig, "sqlstate", None),
                getattr(getattr(error.orig, "diag", None), "constraint_name", None),
                "".join(traceback.format_tb(error.__traceback__)),
            )
        else:
            app.logger.exception("unhandled error on %s %s", request.method, request.endpoint)
        with contextlib.suppress(DBAPIError):
            db.session.rollback()
        detail = _("Something went wrong on our side. Nothing was changed by this request.")
        if wants_json():
            return problem(500, "Internal server error", detail)
        return _page(500, _("Something went wrong"), detail)
