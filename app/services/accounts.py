"""Facilitator accounts: creation, password checks, server-side sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from app.models import Role, User, UserSession, ValidationError
from app.models.text import forbidden_character
from app.security import hash_token, new_token
from app.services import api_keys

MIN_PASSWORD_LENGTH = 10
#: a hash to compare against when the email is unknown, so timing does not reveal accounts:
#: of a random password nobody kept, with the parameters `generate_password_hash` uses (made
#: once here rather than at every start: hashing it cost each process a fifth of a second)
_DUMMY_HASH = (
    "scrypt:32768:8:1$DHeLTHYKr7lUI1mY$ec9f4472400a9ab2f0ab3ff7e94ff078f706dc97a9a0eaf5e47ab32"
    "df3a995e77a941bdb9fc790647c699d1ddcf2bb98679838a1b2a62de3aaeed61debb63ce2"
)


def normalise_email(email: str) -> str:
    """Trimmed, lower-case email, checked for a plausible shape."""
    email = (email or "").strip().lower()
    local, _, domain = email.partition("@")
    if (
        not local
        or "." not in domain
        or len(email) > 254
        or any(c.isspace() for c in email)
        or forbidden_character(email)
    ):
        raise ValidationError("Enter a valid email address.", {"email": ["Not a valid email."]})
    return email


def check_password_strength(password: str) -> None:
    """Raise ValidationError if the password is too weak to accept."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            f"Use at least {MIN_PASSWORD_LENGTH} characters.",
            {"password": [f"Use at least {MIN_PASSWORD_LENGTH} characters."]},
        )


def create_user(
    session: Session, *, email: str, name: str, password: str, role: Role, now: datetime
) -> User:
    """Create an account with a hashed password; emails are unique."""
    email = normalise_email(email)
    if problem := forbidden_character(name):
        raise ValidationError(str(problem), {"name": [problem]})
    check_password_strength(password)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise ValidationError("An account with this email exists.", {"email": ["Already used."]})
    user = User(
        email=email,
        name=name.strip() or email,
        password_hash=generate_password_hash(password),
        role=role,
        created_at=now,
        password_changed_at=now,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this email and password, else None (in constant-ish time)."""
    email = (email or "").strip().lower()
    # a control character cannot be in any stored email (and PostgreSQL refuses NUL outright)
    user = (
        None
        if forbidden_character(email)
        else session.scalar(select(User).where(User.email == email))
    )
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.is_active:
        return None
    return user


def start_session(session: Session, user: User, now: datetime) -> str:
    """Open a login session; returns the token for the cookie (only its hash is stored)."""
    token = new_token()
    session.add(
        UserSession(user_id=user.id, token_hash=hash_token(token), created_at=now, last_seen_at=now)
    )
    session.flush()
    return token


def load_session(session: Session, token: str) -> UserSession | None:
    """The live (not revoked) login session for this token, with an active user, else None.

    Idle expiry is checked by the web layer from the signed cookie, so that reading a page
    never writes to the database.
    """
    row = session.scalar(
        select(UserSession)
        .where(UserSession.token_hash == hash_token(token))
        .options(joinedload(UserSession.user))  # every facilitator page reads it: one query
    )
    if row is None or row.revoked_at is not None or not row.user.is_active:
        return None
    return row


def end_session(session: Session, token: str, now: datetime) -> None:
    """Revoke one login session (logout)."""
    session.execute(
        update(UserSession)
        .where(UserSession.token_hash == hash_token(token), UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def _replace_password(session: Session, user: User, password: str, *, now: datetime) -> None:
    """Store a new password hash and revoke every login session of the user."""
    user.password_hash = generate_password_hash(password)
    user.password_changed_at = now
    session.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.flush()


def set_password(session: Session, user: User, password: str, *, now: datetime) -> None:
    """Set a password without the current one (admin reset): a reset means the old one may be
    known to someone else, so every session and every API key of the user is revoked."""
    check_password_strength(password)
    _replace_password(session, user, password, now=now)
    api_keys.revoke_all_keys(session, user, actor=user, now=now, reason="password reset")


def change_password(
    session: Session,
    user: User,
    *,
    current: str,
    new: str,
    now: datetime,
    keep_api_keys: bool = False,
) -> int:
    """Set a new password after checking the current one; revokes every session of the user
    and, unless asked to keep them, every API key (a changed password often means a leaked
    one). Returns how many keys were revoked."""
    if not check_password_hash(user.password_hash, current):
        raise ValidationError(
            "The current password is wrong.", {"current_password": ["Wrong password."]}
        )
    check_password_strength(new)
    _replace_password(session, user, new, now=now)
    if keep_api_keys:
        return 0
    return api_keys.revoke_all_keys(session, user, actor=user, now=now, reason="password change")


def set_language(session: Session, user: User, language: str, languages: tuple[str, ...]) -> None:
    """Remember the language the account's pages speak; one of the instance's `languages`."""
    if language not in languages:
        raise ValidationError("Unknown language.", {"language": ["Unknown language."]})
    user.language = language
    session.flush()
