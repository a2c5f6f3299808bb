"""Which conditional pairs each expert is asked, when a study caps them per expert."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class PairAssignment(Base):
    """One conditional pair asked of one expert: a conditional question and one of its events.

    Made once per expert (when a round opens, or when the expert joins during an open round)
    and kept for every later round, so an expert revises the same pairs they answered.
    """

    __tablename__ = "pair_assignments"
    __table_args__ = (UniqueConstraint("participation_id", "question_id", "given_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participation_id: Mapped[int] = mapped_column(
        ForeignKey("participations.id", ondelete="CASCADE"), index=True
    )
    question_id: Mapped[int] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), index=True
    )
    #: the key of the conditioning event (one of the question's `config["given"]`)
    given_key: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
