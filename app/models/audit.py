"""The audit log of facilitator actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class AuditEvent(Base):
    """Who did what, when, from what to what, and why.

    Never records (expert, answer) pairs: in anonymous studies that would undo the anonymity.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int | None] = mapped_column(
        ForeignKey("studies.id", ondelete="CASCADE"), index=True
    )
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: a name kept even if the account is deleted later
    actor_name: Mapped[str] = mapped_column(String(200), default="system")
    action: Mapped[str] = mapped_column(String(64))  #: e.g. "round.close", "panel.revoke_link"
    target: Mapped[str] = mapped_column(String(200), default="")  #: e.g. "round 2", "item E07"
    details: Mapped[dict[str, Any]]  #: {"old": ..., "new": ...} and other facts
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
