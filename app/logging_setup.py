"""Logging that never records secrets: private-link tokens are redacted from every log line."""

from __future__ import annotations

import logging
import re

from flask import Flask

#: a private link's path, /t/<token>, and API tokens in query strings
_TOKEN_PATTERNS = (
    re.compile(r"(/t/)[A-Za-z0-9_\-]{8,}"),
    re.compile(r"((?:token|key)=)[A-Za-z0-9_\-.]{8,}", re.IGNORECASE),
)


def redact(text: str) -> str:
    """Replace anything that looks like a private-link token or key with [redacted]."""
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(r"\1[redacted]", text)
    return text


class RedactSecrets(logging.Filter):
    """A logging filter that redacts tokens from the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message in place; never drops a record."""
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(app: Flask) -> None:
    """Install the redacting filter on the app's, werkzeug's and gunicorn's loggers."""
    secret_filter = RedactSecrets()
    for name in (app.logger.name, "werkzeug", "gunicorn.access", "gunicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(secret_filter)
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(secret_filter)
