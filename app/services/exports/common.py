"""What every export shares: who may export what (audited), formula escaping, CSV writing."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, BinaryIO

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from app.definitions.model import Anonymity
from app.models import PermissionDeniedError, Study, User, ValidationError
from app.services import audit

#: a text cell starting with one of these is read as a formula by spreadsheets
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: rows of CSV encoded and handed on at a time when streamed
CSV_CHUNK_ROWS = 5000


def escape_formula(value: Any) -> Any:
    """A text cell made safe for spreadsheets ('=1+1' -> "'=1+1"); other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def may_export_identified(study: Study, user: User | None) -> bool:
    """Whether this user may export names with answers: confidential study and administrator."""
    return user is not None and user.is_admin and study.anonymity == Anonymity.CONFIDENTIAL


def authorize_export(
    session: Session,
    study: Study,
    *,
    actor: User | None,
    now: datetime,
    kind: str,
    identified: bool = False,
    reason: str | None = None,
) -> None:
    """Check an export is allowed and record it in the audit log (identified ones always)."""
    if identified:
        if study.anonymity != Anonymity.CONFIDENTIAL:
            raise PermissionDeniedError(
                "This study is anonymous: nobody can export names with answers."
            )
        if actor is None or not actor.is_admin:
            raise PermissionDeniedError("Only an administrator can export names with answers.")
        if not (reason or "").strip():
            raise ValidationError(
                "Say why the identified export is needed; it is recorded.",
                {"reason": ["Required."]},
            )
    audit.record(
        session,
        action="export.identified" if identified else "export",
        now=now,
        actor=actor,
        study=study,
        target=kind,
        reason=(reason or "").strip() or None,
        identified=identified,
    )


def _csv_cell(value: Any) -> Any:
    """A CSV cell: booleans as true/false, None as empty, text escaped against formulas."""
    # the exact types first, by identity: a large export converts millions of cells
    kind = type(value)
    if kind is str:
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    if value is None:
        return ""
    if kind is float:
        return str(int(value)) if value.is_integer() else value
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return escape_formula(value)


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Rows as CSV text with a header (RFC 4180 quoting, formula cells escaped)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row.get(c)) for c in columns])
    return out.getvalue()


def csv_chunks(
    cells: Iterable[Sequence[Any]], columns: Sequence[str], *, chunk_rows: int = CSV_CHUNK_ROWS
) -> Iterator[bytes]:
    """The bytes of `csv_text` for rows given as cells in column order, a few thousand rows at
    a time (UTF-8): for a streamed download or a file written as the rows are read."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    pending = 0
    cell = _csv_cell
    for row in cells:
        writer.writerow([cell(value) for value in row])
        pending += 1
        if pending >= chunk_rows:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
            pending = 0
    yield out.getvalue().encode("utf-8")


def write_chunks(target: BinaryIO, chunks: Iterable[bytes]) -> int:
    """Write a streamed file's pieces as they come; the number of bytes written."""
    written = 0
    for chunk in chunks:
        target.write(chunk)
        written += len(chunk)
    return written


def transaction_has_written(connection: Connection) -> bool:
    """Whether the connection's PostgreSQL transaction has written anything yet: until it has,
    other connections read what it would, so an export may read on several at once."""
    written = connection.execute(text("select txid_current_if_assigned() is not null")).scalar()
    return bool(written)
