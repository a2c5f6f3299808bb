"""Every API error as RFC 9457 problem details: clear words, the fields at fault, no traceback.

Routing errors (an unknown path, a wrong method) never reach the blueprint; app.errors answers
them with problem details too, because their path starts with /api/.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from app.api import bp
from app.errors import problem
from app.extensions import db
from app.messages import render, render_error
from app.models import (
    ConflictError,
    DomainError,
    NotFoundError,
    PermissionDeniedError,
    StateError,
    ValidationError,
)


class ProblemError(Exception):
    """Raise to answer with a problem (the transaction rolls back, as for any error)."""

    def __init__(self, status: int, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}

    def response(self) -> Response:
        """The problem-details response."""
        response = problem(self.status, self.title, self.detail, **self.extra)
        response.headers.update(self.headers)
        return response


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Nested marshmallow/webargs messages as {"dotted.path": [messages]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            for name, texts in flatten_errors(value, path).items():
                flat.setdefault(name, []).extend(texts)
    elif isinstance(messages, list | tuple):
        texts = [render(m, _) for m in messages if not isinstance(m, Mapping | list | tuple)]
        if texts:
            flat.setdefault(prefix or "body", []).extend(texts)
        for nested in (m for m in messages if isinstance(m, Mapping | list | tuple)):
            for name, more in flatten_errors(nested, prefix).items():
                flat.setdefault(name, []).extend(more)
    else:
        flat.setdefault(prefix or "body", []).append(render(messages, _))
    return flat


def _request_errors(error: HTTPException) -> dict[str, list[str]] | None:
    """Field errors webargs attached to a 422 (location prefixes such as "json." dropped)."""
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") or data.get("errors")
    if not messages:
        return None
    if isinstance(messages, Mapping) and set(messages) <= {
        "json",
        "files",
        "form",
        "headers",
        "query",
        "querystring",
    }:
        merged: dict[str, list[str]] = {}
        for location, nested in messages.items():
            for name, texts in flatten_errors(nested).items():
                key = name if location in ("json", "files", "form") else f"{location}.{name}"
                merged.setdefault(key, []).extend(texts)
        return merged
    return flatten_errors(messages)


def _domain_title(error: DomainError) -> str:
    """A short title for a domain error."""
    if isinstance(error, ValidationError):
        return _("Invalid input")
    if isinstance(error, NotFoundError):
        return _("Not found")
    if isinstance(error, PermissionDeniedError):
        return _("Not allowed")
    if isinstance(error, ConflictError):
        return _("Conflict")
    if isinstance(error, StateError):
        return _("Not possible now")
    return _("Bad request")


@bp.errorhandler(ProblemError)
def _api_problem(error: ProblemError) -> Response:
    db.session.rollback()
    return error.response()


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError) -> Response:
    db.session.rollback()
    extra: dict[str, Any] = {}
    if isinstance(error, ValidationError) and error.errors:
        extra["errors"] = flatten_errors(error.errors)
    return problem(error.status, _domain_title(error), render_error(error, _), **extra)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    db.session.rollback()
    status = error.code or 500
    titles = {
        400: _("Bad request"),
        401: _("Not authenticated"),
        403: _("Not allowed"),
        404: _("Not found"),
        405: _("Method not allowed"),
        409: _("Conflict"),
        413: _("Too large"),
        415: _("Unsupported media type"),
        422: _("Invalid input"),
        429: _("Too many requests"),
    }
    details = {
        404: _("There is nothing here."),
        413: _("The request is larger than this platform accepts."),
        422: _("The request is not valid; see errors."),
        429: _("Too many requests from your address. Wait a minute and try again."),
    }
    errors = _request_errors(error) if status in (400, 422) else None
    extra: dict[str, Any] = {"errors": errors} if errors else {}
    response = problem(
        status,
        titles.get(status, error.name),
        details.get(status) or error.description or error.name,
        **extra,
    )
    if status == 405 and error.get_response().headers.get("Allow"):
        response.headers["Allow"] = error.get_response().headers["Allow"]
    return response
