"""Study drafts: a study being built in the browser, before it is launched."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class StudyDraft(Base):
    """A survey definition being edited in the study builder; launching it creates the study.

    The document is the survey file's content as JSON (the tables and fields of the format), so
    it can hold a study that is not complete yet; every save validates it with the survey-file
    validator, and a launch imports it exactly as an uploaded file is imported.
    """

    __tablename__ = "study_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the facilitator who builds it; drafts are private to them until launched
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: the survey file's tables (format, study, rules, scales, questions, items, ...)
    document: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: the study launched from this draft; the draft is read-only from then on
    study_id: Mapped[int | None] = mapped_column(ForeignKey("studies.id", ondelete="SET NULL"))
