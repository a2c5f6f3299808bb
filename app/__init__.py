"""The application factory: it reads like a table of contents."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from app.config import CONFIGS
from app.database import configure_database
from app.extensions import babel, csrf, db, limiter, migrate
from app.input_guards import register_input_guards
from app.logging_setup import configure_logging
from app.security import register_security_headers

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build a configured Flask app; `test_config` overrides everything (for tests)."""
    app = Flask(__name__, instance_relative_config=True)
    configure(app, test_config)
    configure_logging(app)
    db.init_app(app)
    configure_database(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    configure_i18n(app)
    configure_auth(app)
    configure_caches(app)
    configure_jobs(app)
    register_blueprints(app)
    register_cli(app)
    register_errors(app)
    register_template_helpers(app)
    register_security_headers(app)
    register_input_guards(app)
    trust_proxies(app)
    return app


def trust_proxies(app: Flask) -> None:
    """Behind TRUSTED_PROXIES proxies, take the client's address and scheme from their
    X-Forwarded-For/-Proto headers (else every expert would share one rate-limit budget)."""
    count = int(app.config.get("TRUSTED_PROXIES") or 0)
    if count:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]


def configure(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Load the config class named by DELPHI_ENV, then the environment, then test overrides."""
    env = (test_config or {}).get("ENV_NAME") or os.environ.get("DELPHI_ENV", "development")
    app.config.from_object(CONFIGS[env])
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    environment = {
        "SECRET_KEY": os.environ.get("SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL"),
        "RATELIMIT_STORAGE_URI": os.environ.get("REDIS_URL"),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL"),
        "MAIL_BACKEND": os.environ.get("MAIL_BACKEND"),
        "MAIL_FROM": os.environ.get("MAIL_FROM"),
        "SMTP_HOST": os.environ.get("SMTP_HOST"),
        "SMTP_PORT": os.environ.get("SMTP_PORT"),
        "SMTP_USERNAME": os.environ.get("SMTP_USERNAME"),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD"),
        "SMTP_STARTTLS": os.environ.get("SMTP_STARTTLS"),
        "TRUSTED_PROXIES": os.environ.get("TRUSTED_PROXIES"),
        "JOB_QUEUE_URL": os.environ.get("JOB_QUEUE_URL"),
    }
    if env == "production" and not environment["JOB_QUEUE_URL"]:
        # one Redis for rate limits and the queue, unless the queue is given its own
        environment["JOB_QUEUE_URL"] = os.environ.get("REDIS_URL")
    app.config.update({k: v for k, v in environment.items() if v})
    if test_config:
        app.config.update(test_config)
    app.config["SMTP_PORT"] = int(app.config["SMTP_PORT"])
    if isinstance(app.config["SMTP_STARTTLS"], str):
        app.config["SMTP_STARTTLS"] = app.config["SMTP_STARTTLS"].lower() in {"1", "true", "yes"}
    app.config["SQLALCHEMY_DATABASE_URI"] = _database_uri(app)
    if not app.config.get("SECRET_KEY"):
        if env == "production":
            raise RuntimeError("SECRET_KEY must be set in production.")
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path))


def _database_uri(app: Flask) -> str:
    """Normalise the database URL: SQLite files live in instance/, PostgreSQL uses psycopg 3."""
    uri: str = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgres://"):
        uri = "postgresql://" + uri.removeprefix("postgres://")
    if uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri.removeprefix("postgresql://")
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str(Path(app.instance_path) / uri.removeprefix("sqlite:///"))
    return uri


def _instance_secret(instance: Path) -> str:
    """A secret key kept in instance/secret_key, created once, so sessions survive restarts."""
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def configure_i18n(app: Flask) -> None:
    """Flask-Babel with the locale chosen per request (expert's language, else the browser's)."""
    from app.i18n import select_locale

    babel.init_app(app, locale_selector=select_locale)


def configure_auth(app: Flask) -> None:
    """Facilitator login (Flask-Login, server-side sessions) and expert link sessions."""
    from app.auth import init_auth

    init_auth(app)


def configure_caches(app: Flask) -> None:
    """In-memory caches of what never changes once written (frozen snapshots, closed rounds) or
    changes only with a new key (a round's list of items and their versions)."""
    from app.services.feedback import FeedbackViews
    from app.services.round_layouts import RoundLayouts
    from app.services.timing import PanelTimes

    app.extensions["feedback_views"] = FeedbackViews()
    app.extensions["panel_times"] = PanelTimes()
    app.extensions["round_layouts"] = RoundLayouts()


def configure_jobs(app: Flask) -> None:
    """The background queue (JOB_QUEUE_URL) and every job, email and schedule task on it."""
    from app.jobs.queue import configure_queue
    from app.jobs.tasks import register_tasks

    register_tasks()
    configure_queue(app)


def register_blueprints(app: Flask) -> None:
    """One blueprint per audience."""
    from app.account.routes import bp as account_bp
    from app.api import register_api
    from app.expert import bp as expert_bp
    from app.facilitator import register_facilitator
    from app.public.routes import bp as public_bp
    from app.results.builds import bp as builds_bp
    from app.results.routes import bp as results_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(account_bp)
    register_facilitator(app)  # every facilitator page module joins one blueprint
    app.register_blueprint(expert_bp)
    app.register_blueprint(results_bp)
    app.register_blueprint(builds_bp)  # kept reports and exports, background jobs' pages
    register_api(app)  # the JSON API and its OpenAPI document; token-authenticated, no CSRF


def register_cli(app: Flask) -> None:
    """`flask survey ...`, `flask users ...`, `flask demo ...`."""
    from app.cli import register_commands

    register_commands(app)


def register_errors(app: Flask) -> None:
    """Error pages (HTML) and problem details (JSON) that never show a traceback."""
    from app.errors import register_error_handlers

    register_error_handlers(app)


def register_template_helpers(app: Flask) -> None:
    """Filters and globals the templates use (texts in the current language, dates, numbers)."""
    from app.templating import register_template_helpers as register

    register(app)
