"""Automatic reminders before a round's deadline, and closing a round at its deadline.

A study sets `reminder_days` (e.g. [7, 2]: a week and two days before the deadline, only to
the experts who have not submitted) and `close_at_deadline`. The queue's scheduler calls
`remind_due` and `close_due` every minute (app/jobs/schedule.py). Each reminder of a round is
a `ReminderRun` row, unique per (round, days): a second tick, or two workers at once, cannot
queue it twice. A round closes itself only when at least k experts have submitted (the same
guard the close page warns about); otherwise it stays open and says why, once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.messages import N_
from app.models import (
    Participation,
    ParticipationStatus,
    ReminderRun,
    Round,
    RoundProgress,
    RoundState,
    Snapshot,
    Study,
    User,
    ValidationError,
)
from app.services import audit, report_files
from app.services.invitations import queue_reminders
from app.services.rounds import close_round

#: reminder days: each between these bounds, at most MAX_REMINDERS of them
MIN_DAYS, MAX_DAYS, MAX_REMINDERS = 1, 60, 5

#: the note of a run that fell due before its round opened (queued nothing)
BEFORE_OPENING = "due before the round opened; not sent, so experts are not reminded at once"


def parse_reminder_days(text: str) -> list[int]:
    """'7, 2' -> [7, 2] (largest first, no repeats); ValidationError naming what is wrong.

    Commas (also the Persian and Arabic «،»), semicolons or spaces separate the numbers, and
    Persian or Arabic-Indic digits count as digits.
    """
    parts = [p for p in re.split(r"[,;،؛\s]+", text.strip()) if p]
    days: list[int] = []
    for part in parts:
        if not part.isdigit():
            raise ValidationError(
                N_(
                    "Reminder days must be whole numbers of days, separated by commas; "
                    "%(part)s is not one.",
                    part=repr(part[:20]),
                )
            )
        value = int(part)
        if not MIN_DAYS <= value <= MAX_DAYS:
            raise ValidationError(
                N_(
                    "Reminder days must be between %(low)s and %(high)s days before the "
                    "deadline; %(value)s is not.",
                    low=MIN_DAYS,
                    high=MAX_DAYS,
                    value=value,
                )
            )
        if value not in days:
            days.append(value)
    if len(days) > MAX_REMINDERS:
        raise ValidationError(
            N_(
                "At most %(most)s reminders per round; %(given)s given.",
                most=MAX_REMINDERS,
                given=len(days),
            )
        )
    return sorted(days, reverse=True)


def set_schedule(
    session: Session,
    study: Study,
    *,
    reminder_days: list[int],
    close_at_deadline: bool,
    actor: User | None,
    now: datetime,
) -> None:
    """Change the study's reminder days and whether rounds close at their deadline (audited)."""
    old = {"reminder_days": list(study.reminder_days), "close_at_deadline": study.close_at_deadline}
    new = {"reminder_days": list(reminder_days), "close_at_deadline": close_at_deadline}
    if old == new:
        return
    study.reminder_days = list(reminder_days)
    study.close_at_deadline = close_at_deadline
    session.flush()
    audit.record(
        session, action="study.schedule", now=now, actor=actor, study=study, old=old, new=new
    )


def _days(study: Study) -> list[int]:
    """The study's reminder days, defensively cleaned (the column is JSON)."""
    return sorted({int(d) for d in study.reminder_days or [] if str(d).isdigit()}, reverse=True)


def open_rounds_with_deadline(session: Session) -> list[tuple[int, int]]:
    """(study id, round id) of every open round with a deadline."""
    rows = session.execute(
        select(Round.study_id, Round.id).where(
            Round.state == RoundState.OPEN, Round.deadline.is_not(None)
        )
    ).all()
    return [(int(s), int(r)) for s, r in rows]


def remind_due(session: Session, round_id: int, *, now: datetime) -> list[int]:
    """Run the reminders of one round that are due now and have not run; the queued rows' ids.

    A reminder is due from `deadline - days` until the deadline. One that fell due before the
    round opened is recorded as run with nothing queued (no burst right after opening).
    """
    round_ = session.get(Round, round_id)
    if round_ is None or round_.state != RoundState.OPEN or round_.deadline is None:
        return []
    study = session.get_one(Study, round_.study_id)
    done = set(
        session.scalars(select(ReminderRun.days_before).where(ReminderRun.round_id == round_.id))
    )
    queued: list[int] = []
    for days in _days(study):
        due_at = round_.deadline - timedelta(days=days)
        if days in done or not due_at <= now < round_.deadline:
            continue
        early = round_.opened_at is not None and due_at < round_.opened_at
        run = ReminderRun(
            round_id=round_.id,
            days_before=days,
            due_at=due_at,
            ran_at=now,
            note=BEFORE_OPENING if early else "",
        )
        try:
            with session.begin_nested():
                session.add(run)
                session.flush()
        except IntegrityError:
            continue  # another tick ran it a moment ago
        if not early:
            summary = queue_reminders(session, study, actor=None, now=now, reminder_run_id=run.id)
            run.queued = summary.queued
            queued.extend(summary.ids)
        audit.record(
            session,
            action="panel.reminder.scheduled",
            now=now,
            actor=None,
            study=study,
            target=f"round {round_.number}",
            days_before=days,
            queued=run.queued,
        )
        session.flush()
    return queued


