"""Invitations and reminders through a real SMTP server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    AccessLink,
    AuditEvent,
    NotFoundError,
    Participation,
    RoundProgress,
    StateError,
    Study,
)
from app.services import invitations, panel, rounds, studies
from app.services.invitations import MailContent, MailContext
from app.services.mail import SmtpMailer
from tests.conftest import NOW
from tests.mailbox import Mailbox, running_smtp_server

BASE = "https://delphi.example.org"


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A real SMTP server on loopback."""
    with running_smtp_server() as mailbox:
        yield mailbox


def render(participation: Participation, context: MailContext) -> MailContent:
    """A plain renderer (the web layer's renders templates in the expert's language)."""
    return MailContent(
        subject=f"[{context.kind}] {context.study_title}",
        text=f"{context.name}: {context.link} round={context.round_number} "
        f"deadline={context.deadline} message={context.message}",
        html=f"<p><a href='{context.link}'>open</a></p>",
    )


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


def _send(
    session: Session, study: Study, members: list[Participation], mailbox: Mailbox, **kw: object
) -> invitations.SendSummary:
    summary = invitations.send_invitations(
        session,
        study,
        members,
        mailer=SmtpMailer(mailbox.host, mailbox.port, timeout=5),
        render=render,
        base_url=BASE + "/",
        actor=None,
        now=NOW,
        sender="Delphi <delphi@example.org>",
        **kw,  # type: ignore[arg-type]
    )
    session.commit()
    return summary


def test_invitations_carry_fresh_working_links_in_each_language(
    session: Session, example_study: Study, smtp_server: Mailbox
) -> None:
    members = _panel(session, example_study)
    summary = _send(session, example_study, members, smtp_server)
    assert [o.email for o in summary.sent] == [m.expert.email for m in members]
    assert summary.failed == [] and summary.skipped == []
    assert sorted(r for m in smtp_server.messages for r in m.recipients) == [
        "ann@example.org",
        "bahram@example.org",
        "cyril@example.org",
    ]
    bahram = smtp_server.to("bahram@example.org")[0]
    assert bahram.message["Subject"] == "[invitation] تأمین آب یک کلان‌شهر تا سال ۲۰۴۰"
    assert bahram.message["To"].addresses[0].display_name == "Bahram"
    assert bahram.message["From"] == "Delphi <delphi@example.org>"
    assert bahram.message["Message-ID"].endswith("@example.org>")
    assert f"{BASE}/t/" in bahram.body() and "//t/" not in bahram.body()
    assert "href=" in bahram.body("html")
    for received in smtp_server.messages:
        assert panel.open_session_from_link(session, received.token, NOW) is not None
    session.expire_all()
    assert all(m.invited_at == NOW for m in members)
    links = session.scalars(select(AccessLink).where(AccessLink.purpose == "invitation")).all()
    assert len(links) == 3
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "panel.invitation")).one()
    assert event.details == {"sent": 3, "skipped": 0, "failed": 0}
    assert "ann" not in str(event.details) and event.target == "3 experts"


def test_every_invitation_gets_a_new_link_and_old_ones_keep_working(
    session: Session, example_study: Study, smtp_server: Mailbox
) -> None:
    [ann, *_] = _panel(session, example_study)
    _send(session, example_study, [ann], smtp_server)
    _send(session, example_study, [ann], smtp_server)
    first, second = (m.token for m in smtp_server.messages)
    assert first != second
    assert panel.open_session_from_link(session, first, NOW) is not None
    assert panel.open_session_from_link(session, second, NOW) is not None


def test_one_refused_recipient_does_not_lose_the_others(
    session: Session, example_study: Study, smtp_server: Mailbox
) -> None:
    ann, bahram, cyril = _panel(session, example_study)
    smtp_server.refuse.add("bahram@example.org")
    summary = _send(session, example_study, [ann, bahram, cyril], smtp_server)
    assert [o.participation_id for o in summary.sent] == [ann.id, cyril.id]
    [failed] = summary.failed
    assert failed.email == "bahram@example.org" and "550" in failed.reason
    session.expire_all()
    assert bahram.invited_at is None
    assert [link.purpose for link in bahram.links] == ["manual"]  # no new link was kept
    assert ann.invited_at == NOW and cyril.invited_at == NOW
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "panel.invitation")).one()
    assert event.details["failed"] == 1 and event.details["sent"] == 2


