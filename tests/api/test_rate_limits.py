"""API rate limits: a budget per client address, a smaller one for failed authentications, and
(with Redis) one count shared by every worker process."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy.exc import OperationalError

from app import create_app
from app.extensions import db
from tests.api.conftest import API, ApiWorld, problem_of
from tests.conftest import ROOT

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def limited_app(app: Flask) -> Iterator[Callable[..., Flask]]:
    """Make more apps on the test's database, with rate limits on; close their pools after."""
    made: list[Flask] = []

    def make(**settings: Any) -> Flask:
        limited = create_app(
            {
                "ENV_NAME": "testing",
                "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                "RATELIMIT_ENABLED": True,
                "RATELIMIT_STORAGE_URI": "memory://",
                **settings,
            }
        )
        made.append(limited)
        return limited

    yield make
    for limited in made:
        with limited.app_context():
            db.engine.dispose()


def test_api_calls_are_limited_per_address(
    limited_app: Callable[..., Flask], world: ApiWorld
) -> None:
    limited = limited_app(RATELIMIT_API="5 per minute", RATELIMIT_API_AUTH="100 per minute")
    client = limited.test_client()
    responses = [client.get(f"{API}/studies", headers=world.headers) for _ in range(6)]
    assert [r.status_code for r in responses] == [200] * 5 + [429]
    # a 200 asks nobody to retry: the limiter's countdown has a header of its own
    assert "Retry-After" not in responses[0].headers
    assert int(responses[0].headers["X-RateLimit-Retry-After"]) >= 0
    refused = client.get(f"{API}/studies", headers=world.headers)
    body = problem_of(refused, 429)
    assert "minute" in body["detail"] and int(refused.headers["Retry-After"]) > 0
    # another address has its own budget
    other = client.get(
        f"{API}/studies", headers=world.headers, environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert other.status_code == 200


def test_failed_authentications_have_a_smaller_budget(
    limited_app: Callable[..., Flask], world: ApiWorld
) -> None:
    limited = limited_app(RATELIMIT_API="100 per minute", RATELIMIT_API_AUTH="3 per minute")
    client = limited.test_client()
    # successful calls do not spend the failure budget
    for _ in range(5):
        assert client.get(f"{API}/studies", headers=world.headers).status_code == 200
    wrong = {"Authorization": "Bearer dlp_guess"}
    assert [client.get(f"{API}/studies", headers=wrong).status_code for _ in range(3)] == [401] * 3
    # after three failures the address is refused, even with a good key, and guessing tokens too
    problem_of(client.get(f"{API}/studies", headers=world.headers), 429)
    problem_of(client.get(f"{API}/expert", headers={"X-Expert-Token": "guess"}), 429)


def _redis_reachable() -> bool:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.RedisError:
        return False
    return True


_WORKER = textwrap.dedent(
    """
    import json, sys
    from app import create_app
    app = create_app({
        "ENV_NAME": "testing",
        "SQLALCHEMY_DATABASE_URI": "sqlite://",
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": sys.argv[1],
        "RATELIMIT_KEY_PREFIX": sys.argv[2],
        "RATELIMIT_API": "6 per minute",
        "RATELIMIT_API_AUTH": "100 per minute",
    })
    client = app.test_client()
    print(json.dumps([client.get("/api/v1/studies").status_code for _ in range(4)]))
    """
)


@pytest.mark.skipif(not _redis_reachable(), reason="Redis is not reachable at 127.0.0.1:6379")
def test_redis_storage_shares_the_count_between_processes(
    limited_app: Callable[..., Flask],
) -> None:
    prefix = "test-" + secrets.token_hex(6)  # a namespace of its own: parallel runs stay apart
    settings = {
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": prefix,
        "RATELIMIT_API": "6 per minute",
        "RATELIMIT_API_AUTH": "100 per minute",
    }
    here = limited_app(**settings).test_client()
    assert [here.get(f"{API}/studies").status_code for _ in range(3)] == [401] * 3
    # another process (as another gunicorn worker would be) spends the same budget
    worker = subprocess.run(
        [sys.executable, "-c", _WORKER, REDIS_URL, prefix],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(worker.stdout.strip().splitlines()[-1]) == [401, 401, 401, 429]
    assert here.get(f"{API}/studies").status_code == 429
    store = redis.Redis.from_url(REDIS_URL)
    keys = list(store.scan_iter(f"*{prefix}*"))
    assert keys  # the count lives in Redis
    store.delete(*keys)


def test_a_database_outage_asks_for_a_retry_in_5_seconds_with_limits_on(
    limited_app: Callable[..., Flask], world: ApiWorld
) -> None:
    """The documented Retry-After of a 503 is not overwritten by the limiter's countdown."""
    limited = limited_app(RATELIMIT_API="300 per minute")
    client = limited.test_client()

    @limited.before_request
    def _database_away() -> None:
        raise OperationalError("select 1", {}, Exception("connection refused"))

    refused = client.get(f"{API}/studies", headers=world.headers)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"
