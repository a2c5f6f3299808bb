"""Every Flask extension in one place, created unbound; the factory binds them to an app."""

from __future__ import annotations

from flask import current_app
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import Session

from app.api.openapi import ProblemApi
from app.models import Base
from app.services.feedback import FeedbackViews
from app.services.round_layouts import RoundLayouts
from app.services.timing import PanelTimes


class Database(SQLAlchemy):
    """Flask-SQLAlchemy, with its request-scoped session typed as the Session it stands for.

    `db.session` is a scoped_session that forwards every call to the request's Session; the
    services are typed against `Session`, so this annotation lets views pass it as one.
    """

    session: Session  # type: ignore[assignment]


#: models are plain SQLAlchemy classes on Base; Flask-SQLAlchemy only manages engine and session
db = Database(metadata=Base.metadata, session_options={"expire_on_commit": False})
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
babel = Babel()
#: flask-smorest: the JSON API's OpenAPI document, with problem-details errors
api = ProblemApi()


def round_layouts() -> RoundLayouts:
    """The application's cache of rounds' item layouts (see create_app)."""
    layouts: RoundLayouts = current_app.extensions["round_layouts"]
    return layouts


def panel_times() -> PanelTimes:
    """The application's cache of the panel's measured times per item (see create_app)."""
    times: PanelTimes = current_app.extensions["panel_times"]
    return times


def feedback_views() -> FeedbackViews:
    """The application's cache of decoded snapshot feedback (see create_app)."""
    views: FeedbackViews = current_app.extensions["feedback_views"]
    return views
