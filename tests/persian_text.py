"""Finding Latin digits and Latin percent signs inside Persian text (shared by the tests)."""

from __future__ import annotations

import html
import re

#: Arabic-script letters (Persian words)
_PERSIAN = re.compile(r"[\u0600-\u06ff]")
#: a word that is only a number written in Latin digits (with its punctuation)
_LATIN_NUMBER = re.compile(r"^[(\[«]*[0-9][0-9.,٫٬–/]*%?[)\]»،؛:.,]*$")
#: signs of a formula, whose numbers stay Latin as in any Persian statistics text
_MATH = set("=+−<>·×≤≥∝/^")


def visible_text(page: str) -> str:
    """The text a reader sees: no styles, scripts, charts, code or left-to-right snippets."""
    page = re.sub(r"(?is)<(style|script|svg|code|title|textarea)\b.*?</\1>", " ", page)
    page = re.sub(r'(?is)<([a-z0-9]+)\b[^>]*\bdir="ltr"[^>]*>.*?</\1>', " ", page)
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    return html.unescape(page)


def latin_in_persian(text: str) -> list[str]:
    """Each place where a number in Latin digits, or a Latin %, stands in Persian text."""
    found = []
    for line in text.split("\n"):
        words = line.split()
        for i, word in enumerate(words):
            before = words[i - 1] if i else ""
            after = words[i + 1] if i + 1 < len(words) else ""
            in_persian = bool(_PERSIAN.search(before) or _PERSIAN.search(after))
            in_formula = bool(set(before + after) & _MATH)
            if ("%" in word and (re.search("[۰-۹]", word) or in_persian)) or (
                _LATIN_NUMBER.match(word) and in_persian and not in_formula
            ):
                found.append(" ".join(words[max(0, i - 3) : i + 4]))
    return found
