"""Sending email: a small `Mailer` protocol, an SMTP mailer and a development outbox.

Messages carry private links, so nothing here logs a body, a subject or an address; the
outbox logs only how many recipients a message had.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class MailError(Exception):
    """A message could not be sent; the text says why (never the message's content).

    `temporary` failures (the server unreachable, a 4xx answer) may succeed later; the others
    (a 5xx answer, an address that cannot be used) will not. `unsure`: the connection broke
    while the message was being handed over, so it may have arrived (never sent again on its
    own: that could mail it twice).
    """

    def __init__(self, reason: str, *, temporary: bool = False, unsure: bool = False) -> None:
        super().__init__(reason)
        self.temporary = temporary and not unsure
        self.unsure = unsure


class Mailer(Protocol):
    """Something that delivers one email message or raises MailError."""

    def send(self, message: EmailMessage) -> None:
        """Deliver the message to every address in its To, Cc and Bcc headers."""


def recipients_of(message: EmailMessage) -> list[str]:
    """The addresses a message goes to (To, Cc, Bcc)."""
    fields = [str(v) for name in ("To", "Cc", "Bcc") for v in message.get_all(name, [])]
    return [address for _name, address in getaddresses(fields) if address]


class SmtpMailer:
    """Sends each message over its own SMTP connection (optionally STARTTLS and login)."""

    def __init__(
        self,
        host: str,
        port: int = 25,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout = timeout

    def send(self, message: EmailMessage) -> None:
        """Deliver one message; raises MailError with the server's reason when it is refused."""
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as error:
            raise MailError(
                f"cannot reach the mail server ({type(error).__name__})", temporary=True
            ) from None
        handing_over = False
        try:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
            handing_over = True
            smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = sorted({code for code, _reply in error.recipients.values()})
            raise MailError(
                f"the mail server refused the recipient ({', '.join(map(str, codes))})",
                temporary=all(400 <= code < 500 for code in codes),
            ) from None
        except smtplib.SMTPResponseException as error:
            raise MailError(
                f"the mail server answered {error.smtp_code}",
                temporary=400 <= error.smtp_code < 500,
            ) from None
        except (OSError, smtplib.SMTPException) as error:
            # the connection broke: before the handing over nothing left; during it the
            # server may have taken the message without our hearing its answer
            raise MailError(
                f"sending failed ({type(error).__name__})",
                temporary=True,
                unsure=handing_over,
            ) from None
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


class OutboxMailer:
    """Development mailer: writes each message as an .eml file, readable only by the owner."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def send(self, message: EmailMessage) -> None:
        """Write the message to `<directory>/<time>-<random>.eml`."""
        count = len(recipients_of(message))
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            path = self.directory / f"{stamp}-{uuid.uuid4().hex[:12]}.eml"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(message.as_bytes())
        except OSError as error:
            raise MailError(
                f"cannot write to the outbox ({type(error).__name__})", temporary=True
            ) from None
        logger.info("mail to %d recipients written to outbox", count)


def mailer_from_config(config: Mapping[str, Any], *, instance_path: str | None = None) -> Mailer:
    """The mailer the settings ask for: MAIL_BACKEND "smtp", else the outbox.

    The outbox lives in MAIL_OUTBOX_DIR, else `<instance_path>/outbox`, else `instance/outbox`.
    """
    backend = str(config.get("MAIL_BACKEND") or "outbox").lower()
    if backend == "smtp":
        return SmtpMailer(
            host=str(config.get("SMTP_HOST") or "127.0.0.1"),
            port=int(config.get("SMTP_PORT") or 25),
            username=config.get("SMTP_USERNAME") or None,
            password=config.get("SMTP_PASSWORD") or None,
            starttls=bool(config.get("SMTP_STARTTLS")),
            timeout=float(config.get("SMTP_TIMEOUT") or 10),
        )
    if backend != "outbox":
        raise ValueError(f"unknown MAIL_BACKEND {backend!r} (use 'smtp' or 'outbox')")
    directory = config.get("MAIL_OUTBOX_DIR") or (
        Path(instance_path) / "outbox" if instance_path else Path("instance") / "outbox"
    )
    return OutboxMailer(directory)
