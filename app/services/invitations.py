"""Invitations and reminders by email, each carrying a fresh private link.

Tokens are stored only as hashes, so a link cannot be looked up again: every email gets a
new link (older ones keep working until revoked). The web layer passes `render`, which turns
a context into the subject and bodies in the expert's language, so this module stays free of
the web framework. One recipient's failure never stops the others; each send runs in a
savepoint, so a failed recipient keeps no new link and no new timestamp.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    NotFoundError,
    Participation,
    ParticipationStatus,
    Round,
    RoundProgress,
    StateError,
    Study,
    User,
    pick_text,
)
from app.services import audit
from app.services.mail import Mailer, MailError
from app.services.panel import issue_link
from app.services.rounds import open_round_of

DEFAULT_SENDER = "Delphi <delphi@localhost>"


def private_link(base_url: str, token: str, language: str | None = None) -> str:
    """An expert's private link; with the panel language, the landing page speaks it before
    the expert has signed in (the language says nothing about the token)."""
    link = f"{base_url.rstrip('/')}/t/{token}"
    return f"{link}?lang={language}" if language else link


class MailKind(StrEnum):
    """What an email is for; also the purpose recorded on the link it carries."""

    INVITATION = "invitation"
    REMINDER = "reminder"


@dataclass(frozen=True)
class MailContext:
    """What a rendered email may say, already in the expert's language where it is data."""

    kind: MailKind
    name: str  #: the expert's name, for the greeting
    study_title: str
    link: str  #: the full private link; exists only in this email
    round_number: int | None
    deadline: datetime | None
    message: str  #: the facilitators' message for the open round, if any


@dataclass(frozen=True)
class MailContent:
    """A rendered email: subject, plain text and (optionally) HTML."""

    subject: str
    text: str
    html: str | None = None


#: turns (participation, context) into the email's words in the participation's language
Render = Callable[[Participation, MailContext], MailContent]


@dataclass(frozen=True)
class Outcome:
    """What happened for one panel member."""

    participation_id: int
    email: str
    reason: str = ""


@dataclass
class SendSummary:
    """The result of a mailing: who got it, who was skipped and who failed, with reasons."""

    kind: MailKind
    sent: list[Outcome] = field(default_factory=list)
    skipped: list[Outcome] = field(default_factory=list)
    failed: list[Outcome] = field(default_factory=list)


def _outcome(participation: Participation, reason: str = "") -> Outcome:
    """An Outcome row for a participation."""
    return Outcome(participation.id, participation.expert.email, reason)


def _lock(session: Session, study: Study, participations: Iterable[Participation]) -> list[int]:
    """Check that every participation is on this study's panel and lock their rows.

    The row locks are taken before any mail leaves, so the transaction cannot deadlock on them
    later (a retried transaction would send the mail twice).
    """
    ids = []
    for participation in participations:
        if participation.study_id != study.id:
            raise NotFoundError("No such panel member.")
        ids.append(participation.id)
    if ids:
        session.execute(
            select(Participation.id).where(Participation.id.in_(ids)).with_for_update()
        ).all()
    return ids


def _message(
    participation: Participation, content: MailContent, *, sender: str, now: datetime
) -> EmailMessage:
    """The email for one participation; ValueError if an address cannot be used."""
    message = EmailMessage()
    message["Subject"] = content.subject
    message["From"] = sender
    expert = participation.expert
    local, _at, domain = expert.email.partition("@")
    message["To"] = Address(display_name=participation.name, username=local, domain=domain)
    message["Date"] = format_datetime(now)
    sender_domain = parseaddr(sender)[1].partition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=sender_domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(content.text)
    if content.html:
        message.add_alternative(content.html, subtype="html")
    return message


