"""Invitations and reminders: queued in the caller's transaction, sent by the outbox's worker
through a real SMTP server on loopback (the test configuration runs the queue in-process)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.jobs.mail import deliver, send_outbox
from app.models import (
    AccessLink,
    AuditEvent,
    EmailStatus,
    NotFoundError,
    OutgoingEmail,
    Participation,
    RoundProgress,
    StateError,
    Study,
)
from app.services import invitations, panel, rounds, studies
from app.services.mail import SmtpMailer
from tests.conftest import NOW
from tests.mailbox import Mailbox, running_smtp_server


def fresh(session: Session) -> None:
    """End the test session's transaction and forget what it read: the worker wrote since."""
    session.rollback()
    session.expire_all()


@pytest.fixture
def smtp_server(app: Flask) -> Iterator[Mailbox]:
    """A real SMTP server on loopback, and the app configured to send through it."""
    with running_smtp_server() as mailbox:
        app.config.update(
            MAIL_BACKEND="smtp",
            SMTP_HOST=mailbox.host,
            SMTP_PORT=mailbox.port,
            MAIL_FROM="Delphi <delphi@example.org>",
            PUBLIC_BASE_URL="https://delphi.example.org/",
        )
        yield mailbox


def _panel(session: Session, study: Study) -> list[Participation]:
    people = [("Ann", "en", "A"), ("Bahram", "fa", "A"), ("Cyril", "ru", "B")]
    members = [
        panel.add_expert(
            session,
            study,
            name=name,
            email=f"{name.lower()}@example.org",
            group=group,
            language=language,
            actor=None,
            now=NOW,
        ).participation
        for name, language, group in people
    ]
    session.commit()
    return members


def _invite(session: Session, study: Study, members: list[Participation]) -> list[int]:
    """Queue invitations, commit, and send them as the worker would."""
    summary = invitations.queue_invitations(session, study, members, actor=None, now=NOW)
    session.commit()
    send_outbox(summary.ids)
    return summary.ids


def _statuses(session: Session) -> list[tuple[int, str]]:
    fresh(session)
    rows = session.scalars(select(OutgoingEmail).order_by(OutgoingEmail.id))
    return [(row.participation_id, row.status) for row in rows]


def test_invitations_carry_fresh_working_links_in_each_language(
    session: Session, example_study: Study, smtp_server: Mailbox
) -> None:
    members = _panel(session, example_study)
    _invite(session, example_study, members)
    assert sorted(r for m in smtp_server.messages for r in m.recipients) == [
        "ann@example.org",
        "bahram@example.org",
        "cyril@example.org",
    ]
    bahram = smtp_server.to("bahram@example.org")[0]
    assert "تأمین آب یک کلان‌شهر تا سال ۲۰۴۰" in bahram.message["Subject"]
    assert bahram.message["To"].addresses[0].display_name == "Bahram"
    assert bahram.message["From"] == "Delphi <delphi@example.org>"
    assert bahram.message["Message-ID"].endswith("@example.org>")
    assert "https://delphi.example.org/t/" in bahram.body() and "//t/" not in bahram.body()
    for received in smtp_server.messages:
        assert panel.open_session_from_link(session, received.token, NOW) is not None
    assert _statuses(session) == [(m.id, "sent") for m in members]
    assert all(m.invited_at is not None for m in members)
    links = session.scalars(select(AccessLink).where(AccessLink.purpose == "invitation")).all()
    assert len(links) == 3
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "panel.invitation")).one()
    assert event.details == {"queued": 3, "skipped": 0}
    assert "ann" not in str(event.details) and event.target == "3 experts"


def test_a_rolled_back_change_mails_nobody(
    app: Flask, session: Session, example_study: Study, smtp_server: Mailbox
) -> None:
    """The outbox: rows and their task exist only if the transaction that queued them commits."""
    from app.jobs.mail import send_after_commit

    members = _panel(session, example_study)
    summary = invitations.queue_invitations(session, example_study, members, actor=None, now=NOW)
    send_after_commit(session, summary.ids)
    fresh(session)
    assert session.scalars(select(OutgoingEmail)).all() == []
    session.commit()  # a later commit does not send what the rollback dropped
    assert smtp_server.messages == []


