"""Every row of every table, read and put back: for tests that restore a whole database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.models import Base

#: table name -> its rows as column -> value
Rows = dict[str, list[dict[str, Any]]]


def table_rows(session: Session) -> Rows:
    """Every row of every table, as committed (what is pending in the session is dropped)."""
    session.rollback()  # a fresh snapshot: see what the requests committed
    found = {
        table.name: [dict(row._mapping) for row in session.execute(select(table))]
        for table in Base.metadata.sorted_tables
    }
    session.rollback()
    return found


def restore_rows(session: Session, saved: Rows) -> None:
    """Put every table back to the saved rows (and PostgreSQL's id sequences after them)."""
    session.rollback()
    tables = Base.metadata.sorted_tables
    for table in reversed(tables):
        session.execute(table.delete())
    for table in tables:
        if saved[table.name]:
            session.execute(table.insert(), saved[table.name])
    if session.get_bind().dialect.name == "postgresql":
        for table in tables:
            if "id" in table.c and table.c.id.autoincrement is not False and table.c.id.primary_key:
                session.execute(
                    text(
                        f"select setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608
                        f'coalesce((select max(id) from "{table.name}"), 0) + 1, false)'
                    )
                )
    session.commit()
    session.expire_all()
