"""Property-based API testing against the OpenAPI document (schemathesis, in-process WSGI).

The document must be valid OpenAPI 3.0 (checked when it is loaded). Every operation gets
generated requests (a bounded, deterministic number) carrying a real
facilitator key and a real expert token; half of them aim at real objects (study 1, round 1
and 2, members, item keys) so that they get past "not found". Pass: no server errors, every
status, content type, header and body as documented, and no operation ignores its credentials.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.serializers import SerializerContext
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Round
from app.services import rounds as round_service
from tests.api.conftest import API, ApiWorld, answer_directly, open_first_round
from tests.conftest import NOW

CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
)
#: ids of objects that exist in the fixture's database (fresh identities per test)
REAL_PATH_VALUES: dict[str, list[Any]] = {
    "study_id": [1],
    "number": [1, 2],
    "member_id": [1, 2, 3, 4, 5],
    "item_key": ["E01", "E02", "T01", "C01"],
}


@schemathesis.serializer("application/toml", aliases=("text/csv",))
class TextBody:
    """Survey files and CSV travel as plain text bodies."""

    def as_requests(self, context: SerializerContext, value: Any) -> dict[str, Any]:
        """Encode the generated value as the body."""
        return {"data": str(value).encode("utf-8")}

    def as_werkzeug(self, context: SerializerContext, value: Any) -> dict[str, Any]:
        """Encode the generated value as the body."""
        return {"data": str(value).encode("utf-8")}


@pytest.fixture
def api_schema(app: Flask, session: Session, world: ApiWorld) -> Any:
    """The served OpenAPI document, on a study with a closed round 1 and an open round 2."""
    assert world.study.id == 1
    open_first_round(session, world.study, world.user)
    first = session.scalar(select(Round).where(Round.number == 1))
    assert first is not None
    answer_directly(session, first, world.experts, 1)
    round_service.close_round(session, first, actor=world.user, now=NOW)
    second = round_service.create_round(session, world.study, actor=world.user, now=NOW)
    round_service.open_round(session, second, actor=world.user, now=NOW)
    session.commit()
    return schemathesis.from_wsgi(f"{API}/openapi.json", app, validate_schema=True)


schema = schemathesis.from_pytest_fixture("api_schema")


@schema.hook
def before_generate_path_parameters(context: Any, strategy: st.SearchStrategy) -> Any:
    """Half the cases use ids of real objects, the others whatever the schema allows."""

    def realistic(parameters: dict[str, Any] | None) -> st.SearchStrategy:
        if not parameters:
            return st.just(parameters)
        choices = {
            name: st.sampled_from(REAL_PATH_VALUES[name])
            if name in REAL_PATH_VALUES
            else st.just(v)
            for name, v in parameters.items()
        }
        return st.fixed_dictionaries(choices)

    return st.one_of(strategy, strategy.flatmap(realistic))


@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_openapi_document(case: Any, world: ApiWorld) -> None:
    # the last expert answers; members 1-5 may be withdrawn or re-linked by generated requests
    headers = {**world.headers, **world.experts[5].headers}
    case.call_and_validate(headers=headers, checks=CHECKS)
