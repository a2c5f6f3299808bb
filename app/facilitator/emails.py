"""The email helpers the facilitator pages use (they live in app.emails, shared with the worker)."""

from __future__ import annotations

from app.emails import base_url, mailer, render_in, render_mail, sender

__all__ = ["base_url", "mailer", "render_in", "render_mail", "sender"]
