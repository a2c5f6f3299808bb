"""How the database's JSON columns are decoded.

orjson decodes the small documents an answer holds about six times faster than the standard
library, and a large export or snapshot decodes one per answer (1.4 million for a panel of
5,000). The standard library still reads what orjson refuses (NaN written by an older version
into a SQLite file), so no stored document becomes unreadable, and what orjson would read
differently: it turns integers past 64 bits into floats without a word, so a document with an
integer of 19 or more digits goes to the standard library, which keeps them exact (numbers
with a fraction or an exponent are floats either way, and both read them alike).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import orjson

#: a run of 19 or more digits (whole: the search takes the longest run from its first digit),
#: which may be an integer past 64 bits (the largest take 19 or 20 digits); ASCII digits only,
#: the only ones a JSON number has (and half the time of "any digit" on text in Persian)
_LONG_RUN = re.compile(r"[0-9]{19,}")
_LONG_RUN_BYTES = re.compile(rb"[0-9]{19,}")
#: what follows the digits of a number that is not an integer
_AFTER_A_FRACTION = (".", "e", "E", b".", b"e", b"E")


def _has_long_integer(document: str | bytes) -> bool:
    """Whether the document holds a run of 19 or more digits that is an integer: not the
    fraction of a number (PostgreSQL prints small numbers as 0.000012345678901234567) nor
    followed by one or an exponent. A run inside a string counts too: that document simply
    takes the standard library's slower path."""
    pattern = _LONG_RUN if isinstance(document, str) else _LONG_RUN_BYTES
    found = pattern.search(document)  # type: ignore[arg-type]  # str with str, bytes with bytes
    while found is not None:
        start, end = found.span()
        before, after = document[start - 1 : start], document[end : end + 1]
        if before not in (".", b".") and after not in _AFTER_A_FRACTION:
            return True
        found = pattern.search(document, end)  # type: ignore[arg-type]
    return False


def loads(document: str | bytes) -> Any:
    """A JSON column's value as Python data."""
    if _has_long_integer(document):
        return json.loads(document)
    try:
        return orjson.loads(document)
    except orjson.JSONDecodeError:
        return json.loads(document)


def loads_all(documents: Sequence[str | None], *, exact_integers: bool = True) -> list[Any]:
    """Many JSON columns' values (None where a row has none), decoded as `loads` decodes each:
    in one call when orjson reads the lot alike (per document, the call cost more than the
    decoding), else one at a time. `exact_integers` False skips the look for integers past 64
    bits (orjson makes them floats): for a reader that makes every number a float anyway."""
    present = [document for document in documents if document is not None]
    if not present:
        return [None] * len(documents)
    joined = "[" + ",".join(present) + "]"
    decoded: list[Any] | None = None
    if not exact_integers or not _has_long_integer(joined):
        try:
            decoded = orjson.loads(joined)
        except orjson.JSONDecodeError:
            decoded = None
    if decoded is None or len(decoded) != len(present):
        decoded = [loads(document) for document in present]
    found = iter(decoded)
    return [None if document is None else next(found) for document in documents]