def submitted_count(session: Session, round_: Round) -> int:
    """How many current panel members have submitted the round."""
    query = (
        select(func.count())
        .select_from(RoundProgress)
        .join(Participation, Participation.id == RoundProgress.participation_id)
        .where(
            RoundProgress.round_id == round_.id,
            RoundProgress.submitted_at.is_not(None),
            Participation.status != ParticipationStatus.WITHDRAWN,
        )
    )
    return int(session.scalar(query) or 0)


def rounds_past_deadline(session: Session, *, now: datetime) -> list[int]:
    """Open rounds past their deadline in studies that close rounds at the deadline."""
    rows = session.scalars(
        select(Round.id)
        .join(Study, Study.id == Round.study_id)
        .where(
            Round.state == RoundState.OPEN,
            Round.deadline.is_not(None),
            Round.deadline <= now,
            Study.close_at_deadline.is_(True),
        )
    )
    return list(rows)


def stays_open_note(submitted: int, k: int) -> str:
    """Why a round past its deadline did not close itself."""
    return (
        f"{submitted} of {k} experts have submitted; the round stays open until a "
        "facilitator closes it"
    )


@dataclass(frozen=True)
class CloseOutcome:
    """What `close_due` did with one round."""

    closed: bool
    snapshot: Snapshot | None = None
    note: str = ""


def close_due(session: Session, round_id: int, *, now: datetime) -> CloseOutcome:
    """Close a round past its deadline if at least k experts submitted; else note why not
    (audited once, when the note changes)."""
    round_ = session.get(Round, round_id)
    if round_ is None or round_.state != RoundState.OPEN:
        return CloseOutcome(False)
    study = session.get_one(Study, round_.study_id)
    if not study.close_at_deadline or round_.deadline is None or now < round_.deadline:
        return CloseOutcome(False)
    submitted = submitted_count(session, round_)
    if submitted < study.k:
        note = stays_open_note(submitted, study.k)
        if round_.auto_close_note != note:
            round_.auto_close_note = note
            audit.record(
                session,
                action="round.auto_close_refused",
                now=now,
                actor=None,
                study=study,
                target=f"round {round_.number}",
                submitted=submitted,
                k=study.k,
            )
            session.flush()
        return CloseOutcome(False, note=note)
    snapshot = close_round(session, round_, actor=None, now=now)
    round_.auto_close_note = ""
    audit.record(
        session,
        action="round.auto_close",
        now=now,
        actor=None,
        study=study,
        target=f"round {round_.number}",
        by="schedule",
        submitted=submitted,
    )
    # the report files of the new snapshot, built once this transaction commits
    report_files.request_builds_after_close(session, study, snapshot, now)
    session.flush()
    return CloseOutcome(True, snapshot=snapshot)


@dataclass(frozen=True)
class PlannedReminder:
    """One reminder of the open round, planned or done."""

    days_before: int
    due_at: datetime
    state: str  #: planned | done | missed (the deadline passed before it ran)
    ran_at: datetime | None = None
    queued: int = 0
    note: str = ""


@dataclass(frozen=True)
class ScheduleView:
    """The dashboard's view of a study's schedule."""

    reminder_days: list[int]
    close_at_deadline: bool
    round_number: int | None
    deadline: datetime | None
    reminders: list[PlannedReminder]
    auto_close_note: str
    past_runs: list[ReminderRun]


def schedule_view(session: Session, study: Study, *, now: datetime) -> ScheduleView:
    """Planned and done reminders of the open round, and every run of the study so far."""
    round_ = session.scalar(
        select(Round).where(Round.study_id == study.id, Round.state == RoundState.OPEN)
    )
    runs = list(
        session.scalars(
            select(ReminderRun)
            .join(Round, Round.id == ReminderRun.round_id)
            .where(Round.study_id == study.id)
            .order_by(ReminderRun.ran_at.desc())
        )
    )
    reminders: list[PlannedReminder] = []
    if round_ is not None and round_.deadline is not None:
        by_days = {r.days_before: r for r in runs if r.round_id == round_.id}
        for days in _days(study):
            due_at = round_.deadline - timedelta(days=days)
            run = by_days.get(days)
            if run is not None:
                reminders.append(
                    PlannedReminder(days, due_at, "done", run.ran_at, run.queued, run.note)
                )
            elif now >= round_.deadline:
                reminders.append(PlannedReminder(days, due_at, "missed"))
            else:
                reminders.append(PlannedReminder(days, due_at, "planned"))
    return ScheduleView(
        reminder_days=_days(study),
        close_at_deadline=study.close_at_deadline,
        round_number=round_.number if round_ is not None else None,
        deadline=round_.deadline if round_ is not None else None,
        reminders=reminders,
        auto_close_note=round_.auto_close_note if round_ is not None else "",
        past_runs=runs,
    )
