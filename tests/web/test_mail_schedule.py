"""The outbox and the schedule from the facilitator pages: queued mail, delivery state, send
again, the schedule form, the dashboard's card and the close page's k guard."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from app.auth import facilitator_required
from app.database import atomic
from app.extensions import db
from app.jobs.mail import send_after_commit, send_outbox, sweep_outbox
from app.models import AuditEvent, EmailStatus, OutgoingEmail, Study, utcnow
from app.services import invitations, panel, rounds
from tests.conftest import NOW, csrf_from
from tests.facilitator_world import World, build_world, sign_in, submit
from tests.mailbox import Mailbox, running_smtp_server


@pytest.fixture
def smtp_server(app: Flask) -> Iterator[Mailbox]:
    """A real SMTP server on loopback, and the app configured to send through it."""
    with running_smtp_server() as mailbox:
        app.config.update(MAIL_BACKEND="smtp", SMTP_HOST=mailbox.host, SMTP_PORT=mailbox.port)
        yield mailbox


@pytest.fixture
def world(session: Session, example_study: Study) -> World:
    """Ann, Bahram, Cyril; round 1 open with a deadline in twenty days."""
    built = build_world(session, example_study)
    rounds.set_deadline(session, built.round, utcnow() + timedelta(days=20), actor=None, now=NOW)
    session.commit()
    return built


def _post(client: FlaskClient, url: str, **data: str) -> TestResponse:
    token = csrf_from(client.get("/f/").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data}, follow_redirects=True)


def _fresh(session: Session) -> None:
    session.rollback()
    session.expire_all()


def test_a_view_that_fails_after_queuing_mails_nobody(
    app: Flask, client: FlaskClient, session: Session, world: World, smtp_server: Mailbox
) -> None:
    @app.post("/test-only/invite-then-fail/<int:study_id>")
    @facilitator_required
    @atomic
    def invite_then_fail(study_id: int) -> Any:
        study = db.session.get_one(Study, study_id)
        summary = invitations.queue_invitations(
            db.session, study, panel.panel(db.session, study), actor=None, now=utcnow()
        )
        send_after_commit(db.session, summary.ids)
        raise RuntimeError("the view fails after queuing")

    sign_in(client)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = _post(client, f"/test-only/invite-then-fail/{world.study.id}")
    assert response.status_code == 500
    _fresh(session)
    assert session.scalars(select(OutgoingEmail)).all() == []
    assert smtp_server.messages == []
    # the next commit of the same session sends nothing either
    _post(client, f"/f/studies/{world.study.id}/schedule", reminder_days="", close_at_deadline="")
    assert smtp_server.messages == []


def test_mail_server_down_shows_waiting_then_failed_with_the_reason_and_send_again(
    app: Flask, client: FlaskClient, session: Session, world: World, smtp_server: Mailbox
) -> None:
    app.config["SMTP_PORT"] = 1  # refused
    sign_in(client)
    page = _post(client, f"/f/studies/{world.study.id}/mail/invitations", audience="all")
    html = page.get_data(as_text=True)
    assert "Invitations queued: 3." in html
    assert 'data-state="invitation-pending">3<' in html  # tried once, waiting for the next
    _fresh(session)
    ids = [e.id for e in session.scalars(select(OutgoingEmail))]
    send_outbox(ids)  # the minute's sweep, twice
    send_outbox(ids)
    _fresh(session)
    html = client.get(f"/f/studies/{world.study.id}/mail").get_data(as_text=True)
    assert 'data-state="invitation-failed">3<' in html
    assert "Not sent to ann@example.org: cannot reach the mail server" in html
    assert smtp_server.messages == []

    app.config["SMTP_PORT"] = smtp_server.port  # back
    again = _post(client, f"/f/studies/{world.study.id}/mail/again", kind="invitation")
    html = again.get_data(as_text=True)
    assert "Emails queued again: 3." in html
    assert 'data-state="invitation-sent">3<' in html and "Not sent to" not in html
    assert len(smtp_server.messages) == 3


def test_an_unsure_email_is_shown_and_never_sent_again_on_its_own(
    client: FlaskClient, session: Session, world: World, smtp_server: Mailbox
) -> None:
    ann = world.members[0]
    summary = invitations.queue_invitations(session, world.study, [ann], actor=None, now=NOW)
    session.commit()
    # a worker claimed it and died before recording anything (its claim has run out)
    session.execute(
        update(OutgoingEmail).values(
            status=EmailStatus.SENDING, attempts=1, claimed_until=utcnow() - timedelta(seconds=1)
        )
    )
    session.commit()
    sweep_outbox()
    sweep_outbox()
    send_outbox(summary.ids)
    assert smtp_server.messages == []
    sign_in(client)
    html = client.get(f"/f/studies/{world.study.id}/mail").get_data(as_text=True)
    assert 'data-state="invitation-unsure">1<' in html
    assert "Unsure whether ann@example.org got it" in html
    _post(client, f"/f/studies/{world.study.id}/mail/again", kind="invitation")
    assert [m.recipients for m in smtp_server.messages] == [["ann@example.org"]]


def test_reminders_needing_attention_are_counted_never_named(
    client: FlaskClient, session: Session, world: World, smtp_server: Mailbox
) -> None:
    assert world.study.is_anonymous
    smtp_server.refuse.add("bahram@example.org")
    sign_in(client)
    html = _post(client, f"/f/studies/{world.study.id}/mail/reminders", next="mail").get_data(
        as_text=True
    )
    assert "1 × the mail server refused the recipient (550)" in html
    assert "bahram@example.org" not in html
    smtp_server.refuse.clear()
    submit(session, world.members[1], world.round)  # Bahram submits meanwhile
    html = _post(client, f"/f/studies/{world.study.id}/mail/again", kind="reminder").get_data(
        as_text=True
    )
    assert "Emails queued again: 0." in html  # only to experts who have still not submitted
    assert len(smtp_server.messages) == 2


def test_the_schedule_form_refuses_bad_days_and_saves_good_ones(
    client: FlaskClient, session: Session, world: World
) -> None:
    sign_in(client)
    url = f"/f/studies/{world.study.id}/schedule"
    token = csrf_from(client.get(url).get_data(as_text=True))
    bad = client.post(url, data={"csrf_token": token, "reminder_days": "7, 99"})
    assert bad.status_code == 422
    assert "between 1 and 60 days before the deadline; 99 is not" in bad.get_data(as_text=True)
    _fresh(session)
    assert world.study.reminder_days == []
    good = client.post(
        url,
        data={"csrf_token": token, "reminder_days": "2, 7", "close_at_deadline": "y"},
        follow_redirects=True,
    )
    html = good.get_data(as_text=True)
    assert "The schedule is saved." in html
    _fresh(session)
    assert world.study.reminder_days == [7, 2] and world.study.close_at_deadline
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "study.schedule")).one()
    assert event.details["new"] == {"reminder_days": [7, 2], "close_at_deadline": True}
    assert 'data-reminder="7"' in html and "planned for" in html


def test_the_dashboard_shows_planned_and_done_reminders_and_the_outbox(
    client: FlaskClient, session: Session, world: World, smtp_server: Mailbox
) -> None:
    from app.jobs.schedule import remind_due

    world.study.reminder_days = [7, 2]
    world.study.close_at_deadline = True
    session.commit()
    deadline = world.round.deadline
    assert deadline is not None
    remind_due(deadline - timedelta(days=7))
    sign_in(client)
    html = client.get(f"/f/studies/{world.study.id}").get_data(as_text=True)
    assert "Email and schedule" in html
    assert "3 reminders queued" in html  # the 7-day run
    assert "2 days before: planned for" in html
    assert "closes itself at its deadline if at least" in html
    assert "Outbox: 0 waiting, 3 sent, 0 failed, 0 unsure." in html


def test_the_close_page_warns_when_fewer_than_k_submitted(
    client: FlaskClient, session: Session, world: World
) -> None:
    sign_in(client)
    url = f"/f/studies/{world.study.id}/rounds/{world.round.number}/close"
    html = client.get(url).get_data(as_text=True)
    assert 'id="k-guard"' in html and "Fewer than k = 5 experts have submitted." in html
    world.study.k = 3
    for member in world.members:
        submit(session, member, world.round)
    html = client.get(url).get_data(as_text=True)
    assert "Fewer than k = 3 experts have submitted." not in html
    # they submitted without answering: every rated item would still be withheld
    assert 'id="withheld"' in html and 'name="confirm"' in html
