"""Recording facilitator actions in the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditEvent, Study, User


def record(
    session: Session,
    *,
    action: str,
    now: datetime,
    actor: User | None,
    study: Study | None = None,
    target: str = "",
    old: Any = None,
    new: Any = None,
    reason: str | None = None,
    flush: bool = True,
    **facts: Any,
) -> AuditEvent:
    """Add an audit event (never pass expert-answer pairs: the log must keep anonymity);
    flush=False leaves the flush to a caller adding many at once."""
    details: dict[str, Any] = dict(facts)
    if old is not None:
        details["old"] = old
    if new is not None:
        details["new"] = new
    event = AuditEvent(
        study_id=study.id if study is not None else None,
        actor_id=actor.id if actor is not None else None,
        actor_name=actor.name if actor is not None else "system",
        action=action,
        target=target,
        details=details,
        reason=reason,
        created_at=now,
    )
    session.add(event)
    if flush:
        session.flush()
    return event


def events_for_study(session: Session, study: Study, *, limit: int = 500) -> list[AuditEvent]:
    """The study's audit events, newest first."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.study_id == study.id)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))