def test_queuing_stores_no_link_and_a_double_click_queues_once(
    session: Session, example_study: Study, smtp_server: Mailbox
) -> None:
    ann, *_ = _panel(session, example_study)
    first = invitations.queue_invitations(session, example_study, [ann], actor=None, now=NOW)
    second = invitations.queue_invitations(session, example_study, [ann], actor=None, now=NOW)
    session.commit()
    assert (first.queued, second.queued, second.skipped) == (1, 0, {"queued already": 1})
    assert [link.purpose for link in ann.links] == ["manual"]  # the worker issues the link
    send_outbox(first.ids)
    assert len(smtp_server.messages) == 1


def test_the_same_row_is_never_sent_twice(
    app: Flask, session: Session, example_study: Study, smtp_server: Mailbox
) -> None:
    """Idempotent sends: a repeated task, a second drain and two threads at once send each
    row once."""
    import threading

    members = _panel(session, example_study)
    ids = _invite(session, example_study, members)
    send_outbox(ids)  # a retried task
    assert len(smtp_server.messages) == 3

    more = invitations.queue_invitations(session, example_study, members, actor=None, now=NOW)
    session.commit()
    mailer = SmtpMailer(smtp_server.host, smtp_server.port, timeout=5)
    barrier = threading.Barrier(2)

    def drain() -> None:
        with app.app_context():
            barrier.wait()
            for email_id in more.ids:
                deliver(email_id, mailer)

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    received = sorted(r for m in smtp_server.messages for r in m.recipients)
    assert received == sorted(2 * [m.expert.email for m in members])
    assert [status for _p, status in _statuses(session)] == ["sent"] * 6


def test_a_refused_recipient_fails_with_its_reason_and_keeps_no_link(
    session: Session, example_study: Study, smtp_server: Mailbox
) -> None:
    ann, bahram, cyril = _panel(session, example_study)
    smtp_server.refuse.add("bahram@example.org")
    _invite(session, example_study, [ann, bahram, cyril])
    assert _statuses(session) == [(ann.id, "sent"), (bahram.id, "failed"), (cyril.id, "sent")]
    failed = session.scalars(select(OutgoingEmail).where(OutgoingEmail.status == "failed")).one()
    assert "550" in failed.reason and failed.attempts == 1
    assert bahram.invited_at is None and ann.invited_at is not None
    issued = [link for link in bahram.links if link.purpose == "invitation"]
    assert len(issued) == 1 and issued[0].revoked_at is not None  # the link that did not go


def test_unusable_names_fail_cleanly(
    session: Session, example_study: Study, smtp_server: Mailbox
) -> None:
    [ann, bahram, _cyril] = _panel(session, example_study)
    bahram.name = "Bahram\r\nBcc: everyone@example.org"
    session.commit()
    _invite(session, example_study, [ann, bahram])
    assert [m.recipients for m in smtp_server.messages] == [["ann@example.org"]]
    assert _statuses(session) == [(ann.id, "sent"), (bahram.id, "failed")]


def test_mail_server_down_retries_then_fails_with_the_reason(
    app: Flask, session: Session, example_study: Study, smtp_server: Mailbox
) -> None:
    ann, *_ = _panel(session, example_study)
    app.config["SMTP_PORT"] = 1  # nothing listens there: connection refused
    [email_id] = _invite(session, example_study, [ann])
    email = session.get_one(OutgoingEmail, email_id)
    assert (email.status, email.attempts) == (EmailStatus.PENDING, 1)
    assert "cannot reach the mail server" in email.reason
    send_outbox([email_id])
    send_outbox([email_id])
    fresh(session)
    assert (email.status, email.attempts) == (EmailStatus.FAILED, 3)
    assert "cannot reach the mail server" in email.reason
    send_outbox([email_id])  # failed is final
    fresh(session)
    assert email.attempts == 3 and smtp_server.messages == []
    assert all(link.revoked_at is not None for link in ann.links if link.purpose != "manual")


