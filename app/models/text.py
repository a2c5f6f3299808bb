"""What text the platform stores: no control characters and nothing UTF-8 cannot encode.

PostgreSQL refuses NUL in text and JSON (a 500 if it ever got there), and other control
characters only hide or garble what a text shows. Every entry point checks text with this one
rule: the forms, the API's JSON bodies, CSV imports and, as the last line, every flush.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from app.messages import N_, Message

#: C0 controls but tab, line feed and carriage return (browsers send line breaks as CR LF),
#: DEL, C1 controls, and unpaired surrogates (a JSON escape can make them; UTF-8 cannot)
FORBIDDEN_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def forbidden_character(text: str) -> Message | None:
    """Why a text cannot be stored (naming its first forbidden character), or None if it can."""
    found = FORBIDDEN_CHARACTERS.search(text)
    if found is None:
        return None
    return N_(
        "Contains the control character U+%(code)s (at position %(position)s); "
        "remove it and try again.",
        code=f"{ord(found.group()):04X}",
        position=found.start() + 1,
    )


#: what a forbidden character becomes in orjson's output: an escaped C0 control (line breaks
#: and tab have their own escapes; an escaped backslash before "b" or "u00" only makes the
#: walk below look), or DEL and C1 controls as themselves
_ESCAPED_FORBIDDEN = re.compile(rb"\\u00[01]|\\[bf]|\x7f|\xc2[\x80-\x9f]")


def text_problem(value: Any) -> Message | None:
    """The first forbidden character's message in a string or anywhere inside JSON, else None
    (the check of every flush, and of the writes that bypass the ORM)."""
    if isinstance(value, dict | list) and _clean_json(value):
        return None
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if problem := forbidden_character(node):
                return problem
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return None


def _clean_json(value: dict[Any, Any] | list[Any]) -> bool:
    """True when a JSON document surely holds no forbidden character: checked on its encoding
    in one pass (a round's snapshot is a large document whose walk cost a second). orjson
    refuses unpaired surrogates and keys that are not text, so those documents are walked."""
    try:
        encoded = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return False
    return _ESCAPED_FORBIDDEN.search(encoded) is None
