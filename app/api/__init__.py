"""The JSON API under /api/v1, described by an OpenAPI 3 document generated from the code.

Facilitators send `Authorization: Bearer dlp_...` (an API key from their account page);
experts send their private link's token in `X-Expert-Token`. Errors are RFC 9457 problem
details. Resources live in `routes_*.py`, request and response bodies in `schemas.py`, the
credentials in `auth.py`; see README.md in this folder.
"""

from __future__ import annotations

from flask import Flask
from flask_smorest import Blueprint
from flask_smorest.spec.plugins import integerconverter2paramschema
from werkzeug.routing import IntegerConverter, Map

API_PREFIX = "/api/v1"
#: largest id a database integer column holds (PostgreSQL `integer`)
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """`<id:name>`: a positive database id; larger numbers match no route (404, not 500)."""

    def __init__(self, url_map: Map, *args: object, **kwargs: object) -> None:
        super().__init__(url_map, min=1, max=MAX_ID)


#: every API resource hangs on this blueprint; `register_api` binds it to an app
bp = Blueprint("api", __name__, url_prefix=API_PREFIX, description="Delphi platform API")


def register_api(app: Flask) -> None:
    """Serve the API and its OpenAPI document; exempt it from CSRF (no cookies are used)."""
    # importing these modules attaches the routes, error handlers and rate limits to bp
    from app.api import (  # noqa: F401
        auth,
        problems,
        routes_calibration,
        routes_expert,
        routes_exports,
        routes_panel,
        routes_reports,
        routes_results,
        routes_rounds,
        routes_studies,
    )
    from app.api.openapi import configure_openapi
    from app.extensions import api, csrf

    configure_openapi(app)
    app.url_map.converters["id"] = IdConverter
    api.init_app(app)
    api.register_converter(IdConverter, integerconverter2paramschema)
    api.register_blueprint(bp)
    api.add_security_schemes()
    csrf.exempt(bp)
