"""Data-subject rights: what the platform holds about a person, and erasing it.

An expert (from their own pages) or an administrator can download the personal data held
about a person as JSON, and erase it. Erasure replaces the name and email (the Expert row stays,
anonymised, so pseudonymous answers keep their participation), revokes every private link and
session, withdraws the person from every panel and removes their email from the audit log.
Answers stay, under their pseudonym, unless the person also withdraws them: then they are
deleted (so they leave every later snapshot and export; snapshots already frozen keep their
aggregates) and the study counts one more withdrawal (a number, never who).

Anonymity holds throughout (docs/anonymity.md): an administrator's download of a person's data
names studies, groups and invitations, but in an anonymous study never the pseudonym or the
answers; the audit log records that data was exported or erased, never a pseudonym.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app.models import (
    Answer,
    AnswerDraft,
    AuditEvent,
    Expert,
    ExpertSession,
    Item,
    NotFoundError,
    Participation,
    ParticipationStatus,
    Question,
    Round,
    RoundProgress,
    SaveRequest,
    Study,
    User,
    ValidationError,
)
from app.services import audit
from app.services.accounts import normalise_email

#: what an erased expert is called from then on
ERASED_NAME = "Erased expert"
#: how the audit log names an erased expert (their email is gone from it too)
ERASED_TARGET = "expert (erased)"
#: the format of a personal-data download
DATA_FORMAT = "delphi-personal-data"


@dataclass(frozen=True)
class Erasure:
    """What an erasure did."""

    studies: int  #: panels the person was on
    links_revoked: int
    answers_withdrawn: int  #: answers deleted (0 unless the person withdrew them)


def find_person(session: Session, email: str) -> Expert | None:
    """The panel member with this email (not erased), if any."""
    try:
        address = normalise_email(email)
    except ValidationError:
        return None
    return session.scalar(select(Expert).where(Expert.email == address, Expert.erased_at.is_(None)))


def participations_of(session: Session, expert: Expert) -> list[Participation]:
    """Every panel the person is on, oldest first."""
    return list(
        session.scalars(
            select(Participation)
            .where(Participation.expert_id == expert.id)
            .order_by(Participation.created_at, Participation.id)
        )
    )


def _when(moment: datetime | None) -> str | None:
    """A timestamp as an ISO date-time in UTC (downloads say exactly what is held)."""
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _answers(session: Session, participation: Participation) -> list[dict[str, Any]]:
    """A participation's answers, every revision, with the item and question they answer."""
    rows = session.execute(
        select(Answer, Round.number, Item.key, Question.key)
        .join(Round, Answer.round_id == Round.id)
        .join(Question, Answer.question_id == Question.id)
        .join(Item, Question.item_id == Item.id)
        .where(Answer.participation_id == participation.id)
        .order_by(Round.number, Item.position, Question.position, Answer.revision)
    ).tuples()
    return [
        {
            "round": number,
            "item": item_key,
            "question": question_key,
            "value": answer.value,
            "values": answer.value_json,
            "text": answer.text,
            "no_answer": answer.no_answer,
            "revision": answer.revision,
            "current": answer.is_current,
            "saved_at": _when(answer.created_at),
        }
        for answer, number, item_key, question_key in rows
    ]


def _panel_entry(
    session: Session, participation: Participation, *, with_answers: bool
) -> dict[str, Any]:
    """One panel membership as a download shows it."""
    study = participation.study
    entry: dict[str, Any] = {
        "study": study.key,
        "title": study.title,
        "anonymity": study.anonymity,
        "name": participation.name,
        "group": participation.group,
        "language": participation.language,
        "expertise": participation.expertise,
        "status": participation.status,
        "consented_at": _when(participation.consent_at),
        "invited_at": _when(participation.invited_at),
        "reminded_at": _when(participation.reminded_at),
        "reminders": participation.reminder_count,
        "added_at": _when(participation.created_at),
        "private_links": [
            {
                "purpose": link.purpose,
                "created_at": _when(link.created_at),
                "revoked_at": _when(link.revoked_at),
                "last_used_at": _when(link.last_used_at),
            }
            for link in participation.links
        ],
    }
    if with_answers:
        entry["pseudonym"] = participation.pseudonym
        entry["answers"] = _answers(session, participation)
        entry["drafts"] = [
            {
                "round": number,
                "item": item_key,
                "question": question_key,
                "typed": draft.payload,
                "saved_at": _when(draft.updated_at),
            }
            for draft, number, item_key, question_key in session.execute(
                select(AnswerDraft, Round.number, Item.key, Question.key)
                .join(Round, AnswerDraft.round_id == Round.id)
                .join(Question, AnswerDraft.question_id == Question.id)
                .join(Item, Question.item_id == Item.id)
                .where(AnswerDraft.participation_id == participation.id)
            ).tuples()
        ]
    else:
        entry["answers"] = (
            "Held under a pseudonym that nobody running the study can link to this person "
            "(anonymous study); the person can download them from their own page."
        )
    return entry


