"""The JSON columns' decoder reads every stored document exactly as the standard library does."""

from __future__ import annotations

import json
import math

import pytest

from app import jsoncodec
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
    # how PostgreSQL's jsonb prints small and long numbers: fractions, not integers
    '{"p": 0.000012345678901234567, "q": 12345678901234567890.5, "r": 1234567890123456789012e-3}',
    '{"a": [9223372036854775807, -18446744073709551616], "b": 0.1234567890123456789012}',
    '{"big": 1234567890123456789012345, "next": 0.5}',
]


@pytest.mark.parametrize(
    ("document", "long_integer"),
    [
        ('{"v": 0.000012345678901234567}', False),
        ('{"v": 12345678901234567890.5}', False),
        ('{"v": 12345678901234567890e2}', False),
        ('{"v": 1234567890123456789}', True),
        ('{"v": [1, -12345678901234567890]}', True),
    ],
)
def test_only_integers_of_19_digits_or_more_take_the_slow_path(
    document: str, long_integer: bool
) -> None:
    from app.jsoncodec import _has_long_integer

    assert _has_long_integer(document) is long_integer
    assert _has_long_integer(document.encode()) is long_integer


@pytest.mark.parametrize("document", DOCUMENTS)
def test_documents_decode_as_the_standard_library_decodes_them(document: str) -> None:
    expected = json.loads(document)
    assert loads(document) == expected
    assert loads(document.encode()) == expected
    assert repr(loads(document)) == repr(expected)  # big integers stay integers, exactly


def test_nan_written_by_an_older_version_still_reads() -> None:
    assert math.isnan(loads('{"value": NaN}')["value"])


def test_many_documents_decode_in_one_call_as_each_decodes_alone() -> None:
    documents = [
        '{"a": 1, "b": [0.125, null]}',
        None,
        "12.5",
        '{"big": 123456789012345678901234}',  # past 64 bits: the standard library's, exact
        "NaN",  # orjson refuses it: the lot is read one at a time
        '{"fa": "۱۲۳۴۵۶۷۸۹۰۱۲۳۴۵۶۷۸۹۰", "small": 0.000012345678901234567}',
        None,
    ]
    expected = [None if d is None else jsoncodec.loads(d) for d in documents]
    for chunk in (documents, documents[:3], documents[5:], [None, None], []):
        decoded = jsoncodec.loads_all(chunk)
        want = [None if d is None else jsoncodec.loads(d) for d in chunk]
        assert len(decoded) == len(chunk)
        assert repr(decoded) == repr(want)  # NaN compares unequal; its repr does not
    assert jsoncodec.loads_all(documents)[3] == {"big": 123456789012345678901234}
    assert expected[5]["fa"].startswith("۱")
