"""Secrets and HTTP hardening: random tokens stored only as hashes, and security headers."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import Flask, Response, request

#: 32 bytes = 256 bits of entropy from the operating system's CSPRNG
TOKEN_BYTES = 32

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def new_token() -> str:
    """A fresh URL-safe secret token (>= 128 bits; we use 256)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The hex sha256 of a token: what the database keeps instead of the token.

    A plain hash is enough here: the tokens have 256 bits of entropy, so there is nothing to
    brute-force, and a fast hash keeps lookups by hash cheap.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two strings."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def register_security_headers(app: Flask) -> None:
    """Add CSP, nosniff, frame and referrer rules to every response; no caching of private pages."""

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if not request.path.startswith("/static/"):
            # pages carry private answers and feedback: never keep them in shared caches
            headers.setdefault("Cache-Control", "no-store")
        return response
