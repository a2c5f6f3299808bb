"""Rounds: their guarded life cycle, the items each asks, progress per expert, frozen snapshots."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from analysis.snapshot import SnapshotData
from app.models.base import Base, utcnow
from app.models.errors import RoundClosedError, RoundStateError
from app.models.studies import Item, ItemVersion


class RoundState(StrEnum):
    """A round's life: draft -> open -> closed, never back."""

    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class Round(Base):
    """One Delphi round of a study."""

    __tablename__ = "rounds"
    __table_args__ = (UniqueConstraint("study_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    state: Mapped[str] = mapped_column(String(10), default=RoundState.DRAFT)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_at: Mapped[datetime | None]
    deadline: Mapped[datetime | None]  #: shown to experts; the facilitator still closes the round
    closed_at: Mapped[datetime | None]
    #: what changed since the previous round, told to experts (language -> text)
    message: Mapped[dict[str, Any]]
    synthetic: Mapped[bool] = mapped_column(default=False)  #: generated demo answers
    #: why the round did not close itself at its deadline (e.g. fewer than k submissions)
    auto_close_note: Mapped[str] = mapped_column(String(300), default="", server_default="")

    items: Mapped[list[RoundItem]] = relationship(
        back_populates="round", cascade="all, delete-orphan", order_by="RoundItem.position"
    )
    snapshot: Mapped[Snapshot | None] = relationship(back_populates="round", uselist=False)

    @property
    def is_open(self) -> bool:
        """Whether experts can answer now."""
        return self.state == RoundState.OPEN

    def open(self, now: datetime) -> None:
        """Start the round; only a draft can open."""
        if self.state != RoundState.DRAFT:
            raise RoundStateError(f"Round {self.number} is {self.state}; only a draft round opens.")
        self.state = RoundState.OPEN
        self.opened_at = now

    def close(self, now: datetime) -> None:
        """End the round; only an open round closes."""
        if self.state != RoundState.OPEN:
            raise RoundStateError(
                f"Round {self.number} is {self.state}; only an open round closes."
            )
        self.state = RoundState.CLOSED
        self.closed_at = now

    def require_open(self) -> None:
        """Raise RoundClosedError unless experts may save answers to this round."""
        if self.state != RoundState.OPEN:
            raise RoundClosedError(
                f"Round {self.number} is closed; answers can no longer be saved."
                if self.state == RoundState.CLOSED
                else f"Round {self.number} has not opened yet."
            )


class RoundItem(Base):
    """An item asked in a round, in the exact version the round shows."""

    __tablename__ = "round_items"

    round_id: Mapped[int] = mapped_column(
        ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    item_version_id: Mapped[int] = mapped_column(
        ForeignKey("item_versions.id", ondelete="RESTRICT")
    )
    position: Mapped[int] = mapped_column(default=0)

    round: Mapped[Round] = relationship(back_populates="items")
    # loaded with the round's items: every page and save walks all of them (no N+1 queries)
    item: Mapped[Item] = relationship(lazy="joined")
    version: Mapped[ItemVersion] = relationship(lazy="joined")


class RoundProgress(Base):
    """One expert's progress in one round: started, last saved, submitted."""

    __tablename__ = "round_progress"

    participation_id: Mapped[int] = mapped_column(
        ForeignKey("participations.id", ondelete="CASCADE"), primary_key=True
    )
    round_id: Mapped[int] = mapped_column(
        ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_saved_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]  #: latest submission; may be revised while open
    submit_count: Mapped[int] = mapped_column(default=0)


class Snapshot(Base):
    """The statistics of a closed round, frozen at close; every later view and report reads it."""

    __tablename__ = "snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: per item and question: statistics, histogram, consensus, group splits, shuffled reasons
    #: (the stored JSON; read it through `content`)
    data: Mapped[dict[str, Any]]
    answer_count: Mapped[int]
    #: sha256 over the sorted (answer id, revision) pairs the snapshot was computed from
    answers_digest: Mapped[str] = mapped_column(String(64))

    round: Mapped[Round] = relationship(back_populates="snapshot")

    @property
    def content(self) -> SnapshotData:
        """The typed snapshot, decoded once per instance (again only if `data` is replaced)."""
        cached: tuple[dict[str, Any], SnapshotData] | None = self.__dict__.get("_content")
        if cached is None or cached[0] is not self.data:
            cached = (self.data, SnapshotData.from_dict(self.data))
            # the instance dict, not a mapped attribute: nothing for the session to flush
            self.__dict__["_content"] = cached
        return cached[1]
