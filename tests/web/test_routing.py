"""Ids in addresses beyond what a database integer holds find no route (404), never a 500."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.conftest import login


def test_huge_ids_are_not_found(client: FlaskClient, facilitator_user) -> None:
    login(client)
    for path in (
        "/f/studies/2147483648",
        "/f/studies/99999999999999999999/panel",
        "/e/feedback/2147483648",
    ):
        assert client.get(path).status_code in (302, 404), path
    assert client.get("/f/studies/2147483647").status_code == 404


def test_method_not_allowed_says_which_methods_are(client: FlaskClient) -> None:
    response = client.delete("/account/login")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
