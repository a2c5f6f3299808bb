"""A real SMTP server on loopback for tests (aiosmtpd), collecting what it receives."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

from aiosmtpd.controller import Controller

#: a private link in a message body
LINK = re.compile(r"https?://[^\s<>\"]+/t/([A-Za-z0-9_\-]{20,})")


@dataclass
class Received:
    """One message as the server received it."""

    sender: str
    recipients: list[str]
    message: EmailMessage

    def body(self, subtype: str = "plain") -> str:
        """The text of the plain (or html) part."""
        part = self.message.get_body(preferencelist=(subtype,))
        assert part is not None, f"no {subtype} part"
        return cast(str, part.get_content())

    @property
    def token(self) -> str:
        """The private link's token in the plain body."""
        match = LINK.search(self.body())
        assert match, "no private link in the message"
        return match.group(1)


@dataclass
class Mailbox:
    """The handler: keeps every message; refuses recipients listed in `refuse`."""

    messages: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    host: str = "127.0.0.1"
    port: int = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        """Accept the recipient unless it is to be refused."""
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message."""
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), cast(EmailMessage, parsed))
        )
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Received]:
        """Messages received for an address."""
        return [m for m in self.messages if address in m.recipients]


class _LoopbackController(Controller):  # type: ignore[misc]
    """aiosmtpd's controller on a free port chosen by the system (port 0)."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@contextmanager
def running_smtp_server(mailbox: Mailbox | None = None) -> Iterator[Mailbox]:
    """A running SMTP server on 127.0.0.1; yields its mailbox (with .host and .port)."""
    mailbox = mailbox or Mailbox()
    controller = _LoopbackController(mailbox, hostname="127.0.0.1", port=0)
    controller.start()
    mailbox.port = controller.port
    try:
        yield mailbox
    finally:
        controller.stop()
