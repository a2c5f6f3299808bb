"""Hostile input stopped before any view runs: JSON bodies, URL arguments, query strings.

Python's JSON parser recurses once per nesting level (a body of 100,000 brackets raises
RecursionError), refuses integers of more than 4,300 digits with ValueError, accepts NaN and
Infinity, and happily returns NUL characters and unpaired surrogates that no database stores.
Each of those reached a view as a server error. Here every JSON body is parsed once, with
limits, before the view or webargs parse it again (then safely): a body that breaks a limit is
refused with a 400 problem, a string holding a control character with a 422 problem naming
its field. Whatever reads the body later reads one that passed.

URL arguments and query parameters holding control characters name nothing here: an address
with one is answered 404 (a path argument) or 400 (a query parameter) before a database
lookup could fail on it.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import Flask, Response, request
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest, NotFound

from app.definitions.fields import quote
from app.errors import problem
from app.messages import render
from app.models.text import forbidden_character

#: deepest nesting of arrays and objects a JSON body may have (the API's bodies need 4)
MAX_JSON_DEPTH = 32
#: longest number literal (digits, sign, point, exponent) a JSON body may hold
MAX_NUMBER_LENGTH = 100


class UnsafeJsonError(ValueError):
    """A JSON body the platform will not read: malformed, too deep, or a number out of range."""


def _parse_int(literal: str) -> int:
    """An integer literal, refused when longer than MAX_NUMBER_LENGTH characters."""
    if len(literal) > MAX_NUMBER_LENGTH:
        raise UnsafeJsonError(_("A number has more than %(n)s digits.", n=MAX_NUMBER_LENGTH))
    return int(literal)


def _parse_float(literal: str) -> float:
    """A decimal literal, refused when too long or too large for a double (e.g. 1e400)."""
    if len(literal) > MAX_NUMBER_LENGTH:
        raise UnsafeJsonError(_("A number has more than %(n)s digits.", n=MAX_NUMBER_LENGTH))
    value = float(literal)
    if not math.isfinite(value):
        raise UnsafeJsonError(_("A number is too large: %(number)s.", number=literal[:20]))
    return value


def _refuse_constant(name: str) -> Any:
    """NaN, Infinity and -Infinity are not JSON; Python's parser accepts them unless told."""
    raise UnsafeJsonError(_("%(name)s is not a number JSON allows.", name=name))


def _path(parent: str, key: str | int) -> str:
    """The dotted path of a member ("answers.E01.value") or element ("items[2]")."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    shown = key if key.isidentifier() else quote(key)
    return f"{parent}.{shown}" if parent else shown


def load_json(data: bytes) -> tuple[Any, dict[str, list[str]]]:
    """Parse a JSON body within the limits; returns the value and the fields whose text holds
    a control character (path -> messages). Raises UnsafeJsonError for anything else."""
    try:
        value = json.loads(
            data,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_refuse_constant,
        )
    except UnsafeJsonError:
        raise
    except RecursionError:
        raise UnsafeJsonError(
            _("The JSON is nested more than %(n)s levels deep.", n=MAX_JSON_DEPTH)
        ) from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise UnsafeJsonError(_("The body is not valid JSON: %(error)s", error=error)) from None
    bad_text: dict[str, list[str]] = {}
    # iteratively, with an explicit stack: the walk must not recurse either
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise UnsafeJsonError(
                    _("The JSON is nested more than %(n)s levels deep.", n=MAX_JSON_DEPTH)
                )
            members = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in members:
                if isinstance(key, str) and (key_problem := forbidden_character(key)):
                    bad_text.setdefault(_path(path, key), []).append(render(key_problem, _))
                stack.append((child, _path(path, key), depth + 1))
        elif isinstance(node, str) and (text_problem := forbidden_character(node)):
            bad_text.setdefault(path or "body", []).append(render(text_problem, _))
    return value, bad_text


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
        return problem(400, _("Bad request"), str(error))
    if bad_text:
        return problem(
            422,
            _("Invalid input"),
            _("Some text holds control characters; nothing was saved."),
            errors=bad_text,
        )
    return None


def _address_guard() -> None:
    """404 for a path argument, 400 for a query parameter, holding a control character."""
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and forbidden_character(value):
            raise NotFound()
    for name, value in request.args.items(multi=True):
        if forbidden_character(name) or forbidden_character(value):
            raise BadRequest(
                _("The address's parameter %(name)s holds a control character.", name=quote(name))
            )


def register_input_guards(app: Flask) -> None:
    """Run the guards before every request, ahead of the views and their parsers."""
    app.before_request_funcs.setdefault(None, []).insert(0, _json_guard)
    app.before_request_funcs[None].insert(0, _address_guard)