def _send_each(
    session: Session,
    study: Study,
    targets: Sequence[Participation],
    summary: SendSummary,
    *,
    round_: Round | None,
    mailer: Mailer,
    render: Render,
    base_url: str,
    sender: str,
    now: datetime,
) -> None:
    """Issue a link, render, send and stamp each target, in a savepoint of its own."""
    base = base_url.rstrip("/")
    for participation in targets:
        try:
            with session.begin_nested():
                token = issue_link(session, participation, purpose=summary.kind, now=now)
                context = MailContext(
                    kind=summary.kind,
                    name=participation.name,
                    study_title=study.text("title", participation.language),
                    link=private_link(base, token, participation.language),
                    round_number=round_.number if round_ is not None else None,
                    deadline=round_.deadline if round_ is not None else None,
                    message=pick_text(
                        round_.message if round_ is not None else None,
                        participation.language,
                        study.default_language,
                    ),
                )
                try:
                    message = _message(
                        participation, render(participation, context), sender=sender, now=now
                    )
                except (ValueError, HeaderParseError):
                    raise MailError("the address or name cannot be used in an email") from None
                mailer.send(message)
                if summary.kind == MailKind.INVITATION:
                    participation.invited_at = now
                else:
                    participation.reminded_at = now
                    participation.reminder_count += 1
                session.flush()
        except MailError as error:
            summary.failed.append(_outcome(participation, str(error)))
        else:
            summary.sent.append(_outcome(participation))


def _record(
    session: Session, study: Study, summary: SendSummary, *, actor: User | None, now: datetime
) -> None:
    """Audit the mailing with counts only (never who has or has not answered)."""
    audit.record(
        session,
        action=f"panel.{summary.kind}",
        now=now,
        actor=actor,
        study=study,
        target=f"{len(summary.sent)} experts",
        sent=len(summary.sent),
        skipped=len(summary.skipped),
        failed=len(summary.failed),
    )


def send_invitations(
    session: Session,
    study: Study,
    participations: Iterable[Participation],
    *,
    mailer: Mailer,
    render: Render,
    base_url: str,
    actor: User | None,
    now: datetime,
    sender: str = DEFAULT_SENDER,
) -> SendSummary:
    """Email each participation an invitation with a fresh private link; sets invited_at.

    Withdrawn experts are skipped. Mail goes out before the caller commits; the rows are
    locked first, so only a crash between sending and committing could leave a sent link
    unsaved (the facilitator then sends again; the page says nothing was changed).
    """
    targets = list(participations)
    _lock(session, study, targets)
    summary = SendSummary(MailKind.INVITATION)
    sendable = []
    for participation in targets:
        if participation.status == ParticipationStatus.WITHDRAWN:
            summary.skipped.append(_outcome(participation, "withdrawn"))
        else:
            sendable.append(participation)
    _send_each(
        session,
        study,
        sendable,
        summary,
        round_=open_round_of(session, study),
        mailer=mailer,
        render=render,
        base_url=base_url,
        sender=sender,
        now=now,
    )
    _record(session, study, summary, actor=actor, now=now)
    return summary


def non_submitters(session: Session, study: Study, round_: Round) -> list[Participation]:
    """Panel members (not withdrawn) who have not submitted the round."""
    submitted = select(RoundProgress.participation_id).where(
        RoundProgress.round_id == round_.id, RoundProgress.submitted_at.is_not(None)
    )
    query = (
        select(Participation)
        .where(
            Participation.study_id == study.id,
            Participation.status != ParticipationStatus.WITHDRAWN,
            Participation.id.not_in(submitted),
        )
        .order_by(Participation.group, Participation.pseudonym)
    )
    return list(session.scalars(query))


def send_reminders(
    session: Session,
    study: Study,
    participations: Iterable[Participation] | None = None,
    *,
    mailer: Mailer,
    render: Render,
    base_url: str,
    actor: User | None,
    now: datetime,
    sender: str = DEFAULT_SENDER,
) -> SendSummary:
    """Remind experts who have not submitted the open round (all of them, or those given).

    Withdrawn experts and those who submitted are skipped. Updates reminded_at and
    reminder_count. StateError when no round is open.
    """
    round_ = open_round_of(session, study)
    if round_ is None:
        raise StateError("No round is open, so there is nothing to remind experts of.")
    pending = non_submitters(session, study, round_)
    targets = pending if participations is None else list(participations)
    _lock(session, study, targets)
    pending_ids = {p.id for p in pending}
    summary = SendSummary(MailKind.REMINDER)
    sendable = []
    for participation in targets:
        if participation.status == ParticipationStatus.WITHDRAWN:
            summary.skipped.append(_outcome(participation, "withdrawn"))
        elif participation.id not in pending_ids:
            summary.skipped.append(_outcome(participation, "submitted already"))
        else:
            sendable.append(participation)
    _send_each(
        session,
        study,
        sendable,
        summary,
        round_=round_,
        mailer=mailer,
        render=render,
        base_url=base_url,
        sender=sender,
        now=now,
    )
    _record(session, study, summary, actor=actor, now=now)
    return summary
