"""The study's own look on the expert's pages: its colours as a small stylesheet and its logo.

Both are served to the expert's own session only (the study of their participation), with
headers that keep a browser from reading them as anything else: the logo was checked as a PNG
or JPEG when it was uploaded (app.services.study_look), and the stylesheet holds nothing but
colours checked as #rrggbb.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort

from app.auth import expert_required
from app.expert.routes import bp, current_expert

#: the platform's CSS custom properties each study colour sets
_PROPERTIES = {"brand": ("--brand", "--brand-strong"), "accent": ("--accent",)}


def look_css_text(colours: dict[str, Any]) -> str:
    """The stylesheet of a study's colours (empty when it has none)."""
    lines = [
        f"  {prop}: {value};"
        for name, props in _PROPERTIES.items()
        if isinstance(value := colours.get(name), str) and value.startswith("#") and len(value) == 7
        for prop in props
    ]
    return ":root {\n" + "\n".join(lines) + "\n}\n" if lines else ""


def _private(response: Response) -> Response:
    """Cached by the expert's browser only, never by a shared cache, and never sniffed."""
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/look.css")
@expert_required
def look_css() -> Any:
    """The colours of the expert's study."""
    study = current_expert().study
    return _private(Response(look_css_text(dict(study.colours or {})), mimetype="text/css"))


@bp.get("/logo")
@expert_required
def logo() -> Any:
    """The logo of the expert's study (404 when it has none)."""
    study = current_expert().study
    if not (study.logo_hash and study.logo and study.logo_type):
        abort(404)
    response = Response(study.logo, mimetype=study.logo_type)
    response.headers["Content-Disposition"] = "inline"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return _private(response)
