"""flask-smorest's Api, adapted: errors documented (and sent) as RFC 9457 problem details.

The app's own error handlers (app.errors) and the API blueprint's (app.api.problems) answer
every error; this class only stops flask-smorest from installing its own JSON error format
and makes the OpenAPI document describe ours.
"""

from __future__ import annotations

import http
from typing import Any

from flask import Flask
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from app.api.schemas import ProblemSchema

PROBLEM_CONTENT_TYPE = "application/problem+json"
OPENAPI_VERSION = "3.0.3"
API_VERSION = "1.0.0"

API_DESCRIPTION = """\
The Delphi platform's API. Facilitators run studies (import a survey file, manage the panel,
open and close rounds, read the frozen results); experts answer the open round.

**Authentication.** Facilitators send `Authorization: Bearer dlp_...` with an API key made on
their account page (keys are shown once, stored hashed, revocable, and may be limited to some
studies). Experts send their private link's token in `X-Expert-Token`.

**Idempotency.** `PUT /expert/round/items/{item_key}` accepts an `Idempotency-Key` header
(8-64 characters). Repeating a request with the same key and body returns the stored result
with `Idempotent-Replayed: true`; the same key with a different body is a 409 problem.

**Errors** are `application/problem+json` (RFC 9457): `title`, `status`, `detail`, and where
useful `errors` (field -> messages), `problems` (survey-file problems with file, line and
field) or `payload` (what was not saved, echoed back).
"""

#: security scheme names used in the document
FACILITATOR_SCHEME = "facilitatorKey"
EXPERT_SCHEME = "expertToken"


class ProblemApi(Api):
    """The flask-smorest extension with problem-details errors."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        """Leave error handling to app.errors and the API blueprint (problem details)."""

    def _register_responses(self) -> None:
        """Document the error responses as problem details (application/problem+json)."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        default: dict[str, Any] = {
            "description": "An error, as problem details",
            "schema": self.ERROR_SCHEMA,
        }
        prepare_response(default, self.spec, PROBLEM_CONTENT_TYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, default, lazy=True)

    def add_security_schemes(self) -> None:
        """Describe the two credentials: facilitators' API keys and experts' link tokens."""
        components = self.spec.components
        if FACILITATOR_SCHEME not in components.security_schemes:
            components.security_scheme(
                FACILITATOR_SCHEME,
                {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "dlp_<key>",
                    "description": "A facilitator's API key (account page, 'API keys').",
                },
            )
        if EXPERT_SCHEME not in components.security_schemes:
            components.security_scheme(
                EXPERT_SCHEME,
                {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Expert-Token",
                    "description": "The token of an expert's private link (the part after /t/).",
                },
            )


def configure_openapi(app: Flask) -> None:
    """Settings for the OpenAPI document (each may be overridden in the app's config)."""
    app.config.setdefault("API_TITLE", "Delphi platform API")
    app.config.setdefault("API_VERSION", API_VERSION)
    app.config.setdefault("OPENAPI_VERSION", OPENAPI_VERSION)
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "info": {
                "description": API_DESCRIPTION,
                "license": {"name": "AGPL-3.0-or-later"},
            },
        },
    )
