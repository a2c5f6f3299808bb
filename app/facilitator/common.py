"""Helpers every facilitator page shares: the study in the URL, error messages, redirects."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import abort, current_app, flash, redirect, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from app.auth import facilitator
from app.extensions import db
from app.messages import render, render_error
from app.models import DomainError, NotFoundError, Participation, Study, ValidationError
from app.services import panel as panel_service
from app.services import studies as study_service
from app.services.invitations import private_link
from app.templating import current_language


def member_study(study_id: int) -> Study:
    """The study if the logged-in facilitator may act on it (NotFoundError, hence 404, if not)."""
    return study_service.study_for(db.session, facilitator(), study_id)


def owned_study(study_id: int) -> Study:
    """The study if the facilitator owns it (or is an admin); 404 for non-members, 403 for
    members who are not owners."""
    found = member_study(study_id)
    if not study_service.may_manage(db.session, found, facilitator()):
        abort(403)
    return found


def panel_member(study: Study, participation_id: int) -> Participation:
    """A member of this study's panel (NotFoundError for anyone else's)."""
    return panel_service.participation_for(db.session, study, participation_id)


def page_language() -> str:
    """The language facilitator pages show study texts in."""
    return current_language()


def link_for(token: str, language: str | None = None) -> str:
    """The full private link for a token (landing in the expert's panel language)."""
    return private_link(current_app.config["PUBLIC_BASE_URL"], token, language)


def redirect_to(view: str, study: Study, anchor: str = "") -> Response:
    """See-other to a facilitator page of the study (`view` names it without the blueprint)."""
    return redirect(url_for(f"facilitator.{view}", study_id=study.id) + anchor, code=303)


def flash_and_redirect(
    message: str, view: str, study: Study, category: str = "success"
) -> Response:
    """Show a message on the next page, and see-other to that facilitator page of the study."""
    flash(message, category)
    return redirect_to(view, study)


@contextmanager
def flash_domain_errors() -> Iterator[None]:
    """Turn a broken rule into an error message (the transaction is rolled back); 404 stays 404."""
    try:
        yield
    except NotFoundError:
        raise
    except DomainError as error:
        db.session.rollback()
        flash(render_error(error, _), "error")


def errors_into(
    form: Any, error: ValidationError, names: dict[str, str] | None = None
) -> list[str]:
    """Attach a ValidationError's messages to the form's fields; return those with no field."""
    loose: list[str] = []
    for name, messages in error.errors.items():
        texts = [render(message, _) for message in messages]
        field = getattr(form, (names or {}).get(name, name), None)
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors) + texts
        else:
            loose.extend(f"{name}: {text}" for text in texts)
    return loose


def summary_of(form: Any) -> list[tuple[str, str]]:
    """Error summary lines (field id, message) for a form."""
    return [
        (field.id, f"{field.label.text}: {message}")
        for field in form
        for message in field.errors
        if field.name != "csrf_token"
    ]
