"""The stored-text rule on JSON documents: the one-pass check of a document's encoding leaves
no forbidden character to be missed, wherever it sits, and passes what is allowed (escapes
that only look like control characters, line breaks, Persian and Russian text)."""

from __future__ import annotations

import pytest

from app.models.text import FORBIDDEN_CHARACTERS, text_problem

#: every character the rule forbids in the Basic Multilingual Plane
FORBIDDEN = [chr(c) for c in range(0x10000) if FORBIDDEN_CHARACTERS.search(chr(c))]


def test_every_forbidden_character_is_found_in_values_keys_and_nested_lists() -> None:
    for character in FORBIDDEN:
        for document in (
            {"reason": f"before{character}after"},
            {f"key{character}": 1.5},
            {"items": [{"parts": [None, True, 2, f"{character}"]}]},
        ):
            problem = text_problem(document)
            assert problem is not None, (hex(ord(character)), document)
            assert f"U+{ord(character):04X}" in str(problem)


@pytest.mark.parametrize(
    "document",
    [
        {"text": "line\nbreak\r\n\ttab", "fa": "سلام دنیا", "ru": "Привет, мир"},
        {"escaped": "a backslash then b: \\b, then u00: \\u0001"},
        {"numbers": [1.5, -0.0, 10**20, None, True], "nested": {"deep": [[["ok"]]]}},
        {1: "a key that is not text"},
        ["a list", {"of": "documents"}, "\u00a0no-break space is allowed"],
    ],
)
def test_clean_documents_pass(document: object) -> None:
    assert text_problem(document) is None
