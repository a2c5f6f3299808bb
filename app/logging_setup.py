"""Logging that never records secrets: private-link tokens are redacted from every log line.

A request line reaches the access log as the client sent it, so the patterns do not trust
its shape: `/t//<token>`, `/T/<token>`, `/%74/<token>` and `/t%2F<token>` reach the same
landing page (or a 404) and are logged all the same. Three rules, each enough on its own
for our tokens (43 or more URL-safe characters, 256 random bits):

1. whatever follows the landing's path segment `t`, in any case, with any number of
   slashes, percent-encoded or not;
2. the value of a query parameter whose name says it carries a secret (token, key, ...);
3. any run of 32 or more URL-safe characters (or percent-escapes of them), wherever it
   stands: a secret in a parameter or path segment nobody foresaw.
"""

from __future__ import annotations

import logging
import re

from flask import Flask

_SLASH = r"(?:/|%2f)"
_REDACTIONS = (
    # 1. the private link's landing, in any spelling of its path
    re.compile(rf"({_SLASH}+(?:t|%74){_SLASH}+)[^\s?#\"'&]+", re.IGNORECASE),
    # 2. secrets in query strings (and form-encoded bodies, were they ever logged)
    re.compile(
        r"((?:^|[?&;\s])(?:[\w.-]*(?:token|key|secret|password)|session|auth|t)=)[^&;\s\"'#]+",
        re.IGNORECASE,
    ),
    # 3. anything as long as a token, spelled plainly or percent-encoded
    re.compile(r"()(?:[A-Za-z0-9_\-]|%[0-9A-Fa-f]{2}){32,}"),
)


def redact(text: str) -> str:
    """Replace anything that looks like a private-link token or key with [redacted]."""
    for pattern in _REDACTIONS:
        text = pattern.sub(r"\1[redacted]", text)
    return text


class RedactSecrets(logging.Filter):
    """A logging filter that redacts tokens from the formatted message and its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message in place; never drops a record."""
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # formatters reuse exc_text when it is set, so the redacted traceback is printed
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
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
