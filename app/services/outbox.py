"""The outbox's rows through their life: claim, check, link, sent | failed | skipped | unsure.

The worker (app/jobs/mail.py) works one row at a time in three steps: a short transaction
that claims the row and issues its link (`prepare`), the SMTP conversation outside any
transaction, and a short transaction that records the outcome (`record_sent`,
`record_failure`). A row is claimed by a conditional UPDATE, so two workers (or a retried
job) never both send it; a row a dead worker left `sending` becomes `unsure` once its claim
expires and is never sent again on its own.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.errors import HeaderParseError
from email.message import EmailMessage

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.models import (
    AccessLink,
    EmailStatus,
    OutgoingEmail,
    Participation,
    ParticipationStatus,
    Round,
    RoundState,
    Study,
    User,
    pick_text,
)
from app.security import hash_token
from app.services.invitations import (
    MailContext,
    MailKind,
    Render,
    build_message,
    has_submitted,
    private_link,
    queue_invitations,
    queue_reminders,
)
from app.services.panel import issue_link
from app.services.rounds import open_round_of

#: tries of an email whose failures are temporary (server away, 4xx) before it is `failed`
MAX_ATTEMPTS = 3

#: why a row left `sending` without an outcome became `unsure`
UNSURE_REASON = "the worker stopped while sending; the email may or may not have arrived"

#: statuses a facilitator may send again
NEEDS_ATTENTION = (EmailStatus.FAILED, EmailStatus.UNSURE)


@dataclass(frozen=True)
class Prepared:
    """A claimed row's message, ready for the mail server (the link exists only in it)."""

    email_id: int
    message: EmailMessage
    token_hash: str  #: to revoke the link if the message does not go


