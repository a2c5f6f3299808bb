"""Credentials for the JSON API: facilitators' API keys and experts' private-link tokens.

An API key is shown once, when it is created; the database keeps only its sha256 (like
private links and login sessions). A key may be limited to some of its owner's studies, and
it dies when revoked or when its owner's account is deactivated. Experts use the token of
their private link; a revoked link, a withdrawn expert and an unknown token look the same.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.models import (
    AccessLink,
    ApiKey,
    NotFoundError,
    Participation,
    ParticipationStatus,
    StateError,
    User,
    ValidationError,
)
from app.security import TOKEN_BYTES, hash_token
from app.services import audit
from app.services.studies import study_for

#: every key starts with this, so leaked keys are easy to recognise (and to scan for)
KEY_PREFIX = "dlp_"
#: how many leading characters of a key are kept in clear, to tell keys apart in lists
SHOWN_PREFIX_LENGTH = 12
MAX_NAME_LENGTH = 100
#: `last_used_at` is written at most this often, so that reading does not mean writing
TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class NewKey:
    """A key just created, with its secret (the only time the secret exists in clear)."""

    key: ApiKey
    secret: str


def new_secret() -> str:
    """A fresh API key: the prefix and 256 random bits, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def _clean_scope(session: Session, user: User, study_ids: Iterable[int] | None) -> list[int] | None:
    """The key's study scope, checked against the studies the user may act on."""
    if study_ids is None:
        return None
    scope = sorted(set(study_ids))
    if not scope:
        raise ValidationError(
            "Choose at least one study, or let the key act on all your studies.",
            {"study_ids": ["Empty."]},
        )
    for study_id in scope:
        try:
            study_for(session, user, study_id)
        except NotFoundError:
            raise ValidationError(
                "The key can only be limited to studies you run.",
                {"study_ids": [f"No such study: {study_id}."]},
            ) from None
    return scope


def create_key(
    session: Session,
    user: User,
    *,
    name: str,
    study_ids: Iterable[int] | None,
    now: datetime,
) -> NewKey:
    """Create an API key for `user`, optionally limited to some of their studies."""
    name = (name or "").strip()
    if not name:
        raise ValidationError("Give the key a name (e.g. where it is used).", {"name": ["Empty."]})
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(f"At most {MAX_NAME_LENGTH} characters.", {"name": ["Too long."]})
    if not user.is_active:
        raise StateError("This account is deactivated.")
    scope = _clean_scope(session, user, study_ids)
    secret = new_secret()
    key = ApiKey(
        user_id=user.id,
        name=name,
        prefix=secret[:SHOWN_PREFIX_LENGTH],
        key_hash=hash_token(secret),
        study_ids=scope,
        created_at=now,
    )
    session.add(key)
    session.flush()
    audit.record(
        session,
        action="api_key.create",
        now=now,
        actor=user,
        target=f"key {key.prefix}",
        studies=scope,
    )
    return NewKey(key, secret)


def keys_of(session: Session, user: User) -> list[ApiKey]:
    """The user's keys, live ones first, newest first."""
    query = (
        select(ApiKey)
        .where(ApiKey.user_id == user.id)
        .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(), ApiKey.id.desc())
    )
    return list(session.scalars(query))


def key_of(session: Session, user: User, key_id: int) -> ApiKey:
    """One of the user's own keys, or NotFoundError (keys are personal, even to admins)."""
    key = session.get(ApiKey, key_id)
    if key is None or key.user_id != user.id:
        raise NotFoundError("No such API key.")
    return key


def revoke_key(session: Session, key: ApiKey, *, actor: User, now: datetime) -> None:
    """Revoke a key; requests carrying it fail from now on. Revoking twice changes nothing."""
    if key.revoked_at is not None:
        return
    key.revoked_at = now
    session.flush()
    audit.record(session, action="api_key.revoke", now=now, actor=actor, target=f"key {key.prefix}")


def revoke_all_keys(
    session: Session, user: User, *, actor: User | None, now: datetime, reason: str
) -> int:
    """Revoke every live key of `user` (e.g. when the password changes); returns how many."""
    live = [key for key in keys_of(session, user) if key.revoked_at is None]
    for key in live:
        key.revoked_at = now
    session.flush()
    if live:
        audit.record(
            session,
            action="api_key.revoke_all",
            now=now,
            actor=actor,
            target=user.email,
            keys=[key.prefix for key in live],
            reason=reason,
        )
    return len(live)


def authenticate_key(session: Session, secret: str) -> ApiKey | None:
    """The live key with this secret (not revoked, owner active), else None."""
    if not secret.startswith(KEY_PREFIX):
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_token(secret)))
    if key is None or key.revoked_at is not None or not key.user.is_active:
        return None
    return key


def key_allows_study(key: ApiKey, study_id: int) -> bool:
    """Whether the key's scope includes the study (the owner's own access is checked apart)."""
    return key.study_ids is None or study_id in {int(s) for s in key.study_ids}


def needs_touch(last_used_at: datetime | None, now: datetime) -> bool:
    """Whether a credential's last use is older than TOUCH_INTERVAL (or was never recorded)."""
    return last_used_at is None or now - last_used_at >= TOUCH_INTERVAL


def touch_key(session: Session, key_id: int, now: datetime) -> None:
    """Record that a key was used, unless that was recorded less than a minute ago."""
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - TOUCH_INTERVAL),
        )
        .values(last_used_at=now)
    )


def link_for_token(session: Session, token: str) -> AccessLink | None:
    """The live private link with this token, whose expert has not withdrawn, else None."""
    if not token:
        return None
    link = session.scalar(select(AccessLink).where(AccessLink.token_hash == hash_token(token)))
    if link is None or link.revoked_at is not None:
        return None
    if link.participation.status == ParticipationStatus.WITHDRAWN:
        return None
    return link


def expert_for_token(session: Session, token: str) -> Participation | None:
    """The participation behind a private link's token, if the link still lets them in."""
    link = link_for_token(session, token)
    return link.participation if link is not None else None


def touch_link(session: Session, link_id: int, now: datetime) -> None:
    """Record that a link was used (the funnel's "opened"), at most once a minute."""
    session.execute(
        update(AccessLink)
        .where(
            AccessLink.id == link_id,
            or_(
                AccessLink.last_used_at.is_(None),
                AccessLink.last_used_at <= now - TOUCH_INTERVAL,
            ),
        )
        .values(last_used_at=now)
    )
