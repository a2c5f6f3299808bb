"""Numbers in a language's own form: its digits, separators, signs and percent sign.

Used by the pages' filters (app.templating) and by the consensus report, so that a Persian
page or PDF never mixes Latin digits or a Latin percent sign into Persian text."""

from __future__ import annotations

import functools
import math

from babel import Locale
from babel.numbers import format_decimal, get_minus_sign_symbol, get_plus_sign_symbol

from app.i18n import localise_digits, text_direction

#: an invisible right-to-left mark that makes the digits after it read as in Arabic-script text
ARABIC_LETTER_MARK = "\u061c"

#: what is printed for a missing or non-finite number
MISSING = "–"


@functools.lru_cache(maxsize=16384)
def decimal(value: float, digits: int, language: str, signed: bool = False) -> str:
    """`value` with at most `digits` decimals in the language's digits and separators.

    `signed` writes a plus sign before positive numbers (bipolar scales: +2)."""
    if not math.isfinite(value):
        return MISSING
    pattern = "#,##0" + ("." + "#" * digits if digits else "")
    if value == 0:
        value = 0.0  # never "-0"
    text = format_decimal(abs(value), format=pattern, locale=language, numbering_system="default")
    text = localise_digits(text, language)
    rounded_zero = text.strip("0۰٠.,٫٬ \xa0\u202f") == ""
    if value < 0 and not rounded_zero:
        text = get_minus_sign_symbol(language, numbering_system="default") + text
    elif signed and value > 0 and not rounded_zero:
        text = get_plus_sign_symbol(language, numbering_system="default") + text
    return text


@functools.lru_cache(maxsize=32)
def percent_affixes(language: str) -> tuple[str, str]:
    """What goes before and after a number to make it a percentage in this language."""
    locale = Locale.parse(language)
    symbols = locale.number_symbols
    system = str(locale.default_numbering_system)
    sign = str(symbols.get(system, symbols.get("latn", {})).get("percentSign", "%"))
    pattern = locale.percent_formats[None].pattern
    after = ("\xa0" if "\xa0%" in pattern or " %" in pattern else "") + sign
    # as in running Persian text, the percent sign stands to the left of the number ("٪۴۰"),
    # also where the number stands alone (chart labels, table cells)
    before = ARABIC_LETTER_MARK if text_direction(language) == "rtl" else ""
    return before, after


def percent(value: float, digits: int, language: str) -> str:
    """A number already in percent (40.0) as the language writes a percentage."""
    if not math.isfinite(value):
        return MISSING
    if 0 < abs(value) < 0.5 * 10 ** (-digits):
        # a tiny share keeps two significant digits rather than reading as 0
        digits = 1 - math.floor(math.log10(abs(value)))
    before, after = percent_affixes(language)
    return before + decimal(value, digits, language) + after
