"""Secrets: tokens with enough entropy, stored only as hashes, guessing rate limited (shared by
every worker with Redis) (R5); the private link's landing (R6); and logs that never carry a
token, a name or an answer (R7)."""

from __future__ import annotations

import http.client
import json
import logging
import math
import re
import subprocess
import sys
import textwrap
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from secrets import token_urlsafe

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db
from app.logging_setup import RedactSecrets
from app.models import Base, Round, Study
from app.security import hash_token
from app.services import accounts, api_keys, panel, rounds
from tests.conftest import NOW, ROOT, csrf_from
from tests.reliability.world import (
    SecurityWorld,
    autosave,
    csrf_of,
    expert_browser,
    field_of,
    item_url,
    page_token,
    session_cookie,
    signed_in,
)

URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
REDIS_URL = "redis://127.0.0.1:6379/14"


def _bits_per_character(tokens: list[str]) -> float:
    """Shannon entropy of the characters the tokens use (6 bits for uniform base64url)."""
    counts = Counter("".join(tokens))
    total = sum(counts.values())
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def test_R5_every_kind_of_token_carries_at_least_128_random_bits(
    session: Session, example_study: Study, world: SecurityWorld
) -> None:
    member = world.members[1]
    families = {
        "private link": [
            panel.issue_link(session, member, purpose="manual", now=NOW) for _ in range(200)
        ],
        "expert session": [
            panel.open_session_from_link(session, world.tokens[2], NOW) or "" for _ in range(200)
        ],
        "login session": [accounts.start_session(session, world.owner, NOW) for _ in range(200)],
        "API key": [api_keys.new_secret().removeprefix(api_keys.KEY_PREFIX) for _ in range(200)],
    }
    session.rollback()
    for family, tokens in families.items():
        assert len(set(tokens)) == len(tokens), f"{family}: a token repeated"
        assert all(URL_SAFE.match(t) for t in tokens), family
        shortest = min(len(t) for t in tokens)
        bits = shortest * _bits_per_character(tokens)
        assert bits >= 128, f"{family}: about {bits:.0f} bits"


def _dump(session: Session) -> str:
    """Every value of every table, as text."""
    return "\n".join(
        str(row)
        for table in Base.metadata.sorted_tables
        for row in session.execute(text(f'select * from "{table.name}"'))  # noqa: S608
    )


def test_R5_the_database_holds_hashes_of_tokens_never_the_tokens(
    app: Flask, session: Session, world: SecurityWorld
) -> None:
    expert = expert_browser(app, world.tokens[0])
    facilitator = signed_in(app, world.owner.email)
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    expert_session = serializer.loads(session_cookie(expert))["expert"]
    login_session = serializer.loads(session_cookie(facilitator))["_user_id"]
    secrets = {
        "link": world.tokens[0],
        "expert session": expert_session,
        "login session": login_session,
        "API key": world.api_secret,
    }
    dump = _dump(session)
    for name, secret in secrets.items():
        assert len(secret) >= 43, name
        assert secret not in dump, f"the {name} token is stored in clear"
        assert hash_token(secret) in dump, f"the {name} token's hash is not stored"


@pytest.fixture
def limited(app: Flask) -> Iterator[Flask]:
    """Another app on the test's database with rate limits on: five link attempts and five
    logins a minute per address."""
    made = create_app(
        {
            "ENV_NAME": "testing",
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "memory://",
            "RATELIMIT_LINK": "5 per minute",
            "RATELIMIT_LOGIN": "5 per minute",
        }
    )
    yield made
    with made.app_context():
        db.engine.dispose()


def test_R5_link_guessing_is_rate_limited_and_bad_links_look_alike(
    limited: Flask, world: SecurityWorld
) -> None:
    client = limited.test_client()
    page = client.get(f"/t/{'a' * 43}")
    token = csrf_from(page.get_data(as_text=True))
    statuses = [
        client.post("/t", data={"token": f"guess-{i:040d}", "csrf_token": token}).status_code
        for i in range(6)
    ]
    assert statuses == [404] * 5 + [429]
    # another address has its own budget, and a real link still works from there
    elsewhere = limited.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    landing = elsewhere.get(f"/t/{world.tokens[0]}")
    entered = elsewhere.post(
        "/t",
        data={"token": world.tokens[0], "csrf_token": csrf_from(landing.get_data(as_text=True))},
    )
    assert entered.status_code == 303


