"""More than one server: two apps made from the same settings on the same database behave as one
(a private link's session, a facilitator's login and its logout, CSRF tokens and kept report
files cross from one to the other), and production counts rate limits in Redis, carrying on
per process while Redis is away. `make load` phase (d) and `make faults` R24 run the same with
two gunicorn instances (tests/load/instances.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import create_app
from app.extensions import db
from app.jobs import reports as report_jobs
from app.models import Answer, Study, User
from app.services import report_files
from tests.conftest import ROOT, RequestIsolatingClient, csrf_from, login
from tests.reliability.world import (
    SecurityWorld,
    autosave,
    browser_with_cookie,
    expert_browser,
    field_of,
    page_token,
    session_cookie,
)
from tests.reports.helpers import scripted_study


@pytest.fixture
def other(app: Flask) -> Iterator[Flask]:
    """A second instance: a new app from the first one's settings, on the same database."""
    made = create_app(
        {
            "ENV_NAME": "testing",
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "PUBLIC_BASE_URL": app.config["PUBLIC_BASE_URL"],
            "MAIL_BACKEND": "outbox",
        }
    )
    made.test_client_class = RequestIsolatingClient
    made.instance_path = app.instance_path
    assert made.config["SECRET_KEY"] == app.config["SECRET_KEY"]
    yield made
    with made.app_context():
        db.engine.dispose()


def test_an_expert_entered_on_one_instance_saves_on_the_other(
    app: Flask, other: Flask, session: Session, world: SecurityWorld
) -> None:
    here = expert_browser(app, world.tokens[0])
    token = page_token(here, "E01")  # a CSRF token issued by the first instance
    there = browser_with_cookie(other, session_cookie(here))
    assert there.get("/e/round").status_code == 200
    impact = field_of(world.item, "impact")
    saved = autosave(there, "E01", {impact: "3"}, token, "across-0001")
    assert saved.status_code == 200, saved.get_data(as_text=True)
    assert saved.get_json()["key"] == "across-0001"
    # the same key sent again to the first instance is a replay, not a second answer
    again = autosave(here, "E01", {impact: "3"}, token, "across-0001")
    assert again.status_code == 200 and again.get_json()["replay"] is True
    stored = session.scalar(
        select(func.count())
        .select_from(Answer)
        .where(Answer.participation_id == world.members[0].id)
    )
    assert stored == 1


def test_a_login_holds_on_both_instances_and_a_logout_on_one_ends_it_on_both(
    app: Flask, other: Flask, world: SecurityWorld
) -> None:
    here = app.test_client()
    assert login(here).status_code == 303
    there = browser_with_cookie(other, session_cookie(here))
    studies = f"/f/studies/{world.study.id}"
    assert there.get(studies).status_code == 200
    token = csrf_from(here.get(studies).get_data(as_text=True))
    assert here.post("/account/logout", data={"csrf_token": token}).status_code == 303
    # the login is a row in the database, now revoked: the other instance's copy of the
    # cookie (which still carries the login's token) is refused there as well
    refused = there.get(studies)
    assert refused.status_code == 302 and "/account/login" in refused.headers["Location"]


def test_a_report_built_by_one_instance_is_served_by_the_other(
    app: Flask,
    other: Flask,
    session: Session,
    example_study: Study,
    facilitator_user: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    study = scripted_study(session, example_study, facilitator_user, closed_rounds=1).study
    built: list[str] = []
    real = report_jobs.build_content

    def counting(*args: object, **kwargs: object) -> bytes:
        built.append(str(args[3]))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(report_jobs, "build_content", counting)
    here = app.test_client()
    login(here)
    url = f"/f/studies/{study.id}/results/report.html"
    first = here.get(url)
    assert first.status_code == 200 and built == ["html"]
    there = browser_with_cookie(other, session_cookie(here))
    served = there.get(url)
    assert served.status_code == 200
    assert served.get_data() == first.get_data()
    assert built == ["html"], "the second instance served the kept file without building"
    with other.app_context():
        mine = db.session.get(Study, study.id)
        assert mine is not None
        assert report_files.cached_file(db.session, mine, "en", "html") is not None


_PRODUCTION = textwrap.dedent(
    """
    import json, re, sys
    from app import create_app
    settings = {
        "ENV_NAME": "production",
        "SECRET_KEY": "x" * 48,
        "SQLALCHEMY_DATABASE_URI": sys.argv[1],
        "JOB_QUEUE_URL": "immediate",
        "SESSION_COOKIE_SECURE": False,
        "TRUSTED_PROXIES": 0,
    }
    default = create_app(settings).config["RATELIMIT_STORAGE_URI"]
    # a Redis nobody listens on: the limits must be counted in the process meanwhile
    app = create_app({**settings, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:9/0",
                      "RATELIMIT_LINK": "3 per minute"})
    client = app.test_client()
    page = client.get("/t/" + "a" * 43).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    statuses = [
        client.post("/t", data={"token": "guess-%040d" % i, "csrf_token": token}).status_code
        for i in range(4)
    ]
    print(json.dumps({"default": default, "statuses": statuses}))
    """
)


@pytest.mark.slow
def test_production_counts_rate_limits_in_redis_and_carries_on_without_it(app: Flask) -> None:
    """In a process of its own: the limiter is one per process, and this one's Redis is dead."""
    done = subprocess.run(
        [sys.executable, "-c", _PRODUCTION, app.config["SQLALCHEMY_DATABASE_URI"]],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DELPHI_ENV": "production"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    # without REDIS_URL, production still counts where every instance sees the counts
    assert found["default"].startswith("redis://"), found
    # Redis away: no 500, and the link limit still holds (per process) until it is back
    assert found["statuses"] == [404, 404, 404, 429], found
