"""The facilitators' side under /f: studies, panel, invitations, rounds, items, audit log, team,
the study's look and mail, and the study builder.

Every route below a study loads it through `studies.study_for` (404 for anyone who is not a
member), and every object inside it through a service that checks it belongs to that study.
Views parse, call a service, commit once (`@atomic`) and redirect. The views live in one module
per sub-feature (`routes_*.py`, plus the record, schedule, resolutions and people pages); their
shared helpers are in `common.py`. Importing a module attaches its views to `bp`.
"""

from __future__ import annotations

from flask import Blueprint, Flask

#: every facilitator page hangs on this blueprint; `register_facilitator` binds it to an app
bp = Blueprint("facilitator", __name__, url_prefix="/f")


def register_facilitator(app: Flask) -> None:
    """Attach every facilitator page to the blueprint and serve it."""
    # importing these modules attaches their views to bp
    from app.facilitator import (  # noqa: F401
        people,
        record,
        resolutions,
        routes_builder,
        routes_items,
        routes_look,
        routes_mail,
        routes_panel,
        routes_rounds,
        routes_studies,
        routes_team,
        schedule,
    )

    app.register_blueprint(bp)
