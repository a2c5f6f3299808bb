"""The ceiling of the capacity benchmark: the least a save can do on this stack.

One Flask route, one INSERT into the same PostgreSQL database, served by the same gunicorn
settings (`gunicorn -c gunicorn.conf.py 'tests.load.ceiling_app:create_app()'`). The platform's
save throughput is reported as a fraction of this app's.
"""

from __future__ import annotations

import os

from flask import Flask, jsonify, request
from sqlalchemy import create_engine, text

_TABLE = """
create table if not exists ceiling_saves (
    id bigserial primary key,
    idempotency_key varchar(80) not null,
    value text,
    created_at timestamptz not null default now()
)
"""


def create_app() -> Flask:
    """The ceiling app on DATABASE_URL (its one table is created on first start)."""
    url = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    with engine.begin() as connection:
        connection.execute(text("select pg_advisory_xact_lock(7411)"))  # workers start at once
        connection.execute(text(_TABLE))
    app = Flask(__name__)

    @app.get("/")
    def ready() -> str:
        """Answer the harness's readiness probe."""
        return "ok"

    @app.post("/save")
    def save() -> object:
        """Store one value under the client's key."""
        with engine.begin() as connection:
            connection.execute(
                text("insert into ceiling_saves (idempotency_key, value) values (:k, :v)"),
                {"k": request.headers.get("Idempotency-Key", ""), "v": request.form.get("value")},
            )
        return jsonify(saved=True)

    return app
