"""The OpenAPI document matches the routes; every error is problem details without a traceback."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.services import studies
from tests.api.conftest import API, ApiWorld, problem_of

PROBLEM = "application/problem+json"


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    """The served OpenAPI document."""
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document: dict[str, Any] = response.get_json()
    return document


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_document_names_the_api_and_both_credentials(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Delphi platform API" and spec["info"]["version"]
    schemes = spec["components"]["securitySchemes"]
    assert schemes["facilitatorKey"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "dlp_<key>",
        "description": schemes["facilitatorKey"]["description"],
    }
    assert schemes["expertToken"]["in"] == "header"
    assert schemes["expertToken"]["name"] == "X-Expert-Token"


def test_document_covers_every_api_route(app: Flask, spec: dict[str, Any]) -> None:
    documented = {(path, method.upper()) for path, method, _operation in _operations(spec)}
    routed = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API) or rule.endpoint == "api-docs.openapi_json":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        routed |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routed == documented


def test_every_operation_is_secured_and_documents_its_errors(spec: dict[str, Any]) -> None:
    for path, method, operation in _operations(spec):
        where = f"{method.upper()} {path}"
        assert operation.get("summary"), where
        assert operation["security"] in (
            [{"facilitatorKey": []}],
            [{"expertToken": []}],
        ), where
        responses = operation["responses"]
        assert {"401", "429", "default"} <= set(responses), where
        assert any(code.startswith("2") for code in responses), where
        if path.startswith(f"{API}/studies/{{study_id}}"):
            assert "404" in responses, where
        if "requestBody" in operation or any(
            p["in"] in {"query", "header"} for p in operation.get("parameters", [])
        ):
            assert "422" in responses, where


def test_error_responses_are_documented_as_problem_details(spec: dict[str, Any]) -> None:
    for name, response in spec["components"]["responses"].items():
        content = response.get("content", {})
        if content:
            assert list(content) == [PROBLEM], name
            assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"title", "status", "detail"}


def test_response_schemas_forbid_undeclared_fields(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    open_ones = {name for name, s in schemas.items() if s.get("additionalProperties") is not False}
    assert open_ones == {"Problem"}


def test_unknown_path_and_wrong_method_are_problems(client: FlaskClient, world: ApiWorld) -> None:
    problem_of(client.get(f"{API}/nothing-here", headers=world.headers), 404)
    problem_of(client.delete(f"{API}/studies", headers=world.headers), 405)


def test_malformed_json_is_a_problem_listing_the_body(client: FlaskClient, world: ApiWorld) -> None:
    response = client.post(
        world.url("/panel"),
        data="{not json",
        headers={**world.headers, "Content-Type": "application/json"},
    )
    body = problem_of(response, 400 if response.status_code == 400 else 422)
    assert "Traceback" not in str(body)


def test_too_large_a_body_is_a_problem(app: Flask, client: FlaskClient, world: ApiWorld) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = client.post(f"{API}/studies", data=b"x" * 4096, headers=world.headers)
    problem_of(response, 413)


def test_unexpected_failures_are_problems_without_internals(
    client: FlaskClient, world: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internal detail /srv/app.py line 42")

    monkeypatch.setattr(studies, "studies_for", broken)
    response = client.get(f"{API}/studies", headers=world.headers)
    body = problem_of(response, 500)
    assert "secret internal detail" not in response.get_data(as_text=True)
    assert body["title"] == "Internal server error"
