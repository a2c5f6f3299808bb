"""The panel: experts (identity, private to facilitators) and their participation in a study."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.studies import Study


class Expert(Base):
    """A person on one or more panels, known by email alone. Answers never point here.

    Everything a facilitator typed about the person (their name) lives on the Participation,
    so that a study's facilitators see only what they typed themselves: adding an email that
    another study's panel already holds shows and reveals nothing of that study.
    """

    __tablename__ = "experts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  #: stored lower-case
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: when the person's name and email were erased at their request (the row stays, anonymised,
    #: so pseudonymous answers keep their participation)
    erased_at: Mapped[datetime | None]


class ParticipationStatus(StrEnum):
    """Where an expert is with a study."""

    INVITED = "invited"  #: added; may or may not have received the invitation yet
    ACTIVE = "active"  #: has opened the link and consented
    WITHDRAWN = "withdrawn"  #: left the panel or was removed; their link no longer works


class Participation(Base):
    """An expert on a study's panel: group, language, the private link's hash, progress."""

    __tablename__ = "participations"
    __table_args__ = (
        UniqueConstraint("study_id", "expert_id"),
        UniqueConstraint("study_id", "pseudonym"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    expert_id: Mapped[int] = mapped_column(
        ForeignKey("experts.id", ondelete="RESTRICT"), index=True
    )
    #: the name this study's facilitators gave the expert (never shown to other studies)
    name: Mapped[str] = mapped_column(String(200))
    group: Mapped[str] = mapped_column(String(60), default="")
    language: Mapped[str] = mapped_column(String(8))
    #: self-rated expertise 1-5, for weighted pooling as a sensitivity analysis
    expertise: Mapped[int | None]
    #: random per-study code used in analysis and exports instead of any identity
    pseudonym: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(20), default=ParticipationStatus.INVITED)
    consent_at: Mapped[datetime | None]
    invited_at: Mapped[datetime | None]  #: when the invitation email was last sent
    reminded_at: Mapped[datetime | None]  #: when a reminder was last sent
    reminder_count: Mapped[int] = mapped_column(default=0)
    synthetic: Mapped[bool] = mapped_column(default=False)  #: a simulated demo expert
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    study: Mapped[Study] = relationship()
    expert: Mapped[Expert] = relationship()
    links: Mapped[list[AccessLink]] = relationship(
        back_populates="participation", cascade="all, delete-orphan", order_by="AccessLink.id"
    )

    @property
    def has_usable_link(self) -> bool:
        """Whether at least one private link currently lets this expert in."""
        return self.status != ParticipationStatus.WITHDRAWN and any(
            link.revoked_at is None for link in self.links
        )


class AccessLink(Base):
    """A private link to a participation. Only the token's sha256 is stored.

    Each invitation or reminder carries a fresh link, so an earlier email keeps working;
    revoking revokes them all (and the sessions they opened).
    """

    __tablename__ = "access_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    participation_id: Mapped[int] = mapped_column(
        ForeignKey("participations.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20))  #: invitation | reminder | manual
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    participation: Mapped[Participation] = relationship(back_populates="links")


class ExpertSession(Base):
    """An expert's browser session, created when a private link is exchanged for a cookie."""

    __tablename__ = "expert_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    participation_id: Mapped[int] = mapped_column(
        ForeignKey("participations.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    participation: Mapped[Participation] = relationship()
