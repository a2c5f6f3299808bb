"""JSON read with limits, for every body and file the platform parses.

Python's parser recurses once per nesting level (100,000 brackets raise RecursionError),
refuses integers of more than 4,300 digits with ValueError, accepts NaN and Infinity, and
returns NUL characters and unpaired surrogates that no database stores. `load_json` turns all
of these into one error, `UnsafeJsonError`, with a message fit to show, and reports strings
holding control characters by their path, so that the caller can name the field.
"""

from __future__ import annotations

import json
import math
from typing import Any

from app.definitions.fields import quote
from app.messages import N_, Message
from app.models.text import forbidden_character

#: deepest nesting of arrays and objects a request body may have (the API's bodies need 4)
MAX_JSON_DEPTH = 32
#: longest number literal (digits, sign, point, exponent) JSON may hold here
MAX_NUMBER_LENGTH = 100


class UnsafeJsonError(ValueError):
    """JSON the platform will not read: malformed, too deep, or a number out of range."""

    def __init__(self, message: Message) -> None:
        super().__init__(message)
        self.message = message


def _too_long() -> UnsafeJsonError:
    return UnsafeJsonError(N_("A number has more than %(n)s digits.", n=MAX_NUMBER_LENGTH))


def _parse_int(literal: str) -> int:
    """An integer literal, refused when longer than MAX_NUMBER_LENGTH characters."""
    if len(literal) > MAX_NUMBER_LENGTH:
        raise _too_long()
    return int(literal)


def _parse_float(literal: str) -> float:
    """A decimal literal, refused when too long or too large for a double (e.g. 1e400)."""
    if len(literal) > MAX_NUMBER_LENGTH:
        raise _too_long()
    value = float(literal)
    if not math.isfinite(value):
        raise UnsafeJsonError(N_("A number is too large: %(number)s.", number=literal[:20]))
    return value


def _refuse_constant(name: str) -> Any:
    """NaN, Infinity and -Infinity are not JSON; Python's parser accepts them unless told."""
    raise UnsafeJsonError(N_("%(name)s is not a number JSON allows.", name=name))


def _path(parent: str, key: str | int) -> str:
    """The dotted path of a member ("answers.E01.value") or of an element ("items[2]")."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    shown = key if key.isidentifier() else quote(key)
    return f"{parent}.{shown}" if parent else shown


def load_json(
    data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH
) -> tuple[Any, dict[str, list[Message]]]:
    """Parse JSON within the limits; returns the value and the places whose text holds a
    control character (path -> messages). Raises UnsafeJsonError for anything else."""
    too_deep = N_("The JSON is nested more than %(n)s levels deep.", n=max_depth)
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
        raise UnsafeJsonError(too_deep) from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise UnsafeJsonError(N_("This is not valid JSON: %(error)s", error=str(error))) from None
    bad_text: dict[str, list[Message]] = {}
    # with an explicit stack: the walk must not recurse either
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth >= max_depth:
                raise UnsafeJsonError(too_deep)
            members = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in members:
                if isinstance(key, str) and (key_problem := forbidden_character(key)):
                    bad_text.setdefault(_path(path, key), []).append(key_problem)
                stack.append((child, _path(path, key), depth + 1))
        elif isinstance(node, str) and (text_problem := forbidden_character(node)):
            bad_text.setdefault(path or "body", []).append(text_problem)
    return value, bad_text