def test_unusable_addresses_fail_cleanly(
    session: Session, example_study: Study, smtp_server: Mailbox
) -> None:
    [ann, bahram, _cyril] = _panel(session, example_study)
    bahram.name = "Bahram\r\nBcc: everyone@example.org"
    session.commit()
    summary = _send(session, example_study, [ann, bahram], smtp_server)
    assert [o.email for o in summary.sent] == ["ann@example.org"]
    assert [o.email for o in summary.failed] == ["bahram@example.org"]
    assert all("everyone@example.org" not in m.recipients for m in smtp_server.messages)


def test_withdrawn_experts_are_skipped(
    session: Session, example_study: Study, smtp_server: Mailbox
) -> None:
    ann, bahram, _ = _panel(session, example_study)
    panel.set_withdrawn(session, bahram, True, actor=None, now=NOW)
    session.commit()
    summary = _send(session, example_study, [ann, bahram], smtp_server)
    assert [o.email for o in summary.skipped] == ["bahram@example.org"]
    assert summary.skipped[0].reason == "withdrawn"
    assert [m.recipients for m in smtp_server.messages] == [["ann@example.org"]]


def test_participations_of_another_study_are_refused_before_any_mail(
    session: Session, example_study: Study, first_study_definition: object, smtp_server: Mailbox
) -> None:
    [ann, *_] = _panel(session, example_study)
    other = studies.import_study(session, first_study_definition, actor=None, now=NOW)  # type: ignore[arg-type]
    session.commit()
    with pytest.raises(NotFoundError):
        _send(session, other, [ann], smtp_server)
    assert smtp_server.messages == []


def _remind(
    session: Session, study: Study, mailbox: Mailbox, members: list[Participation] | None = None
) -> invitations.SendSummary:
    summary = invitations.send_reminders(
        session,
        study,
        members,
        mailer=SmtpMailer(mailbox.host, mailbox.port, timeout=5),
        render=render,
        base_url=BASE,
        actor=None,
        now=NOW + timedelta(days=3),
    )
    session.commit()
    return summary


def test_reminders_go_only_to_experts_who_have_not_submitted(
    session: Session, example_study: Study, smtp_server: Mailbox
) -> None:
    ann, bahram, cyril = _panel(session, example_study)
    with pytest.raises(StateError, match="No round is open"):
        _remind(session, example_study, smtp_server)
    round_ = rounds.create_round(
        session,
        example_study,
        actor=None,
        now=NOW,
        message={"en": "Last call", "ru": "Последний тур"},
    )
    rounds.open_round(session, round_, actor=None, now=NOW, deadline=NOW + timedelta(days=7))
    session.add(RoundProgress(participation_id=ann.id, round_id=round_.id, submitted_at=NOW))
    session.add(RoundProgress(participation_id=bahram.id, round_id=round_.id))  # started only
    session.commit()

    summary = _remind(session, example_study, smtp_server)
    assert sorted(r for m in smtp_server.messages for r in m.recipients) == [
        "bahram@example.org",
        "cyril@example.org",
    ]
    cyril_mail = smtp_server.to("cyril@example.org")[0]
    assert "round=1" in cyril_mail.body() and "message=Последний тур" in cyril_mail.body()
    assert "deadline=2026-03-08" in cyril_mail.body()
    assert len(summary.sent) == 2
    session.expire_all()
    assert (bahram.reminder_count, cyril.reminder_count, ann.reminder_count) == (1, 1, 0)
    assert ann.reminded_at is None and cyril.reminded_at == NOW + timedelta(days=3)
    purposes = {link.purpose for link in cyril.links}
    assert purposes == {"manual", "reminder"}
    assert panel.open_session_from_link(session, cyril_mail.token, NOW) is not None

    # asking for everyone explicitly still skips the one who submitted
    smtp_server.messages.clear()
    explicit = _remind(session, example_study, smtp_server, [ann, cyril])
    assert [(o.email, o.reason) for o in explicit.skipped] == [
        ("ann@example.org", "submitted already")
    ]
    assert [m.recipients for m in smtp_server.messages] == [["cyril@example.org"]]
    session.expire_all()
    assert cyril.reminder_count == 2
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "panel.reminder")).all()
    assert [e.details for e in events] == [
        {"sent": 2, "skipped": 0, "failed": 0},
        {"sent": 1, "skipped": 1, "failed": 0},
    ]
