"""Fixtures of the reliability tests: one study world with every kind of principal, and a
fresh `g` for every request (as in production, where each request has its own app context)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask, g
from sqlalchemy.orm import Session

from app.models import Study, User
from tests.reliability.world import SecurityWorld, build_world


@pytest.fixture(autouse=True)
def _fresh_g_per_request(request: pytest.FixtureRequest) -> None:
    """Empty `g` when a request starts.

    The test app context outlives requests, so without this `g` would carry one request's
    cached CSRF token, expert or login into the next, from another client.
    """
    if "app" not in request.fixturenames:
        return
    app: Flask = request.getfixturevalue("app")

    def _clear() -> None:
        for name in list(vars(g)):
            delattr(g, name)

    app.before_request_funcs.setdefault(None, []).insert(0, _clear)


@pytest.fixture
def world(session: Session, example_study: Study, facilitator_user: User) -> SecurityWorld:
    """The example study with a panel, an open round, a suggestion, an admin and an API key."""
    return build_world(session, example_study, facilitator_user)


@pytest.fixture
def fresh_g() -> Callable[[], None]:
    """Forget what `g` cached (for code that runs outside a request between requests)."""

    def clear() -> None:
        for name in list(vars(g)):
            delattr(g, name)

    return clear
