"""Where an expert's requests spend their time, in process (`python -m tests.load.profile`).

Seeds the load benchmark's panel (round 3 of the first study, feedback on every item) on a
PostgreSQL database of its own, then drives the Flask test client as one expert: item pages,
the overview, per-item autosaves, the submit and the facilitator's dashboard. It prints the
median milliseconds of each kind of request (wall clock and process CPU), and with
`--profile KIND` the pyinstrument profile of that kind (pyinstrument is in the dev extras).
No HTTP and no gunicorn: what is left is what the application itself costs.
"""

from __future__ import annotations

import argparse
import pickle
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.load.harness import (
    ARTIFACTS,
    SECRET_KEY,
    SESSION_COOKIE,
    Panel,
    database_url,
    drop_database,
    facilitator_cookie,
    item_fields,
    item_path,
    migrate,
    new_key,
    postgres_available,
    recreate_database,
    release_session,
    seed_panel,
    seeding_app,
    server_url,
)

DATABASE = "delphi_profile"
KINDS = ("page", "overview", "save", "submit", "dashboard", "token")


def serving_app(database: str) -> Flask:
    """The app as gunicorn serves it (production settings: rate limits on, pool pre-ping),
    but for plain-HTTP cookies, so that the test client sends the session cookie."""
    from app import create_app

    return create_app(
        {
            "ENV_NAME": "production",
            "SECRET_KEY": SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": database,
            "PUBLIC_BASE_URL": "http://127.0.0.1",
            "SESSION_COOKIE_SECURE": False,
            "TRUSTED_PROXIES": 0,
        }
    )


def _expert_client(app: Flask, panel: Panel, index: int) -> FlaskClient:
    """A test client signed in as the panel's expert `index`."""
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, panel.experts[index].cookie)
    return client


def _facilitator_client(app: Flask, panel: Panel) -> tuple[FlaskClient, str]:
    """A test client signed in as the study's facilitator, and the dashboard's path."""

    from app.extensions import db
    from app.models import Study, User

    client = app.test_client()
    with app.app_context():
        study = db.session.get(Study, panel.study_id)
        assert study is not None
        user = db.session.get(User, study.created_by_id) if study.created_by_id else None
        if user is None:
            user = db.session.scalars(db.select(User)).first()
        assert user is not None
        cookie = facilitator_cookie(app, user)
        release_session()
    client.set_cookie(SESSION_COOKIE, cookie)
    return client, f"/f/studies/{panel.study_id}"


def _now() -> Any:
    """The clock, as the services take it."""
    from app.models import utcnow

    return utcnow()


def requests_of(app: Flask, panel: Panel) -> dict[str, Callable[[random.Random], int]]:
    """One sender per kind of request; each returns the response's status."""
    experts = [_expert_client(app, panel, i) for i in range(len(panel.experts))]
    reader = experts[-1]
    items = panel.items
    # the submitting expert answers every item first, so that the submit goes through
    submitter = experts[0]
    for item in items:
        response = submitter.post(
            item_path(item.key),
            data=item_fields(item, random.Random(item.id)),
            headers={
                "Idempotency-Key": new_key(),
                "Accept": "application/json",
                "X-CSRFToken": panel.experts[0].csrf,
            },
        )
        assert response.status_code == 200, response.get_data(as_text=True)[:400]
    facilitator, dashboard = _facilitator_client(app, panel)
    csrf = panel.experts[0].csrf

    def page(rng: random.Random) -> int:
        return reader.get(item_path(rng.choice(items).key)).status_code

    def overview(_rng: random.Random) -> int:
        return reader.get("/e/round").status_code

    def save(rng: random.Random) -> int:
        index = rng.randrange(1, len(experts))
        item = rng.choice(items)
        response = experts[index].post(
            item_path(item.key),
            data=item_fields(item, rng),
            headers={
                "Idempotency-Key": new_key(),
                "Accept": "application/json",
                "X-CSRFToken": panel.experts[index].csrf,
            },
        )
        return response.status_code

    def submit(_rng: random.Random) -> int:
        return submitter.post("/e/round/submit", data={"csrf_token": csrf}).status_code

    def dashboard_(_rng: random.Random) -> int:
        return facilitator.get(dashboard).status_code

    def token(_rng: random.Random) -> int:
        # the lightest expert request (session, CSRF token, JSON): the stack's own floor
        return reader.get("/e/round/token").status_code

    return {
        "page": page,
        "overview": overview,
        "save": save,
        "submit": submit,
        "dashboard": dashboard_,
        "token": token,
    }


