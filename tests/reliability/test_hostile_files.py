"""R14 through the web: hostile survey files uploaded by a facilitator are refused with a
message naming the file, the line and the field, and nothing at all is imported. (The parser's
own tests, in tests/definitions, cover each kind of hostile file in depth.)"""

from __future__ import annotations

from io import BytesIO

import pytest
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from app.definitions.vocabulary import MAX_FILE_BYTES
from app.models import User
from tests.conftest import EXAMPLE_SURVEY
from tests.reliability.world import csrf_of, digest, signed_in

EXAMPLE = EXAMPLE_SURVEY.read_text(encoding="utf-8")


def _line_of(text: str, fragment: str) -> int:
    """The 1-based line where a fragment starts."""
    return text[: text.index(fragment)].count("\n") + 1


def _edited(old: str, new: str) -> str:
    assert old in EXAMPLE
    return EXAMPLE.replace(old, new, 1)


DUPLICATE_ITEM = _edited('key = "E02"', 'key = "E01"')
BAD_KIND = _edited('kind = "trend"', 'kind = "trendy"')
DEEP = _edited('source = "Example written', "deep = " + "[" * 5_000 + '\nsource = "Example written')
BAD_UTF8 = EXAMPLE.encode("utf-8").replace(b'source = "United Nations"', b'source = "Unit\xffed"')

CASES = {
    # name: (file bytes, line named, field named)
    "duplicate item key": (
        DUPLICATE_ITEM.encode(),
        _line_of(DUPLICATE_ITEM, 'key = "E01"\nkind = "event"\ncategory = "demand"'),
        "items",
    ),
    "schema violation": (BAD_KIND.encode(), _line_of(BAD_KIND, 'kind = "trendy"'), "kind"),
    "deep nesting": (DEEP.encode(), _line_of(DEEP, "deep = "), "deep"),
    "invalid UTF-8": (BAD_UTF8, _line_of(EXAMPLE, 'source = "United Nations"'), "source"),
    "huge file": (b"# " + b"x" * MAX_FILE_BYTES + b"\n", None, None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_R14_hostile_files_are_refused_whole_with_file_line_and_field(
    app: Flask, session: Session, facilitator_user: User, case: str
) -> None:
    data, line, field = CASES[case]
    browser = signed_in(app, facilitator_user.email)
    before = digest(session)
    # encoded in memory: the test client would spool a large body to a file it never closes
    boundary, body = encode_multipart(
        {
            "csrf_token": csrf_of(browser, "/f/studies/new"),
            "file": FileStorage(BytesIO(data), "hostile.toml"),
        }
    )
    response = browser.post(
        "/f/studies/new", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 422, response.status_code
    page = response.get_data(as_text=True)
    assert "hostile.toml" in page
    if line is not None:
        assert f"hostile.toml:{line}" in page, f"line {line} not named"
        assert field in page
    else:
        assert "2 MB" in page
    assert digest(session) == before  # nothing imported, not even in part
