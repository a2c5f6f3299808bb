"""Gunicorn settings for `make serve` (production-style serving on PostgreSQL).

Every setting can be overridden on the command line or through GUNICORN_CMD_ARGS; the few
that differ between machines also read an environment variable (WEB_CONCURRENCY, GUNICORN_BIND,
GUNICORN_WORKER_CLASS, GUNICORN_THREADS, GUNICORN_TIMEOUT, GUNICORN_ACCESSLOG).
docs/production.md explains the choices.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

#: Where to listen. Put a TLS-terminating proxy (nginx, Caddy) in front; never expose this port.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# Workers: the usual 2 x cores + 1 processes. A request is a few milliseconds of Python (a
# round page with feedback, a few hundred) plus a few database round trips, so the work is
# CPU-bound: processes use every core, and the extra one covers a worker being replaced.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count() + 1))

# sync workers, one request at a time each, behind a buffering proxy (nginx, Caddy) that
# absorbs slow clients and keep-alive. Measured on the load benchmark they save about 25 %
# more per second than gthread (threads only contend for the GIL here), with shorter tails;
# and gthread drops connections it accepted when a worker restarts after max_requests
# (gunicorn issues 3038 and 3380). A killed worker loses only the request it was running;
# clients retry with the same Idempotency-Key, so nothing acknowledged is lost or doubled.
# GUNICORN_WORKER_CLASS=gthread with GUNICORN_THREADS=4 suits a deployment without a proxy.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))

#: a worker silent for this long is killed and replaced (a stuck request, a hung database call)
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
#: on restart or shutdown, requests in flight get this long to finish
graceful_timeout = 30
#: seconds an idle keep-alive connection stays open (gthread only; sync closes each one)
keepalive = 5

# Recycle workers now and then (bounds any slow leak); the jitter keeps them from all
# restarting at the same moment.
max_requests = 2000
max_requests_jitter = 200

# No preloading: every worker imports the app and builds its own database engine after the
# fork, so no connection or pool is ever shared between processes.
preload_app = False

#: the heartbeat file lives in memory (a slow disk must not make healthy workers look dead)
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - tmpfs by design

# Behind a proxy on the same host, trust its X-Forwarded-Proto so the app knows the request
# came over HTTPS (secure cookies, HSTS). Set FORWARDED_ALLOW_IPS for a proxy elsewhere.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Logs go to stderr (the service manager keeps them). The access log has no referer and no
# query string: private-link tokens never reach it (the app also redacts /t/<token> paths).
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None  #: "" turns it off
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
access_log_format = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'

#: never allow huge request lines or headers (uploads go in the body, capped by the app)
limit_request_line = 8190
limit_request_field_size = 8190


def post_worker_init(worker: Any) -> None:
    """Load what requests may reach for before the worker takes its first one: the app leaves
    scipy's statistics and the chart renderer (matplotlib) to first use, so that the CLI and
    the job worker start sooner, and an expert must not wait a second for an import."""
    import scipy.stats  # noqa: F401

    import app.reports.charts  # noqa: F401

    # the pages experts see are compiled now, not by the first expert each worker serves (a
    # fresh instance's first round pages took seconds when a panel arrived at once)
    application = getattr(worker, "wsgi", None)
    environment = getattr(application, "jinja_env", None)
    if environment is not None:
        for name in environment.list_templates(filter_func=_expert_facing):
            environment.get_template(name)
    # and the feedback the open rounds show is decoded once now, not by every worker's first
    # round page (a second of CPU each, when a whole panel arrives at a fresh instance)
    if "feedback_views" in getattr(application, "extensions", {}):
        _warm_feedback(application, worker)
    # what a supervisor (or the load benchmark) waits for before sending this worker traffic
    worker.log.info("Worker ready (pid: %s)", worker.pid)


def _expert_facing(name: str) -> bool:
    """Templates of the expert's pages and what they all extend (layouts, macros, errors)."""
    folder = name.partition("/")[0] if "/" in name else ""
    return name.endswith(".html") and folder in ("", "expert", "macros", "errors")


def _warm_feedback(application: Any, worker: Any) -> None:
    """Decode the open rounds' feedback snapshots into the worker's cache; a database that
    does not answer yet only leaves the cache cold (the pages fill it as before)."""
    from app.extensions import db
    from app.services.feedback import warm_views

    try:
        # leaving the app context gives the session's connection back
        with application.app_context():
            warm_views(db.session, application.extensions["feedback_views"])
    except Exception as error:  # a cold cache is no reason not to serve
        worker.log.warning("Feedback cache left cold: %s", type(error).__name__)
