"""The site's icon: served where browsers look for it, and linked from every page."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

# pages and texts, the same on any database: the PostgreSQL pass skips them
pytestmark = pytest.mark.once


def test_favicon_is_served_at_the_root(client: FlaskClient) -> None:
    with client.get("/favicon.ico") as response:  # a file response: closed after reading
        assert response.status_code == 200
        assert response.mimetype == "image/vnd.microsoft.icon"
        assert response.data[:4] == b"\x00\x00\x01\x00"  # an ICO file's header


def test_pages_link_the_icon(client: FlaskClient) -> None:
    page = client.get("/account/login").get_data(as_text=True)
    assert 'rel="icon" href="/favicon.ico"' in page
    assert 'rel="icon" href="/static/favicon.svg" type="image/svg+xml"' in page
    with client.get("/static/favicon.svg") as svg:
        assert svg.status_code == 200 and b"<svg" in svg.data
