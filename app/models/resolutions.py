"""What became of the items after a round: realisations, outcomes and realised trend values."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.studies import Item


class ResolutionKind(StrEnum):
    """What a resolution records."""

    REALISATION = "realisation"  #: the true value of a calibration (seed) item
    OUTCOME = "outcome"  #: whether an event occurred, and when (or as of when it had not)
    TREND_VALUE = "trend_value"  #: a trend's realised value in one year


class Resolution(Base):
    """One recorded fact about an item, with its source and who recorded it when.

    Rows are never updated: a correction adds a row, and the latest row per (item, year)
    counts, so the history of every figure stays readable.
    """

    __tablename__ = "resolutions"
    __table_args__ = (
        CheckConstraint("kind in ('realisation', 'outcome', 'trend_value')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    #: the realisation, or the trend's realised value
    value: Mapped[float | None]
    #: the year a trend value belongs to (None for the other kinds)
    year: Mapped[int | None]
    #: outcomes: whether the event occurred
    occurred: Mapped[bool | None]
    #: outcomes: the date it occurred, or the date up to which it had not
    resolved_on: Mapped[date | None]
    source: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: a name kept even if the account is deleted later
    recorded_by_name: Mapped[str] = mapped_column(String(200), default="system")
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    item: Mapped[Item] = relationship()