EXPECTED = {
    "page": 200,
    "overview": 200,
    "save": 200,
    "submit": 303,
    "dashboard": 200,
    "token": 200,
}


def measure(
    send: Callable[[random.Random], int], kind: str, count: int
) -> tuple[float, float, float]:
    """(median wall ms, median CPU ms, 10th percentile CPU ms) of `count` requests after a
    few unmeasured ones (on a shared machine the low percentile moves least with the load)."""
    rng = random.Random(5)
    for _ in range(5):
        status = send(rng)
        assert status == EXPECTED[kind], (kind, status)
    walls, cpus = [], []
    for _ in range(count):
        wall, cpu = time.perf_counter(), time.process_time()
        status = send(rng)
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
        assert status == EXPECTED[kind], (kind, status)
    low = sorted(cpus)[len(cpus) // 10]
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000, low * 1000


def _print_statements(
    app: Flask, senders: dict[str, Callable[[random.Random], int]], kinds: list[str]
) -> None:
    """The SQL statements one request of each kind sends, in order."""
    from sqlalchemy import event

    from app.extensions import db

    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split())[:160])

    event.listen(engine, "before_cursor_execute", record)
    try:
        for kind in kinds:
            seen.clear()
            senders[kind](random.Random(3))
            print(f"\n== {kind}: {len(seen)} statements ==")
            for line in seen:
                print("   ", line)
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _cpu_profile(send: Callable[[random.Random], int], kind: str, count: int) -> None:
    """Print where `count` requests of a kind spend process CPU (cProfile on process_time:
    on a machine shared with other work, wall-clock profiles mostly show waiting)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile(time.process_time)
    rng = random.Random(9)
    profiler.enable()
    for _ in range(count):
        send(rng)
    profiler.disable()
    print(f"\n== CPU profile of {count} x {kind} (cumulative, then own time) ==")
    stats = pstats.Stats(profiler, stream=sys.stdout).strip_dirs()
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(30)


def main(argv: list[str] | None = None) -> int:
    """Seed, measure each kind of request, print medians (and a profile when asked)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experts", type=int, default=20)
    parser.add_argument("--count", type=int, default=100, help="requests measured per kind")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--profile", choices=KINDS, action="append", default=[])
    parser.add_argument(
        "--cpu-profile",
        choices=KINDS,
        action="append",
        default=[],
        help="cProfile of KIND timed by process CPU (waits on the database do not count)",
    )
    parser.add_argument(
        "--sql", action="store_true", help="print the statements of one request of each kind"
    )
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the database a run with --keep left"
    )
    args = parser.parse_args(argv)
    if not postgres_available():
        print(f"PostgreSQL does not answer at {server_url()}.")
        return 1
    saved_panel = ARTIFACTS / f"{args.database}.panel.pickle"
    if args.reuse and saved_panel.exists():
        url = database_url(args.database)
        app = seeding_app(url)
        panel = pickle.loads(saved_panel.read_bytes())  # noqa: S301 - our own file
    else:
        url = recreate_database(args.database)
        migrate(url)
        app = seeding_app(url)
        panel = seed_panel(app, experts=args.experts, survey="first", with_feedback=True)
        if args.keep:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            saved_panel.write_bytes(pickle.dumps(panel))
    seeder = app
    app = serving_app(url)
    try:
        senders = requests_of(app, panel)
        print(f"{len(panel.items)} items, {len(panel.experts)} experts, {args.count} per kind")
        for kind in args.kinds:
            wall, cpu, low = measure(senders[kind], kind, args.count)
            print(
                f"  {kind:<10} median {wall:7.2f} ms wall  {cpu:7.2f} ms CPU"
                f"  (CPU p10 {low:6.2f} ms)",
                flush=True,
            )
        if args.sql:
            _print_statements(app, senders, args.kinds)
        for kind in args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            rng = random.Random(9)
            profiler.start()
            for _ in range(args.count):
                senders[kind](rng)
            profiler.stop()
            print(f"\n== profile of {args.count} x {kind} ==")
            print(profiler.output_text(unicode=False, color=False, show_all=False))
        for kind in args.cpu_profile:
            _cpu_profile(senders[kind], kind, args.count)
    finally:
        from app.extensions import db

        for each in (seeder, app):
            with each.app_context():
                db.engine.dispose()
        if not args.keep:
            drop_database(args.database)
    return 0


if __name__ == "__main__":
    sys.exit(main())
