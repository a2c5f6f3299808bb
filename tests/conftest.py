"""Fixtures shared by the whole suite: an app with a fresh database per test, on SQLite by
default and on PostgreSQL when DATABASE_URL_TEST is set (make test runs both)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app import create_app
from app.definitions import SurveyDefinition, load_definition
from app.extensions import db, limiter
from app.models import Base, Role, Study, User
from app.services import accounts, studies

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SURVEY = ROOT / "surveys" / "example.toml"
FIRST_STUDY = ROOT / "surveys" / "iran_russia_us.toml"
PASSWORD = "correct horse battery staple"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def postgres_url() -> str | None:
    """The PostgreSQL server to test against, if any (DATABASE_URL_TEST)."""
    return os.environ.get("DATABASE_URL_TEST") or None


def _worker_database(base_url: str, worker: str) -> str:
    """A database of its own for each pytest-xdist worker, created on first use."""
    url = make_url(base_url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"{url.database or 'delphi_test'}_{worker}"
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ValueError(f"unexpected test database name {name!r}")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.scalar(
            text("select 1 from pg_database where datname = :n"), {"n": name}
        )
        if not exists:
            connection.execute(text(f'create database "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[str]:
    """The test database for this worker: PostgreSQL if configured, else a SQLite template."""
    base = postgres_url()
    if base:
        url = _worker_database(base, worker_id)
        engine = create_engine(url)
        Base.metadata.drop_all(engine)
        Base.metadata.create_all(engine)
        engine.dispose()
        yield url
    else:
        yield "sqlite"


def _truncate_postgres(url: str) -> None:
    """Empty every table between tests (much faster than recreating them)."""
    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


class RequestIsolatingClient(FlaskClient):
    """A test client whose requests each get a fresh `g`.

    The fixtures keep one app context pushed (so tests can use the session), and Flask reuses
    a pushed context for requests; without this, values cached in `g` (the expert of the
    request, the CSRF token, the logged-in user) would leak from one request, or one
    client, to the next.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        """Run one request with an empty `g`, then put the test's `g` back."""
        context = _cv_app.get(None)
        saved = dict(vars(context.g)) if context is not None else {}
        if context is not None:
            vars(context.g).clear()
        try:
            return super().open(*args, **kwargs)
        finally:
            if context is not None:
                vars(context.g).clear()
                vars(context.g).update(saved)


@pytest.fixture(autouse=True)
def _rate_limit_prefix_of_this_test() -> None:
    """Forget the rate-limit key prefix an earlier test's app left on the shared limiter.

    Flask-Limiter keeps the first enabled app's RATELIMIT_KEY_PREFIX on its module-level
    limiter; a deployment has one app per process, but the suite builds many.
    """
    limiter._key_prefix = ""


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """A fresh app and database for one test."""
    if database_url == "sqlite":
        uri = f"sqlite:///{tmp_path / 'test.sqlite'}"
    else:
        _truncate_postgres(database_url)
        uri = database_url
    application = create_app(
        {
            "ENV_NAME": "testing",
            "SQLALCHEMY_DATABASE_URI": uri,
            "PUBLIC_BASE_URL": "http://localhost",
            "MAIL_BACKEND": "outbox",
        }
    )
    application.test_client_class = RequestIsolatingClient
    application.instance_path = str(tmp_path / "instance")
    Path(application.instance_path).mkdir(exist_ok=True)
    with application.app_context():
        if database_url == "sqlite":
            db.create_all()
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser-like test client."""
    return app.test_client()


@pytest.fixture
def session(app: Flask) -> Session:
    """The app's database session (services take it; tests commit explicitly)."""
    return db.session


@pytest.fixture
def is_postgres(database_url: str) -> bool:
    """Whether this run is against PostgreSQL."""
    return database_url != "sqlite"


def make_user(
    session: Session, email: str = "fac@example.org", role: Role = Role.FACILITATOR, name: str = ""
) -> User:
    """A committed account with the shared test password."""
    user = accounts.create_user(
        session,
        email=email,
        name=name or email.split("@")[0],
        password=PASSWORD,
        role=role,
        now=NOW,
    )
    session.commit()
    return user


@pytest.fixture(scope="session")
def example_definition() -> SurveyDefinition:
    """The small example survey that uses every feature of the format."""
    return load_definition(EXAMPLE_SURVEY)


@pytest.fixture(scope="session")
def first_study_definition() -> SurveyDefinition:
    """The first real study (Iran-Russia-US)."""
    return load_definition(FIRST_STUDY)


@pytest.fixture
def facilitator_user(session: Session) -> User:
    """A facilitator account."""
    return make_user(session)


@pytest.fixture
def example_study(
    session: Session, example_definition: SurveyDefinition, facilitator_user: User
) -> Study:
    """The example survey imported as a study owned by `facilitator_user`."""
    study = studies.import_study(session, example_definition, actor=facilitator_user, now=NOW)
    session.commit()
    return study


def login(client: FlaskClient, email: str = "fac@example.org", password: str = PASSWORD) -> Any:
    """Log a facilitator in through the real form (CSRF included)."""
    page = client.get("/account/login")
    token = csrf_from(page.get_data(as_text=True))
    return client.post(
        "/account/login", data={"email": email, "password": password, "csrf_token": token}
    )


def csrf_from(html: str) -> str:
    """The CSRF token embedded in a rendered page."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    if not match:
        raise AssertionError("no CSRF token on the page")
    return match.group(1)


def enter_link(client: FlaskClient, token: str) -> Any:
    """Follow a private link the way a browser does: GET the landing, press Continue."""
    page = client.get(f"/t/{token}")
    return client.post(
        "/t", data={"token": token, "csrf_token": csrf_from(page.get_data(as_text=True))}
    )