def claim(session: Session, email_id: int, *, now: datetime, lease: timedelta) -> bool:
    """Take a pending row for sending; False if it is not pending (done, or someone else's)."""
    result = session.execute(
        update(OutgoingEmail)
        .where(OutgoingEmail.id == email_id, OutgoingEmail.status == EmailStatus.PENDING)
        .values(
            status=EmailStatus.SENDING,
            claimed_until=now + lease,
            attempts=OutgoingEmail.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _why_not(session: Session, email: OutgoingEmail, member: Participation, now: datetime) -> str:
    """Why this email should not go now (empty if it should)."""
    if member.status == ParticipationStatus.WITHDRAWN:
        return "withdrawn"
    if email.kind != MailKind.REMINDER:
        return ""
    round_ = session.get(Round, email.round_id) if email.round_id is not None else None
    if round_ is None or round_.state != RoundState.OPEN:
        return "the round is no longer open"
    if has_submitted(session, member.id, round_.id):
        return "submitted already"
    if email.reminder_run_id is not None and round_.deadline is not None and now >= round_.deadline:
        return "the deadline has passed"
    return ""


def _finish(email: OutgoingEmail, status: EmailStatus, reason: str = "") -> None:
    """Set a row's final state and release its claim."""
    email.status = status
    email.reason = reason[:300]
    email.claimed_until = None


def prepare(
    session: Session,
    email_id: int,
    *,
    render: Render,
    base_url: str,
    sender: str,
    now: datetime,
    lease: timedelta,
) -> Prepared | None:
    """Claim a row, check it should still go, issue its link and build its message.

    None when the row is not ours to send, or was skipped (withdrawn, submitted since, round
    closed) or failed for good (an address that cannot be used). The caller commits.
    """
    if not claim(session, email_id, now=now, lease=lease):
        return None
    email = session.get_one(OutgoingEmail, email_id)
    session.refresh(email)
    member = session.get_one(Participation, email.participation_id)
    reason = _why_not(session, email, member, now)
    if reason:
        _finish(email, EmailStatus.SKIPPED, reason)
        session.flush()
        return None
    study = session.get_one(Study, email.study_id)
    round_ = (
        session.get(Round, email.round_id)
        if email.kind == MailKind.REMINDER and email.round_id is not None
        else open_round_of(session, study)
    )
    token = issue_link(session, member, purpose=email.kind, now=now)
    context = MailContext(
        kind=MailKind(email.kind),
        name=member.name,
        study_title=study.text("title", member.language),
        link=private_link(base_url, token, member.language),
        round_number=round_.number if round_ is not None else None,
        deadline=round_.deadline if round_ is not None else None,
        message=pick_text(
            round_.message if round_ is not None else None,
            member.language,
            study.default_language,
        ),
    )
    try:
        message = build_message(member, render(member, context), sender=sender, now=now)
    except (ValueError, HeaderParseError):
        _revoke(session, hash_token(token), now)
        _finish(email, EmailStatus.FAILED, "the address or name cannot be used in an email")
        session.flush()
        return None
    session.flush()
    return Prepared(email_id, message, hash_token(token))


def _revoke(session: Session, token_hash: str, now: datetime) -> None:
    """Revoke the link of an email that did not go (nobody holds it)."""
    session.execute(
        update(AccessLink)
        .where(AccessLink.token_hash == token_hash, AccessLink.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


def record_sent(session: Session, email_id: int, *, now: datetime) -> None:
    """The mail server took the message: mark the row sent and stamp the participation."""
    email = session.get_one(OutgoingEmail, email_id)
    _finish(email, EmailStatus.SENT)
    email.sent_at = now
    member = session.get_one(Participation, email.participation_id)
    if email.kind == MailKind.INVITATION:
        member.invited_at = now
    else:
        member.reminded_at = now
        member.reminder_count += 1
    session.flush()


def record_failure(
    session: Session,
    prepared: Prepared,
    reason: str,
    *,
    temporary: bool,
    now: datetime,
    unsure: bool = False,
) -> EmailStatus:
    """The message did not go: revoke its link; a temporary failure is tried again later
    (at most MAX_ATTEMPTS times), any other is final. A message that may have arrived
    (`unsure`) keeps its link and becomes `unsure`. Returns the row's new status."""
    email = session.get_one(OutgoingEmail, prepared.email_id)
    if unsure:
        _finish(email, EmailStatus.UNSURE, reason)
        session.flush()
        return EmailStatus.UNSURE
    _revoke(session, prepared.token_hash, now)
    if temporary and email.attempts < MAX_ATTEMPTS:
        _finish(email, EmailStatus.PENDING, reason)
    else:
        _finish(email, EmailStatus.FAILED, reason)
    session.flush()
    return EmailStatus(email.status)


def expire_claims(session: Session, *, now: datetime) -> int:
    """Rows left `sending` past their claim become `unsure` (never re-sent on their own)."""
    result = session.execute(
        update(OutgoingEmail)
        .where(
            OutgoingEmail.status == EmailStatus.SENDING,
            OutgoingEmail.claimed_until < now,
        )
        .values(status=EmailStatus.UNSURE, reason=UNSURE_REASON, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def pending_ids(session: Session, *, limit: int = 1000) -> list[int]:
    """Rows waiting to be sent, oldest first."""
    query = (
        select(OutgoingEmail.id)
        .where(OutgoingEmail.status == EmailStatus.PENDING)
        .order_by(OutgoingEmail.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def counts(session: Session, study: Study, kind: str | None = None) -> dict[str, int]:
    """How many of the study's emails (of `kind`, or all) are in each status."""
    query = (
        select(OutgoingEmail.status, func.count())
        .where(OutgoingEmail.study_id == study.id)
        .group_by(OutgoingEmail.status)
    )
    if kind is not None:
        query = query.where(OutgoingEmail.kind == kind)
    found = {str(status): int(n) for status, n in session.execute(query).all()}
    return {status.value: found.get(status.value, 0) for status in EmailStatus}


def _latest(session: Session, study: Study, kind: str) -> dict[int, OutgoingEmail]:
    """Each participation's latest email of `kind` (for reminders: of the open round)."""
    query = select(OutgoingEmail).where(
        OutgoingEmail.study_id == study.id, OutgoingEmail.kind == kind
    )
    if kind == MailKind.REMINDER:
        round_ = open_round_of(session, study)
        if round_ is None:
            return {}
        query = query.where(OutgoingEmail.round_id == round_.id)
    latest: dict[int, OutgoingEmail] = {}
    for email in session.scalars(query.order_by(OutgoingEmail.id)):
        latest[email.participation_id] = email
    return latest


def needing_attention(session: Session, study: Study, kind: str) -> list[OutgoingEmail]:
    """Emails whose latest try for their recipient failed or is unsure (to send again)."""
    return [e for e in _latest(session, study, kind).values() if e.status in NEEDS_ATTENTION]


def send_again(
    session: Session, study: Study, kind: str, *, actor: User | None, now: datetime
) -> list[int]:
    """Queue new emails for every recipient whose latest one failed or is unsure; their ids.

    Reminders go through the same checks as ever (only to those who have still not submitted).
    """
    ids = [e.participation_id for e in needing_attention(session, study, kind)]
    if not ids:
        return []
    members = list(session.scalars(select(Participation).where(Participation.id.in_(ids))))
    if kind == MailKind.INVITATION:
        return queue_invitations(session, study, members, actor=actor, now=now).ids
    return queue_reminders(session, study, members, actor=actor, now=now).ids


def reasons(session: Session, study: Study, kind: str) -> Counter[str]:
    """Why the emails needing attention did not go, counted (no names: safe for reminders)."""
    return Counter(e.reason for e in needing_attention(session, study, kind))


@dataclass(frozen=True)
class Delivery:
    """How a study's emails went: counts per status, and what needs the facilitators."""

    invitations: dict[str, int]
    reminders: dict[str, int]
    #: invitations whose latest try failed or is unsure, with their recipient (names are
    #: fine here: the panel page shows who was invited)
    invitation_problems: list[tuple[OutgoingEmail, Participation]]
    #: reminders of the open round needing attention: only counted, with their reasons
    reminder_reasons: Counter[str]

    @property
    def total(self) -> dict[str, int]:
        """Counts per status over both kinds."""
        return {s: self.invitations[s] + self.reminders[s] for s in self.invitations}

    @property
    def any(self) -> bool:
        """Whether the study has any email in the outbox."""
        return sum(self.total.values()) > 0


def delivery(session: Session, study: Study) -> Delivery:
    """The delivery state of a study's invitations and reminders."""
    problems = needing_attention(session, study, MailKind.INVITATION)
    members = {
        p.id: p
        for p in session.scalars(
            select(Participation).where(
                Participation.id.in_([e.participation_id for e in problems])
            )
        )
    }
    return Delivery(
        invitations=counts(session, study, MailKind.INVITATION),
        reminders=counts(session, study, MailKind.REMINDER),
        invitation_problems=[(e, members[e.participation_id]) for e in problems],
        reminder_reasons=reasons(session, study, MailKind.REMINDER),
    )
