"""Translatable messages for code that must not import Flask (services).

Templates are always %-format strings (a literal percent sign is written `%%`), whether or
not they take values, so that extraction, translation and formatting treat them alike.

A service raises `ValueError(N_("Between %(low)s and %(high)s.", low=0, high=100))`; the web
layer translates the template with gettext and fills in the values, in the expert's language.
`str()` gives the English text (logs, the command line, tests).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Message:
    """A message template (the gettext msgid) and its values."""

    template: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        """The English text."""
        return self.template % dict(self.params)

    def translate(self, gettext: Callable[[str], str]) -> str:
        """The text in another language, given that language's gettext (a parameter that is
        itself a message is translated too)."""
        params = {
            key: value.translate(gettext) if isinstance(value, Message) else value
            for key, value in self.params.items()
        }
        return gettext(self.template) % params


def N_(template: str, **params: Any) -> Message:  # noqa: N802 - the conventional gettext marker name
    """Mark a message for translation (extracted by pybabel with the keyword N_)."""
    return Message(template, params)


def render(message: object, gettext: Callable[[str], str]) -> str:
    """A Message translated, anything else as its string."""
    return message.translate(gettext) if isinstance(message, Message) else str(message)


def render_error(error: Exception, gettext: Callable[[str], str]) -> str:
    """An exception's message, translated when it was raised with a Message."""
    if len(error.args) == 1:
        return render(error.args[0], gettext)
    return str(error)
