"""Automatic reminders before the deadline and closing at the deadline, run by the minute's
tick (app/jobs/schedule.py) with the outbox sending through a real SMTP server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.jobs import schedule as ticks
from app.models import (
    AuditEvent,
    OutgoingEmail,
    ReminderRun,
    Round,
    RoundState,
    Study,
    ValidationError,
    utcnow,
)
from app.services import rounds, schedule
from tests.conftest import NOW
from tests.facilitator_world import World, build_world, submit
from tests.mailbox import Mailbox, running_smtp_server

#: the schedule's clock is a parameter, the worker's is the real one (it checks the deadline
#: again when it sends), so these tests live around the real present
T0 = utcnow().replace(microsecond=0)
DEADLINE = T0 + timedelta(days=10)


def fresh(session: Session) -> None:
    """End the test session's transaction and forget what it read: the worker wrote since."""
    session.rollback()
    session.expire_all()


@pytest.fixture
def smtp_server(app: Flask) -> Iterator[Mailbox]:
    """A real SMTP server on loopback, and the app configured to send through it."""
    with running_smtp_server() as mailbox:
        app.config.update(MAIL_BACKEND="smtp", SMTP_HOST=mailbox.host, SMTP_PORT=mailbox.port)
        yield mailbox


@pytest.fixture
def world(session: Session, example_study: Study) -> World:
    """Three experts; round 1 opened at T0 with its deadline ten days later; reminders 7
    and 2 days before."""
    built = build_world(session, example_study)
    rounds.set_deadline(session, built.round, DEADLINE, actor=None, now=NOW)
    built.round.opened_at = T0
    example_study.reminder_days = [7, 2]
    session.commit()
    return built


def _runs(session: Session) -> list[tuple[int, int, str]]:
    fresh(session)
    rows = session.scalars(select(ReminderRun).order_by(ReminderRun.days_before.desc()))
    return [(r.days_before, r.queued, r.note) for r in rows]


def test_parse_reminder_days_names_what_is_wrong() -> None:
    assert schedule.parse_reminder_days("7, 2") == [7, 2]
    assert schedule.parse_reminder_days(" 2;7 7 ") == [7, 2]
    assert schedule.parse_reminder_days("") == []
    # a Persian keyboard types «،» and Persian digits
    assert schedule.parse_reminder_days("۲، ۷") == [7, 2]
    with pytest.raises(ValidationError, match="'x' is not one"):
        schedule.parse_reminder_days("7, x")
    with pytest.raises(ValidationError, match=r"between 1 and 60 .* 61 is not"):
        schedule.parse_reminder_days("61")
    with pytest.raises(ValidationError, match=r"between 1 and 60 .* 0 is not"):
        schedule.parse_reminder_days("0")
    with pytest.raises(ValidationError, match="At most 5 reminders per round; 6 given"):
        schedule.parse_reminder_days("1,2,3,4,5,6")


def test_each_reminder_runs_once_and_only_to_experts_who_have_not_submitted(
    session: Session, world: World, smtp_server: Mailbox
) -> None:
    ann, bahram, cyril = world.members
    submit(session, ann, world.round)
    assert ticks.remind_due(DEADLINE - timedelta(days=7, minutes=1)) == 0  # not yet due
    assert ticks.remind_due(DEADLINE - timedelta(days=7) + timedelta(minutes=1)) == 2
    assert sorted(r for m in smtp_server.messages for r in m.recipients) == sorted(
        [bahram.expert.email, cyril.expert.email]
    )
    # the next minute's tick (or a second worker) finds the run done
    assert ticks.remind_due(DEADLINE - timedelta(days=7) + timedelta(minutes=2)) == 0
    assert len(smtp_server.messages) == 2
    assert _runs(session) == [(7, 2, "")]

    submit(session, bahram, world.round)
    assert ticks.remind_due(DEADLINE - timedelta(days=2) + timedelta(hours=1)) == 1
    assert [m.recipients for m in smtp_server.messages[2:]] == [[cyril.expert.email]]
    assert _runs(session) == [(7, 2, ""), (2, 1, "")]
    assert len(smtp_server.messages) == 3
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "panel.reminder.scheduled")
    ).all()
    assert [e.details for e in events] == [
        {"days_before": 7, "queued": 2},
        {"days_before": 2, "queued": 1},
    ]


