"""Invitations and reminders from the facilitator pages, through a real SMTP server on loopback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from app.models import Study
from app.services import rounds
from tests.conftest import NOW, csrf_from
from tests.facilitator_world import World, build_world, enter_fresh, sign_in, submit
from tests.mailbox import Mailbox, running_smtp_server


@pytest.fixture
def smtp_server(app: Flask) -> Iterator[Mailbox]:
    """A real SMTP server on loopback, and the app configured to send through it."""
    with running_smtp_server() as mailbox:
        app.config.update(
            MAIL_BACKEND="smtp",
            SMTP_HOST=mailbox.host,
            SMTP_PORT=mailbox.port,
            MAIL_FROM="Delphi Study <delphi@example.org>",
        )
        yield mailbox


@pytest.fixture
def world(session: Session, example_study: Study) -> World:
    """The example study: Ann (en), Bahram (fa), Cyril (ru); round 1 open with a deadline."""
    built = build_world(session, example_study)
    rounds.set_deadline(session, built.round, NOW + timedelta(days=400), actor=None, now=NOW)
    built.round.message = {"en": "Round one: all items.", "fa": "دور نخست: همهٔ گویه‌ها."}
    session.commit()
    return built


def _post(client: FlaskClient, url: str, **data: str) -> TestResponse:
    token = csrf_from(client.get("/f/").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data}, follow_redirects=True)


def test_invitations_reach_each_expert_in_their_language_with_a_working_link(
    app: Flask,
    client: FlaskClient,
    world: World,
    smtp_server: Mailbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sign_in(client)
    response = _post(client, f"/f/studies/{world.study.id}/mail/invitations", audience="new")
    page = response.get_data(as_text=True)
    assert "Invitations queued: 3." in page
    # immediate mode (the tests): the queue runs at the commit, so the page after the
    # redirect already shows them delivered
    assert 'data-state="invitation-sent">3<' in page
    assert sorted(r for m in smtp_server.messages for r in m.recipients) == [
        "ann@example.org",
        "bahram@example.org",
        "cyril@example.org",
    ]
    ann = smtp_server.to("ann@example.org")[0]
    assert (
        ann.message["Subject"]
        == "Invitation to a Delphi study: Water supply of a large city to 2040"
    )
    assert ann.message["From"] == "Delphi Study <delphi@example.org>"
    text = ann.body()
    assert "Dear Ann Archer," in text
    assert "Round 1 is open. Please answer by" in text and "(UTC)" in text
    assert "Round one: all items." in text
    assert "This link is personal" in text
    html = ann.body("html")
    assert f'href="http://localhost/t/{ann.token}?lang=en"' in html
    assert "<script" not in html

    bahram = smtp_server.to("bahram@example.org")[0]
    assert "تأمین آب یک کلان‌شهر تا سال ۲۰۴۰" in bahram.message["Subject"]
    assert 'dir="rtl"' in bahram.body("html") and 'lang="fa"' in bahram.body("html")
    assert "دور نخست: همهٔ گویه‌ها." in bahram.body()
    cyril = smtp_server.to("cyril@example.org")[0]
    assert "Водоснабжение крупного города до 2040 года" in cyril.message["Subject"]

    for received in smtp_server.messages:
        assert enter_fresh(app, received.token).status_code == 303

    tokens = [m.token for m in smtp_server.messages]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert not any(token in logged for token in tokens)
    assert not any(token in page for token in tokens)

    # the panel now shows them as invited; "never invited" sends nothing more
    again = _post(client, f"/f/studies/{world.study.id}/mail/invitations", audience="new")
    assert "everyone on the panel has been invited already" in again.get_data(as_text=True)
    assert len(smtp_server.messages) == 3


def test_reminders_from_the_dashboard_skip_experts_who_submitted(
    client: FlaskClient, session: Session, world: World, smtp_server: Mailbox
) -> None:
    submit(session, world.members[2], world.round)
    sign_in(client)
    dashboard = client.get(f"/f/studies/{world.study.id}").get_data(as_text=True)
    response = client.post(
        f"/f/studies/{world.study.id}/mail/reminders",
        data={"csrf_token": csrf_from(dashboard), "next": "study"},
        follow_redirects=True,
    )
    assert "Reminders queued: 2." in response.get_data(as_text=True)
    assert sorted(r for m in smtp_server.messages for r in m.recipients) == [
        "ann@example.org",
        "bahram@example.org",
    ]
    reminder = smtp_server.to("ann@example.org")[0]
    assert reminder.message["Subject"] == "Reminder: Water supply of a large city to 2040"
    assert "your answers are not submitted yet" in reminder.body()
    assert "تأمین آب" in smtp_server.to("bahram@example.org")[0].message["Subject"]
    session.expire_all()
    assert [m.reminder_count for m in world.members] == [1, 1, 0]


def test_a_refused_recipient_is_reported_and_the_others_are_sent(
    client: FlaskClient, session: Session, world: World, smtp_server: Mailbox
) -> None:
    smtp_server.refuse.add("bahram@example.org")
    sign_in(client)
    response = _post(client, f"/f/studies/{world.study.id}/mail/invitations", audience="all")
    page = response.get_data(as_text=True)
    assert "Invitations queued: 3." in page
    assert 'data-state="invitation-sent">2<' in page
    assert 'data-state="invitation-failed">1<' in page
    assert "Not sent to bahram@example.org" in page and "550" in page
    session.expire_all()
    assert [m.invited_at is not None for m in world.members] == [True, False, True]


def test_invite_one_expert_from_the_panel(
    client: FlaskClient, session: Session, world: World, smtp_server: Mailbox
) -> None:
    cyril = world.members[2]
    cyril.name = "<script>alert(1)</script> Cyril"
    session.commit()
    sign_in(client)
    response = _post(client, f"/f/studies/{world.study.id}/panel/{cyril.id}/invite")
    assert "Invitations queued: 1." in response.get_data(as_text=True)
    assert [m.recipients for m in smtp_server.messages] == [["cyril@example.org"]]
    html = smtp_server.messages[0].body("html")
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; Cyril" in html
    assert "<script>alert(1)</script> Cyril" in smtp_server.messages[0].body()  # plain text


def test_outbox_in_development_writes_files_and_logs_no_secrets(
    app: Flask,
    client: FlaskClient,
    world: World,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert app.config["MAIL_BACKEND"] == "outbox"
    sign_in(client)
    page = client.get(f"/f/studies/{world.study.id}/mail").get_data(as_text=True)
    assert "emails are written as files to the outbox" in page
    assert "Invitation to a Delphi study: Water supply of a large city to 2040" in page  # preview
    client.post(
        f"/f/studies/{world.study.id}/mail/invitations",
        data={"csrf_token": csrf_from(page), "audience": "all"},
    )
    files = sorted((Path(app.instance_path) / "outbox").glob("*.eml"))
    assert len(files) == 3
    contents = [f.read_text() for f in files]
    assert all("/t/" in c for c in contents)
    logged = [record.getMessage() for record in caplog.records]
    assert logged.count("mail to 1 recipients written to outbox") == 3
    joined = "\n".join(logged)
    assert "/t/" not in joined and "example.org" not in joined


def test_reminders_of_an_anonymous_study_name_nobody(
    client: FlaskClient, session: Session, world: World, smtp_server: Mailbox
) -> None:
    """The server picks who has not submitted; the facilitator learns how many, never who:
    not from a failure message, nor from reminder counts or link counts on the panel."""
    assert world.study.is_anonymous
    submit(session, world.members[2], world.round)
    smtp_server.refuse.add("bahram@example.org")
    sign_in(client)
    page = _post(client, f"/f/studies/{world.study.id}/mail/reminders", next="mail")
    html = page.get_data(as_text=True)
    assert "Reminders queued: 2." in html
    assert 'data-state="reminder-sent">1<' in html and 'data-state="reminder-failed">1<' in html
    assert "1 × the mail server refused the recipient (550)" in html
    assert "bahram@example.org" not in html
    assert [r for m in smtp_server.messages for r in m.recipients] == ["ann@example.org"]
    panel_page = client.get(f"/f/studies/{world.study.id}/panel").get_data(as_text=True)
    assert "reminder" not in panel_page.split("<tbody>")[1]
    assert "Revoke their links" in panel_page and "Revoke their 2 links" not in panel_page
