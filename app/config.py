"""Plain configuration classes. The environment is read only in the factory (app/__init__.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from app import jsoncodec


class Config:
    """Settings shared by every environment."""

    SECRET_KEY: str | None = None  #: set by the factory (instance file in development)
    SQLALCHEMY_DATABASE_URI = "sqlite:///delphi.sqlite"  #: relative paths live in instance/
    #: hide_parameters: a database error's log line never carries the values (answers, names)
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, object]] = {
        "hide_parameters": True,
        "json_deserializer": jsoncodec.loads,
    }
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    #: how many times a request retries a transaction after a deadlock or serialization failure
    DB_RETRIES = 3
    #: SQLite: milliseconds a writer waits for the lock before giving up
    SQLITE_BUSY_TIMEOUT_MS = 15_000
    #: PostgreSQL: leave the server's JIT compiler on (off by default: it cost the dashboard
    #: more than it saved; see app/database.py)
    POSTGRES_JIT = False

    # Sessions and cookies
    SESSION_COOKIE_NAME = "delphi_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    PERMANENT_SESSION_LIFETIME = timedelta(days=30)  #: experts come back over weeks
    FACILITATOR_SESSION_IDLE = timedelta(hours=12)  #: facilitator sessions die after this idle time
    # CSRF tokens live as long as the session: a long form must not fail after an hour
    WTF_CSRF_TIME_LIMIT = None
    # Flask-WTF's "strict" HTTPS check demands a same-origin Referer, but every page asks
    # browsers for Referrer-Policy: no-referrer (private links), so browsers send none and every
    # form would fail over HTTPS. The CSRF token and SameSite=Lax cookies are the protection.
    WTF_CSRF_SSL_STRICT = False

    # Languages
    LANGUAGES = ("en", "fa", "ru")
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"

    # Rate limits (Flask-Limiter): counted in REDIS_URL's Redis when set, else in each process
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    #: the limiter's countdown goes in a header of its own: `Retry-After` is set only where a
    #: retry is asked for (429 from the limiter, 503 when the database is away), never on a 200
    RATELIMIT_HEADER_RETRY_AFTER = "X-RateLimit-Retry-After"
    RATELIMIT_LINK = "20 per minute"  #: private-link landings per client address
    RATELIMIT_LOGIN = "10 per minute"  #: facilitator login attempts per client address
    RATELIMIT_API = "300 per minute"  #: API calls per client address
    RATELIMIT_API_AUTH = "30 per minute"  #: failed API authentications per client address
    #: proxies in front of the app whose X-Forwarded-For/-Proto are trusted (0: none)
    TRUSTED_PROXIES = 0

    # Mail
    MAIL_BACKEND = "outbox"  #: outbox (files under instance/outbox) | smtp
    MAIL_FROM = "Delphi <delphi@localhost>"
    SMTP_HOST = "127.0.0.1"
    SMTP_PORT = 25
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_STARTTLS = False
    SMTP_TIMEOUT = 10
    #: the address experts' links point to
    PUBLIC_BASE_URL = "http://127.0.0.1:5000"

    # Uploads
    MAX_CONTENT_LENGTH = 4 * 1024 * 1024

    # Background jobs (app/jobs): reports, exports, large imports, email, reminders, deadlines
    #: immediate | sqlite:///FILE (relative: in instance/) | redis://HOST:PORT/DB
    JOB_QUEUE_URL = "sqlite:///jobs.sqlite"
    #: seconds a running job stays its worker's without a heartbeat (a dead worker's job waits this)
    JOB_LEASE_SECONDS = 60
    #: seconds before a failed job is tried again
    JOB_RETRY_DELAY_SECONDS = 30
    #: threads of `flask jobs worker` (reports are CPU-bound: more than the cores buys nothing)
    JOB_WORKERS = 2
    #: build every language x format of the report and spreadsheet when a round closes
    BUILD_REPORTS_ON_CLOSE = True
    #: a panel file with more rows than this is imported by a job, with progress
    PANEL_IMPORT_JOB_ROWS = 300


class DevelopmentConfig(Config):
    """`make run`: SQLite under instance/, mail to files."""

    DEBUG = False


class TestingConfig(Config):
    """The test suite: fresh database per test, fixed secret, no rate limits unless a test turns them on."""

    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105 - tests only
    RATELIMIT_ENABLED = False
    SQLITE_BUSY_TIMEOUT_MS = 30_000
    #: jobs run in the test's process as they are enqueued (tests of the worker start a real one)
    JOB_QUEUE_URL = "immediate"
    #: closing a round in a test builds no files unless the test asks for it
    BUILD_REPORTS_ON_CLOSE = False


class ProductionConfig(Config):
    """`make serve`: PostgreSQL, secure cookies, SMTP mail."""

    SESSION_COOKIE_SECURE = True
    MAIL_BACKEND = "smtp"
    TRUSTED_PROXIES = 1  #: gunicorn listens on the loopback, behind one TLS proxy
    #: the web processes and the worker share the queue (JOB_QUEUE_URL, else REDIS_URL)
    JOB_QUEUE_URL = "redis://127.0.0.1:6379/0"
    #: every worker of every instance counts in one place (REDIS_URL overrides): counted per
    #: process, a guesser of private links would get the budget once per process
    RATELIMIT_STORAGE_URI = "redis://127.0.0.1:6379/0"
    #: a Redis that does not answer within a second costs a request a second, not a worker
    RATELIMIT_STORAGE_OPTIONS: ClassVar[dict[str, object]] = {
        "socket_connect_timeout": 1,
        "socket_timeout": 1,
    }
    #: with Redis away, each process counts alone until it is back (experts still get in)
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, object]] = {
        "hide_parameters": True,
        "json_deserializer": jsoncodec.loads,
        "pool_pre_ping": True,
        "pool_size": 5,
        "max_overflow": 5,
    }


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
