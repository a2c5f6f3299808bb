"""Mailers: SMTP against a real server on loopback, the development outbox, the config switch."""

from __future__ import annotations

import logging
import socket
import stat
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from app.services.mail import (
    MailError,
    OutboxMailer,
    SmtpMailer,
    mailer_from_config,
    recipients_of,
)
from tests.mailbox import Mailbox, running_smtp_server

SECRET = "https://example.org/t/SECRET-TOKEN-abcdefghijklmnop"


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A real SMTP server on loopback."""
    with running_smtp_server() as mailbox:
        yield mailbox


def _message(to: str = "ann@example.org") -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "Hello"
    message["From"] = "Delphi <delphi@example.org>"
    message["To"] = to
    message.set_content(f"Your link: {SECRET}")
    return message


def test_smtp_mailer_delivers(smtp_server: Mailbox) -> None:
    mailer = SmtpMailer(smtp_server.host, smtp_server.port, timeout=5)
    mailer.send(_message())
    assert len(smtp_server.messages) == 1
    received = smtp_server.messages[0]
    assert received.recipients == ["ann@example.org"]
    assert SECRET in received.body()


def test_smtp_refused_recipient_raises_mail_error_without_content(smtp_server: Mailbox) -> None:
    smtp_server.refuse.add("gone@example.org")
    mailer = SmtpMailer(smtp_server.host, smtp_server.port, timeout=5)
    with pytest.raises(MailError) as caught:
        mailer.send(_message("gone@example.org"))
    assert "550" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert smtp_server.messages == []


def test_smtp_unreachable_server_raises_mail_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(MailError, match="cannot reach"):
        SmtpMailer("127.0.0.1", port, timeout=2).send(_message())


def test_outbox_writes_private_files_and_logs_no_content(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mailer = OutboxMailer(tmp_path / "outbox")
    mailer.send(_message())
    mailer.send(_message("bob@example.org"))
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    assert SECRET in files[0].read_text()
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "mail to 1 recipients written to outbox" in logged
    assert "SECRET" not in logged and "example.org" not in logged


def test_mailer_from_config(tmp_path: Path) -> None:
    outbox = mailer_from_config({"MAIL_BACKEND": "outbox"}, instance_path=str(tmp_path))
    assert isinstance(outbox, OutboxMailer) and outbox.directory == tmp_path / "outbox"
    smtp = mailer_from_config(
        {"MAIL_BACKEND": "smtp", "SMTP_HOST": "mail.example.org", "SMTP_PORT": 587,
         "SMTP_STARTTLS": True, "SMTP_USERNAME": "u", "SMTP_PASSWORD": "p", "SMTP_TIMEOUT": 3}
    )  # fmt: skip
    assert isinstance(smtp, SmtpMailer)
    assert (smtp.host, smtp.port, smtp.starttls, smtp.username, smtp.timeout) == (
        "mail.example.org", 587, True, "u", 3.0
    )  # fmt: skip
    with pytest.raises(ValueError, match="MAIL_BACKEND"):
        mailer_from_config({"MAIL_BACKEND": "carrier-pigeon"})


def test_recipients_of_reads_every_address_header() -> None:
    message = _message("Ann <ann@example.org>, bob@example.org")
    message["Cc"] = "cy@example.org"
    assert recipients_of(message) == ["ann@example.org", "bob@example.org", "cy@example.org"]