def personal_data(
    session: Session,
    expert: Expert,
    *,
    now: datetime,
    own: Participation | None = None,
) -> dict[str, Any]:
    """Everything held about a person, JSON-ready.

    `own`: the download is the person's own, from their page in that study (their answers
    and pseudonym there included; other panels only counted). Without it the download is an
    administrator's: every panel, answers only where the study is confidential.
    """
    panels = participations_of(session, expert)
    data: dict[str, Any] = {
        "format": DATA_FORMAT,
        "generated_at": _when(now),
        "person": {
            # each study's facilitators typed the name they know the person by: every one
            "names": sorted({p.name for p in panels}),
            "email": expert.email,
            "added_at": _when(expert.created_at),
            "erased_at": _when(expert.erased_at),
        },
    }
    if own is not None:
        data["panels"] = [_panel_entry(session, own, with_answers=True)]
        data["other_panels"] = len([p for p in panels if p.id != own.id])
    else:
        data["panels"] = [
            _panel_entry(session, p, with_answers=not p.study.is_anonymous) for p in panels
        ]
    return data


def record_export(
    session: Session,
    expert: Expert,
    *,
    actor: User | None,
    now: datetime,
    study: Study | None = None,
    reason: str | None = None,
) -> None:
    """Audit a download of a person's data (by the person, or an administrator)."""
    audit.record(
        session,
        action="person.export",
        now=now,
        actor=actor,
        study=study,
        target=f"expert {expert.email}",
        reason=(reason or "").strip() or None,
        by_the_person=actor is None,
    )


def _revoke_everything(
    session: Session, participations: Iterable[Participation], now: datetime
) -> int:
    """Revoke every link and end every session of these participations; returns the links."""
    count = 0
    ids = []
    for participation in participations:
        ids.append(participation.id)
        for link in participation.links:
            if link.revoked_at is None:
                link.revoked_at = now
                count += 1
    if ids:
        session.execute(
            update(ExpertSession)
            .where(ExpertSession.participation_id.in_(ids), ExpertSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return count


def erase_person(
    session: Session,
    expert: Expert,
    *,
    withdraw_answers: bool,
    actor: User | None,
    now: datetime,
    reason: str | None = None,
) -> Erasure:
    """Erase a person's name and email everywhere; with `withdraw_answers`, their answers too.

    `actor` is the administrator who erases, or None when the person asked from their page.
    """
    if expert.erased_at is not None:
        raise NotFoundError("This person's data has been erased already.")
    if actor is not None and not (reason or "").strip():
        raise ValidationError(
            "Say why (for example, the person's request and its date); it is recorded.",
            {"reason": ["Required."]},
        )
    panels = participations_of(session, expert)
    links = _revoke_everything(session, panels, now)
    deleted = 0
    for participation in panels:
        participation.status = ParticipationStatus.WITHDRAWN
        participation.name = ERASED_NAME
        if withdraw_answers:
            deleted += _withdraw_answers(session, participation)
        audit.record(
            session,
            action="panel.erase",
            now=now,
            actor=actor,
            study=participation.study,
            target=ERASED_TARGET,
            answers_withdrawn=withdraw_answers,
            by_the_person=actor is None,
        )
    _forget_in_audit_log(session, expert)
    expert.email = f"erased-{expert.id}@erased.invalid"
    expert.erased_at = now
    session.flush()
    audit.record(
        session,
        action="person.erase",
        now=now,
        actor=actor,
        target=ERASED_TARGET,
        reason=(reason or "").strip() or None,
        panels=len(panels),
        answers_withdrawn=withdraw_answers,
        by_the_person=actor is None,
    )
    return Erasure(studies=len(panels), links_revoked=links, answers_withdrawn=deleted)


def _withdraw_answers(session: Session, participation: Participation) -> int:
    """Delete a participation's answers and progress; count the withdrawal on the study."""
    mine = Answer.participation_id == participation.id
    answers = session.scalar(select(func.count()).select_from(Answer).where(mine)) or 0
    session.execute(delete(Answer).where(mine))
    # drafts and the save ledger hold what they typed too
    for table in (AnswerDraft, SaveRequest, RoundProgress):
        session.execute(delete(table).where(table.participation_id == participation.id))
    if answers:
        participation.study.answers_withdrawn += 1
    return int(answers)


def _forget_in_audit_log(session: Session, expert: Expert) -> None:
    """Replace the person's email wherever the audit log named them by it."""
    session.execute(
        update(AuditEvent)
        .where(AuditEvent.target == f"expert {expert.email}")
        .values(target=ERASED_TARGET)
    )