def test_a_reminder_queued_before_a_submit_is_not_sent_after_it(
    session: Session, world: World
) -> None:
    """Queued by the schedule, then the expert submits before the worker sends it."""
    ann = world.members[0]
    ids = schedule.remind_due(session, world.round.id, now=DEADLINE - timedelta(days=7))
    session.commit()  # queued, not yet sent (nothing was enqueued in this test)
    submit(session, ann, world.round)
    from app.jobs.mail import send_outbox

    send_outbox(ids)
    fresh(session)
    rows = {e.participation_id: e for e in session.scalars(select(OutgoingEmail))}
    assert (rows[ann.id].status, rows[ann.id].reason) == ("skipped", "submitted already")
    assert ann.reminder_count == 0


def test_never_after_the_deadline_and_no_burst_for_a_late_opening(
    session: Session, world: World, smtp_server: Mailbox
) -> None:
    assert ticks.remind_due(DEADLINE) == 0
    assert ticks.remind_due(DEADLINE + timedelta(days=1)) == 0
    assert _runs(session) == [] and smtp_server.messages == []

    # a deadline set five days after opening: the 7-day reminder fell due before the round
    # opened; it is recorded as run, with nothing queued, so nobody is reminded at once
    world.round.deadline = T0 + timedelta(days=5)
    session.commit()
    assert ticks.remind_due(T0 + timedelta(hours=1)) == 0
    assert _runs(session) == [(7, 0, schedule.BEFORE_OPENING)]
    assert smtp_server.messages == []
    assert ticks.remind_due(T0 + timedelta(days=3, hours=1)) == 3  # 2 days before
    assert len(smtp_server.messages) == 3


def test_a_scheduled_reminder_not_sent_by_the_deadline_is_skipped(
    session: Session, world: World
) -> None:
    ids = schedule.remind_due(session, world.round.id, now=DEADLINE - timedelta(days=2))
    session.commit()
    from app.jobs import mail

    world.round.deadline = utcnow() - timedelta(minutes=1)  # the worker comes too late
    session.commit()
    mail.send_outbox(ids)
    fresh(session)
    assert {e.reason for e in session.scalars(select(OutgoingEmail))} == {"the deadline has passed"}


def test_closing_at_the_deadline_needs_k_submissions(session: Session, world: World) -> None:
    study = world.study
    study.close_at_deadline = True
    study.k = 3
    session.commit()
    ann, bahram, cyril = world.members
    submit(session, ann, world.round)
    submit(session, bahram, world.round)
    assert ticks.close_due(DEADLINE - timedelta(minutes=1)) == 0  # not yet
    assert ticks.close_due(DEADLINE) == 0
    assert ticks.close_due(DEADLINE + timedelta(minutes=1)) == 0
    fresh(session)
    round_ = session.get_one(Round, world.round.id)
    assert round_.state == RoundState.OPEN
    assert round_.auto_close_note == (
        "2 of 3 experts have submitted; the round stays open until a facilitator closes it"
    )
    refused = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "round.auto_close_refused")
    ).all()
    assert len(refused) == 1  # said once, not every minute

    submit(session, cyril, world.round)
    assert ticks.close_due(DEADLINE + timedelta(minutes=2)) == 1
    fresh(session)
    assert round_.state == RoundState.CLOSED and round_.snapshot is not None
    assert round_.auto_close_note == ""
    closed = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "round.auto_close")
    ).one()
    assert closed.actor_id is None and closed.details["by"] == "schedule"
    assert ticks.close_due(DEADLINE + timedelta(minutes=3)) == 0


def test_rounds_of_studies_without_close_at_deadline_stay_open(
    session: Session, world: World
) -> None:
    for member in world.members:
        submit(session, member, world.round)
    world.study.k = 3
    session.commit()
    assert ticks.close_due(DEADLINE + timedelta(days=1)) == 0
    fresh(session)
    assert session.get_one(Round, world.round.id).state == RoundState.OPEN
