"""Invitations and reminders: queued in the transaction of the request, sent by the worker.

Asking for a mailing writes one `OutgoingEmail` row per recipient (after the same checks as
ever: withdrawn experts are skipped, reminders go only to those who have not submitted the
open round) and nothing else: no link, no text. The rows commit with the change that caused
them, so a rolled-back request mails nobody; the worker (app/jobs/mail.py) claims each row,
issues the private link, renders the message in the expert's language and sends it
(app/services/outbox.py keeps the rows' states honest).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    EmailStatus,
    NotFoundError,
    OutgoingEmail,
    Participation,
    ParticipationStatus,
    Round,
    RoundProgress,
    StateError,
    Study,
    User,
)
from app.services import audit
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


@dataclass
class QueueSummary:
    """What a mailing request queued: how many emails, and how many were skipped and why."""

    kind: MailKind
    emails: list[OutgoingEmail] = field(default_factory=list)
    #: reason -> how many (withdrawn, submitted already, queued already)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def queued(self) -> int:
        """How many emails were queued."""
        return len(self.emails)

    @property
    def skipped_count(self) -> int:
        """How many panel members got no new email."""
        return sum(self.skipped.values())

    @property
    def ids(self) -> list[int]:
        """The queued rows' ids (flushed)."""
        return [email.id for email in self.emails]

    def skip(self, reason: str) -> None:
        """Count one member skipped for `reason`."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def build_message(
    participation: Participation, content: MailContent, *, sender: str, now: datetime
) -> EmailMessage:
    """The email for one participation; ValueError if an address or name cannot be used."""
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


def _check_panel(study: Study, participations: Iterable[Participation]) -> list[Participation]:
    """The participations, refused (NotFoundError) unless every one is on this study's panel."""
    members = list(participations)
    for participation in members:
        if participation.study_id != study.id:
            raise NotFoundError("No such panel member.")
    return members


def _queued_already(
    session: Session, study: Study, kind: MailKind, round_: Round | None
) -> set[int]:
    """Participations that have an email of `kind` waiting or going out (a double click);
    for reminders, one of this round (a reminder of an earlier round is skipped when sent)."""
    query = select(OutgoingEmail.participation_id).where(
        OutgoingEmail.study_id == study.id,
        OutgoingEmail.kind == kind,
        OutgoingEmail.status.in_((EmailStatus.PENDING, EmailStatus.SENDING)),
    )
    if kind == MailKind.REMINDER and round_ is not None:
        query = query.where(OutgoingEmail.round_id == round_.id)
    return set(session.scalars(query))


def _queue(
    session: Session,
    study: Study,
    targets: Iterable[Participation],
    summary: QueueSummary,
    *,
    round_: Round | None,
    actor: User | None,
    now: datetime,
    reminder_run_id: int | None = None,
) -> None:
    """One pending row per target (flushed, so the caller can enqueue their ids)."""
    waiting = _queued_already(session, study, summary.kind, round_)
    for participation in targets:
        if participation.id in waiting:
            summary.skip("queued already")
            continue
        email = OutgoingEmail(
            study_id=study.id,
            participation_id=participation.id,
            round_id=round_.id if round_ is not None else None,
            kind=summary.kind,
            reminder_run_id=reminder_run_id,
            status=EmailStatus.PENDING,
            created_at=now,
            requested_by_id=actor.id if actor is not None else None,
        )
        session.add(email)
        summary.emails.append(email)
    session.flush()


def _record(
    session: Session, study: Study, summary: QueueSummary, *, actor: User | None, now: datetime
) -> None:
    """Audit the mailing with counts only (never who has or has not answered)."""
    audit.record(
        session,
        action=f"panel.{summary.kind}",
        now=now,
        actor=actor,
        study=study,
        target=f"{summary.queued} experts",
        queued=summary.queued,
        skipped=summary.skipped_count,
    )


def queue_invitations(
    session: Session,
    study: Study,
    participations: Iterable[Participation],
    *,
    actor: User | None,
    now: datetime,
) -> QueueSummary:
    """Queue an invitation (a fresh private link, issued when it is sent) to each member.

    Withdrawn experts are skipped, and so is anyone whose invitation is still waiting to go.
    """
    targets = _check_panel(study, participations)
    summary = QueueSummary(MailKind.INVITATION)
    sendable = []
    for participation in targets:
        if participation.status == ParticipationStatus.WITHDRAWN:
            summary.skip("withdrawn")
        else:
            sendable.append(participation)
    _queue(
        session,
        study,
        sendable,
        summary,
        round_=open_round_of(session, study),
        actor=actor,
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


def has_submitted(session: Session, participation_id: int, round_id: int) -> bool:
    """Whether the participation has submitted the round."""
    return (
        session.scalar(
            select(RoundProgress.round_id).where(
                RoundProgress.participation_id == participation_id,
                RoundProgress.round_id == round_id,
                RoundProgress.submitted_at.is_not(None),
            )
        )
        is not None
    )


def queue_reminders(
    session: Session,
    study: Study,
    participations: Iterable[Participation] | None = None,
    *,
    actor: User | None,
    now: datetime,
    reminder_run_id: int | None = None,
) -> QueueSummary:
    """Queue a reminder to the experts who have not submitted the open round (all, or those
    given). Withdrawn experts and those who submitted are skipped. StateError when no round
    is open."""
    round_ = open_round_of(session, study)
    if round_ is None:
        raise StateError("No round is open, so there is nothing to remind experts of.")
    pending = non_submitters(session, study, round_)
    targets = pending if participations is None else _check_panel(study, participations)
    pending_ids = {p.id for p in pending}
    summary = QueueSummary(MailKind.REMINDER)
    sendable = []
    for participation in targets:
        if participation.status == ParticipationStatus.WITHDRAWN:
            summary.skip("withdrawn")
        elif participation.id not in pending_ids:
            summary.skip("submitted already")
        else:
            sendable.append(participation)
    _queue(
        session,
        study,
        sendable,
        summary,
        round_=round_,
        actor=actor,
        now=now,
        reminder_run_id=reminder_run_id,
    )
    if reminder_run_id is None:  # a scheduled run is audited by the schedule
        _record(session, study, summary, actor=actor, now=now)
    return summary
