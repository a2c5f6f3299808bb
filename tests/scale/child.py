"""One measurement of `make scale`, in a process of its own so that its peak memory is its own
(`python -m tests.scale.child KIND`; the database is SCALE_DATABASE_URL, the seeded study's
facts come as JSON in SCALE_SEEDED). Prints one JSON line: {"seconds": ..., "cpu": ...}.

KIND is `close` (round 2 closed: the snapshot, committed), `close-again` (the same, rolled back
so that it can be repeated on a kept seed), `dashboard` (the facilitator's
study page) or `expert` (the expert's round page); the pages are timed on the second request
through the Flask test client, as gunicorn's workers would serve a warm one.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from flask import Flask

from tests.load.harness import (
    SECRET_KEY,
    SESSION_COOKIE,
    expert_cookie,
    facilitator_cookie,
    release_session,
)


def _app(database: str) -> Flask:
    """The app as it serves (production settings) but for plain-HTTP cookies."""
    from app import create_app

    return create_app(
        {
            "ENV_NAME": "production",
            "SECRET_KEY": SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": database,
            "PUBLIC_BASE_URL": "http://127.0.0.1",
            "SESSION_COOKIE_SECURE": False,
            "TRUSTED_PROXIES": 0,
            "RATELIMIT_ENABLED": False,
        }
    )


def _close(app: Flask, seeded: dict[str, Any], *, keep: bool = True) -> tuple[float, float]:
    """Close the open round 2 (the snapshot) and commit (or, `keep` false, roll back: the
    measurement can be repeated on the same seed); the seconds the service took (wall clock
    and CPU)."""
    # a worker that closes rounds has scipy's statistics loaded after its first close: the
    # measure is the close, not that one-off import (the app loads it on first use)
    import scipy.stats  # noqa: F401

    from app.extensions import db
    from app.models import Round, RoundState, User, utcnow
    from app.services import rounds

    with app.app_context():
        session = db.session
        round_ = session.scalars(
            db.select(Round).where(
                Round.study_id == seeded["study_id"], Round.state == RoundState.OPEN
            )
        ).one()
        admin = session.get(User, seeded["admin_id"])
        started, cpu = time.perf_counter(), time.process_time()
        rounds.close_round(session, round_, actor=admin, now=utcnow())
        if keep:
            session.commit()
        else:
            session.flush()
        elapsed = (time.perf_counter() - started, time.process_time() - cpu)
        session.rollback()
        release_session()
    return elapsed


def _facilitator_cookie(app: Flask, seeded: dict[str, Any]) -> str:
    """A signed session cookie of the seeded facilitator."""
    from app.extensions import db
    from app.models import User

    with app.app_context():
        user = db.session.get(User, seeded["admin_id"])
        assert user is not None
        cookie = facilitator_cookie(app, user)
        release_session()
    return cookie


def _expert_cookie(app: Flask, seeded: dict[str, Any]) -> str:
    """A signed session cookie of one seeded expert (through their private link)."""
    from app.extensions import db
    from app.models import utcnow
    from app.services import panel

    with app.app_context():
        session_token = panel.open_session_from_link(db.session, seeded["tokens"][0], utcnow())
        assert session_token is not None
        db.session.commit()
        cookie, _csrf = expert_cookie(app, session_token)
        release_session()
    return cookie


def _page(app: Flask, cookie: str, path: str) -> tuple[float, float]:
    """The seconds (wall clock and CPU) of the second GET of a page (the first warms caches
    and templates)."""
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, cookie)
    first = client.get(path)
    if first.status_code != 200:
        raise SystemExit(f"{path}: HTTP {first.status_code}")
    started, cpu = time.perf_counter(), time.process_time()
    second = client.get(path)
    elapsed = (time.perf_counter() - started, time.process_time() - cpu)
    if second.status_code != 200:
        raise SystemExit(f"{path}: HTTP {second.status_code}")
    return elapsed


def main(argv: list[str]) -> int:
    """Run the measurement named in argv[0] and print its JSON line."""
    kind = argv[0]
    seeded = json.loads(os.environ["SCALE_SEEDED"])
    app = _app(os.environ["SCALE_DATABASE_URL"])
    if kind in ("close", "close-again"):
        seconds = _close(app, seeded, keep=kind == "close")
    elif kind == "dashboard":
        seconds = _page(app, _facilitator_cookie(app, seeded), f"/f/studies/{seeded['study_id']}")
    elif kind == "expert":
        seconds = _page(app, _expert_cookie(app, seeded), "/e/round")
    else:
        raise SystemExit(f"unknown measurement {kind!r}")
    print(json.dumps({"seconds": seconds[0], "cpu": seconds[1]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
