"""Language selection, text direction, the languages' own digits, and translated service messages."""

from __future__ import annotations

import functools
import re
from typing import Any

from babel import Locale
from babel.numbers import get_decimal_symbol, get_group_symbol
from flask import current_app, g, request, session
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from app.messages import Message

#: languages written right to left
RTL_LANGUAGES = frozenset({"fa", "ar", "he", "ur"})

#: digits of the numbering systems our languages use by default (CLDR names)
NATIVE_DIGITS = {"arabext": "۰۱۲۳۴۵۶۷۸۹", "arab": "٠١٢٣٤٥٦٧٨٩"}

#: message parameters that echo what the expert typed: shown exactly as typed
VERBATIM_PARAMETERS = frozenset({"typed"})


def select_locale() -> str:
    """The request's language: the expert's chosen one, the facilitator account's, one picked
    on this device, else the browser's."""
    languages: tuple[str, ...] = tuple(current_app.config["LANGUAGES"])
    participation = g.get("participation")
    try:
        chosen_by_expert = participation.language if participation is not None else None
    except SQLAlchemyError:
        # reading it may need the database (after a rollback), and the error page that says
        # the database is down must still render: fall back to the session's or browser's
        chosen_by_expert = None
    if chosen_by_expert in languages:
        return str(chosen_by_expert)
    chosen_by_account = _account_language()
    if chosen_by_account in languages:
        return str(chosen_by_account)
    # a language picked on this device wins; else the one a private link carries (?lang=fa,
    # the panel language): the landing page speaks it before the expert has signed in
    chosen = session.get("language")
    if chosen in languages:
        return str(chosen)
    from_link = request.args.get("lang")
    if from_link in languages:
        return str(from_link)
    return request.accept_languages.best_match(languages) or languages[0]


def _account_language() -> str | None:
    """The language a logged-in facilitator chose for their pages, if any."""
    # only where a facilitator is logged in: expert pages never load an account for it
    if "_user_id" not in session:
        return None
    try:
        login = current_user
        if not login.is_authenticated:
            return None
        account = getattr(login, "user", None)
        return getattr(account, "language", None)
    except SQLAlchemyError:
        # as for the expert's language: the page that says the database is down still renders
        return None


def text_direction(language: str) -> str:
    """'rtl' for right-to-left languages, else 'ltr'."""
    return "rtl" if language.split("_")[0] in RTL_LANGUAGES else "ltr"


def request_language() -> str:
    """The language code of this request (the app's default outside a request)."""
    # Pages ask this for every translated text (thousands of times on a round page), and
    # get_locale's context lookups were a fifth of the page's time: read the locale
    # Flask-Babel keeps for the context (force_locale sets the same attribute) and only
    # fall back to get_locale when it is not chosen yet.
    state = g.get("_flask_babel") if g else None
    locale = getattr(state, "babel_locale", None)
    if locale is not None:
        # the code is kept next to the locale it names (a page asks some 300 times; comparing
        # babel Locales in the lru_cache's lookup was most of the cost)
        known = getattr(state, "delphi_language", None)
        if known is not None and known[0] is locale:
            return str(known[1])
        code = _locale_code(locale)
        state.delphi_language = (locale, code)  # type: ignore[union-attr]
        return code
    locale = get_locale()
    if locale is None:
        return str(current_app.config["BABEL_DEFAULT_LOCALE"])
    return _locale_code(locale)


@functools.lru_cache(maxsize=32)
def _locale_code(locale: Locale) -> str:
    """A locale's identifier ("fa", "pt_BR"), computed once per locale."""
    return str(locale)


@functools.lru_cache(maxsize=64)
def _digit_table(language: str) -> dict[int, int] | None:
    """A str.translate table from ASCII digits to the language's own digits, if it has others."""
    try:
        system = Locale.parse(language).default_numbering_system
    except (ValueError, TypeError, AttributeError):
        return None
    digits = NATIVE_DIGITS.get(str(system))
    return str.maketrans("0123456789", digits) if digits else None


#: a point or comma between two native digits: a decimal or grouping separator to localise
_NATIVE_SEPARATOR = re.compile(r"(?<=[۰-۹٠-٩])([.,])(?=[۰-۹٠-٩])")


@functools.lru_cache(maxsize=64)
def _separators(language: str) -> dict[str, str]:
    """The language's decimal and grouping signs, for '.' and ','."""
    return {
        ".": get_decimal_symbol(language, numbering_system="default"),
        ",": get_group_symbol(language, numbering_system="default"),
    }


def localise_digits(text: Any, language: str | None = None) -> str:
    """`text` with ASCII digits written in the language's own digits (Persian: ۰۱۲...), and
    the point and comma between them as the language writes them (۲٫۵, ۱۰٬۰۰۰)."""
    language = language or request_language()
    table = _digit_table(language)
    if not table:
        return str(text)
    signs = _separators(language)
    return _NATIVE_SEPARATOR.sub(lambda m: signs[m.group(1)], str(text).translate(table))


def render_message(message: object) -> str:
    """A service's message in the request's language, numbers in the language's digits.

    What the expert typed (the `typed` parameter) is shown back unchanged; a parameter that is
    itself a message (a translatable word) is translated too."""
    if not isinstance(message, Message):
        return str(message)
    params = {
        key: value
        if key in VERBATIM_PARAMETERS
        else render_message(value)
        if isinstance(value, Message)
        else localise_digits(value)
        for key, value in message.params.items()
    }
    template = str(_(message.template))
    try:
        # always format, so that "%%" becomes "%" also in messages without parameters
        return template % params
    except (KeyError, TypeError, ValueError):
        return template