def test_withdrawn_experts_are_skipped_when_queued_and_when_sent(
    session: Session, example_study: Study, smtp_server: Mailbox
) -> None:
    ann, bahram, cyril = _panel(session, example_study)
    panel.set_withdrawn(session, bahram, True, actor=None, now=NOW)
    summary = invitations.queue_invitations(
        session, example_study, [ann, bahram, cyril], actor=None, now=NOW
    )
    assert summary.skipped == {"withdrawn": 1} and summary.queued == 2
    session.commit()
    panel.set_withdrawn(session, cyril, True, actor=None, now=NOW)  # after queuing
    session.commit()
    send_outbox(summary.ids)
    assert [m.recipients for m in smtp_server.messages] == [["ann@example.org"]]
    rows = session.scalars(select(OutgoingEmail).order_by(OutgoingEmail.id)).all()
    assert [(r.status, r.reason) for r in rows] == [("sent", ""), ("skipped", "withdrawn")]


def test_participations_of_another_study_are_refused(
    session: Session, example_study: Study, first_study_definition: object, smtp_server: Mailbox
) -> None:
    [ann, *_] = _panel(session, example_study)
    other = studies.import_study(session, first_study_definition, actor=None, now=NOW)  # type: ignore[arg-type]
    session.commit()
    with pytest.raises(NotFoundError):
        invitations.queue_invitations(session, other, [ann], actor=None, now=NOW)


def test_reminders_go_only_to_experts_who_have_not_submitted(
    session: Session, example_study: Study, smtp_server: Mailbox
) -> None:
    ann, bahram, cyril = _panel(session, example_study)
    with pytest.raises(StateError, match="No round is open"):
        invitations.queue_reminders(session, example_study, actor=None, now=NOW)
    round_ = rounds.create_round(
        session, example_study, actor=None, now=NOW, message={"ru": "Последний тур"}
    )
    rounds.open_round(session, round_, actor=None, now=NOW, deadline=NOW + timedelta(days=7))
    session.add(RoundProgress(participation_id=ann.id, round_id=round_.id, submitted_at=NOW))
    session.add(RoundProgress(participation_id=bahram.id, round_id=round_.id))  # started only
    session.commit()

    summary = invitations.queue_reminders(session, example_study, actor=None, now=NOW)
    session.commit()
    assert summary.queued == 2
    # Bahram submits after the reminder was queued and before it is sent: he gets nothing
    session.get_one(RoundProgress, (bahram.id, round_.id)).submitted_at = NOW
    session.commit()
    send_outbox(summary.ids)
    assert [m.recipients for m in smtp_server.messages] == [["cyril@example.org"]]
    assert "Последний тур" in smtp_server.messages[0].body()
    assert (bahram.reminder_count, cyril.reminder_count, ann.reminder_count) == (0, 1, 0)
    assert {link.purpose for link in cyril.links} == {"manual", "reminder"}
    skipped = session.scalars(select(OutgoingEmail).where(OutgoingEmail.status == "skipped")).one()
    assert (skipped.participation_id, skipped.reason) == (bahram.id, "submitted already")

    # asking for everyone explicitly still skips those who submitted
    explicit = invitations.queue_reminders(
        session, example_study, [ann, cyril], actor=None, now=NOW
    )
    assert explicit.skipped == {"submitted already": 1} and explicit.queued == 1
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "panel.reminder")).all()
    assert [e.details for e in events] == [
        {"queued": 2, "skipped": 0},
        {"queued": 1, "skipped": 1},
    ]


def test_a_connection_lost_while_handing_over_leaves_the_email_unsure(
    session: Session, example_study: Study
) -> None:
    """The server took the message but the answer never came: it may have arrived, so it is
    `unsure` and never sent again on its own (a retry could mail it twice)."""
    from dataclasses import dataclass
    from typing import Any

    from flask import current_app

    @dataclass
    class Hangup(Mailbox):
        async def handle_DATA(self, server: Any, session_: Any, envelope: Any) -> str:
            await super().handle_DATA(server, session_, envelope)
            server.transport.close()  # gone before answering
            return "250 never heard"

    ann, *_ = _panel(session, example_study)
    with running_smtp_server(Hangup()) as mailbox:
        current_app.config.update(
            MAIL_BACKEND="smtp", SMTP_HOST=mailbox.host, SMTP_PORT=mailbox.port
        )
        [email_id] = _invite(session, example_study, [ann])
        send_outbox([email_id])
        fresh(session)
        email = session.get_one(OutgoingEmail, email_id)
        assert email.status == EmailStatus.UNSURE and "sending failed" in email.reason
        assert len(mailbox.messages) == 1  # it did arrive
        assert ann.invited_at is None
