"""The JSON columns' decoder reads every stored document exactly as the standard library does."""

from __future__ import annotations

import json
import math

import pytest

from app.jsoncodec import loads

pytestmark = pytest.mark.once

DOCUMENTS = [
    '{"value": 40, "text": "because"}',
    '{"value": 18446744073709551615}',  # the largest unsigned 64-bit integer
    '{"value": 18446744073709551616}',  # one past it
    '{"value": 123456789012345678901234567890}',
    '{"value": -9223372036854775809}',
    "[1e-05, 3e15, 1e22, 0.1, 2.5]",
    '{"text": "a phone number 0098912345678901234 in a reason"}',
    '{"text": "\\u06f1\\u06f2\\u06f3"}',
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_documents_decode_as_the_standard_library_decodes_them(document: str) -> None:
    expected = json.loads(document)
    assert loads(document) == expected
    assert loads(document.encode()) == expected
    assert repr(loads(document)) == repr(expected)  # big integers stay integers, exactly


def test_nan_written_by_an_older_version_still_reads() -> None:
    assert math.isnan(loads('{"value": NaN}')["value"])
