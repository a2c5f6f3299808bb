"""Template helpers: texts in the current language, direction, numbers and dates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from babel.numbers import format_decimal
from flask import Flask, current_app
from flask_babel import format_datetime, get_locale

from app.i18n import text_direction

#: native names of the languages we ship, for the language switch
LANGUAGE_NAMES = {"en": "English", "fa": "فارسی", "ru": "Русский"}


def current_language() -> str:
    """The language code of this request."""
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])


def translated(texts: dict[str, str] | None, fallback: str | None = None) -> str:
    """A translated text (dict language -> text) in the current language, else the fallback's."""
    if not texts:
        return ""
    language = current_language()
    return (
        texts.get(language)
        or (texts.get(fallback) if fallback else None)
        or texts.get("en")
        or next(iter(texts.values()), "")
    )


def number(value: Any, digits: int = 1) -> str:
    """A number in the locale's form (Persian digits in Persian), at most `digits` decimals."""
    if value is None:
        return "–"
    pattern = "#,##0" + ("." + "#" * digits if digits else "")
    return str(
        format_decimal(value, format=pattern, locale=current_language(), numbering_system="default")
    )


def when(value: datetime | None, style: str = "medium") -> str:
    """A timestamp in the locale's form."""
    return "–" if value is None else str(format_datetime(value, style))


def register_template_helpers(app: Flask) -> None:
    """Make the helpers available to every template."""
    app.jinja_env.filters["tr"] = translated
    app.jinja_env.filters["num"] = number
    app.jinja_env.filters["when"] = when
    app.jinja_env.globals["current_language"] = current_language
    app.jinja_env.globals["text_direction"] = lambda: text_direction(current_language())
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
