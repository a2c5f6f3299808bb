"""Database plumbing the services need not know about: SQLite settings, write locks, retries.

SQLite runs in WAL mode with synchronous=FULL (an acknowledged commit survives a power cut)
and a busy timeout. Requests that write begin with BEGIN IMMEDIATE, so a read-then-write
transaction takes the write lock up front instead of failing half-way with "database is
locked". On PostgreSQL, deadlocks and serialization failures are retried.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

from flask import Flask, current_app, request
from sqlalchemy import Engine, event, inspect
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, scoped_session
from werkzeug.routing import IntegerConverter, Map

from app.extensions import db
from app.models import ValidationError
from app.models.text import text_problem

P = ParamSpec("P")
R = TypeVar("R")

#: PostgreSQL error codes worth retrying: serialization failure, deadlock detected, and a
#: unique violation, which under READ COMMITTED means a check-then-insert race lost to a
#: concurrent request (two identical saves at once): run again, the view sees the winner's row
#: (a replay, or its own clear validation message) instead of failing with a 500
_RETRYABLE_SQLSTATES = {"40001", "40P01", "23505"}
_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


#: the largest value an `integer` column holds on PostgreSQL (ids, round numbers)
MAX_DATABASE_INTEGER = 2**31 - 1


class DatabaseIntegerConverter(IntegerConverter):
    """`<int:...>` in every route: numbers a database integer can hold, else no match (404).

    Without the bound, /f/studies/2147483648 reaches PostgreSQL and fails with a 500.
    """

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_DATABASE_INTEGER)
        super().__init__(url_map, *args, **kwargs)


def configure_database(app: Flask) -> None:
    """Attach SQLite settings to the app's engine, start write requests with a write lock, and
    refuse to flush text no database should hold."""
    app.url_map.converters["int"] = DatabaseIntegerConverter
    if not event.contains(db.session, "before_flush", refuse_forbidden_text):
        event.listen(db.session, "before_flush", refuse_forbidden_text)
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "postgresql" and not app.config.get("POSTGRES_JIT", False):
        _turn_off_jit(engine)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])

        @app.before_request
        def _lock_for_writes() -> None:
            if request.method in _WRITE_METHODS:
                begin_write(engine)


def refuse_forbidden_text(session: Session, _context: Any, _instances: Any) -> None:
    """Before a flush, raise ValidationError if a new or changed value holds a control character.

    The last line of defence: forms, the API and imports check their fields and name them
    better; this catches whatever a future path forgets, as a clear 422 instead of a
    PostgreSQL error (NUL) or text that hides what it says.
    """
    errors: dict[str, list[Any]] = {}
    for instance in (*session.new, *session.dirty):
        state = inspect(instance)
        for attribute in state.mapper.column_attrs:
            key = attribute.key
            if key not in state.dict:
                continue  # not loaded (deferred), so not changed either
            if not state.pending and not state.attrs[key].history.has_changes():
                continue
            if problem := text_problem(state.dict[key]):
                errors[f"{state.mapper.local_table.name}.{key}"] = [problem]
    if errors:
        raise ValidationError("Nothing was saved: some text holds a control character.", errors)


def _turn_off_jit(engine: Engine) -> None:
    """PostgreSQL's JIT compiler off on every connection of the app.

    The planner compiles a query once its estimated cost passes `jit_above_cost`, and the
    dashboard's funnel (a few aggregates over a panel's members, each with per-member checks)
    passes it at a few thousand experts: compiling took 22 ms of a 40 ms query, every request.
    The app's queries are short or stream rows, where compiling does not pay off.
    """
    if event.contains(engine, "connect", _jit_off_on_connect):
        return
    event.listen(engine, "connect", _jit_off_on_connect)


def _jit_off_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Set `jit = off` for the connection's session (committed, so a rollback keeps it)."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET jit = off")
    dbapi_connection.commit()


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, synchronous=FULL, foreign keys, busy timeout; BEGIN emitted by us (IMMEDIATE on demand)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not open transactions on its own, or BEGIN IMMEDIATE is impossible.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def begin_write(engine: Engine | None = None) -> None:
    """Start the session's transaction with the write lock (SQLite); a no-op elsewhere."""
    engine = engine or db.engine
    # db.session is a scoped_session; calling it gives the request's Session
    request_session = cast("scoped_session[Session]", db.session)()
    if engine.dialect.name == "sqlite" and not request_session.in_transaction():
        db.session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})


def is_retryable(error: DBAPIError) -> bool:
    """Whether a failed transaction may succeed if simply run again."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in _RETRYABLE_SQLSTATES:
        return True
    return isinstance(error, OperationalError) and "database is locked" in str(error.orig)


def atomic(view: Callable[P, R]) -> Callable[P, R]:
    """Run a view as one transaction: commit when it returns, roll back and retry when the
    database reports a deadlock, a serialization failure or a lock timeout."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        retries = current_app.config["DB_RETRIES"]
        for attempt in range(retries + 1):
            try:
                result = view(*args, **kwargs)
                db.session.commit()
                return result
            except DBAPIError as error:
                db.session.rollback()
                if attempt == retries or not is_retryable(error):
                    raise
                time.sleep(0.05 * 2**attempt)
                if request.method in _WRITE_METHODS:
                    begin_write()
            except BaseException:
                db.session.rollback()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper
