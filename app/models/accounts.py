"""Facilitator accounts, their server-side login sessions and API keys."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow


class Role(StrEnum):
    """What an account may do across the instance."""

    ADMIN = "admin"  #: every study, accounts, identified exports of confidential studies
    FACILITATOR = "facilitator"  #: the studies they are a member of


class User(Base):
    """A facilitator or administrator account."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  #: stored lower-case
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default=Role.FACILITATOR)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: the language the account's pages speak (one of the instance's); None: the browser's
    language: Mapped[str | None] = mapped_column(String(10))

    sessions: Mapped[list[UserSession]] = relationship(back_populates="user")

    @property
    def is_admin(self) -> bool:
        """Whether the account is an administrator."""
        return self.role == Role.ADMIN


class UserSession(Base):
    """A login session; the browser holds a random token, the server only its hash.

    Logging out or changing the password revokes the row, so a stolen cookie dies with it.
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="sessions")


class ApiKey(Base):
    """A facilitator's API key: shown once, stored hashed, revocable, scoped to studies."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))  #: first characters, to recognise a key
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: study ids the key may act on; None means every study the user may act on
    study_ids: Mapped[list[Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()