def test_R5_password_guessing_is_rate_limited(limited: Flask, world: SecurityWorld) -> None:
    client = limited.test_client()
    token = csrf_of(client, "/account/login")
    statuses = [
        client.post(
            "/account/login",
            data={"email": world.owner.email, "password": f"wrong {i}", "csrf_token": token},
        ).status_code
        for i in range(6)
    ]
    assert statuses == [422] * 5 + [429]


_WORKER = textwrap.dedent(
    """
    import json, re, sys
    from app import create_app
    app = create_app({
        "ENV_NAME": "testing",
        "SQLALCHEMY_DATABASE_URI": sys.argv[1],
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_LINK": "5 per minute",
        "RATELIMIT_KEY_PREFIX": sys.argv[2],
    })
    client = app.test_client()
    page = client.get("/t/" + "a" * 43).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    print(json.dumps([
        client.post("/t", data={"token": "guess-%040d" % i, "csrf_token": token}).status_code
        for i in range(int(sys.argv[3]))
    ]))
    """
)


def _worker_statuses(database: str, prefix: str, attempts: int, redis_url: str) -> list[int]:
    """Statuses a separate process (a second worker) gets for `attempts` bad links."""
    done = subprocess.run(
        [sys.executable, "-c", _WORKER, database, prefix, str(attempts)],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "REDIS_URL": redis_url, "DELPHI_ENV": "testing"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_R5_with_redis_the_link_limit_holds_across_worker_processes(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes (this one and a second, as two gunicorn workers) share one budget."""
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.RedisError:
        pytest.skip(f"Redis does not answer at {REDIS_URL}")
    database = app.config["SQLALCHEMY_DATABASE_URI"]
    prefix = f"reliability-{uuid.uuid4().hex}"
    monkeypatch.setenv("REDIS_URL", REDIS_URL)  # what a deployment sets; the factory reads it
    first_worker = create_app(
        {
            "ENV_NAME": "testing",
            "SQLALCHEMY_DATABASE_URI": database,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_LINK": "5 per minute",
            "RATELIMIT_KEY_PREFIX": prefix,
        }
    )
    client = first_worker.test_client()
    token = csrf_of(client, f"/t/{'a' * 43}")
    first = [
        client.post("/t", data={"token": f"guess-{i:040d}", "csrf_token": token}).status_code
        for i in range(3)
    ]
    second = _worker_statuses(database, prefix, 3, REDIS_URL)
    with first_worker.app_context():
        db.engine.dispose()
    # alone, each process would have let all of its three attempts through
    assert first + second == [404] * 5 + [429]


def test_R6_the_landing_page_changes_nothing_and_leaks_the_token_nowhere(
    client: FlaskClient, session: Session, world: SecurityWorld
) -> None:
    before = _dump(session)
    for method in (client.get, client.head):
        response = method(f"/t/{world.tokens[1]}")
        assert response.status_code == 200
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
    html = client.get(f"/t/{world.tokens[1]}").get_data(as_text=True)
    # the page loads nothing from elsewhere (no third party can see the URL) ...
    assert not re.search(r'(src|href)="(https?:)?//', html)
    # ... and the form posts the token in the body to an address without it
    assert 'action="/t"' in html
    assert _dump(session) == before


# -- R7: logs -------------------------------------------------------------------------------------


@pytest.fixture
def every_record(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every log record, at every level, of every logger a deployment runs with.

    SQLAlchemy's statement echo stays at its default (off): it is a developer's switch that
    prints result rows when turned to DEBUG, never on in production.
    """
    caplog.set_level(logging.DEBUG)
    for name in ("", "app", "werkzeug", "flask_wtf.csrf", "gunicorn.error", "gunicorn.access"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    return caplog


def _logged_text(records: list[logging.LogRecord]) -> str:
    """Everything the records would print: messages and tracebacks."""
    formatter = logging.Formatter()
    parts = []
    for record in records:
        parts.append(record.getMessage())
        if record.exc_info:
            parts.append(formatter.formatException(record.exc_info))
    return "\n".join(parts)


def test_R7_no_log_record_carries_a_token_a_name_or_an_answer(
    app: Flask,
    session: Session,
    world: SecurityWorld,
    every_record: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    canary = f"CANARY{uuid.uuid4().hex[:12]}"
    member = panel.add_expert(
        session,
        world.study,
        name=f"Name {canary}",
        email=f"{canary.lower()}@example.org",
        group="G1",
        language="en",
        actor=None,
        now=NOW,
    )
    session.commit()
    browser = expert_browser(app, member.token)
    consent = browser.get("/e/consent")
    browser.post(
        "/e/consent", data={"agree": "y", "csrf_token": csrf_from(consent.get_data(as_text=True))}
    )
    token = page_token(browser, world.item.key)
    probability, reason = field_of(world.item, "probability"), field_of(world.item, "reason")
    address = item_url(world.item.key)
    # a good save, a number kept as a draft, a reused key, a suggestion, a submit refused
    # while a draft is left, the plain form, a forged post, the token address
    answer = {probability: "35", reason: f"reason {canary}"}
    assert autosave(browser, world.item.key, answer, token, "log-key-001").status_code == 200
    bad = {probability: f"{canary}", reason: f"other {canary}"}
    drafted = autosave(browser, world.item.key, bad, token, "log-key-002")
    assert drafted.status_code == 200
    assert drafted.get_json()["questions"]["probability"]["state"] == "draft"
    reused = autosave(browser, world.item.key, answer, token, "log-key-002")
    assert reused.status_code == 409 and canary in reused.get_data(as_text=True)
    browser.post("/e/suggestions", data={"suggestion": f"idea {canary}", "csrf_token": token})
    assert browser.post("/e/round/submit", data={"csrf_token": token}).status_code == 422
    plain = {**answer, "action": "review", "idempotency_key": "log-key-003"}
    assert browser.post(address, data={**plain, "csrf_token": token}).status_code == 303
    assert browser.post(address, data={**plain, "csrf_token": "forged"}).status_code == 400
    assert browser.get("/e/round/token", headers={"Accept": "application/json"}).status_code == 200
    # a database failure in the middle of a save, whose statement carries the canary
    from app.services import answers as answer_service

    def failing_save(db_session: Session, *args: object, **kwargs: object) -> None:
        db_session.execute(
            text("insert into experts (email, created_at) values (:email, null)"),
            {"email": f"x-{canary}@example.org"},
        )

    monkeypatch.setattr(answer_service, "save_items", failing_save)
    broken = autosave(browser, world.item.key, answer, token, "log-key-004")
    assert broken.status_code == 500
    assert canary not in broken.get_data(as_text=True)
    monkeypatch.undo()
    # the round closes with the expert's answers in it: a 409 echoes them back to the expert
    round_ = session.get(Round, world.round.id)
    assert round_ is not None
    rounds.close_round(session, round_, actor=world.owner, now=NOW)
    session.commit()
    closed = autosave(browser, world.item.key, answer, token, "log-key-005")
    assert closed.status_code == 409 and canary in closed.get_data(as_text=True)
    closed_page = browser.post(address, data={**plain, "csrf_token": token})
    assert closed_page.status_code == 409 and canary in closed_page.get_data(as_text=True)
    # and the link itself, as a server's request log would see it
    logging.getLogger("werkzeug").info('127.0.0.1 "GET /t/%s HTTP/1.1" 200 -', member.token)
    logged = _logged_text(every_record.records)
    assert every_record.records, "nothing was logged at all: the capture is broken"
    assert "unhandled error" in logged  # the failure above was logged ...
    assert canary not in logged  # ... without the values of its statement
    for secret in (member.token, world.api_secret, *world.tokens):
        assert secret not in logged


def test_R7_the_redacting_filter_covers_links_and_keys_in_any_message() -> None:
    token = "T" * 43
    record = logging.LogRecord(
        "gunicorn.access",
        logging.INFO,
        __file__,
        1,
        '"%s %s" %s',
        ("GET", f"/t/{token}?key=dlp_{token}", 200),
        None,
    )
    assert RedactSecrets().filter(record)
    assert token not in record.getMessage()
    assert "/t/[redacted]" in record.getMessage()


#: request targets that carry a token somewhere a careless pattern would not look
TOKEN_SHAPES = (
    "/t/{token}",
    "/t//{token}",
    "/T/{token}",
    "//t///{token}",
    "/%74/{token}",
    "/t%2F{token}",
    "/t/{token}/more",
    "/t/{encoded}",
    "/?next=%2Ft%2F{token}",
    "/account/login?next=/t/{token}",
    "/?token={token}",
    "/?Token={token}",
    "/?anything={token}",
    "/?key=dlp_{token}",
    "/e/?x=1&t={token}",
)


@pytest.mark.parametrize("shape", TOKEN_SHAPES)
def test_R7_a_token_in_any_path_shape_or_query_is_redacted_from_the_request_log(
    app: Flask, every_record: pytest.LogCaptureFixture, shape: str
) -> None:
    """A real server's request log (werkzeug's), for request lines as a client may send them."""
    token = token_urlsafe(32)
    encoded = "".join(f"%{ord(c):02X}" for c in token)
    target = shape.format(token=token, encoded=encoded)
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
        connection.putrequest("GET", target, skip_accept_encoding=True)
        connection.endheaders()
        status = connection.getresponse().status
        connection.close()
    finally:
        server.shutdown()
        thread.join()
    assert status < 500
    request_lines = [r for r in every_record.records if r.name == "werkzeug"]
    assert request_lines, "the server logged no request line: the capture is broken"
    logged = _logged_text(every_record.records)
    assert "[redacted]" in logged
    for secret in (token, encoded, token[:32], encoded[:96]):
        assert secret not in logged, f"{target} was logged with its token"


@pytest.mark.parametrize("shape", TOKEN_SHAPES)
def test_R7_the_filter_redacts_every_shape_in_access_logs_and_tracebacks(shape: str) -> None:
    """gunicorn's access log formats its line from atoms; tracebacks may quote a URL too."""
    token = token_urlsafe(32)
    target = shape.format(token=token, encoded="".join(f"%{ord(c):02X}" for c in token))
    record = logging.LogRecord(
        "gunicorn.access",
        logging.INFO,
        __file__,
        1,
        '%(h)s "%(r)s" %(s)s',
        ({"h": "127.0.0.1", "r": f"GET {target} HTTP/1.1", "s": "404"},),
        None,
    )
    try:
        raise ValueError(f"no route for {target}")
    except ValueError:
        record.exc_info = sys.exc_info()
    assert RedactSecrets().filter(record)
    printed = logging.Formatter("%(message)s").format(record)
    assert token not in printed and "[redacted]" in printed


def _link_attempts(app: Flask, forwarded_for: str | None, count: int) -> list[int]:
    """Statuses of `count` bad-link attempts, as sent through a proxy for `forwarded_for`."""
    client = app.test_client()
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    token = csrf_from(client.get(f"/t/{'a' * 43}", headers=headers).get_data(as_text=True))
    return [
        client.post(
            "/t", data={"token": f"guess-{i:040d}", "csrf_token": token}, headers=headers
        ).status_code
        for i in range(count)
    ]


@pytest.mark.parametrize("proxies", [0, 1])
def test_R5_the_limit_counts_clients_behind_a_trusted_proxy_and_ignores_spoofing(
    app: Flask, proxies: int
) -> None:
    limited = create_app(
        {
            "ENV_NAME": "testing",
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "memory://",
            "RATELIMIT_LINK": "3 per minute",
            "TRUSTED_PROXIES": proxies,
        }
    )
    first = _link_attempts(limited, "198.51.100.1", 4)
    second = _link_attempts(limited, "198.51.100.2", 4)
    with limited.app_context():
        db.engine.dispose()
    assert first == [404, 404, 404, 429]
    if proxies:  # behind the proxy, each client has a budget of its own
        assert second == [404, 404, 404, 429]
    else:  # no proxy trusted: a forged header buys no new budget
        assert second == [429] * 4
