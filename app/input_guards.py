"""Hostile input stopped before any view runs: JSON bodies, URL arguments, query strings.

Every JSON body is parsed once here with the limits of `app.json_limits` (depth, number
length, no NaN), before the view or webargs parse it again, then safely: a body that breaks a
limit is refused with a 400 problem, a string holding a control character with a 422 problem
naming its field. Deeply nested JSON (RecursionError) and integers of more than 4,300 digits
(ValueError) used to reach the views as server errors.

URL arguments and query parameters holding control characters name nothing here: an address
with one is answered 404 (a path argument) or 400 (a query parameter) before a database
lookup could fail on it.
"""

from __future__ import annotations

import re

from flask import Flask, Response, request
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest, NotFound

from app.definitions.fields import quote
from app.errors import problem
from app.json_limits import UnsafeJsonError, load_json
from app.messages import render
from app.models.text import forbidden_character

_ADDRESS_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")


def _json_guard() -> Response | None:
    """Refuse a JSON body that breaks a limit (400) or holds a control character (422)."""
    if not request.is_json or request.method not in {"POST", "PUT", "PATCH", "DELETE"}:
        return None
    data = request.get_data(cache=True)
    if not data.strip():
        return None  # no body: the view says what is missing
    try:
        _value, bad_text = load_json(data)
    except UnsafeJsonError as error:
        return problem(400, _("Bad request"), render(error.message, _))
    if bad_text:
        return problem(
            422,
            _("Invalid input"),
            _("Some text holds control characters; nothing was saved."),
            errors={path: [render(m, _) for m in messages] for path, messages in bad_text.items()},
        )
    return None


def _in_address(text: str) -> bool:
    """Whether a decoded path argument or query value holds what no address of ours does:
    any control character, line breaks and tabs included."""
    return bool(_ADDRESS_CONTROLS.search(text) or forbidden_character(text))


def _address_guard() -> None:
    """404 for a path argument, 400 for a query parameter, holding a control character."""
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and _in_address(value):
            raise NotFound()
    for name, value in request.args.items(multi=True):
        if _in_address(name) or _in_address(value):
            raise BadRequest(
                _("The address's parameter %(name)s holds a control character.", name=quote(name))
            )


def register_input_guards(app: Flask) -> None:
    """Run the guards before every request, ahead of the views and their parsers."""
    app.before_request_funcs.setdefault(None, []).insert(0, _json_guard)
    app.before_request_funcs[None].insert(0, _address_guard)
