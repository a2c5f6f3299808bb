"""Language selection and text direction."""

from __future__ import annotations

from flask import current_app, g, request, session

#: languages written right to left
RTL_LANGUAGES = frozenset({"fa", "ar", "he", "ur"})


def select_locale() -> str:
    """The request's language: the expert's chosen one, a picked one, else the browser's."""
    languages: tuple[str, ...] = tuple(current_app.config["LANGUAGES"])
    participation = g.get("participation")
    if participation is not None and participation.language in languages:
        return str(participation.language)
    chosen = session.get("language")
    if chosen in languages:
        return str(chosen)
    return request.accept_languages.best_match(languages) or languages[0]


def text_direction(language: str) -> str:
    """'rtl' for right-to-left languages, else 'ltr'."""
    return "rtl" if language.split("_")[0] in RTL_LANGUAGES else "ltr"
