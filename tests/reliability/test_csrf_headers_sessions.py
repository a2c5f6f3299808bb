"""CSRF everywhere (R11), security headers and cookie flags on every page, and sessions that
logout and password changes end on the server (R12).

The crawls walk the app's URL map, so a route is covered the day it is added; a route taking
an argument nobody classified fails the suite (add it to world.ARGUMENTS)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from app import create_app
from app.extensions import db
from tests.conftest import PASSWORD, csrf_from
from tests.reliability.world import (
    ADMIN_EMAIL,
    ARGUMENTS,
    BOOKKEEPING,
    SecurityWorld,
    api_headers,
    browser_with_cookie,
    csrf_of,
    digest,
    expert_browser,
    fill,
    is_api,
    methods,
    page_token,
    routes,
    session_cookie,
    signed_in,
)

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
#: what a form post may carry besides the token, so a view that ran would find its fields
FORM = {
    "agree": "y",
    "language": "en",
    "email": "someone@example.org",
    "name": "Someone",
    "password": PASSWORD,
    "reason": "because",
    "audience": "all",
    "action": "submit",
    "text": "a change",
    "change_note": "why",
    "suggestion": "a new development",
    "library": "example.toml",
}


def _browsers(app: Flask, world: SecurityWorld) -> dict[str, FlaskClient]:
    """One browser per principal, each with a CSRF secret in its session."""
    browsers = {
        "anonymous": app.test_client(),
        "expert": expert_browser(app, world.tokens[0]),
        "facilitator": signed_in(app, world.owner.email),
        "admin": signed_in(app, ADMIN_EMAIL),
    }
    for browser in browsers.values():
        browser.get("/account/login")  # a page with a form: the session gets its CSRF secret
    return browsers


def test_every_route_argument_is_classified(app: Flask, world: SecurityWorld) -> None:
    values = world.url_values()
    assert set(values) == set(ARGUMENTS)
    for rule in routes(app):
        fill(app, rule, values)


def test_R11_state_changing_routes_refuse_missing_and_foreign_csrf_tokens(
    app: Flask, session: Session, world: SecurityWorld
) -> None:
    browsers = _browsers(app, world)
    foreign = csrf_of(app.test_client(), "/account/login")  # valid, but another browser's
    values = world.url_values()
    posts = [
        (rule.endpoint, method, fill(app, rule, values))
        for rule in routes(app)
        if not is_api(rule)
        for method in methods(rule)
        if method in WRITE_METHODS
    ]
    assert len(posts) >= 30
    before = digest(session)
    checked = 0
    for principal, browser in browsers.items():
        for endpoint, method, url in posts:
            attempts = {
                "no token": browser.open(url, method=method, data=FORM),
                "foreign token": browser.open(
                    url, method=method, data={**FORM, "csrf_token": foreign}
                ),
                "foreign header": browser.open(
                    url, method=method, data=FORM, headers={"X-CSRFToken": foreign}
                ),
            }
            for how, response in attempts.items():
                assert response.status_code == 400, (
                    f"{principal} {method} {url} ({endpoint}) with {how}: {response.status_code}"
                )
                checked += 1
    assert digest(session) == before
    assert checked == 3 * len(browsers) * len(posts)


def test_every_expert_route_answers_a_json_request_without_a_session_with_401(
    app: Flask, session: Session, world: SecurityWorld
) -> None:
    """The page's script must learn that the session ended (and keep what it holds), not
    follow a redirect to an HTML page and take its 200 for an acknowledgement."""
    values = world.url_values()
    expert_routes = [rule for rule in routes(app) if rule.endpoint.startswith("expert.")]
    assert len(expert_routes) >= 15
    never = app.test_client()  # a browser that never entered, with a valid CSRF token
    never_token = csrf_of(never, "/account/login")
    gone = expert_browser(app, world.tokens[0])  # one that signed out (in another tab)
    gone_token = page_token(gone, world.item.key)
    assert gone.post("/e/logout", data={"csrf_token": gone_token}).status_code == 303
    before = digest(session)
    checked = 0
    for name, browser, token in (("never entered", never, never_token),
                                 ("signed out", gone, gone_token)):  # fmt: skip
        for rule in expert_routes:
            url = fill(app, rule, values)
            for method in methods(rule):
                response = browser.open(
                    url,
                    method=method,
                    data={**FORM, "csrf_token": token},
                    headers={"Accept": "application/json", "X-CSRFToken": token},
                )
                where = f"{name}: {method} {url}"
                assert response.status_code == 401, f"{where}: {response.status_code}"
                assert response.mimetype == "application/problem+json", where
                assert "Location" not in response.headers, where
                checked += 1
    assert digest(session) == before
    assert checked >= 2 * len(expert_routes)


@pytest.mark.parametrize(
    "url", ["/e/round/categories/supply", "/e/round/categories/E01", "/e/round/items/NOPE"]
)
def test_R11_a_bad_token_on_a_round_page_that_does_not_exist_is_a_400(
    production_app: Flask, session: Session, world: SecurityWorld, url: str
) -> None:
    browser = production_app.test_client()
    landing = browser.get(f"https://localhost/t/{world.tokens[0]}")
    entered = browser.post(
        "https://localhost/t",
        data={"token": world.tokens[0], "csrf_token": csrf_from(landing.get_data(as_text=True))},
    )
    assert entered.status_code == 303
    before = digest(session)
    for token in ({}, {"csrf_token": "forged"}):
        response = browser.post(f"https://localhost{url}", data={**FORM, **token})
        assert response.status_code == 400, f"{url} {token}: {response.status_code}"
    assert digest(session) == before


def test_R11_api_writes_need_credentials_not_browser_cookies(
    app: Flask, session: Session, world: SecurityWorld
) -> None:
    """The API is exempt from CSRF tokens because cookies never authenticate it."""
    browsers = _browsers(app, world)
    values = world.url_values()
    writes = [
        (method, fill(app, rule, values))
        for rule in routes(app)
        if is_api(rule)
        for method in methods(rule)
        if method in WRITE_METHODS
    ]
    assert writes
    before = digest(session)
    for principal, browser in browsers.items():
        for method, url in writes:
            response = browser.open(url, method=method, json={"name": "x"})
            assert response.status_code == 401, (
                f"{principal} {method} {url}: {response.status_code}"
            )
    assert digest(session) == before


def _header_problems(response: TestResponse) -> list[str]:
    """What is missing or weak in a response's security headers and cookies."""
    problems = []
    policy = response.headers.get("Content-Security-Policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    scripts = directives.get("script-src", directives.get("default-src"))
    if scripts is None:
        problems.append("no script-src or default-src")
    elif {"'unsafe-inline'", "'unsafe-eval'", "*"} & set(scripts):
        problems.append(f"scripts allowed too widely: {scripts}")
    if directives.get("frame-ancestors") != ["'none'"]:
        problems.append("frame-ancestors is not 'none'")
    if response.headers.get("X-Content-Type-Options") != "nosniff":
        problems.append("no nosniff")
    if response.headers.get("Referrer-Policy") != "no-referrer":
        problems.append("Referrer-Policy is not no-referrer")
    for cookie in response.headers.getlist("Set-Cookie"):
        flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
        if "httponly" not in flags or "samesite" not in flags:
            problems.append(f"cookie without HttpOnly or SameSite: {cookie.split('=')[0]}")
    return problems


def test_R11_R12_every_page_as_every_principal_writes_nothing_and_sends_security_headers(
    app: Flask, session: Session, world: SecurityWorld
) -> None:
    browsers = _browsers(app, world)
    values = world.url_values()
    pages = [
        (rule.endpoint, fill(app, rule, values))
        for rule in routes(app)
        if "GET" in methods(rule) and not is_api(rule)
    ]
    api_reads = [
        fill(app, rule, values) for rule in routes(app) if "GET" in methods(rule) and is_api(rule)
    ]
    assert len(pages) >= 25 and api_reads
    problems: list[str] = []
    before = digest(session)
    for principal, browser in browsers.items():
        for endpoint, url in pages:
            response = browser.get(url)
            response.close()  # static files are streamed
            assert response.status_code < 500, f"{principal} GET {url}: {response.status_code}"
            problems += [f"{principal} GET {url}: {p}" for p in _header_problems(response)]
            assert digest(session) == before, f"{principal} GET {url} ({endpoint}) wrote"
    api_before = digest(session, ignore=BOOKKEEPING)
    for principal, headers in api_headers(world).items():
        client = app.test_client()
        for url in api_reads:
            response = client.get(url, headers=headers)
            assert response.status_code < 500, f"API {principal} GET {url}: {response.status_code}"
            problems += [f"API {principal} GET {url}: {p}" for p in _header_problems(response)]
    assert digest(session, ignore=BOOKKEEPING) == api_before
    assert problems == []


@pytest.fixture
def production_app(app: Flask, tmp_path: Path) -> Iterator[Flask]:
    """The production configuration on the test's database."""
    production = create_app(
        {
            "ENV_NAME": "production",
            "SECRET_KEY": "production-like-secret-" + "k" * 32,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    production.instance_path = str(tmp_path / "production-instance")
    yield production
    with production.app_context():
        db.engine.dispose()


def test_R12_production_cookies_are_secure_and_forms_work_over_https(
    production_app: Flask, world: SecurityWorld
) -> None:
    """Behind TLS the cookie is Secure, HSTS is sent, and a form posted by a browser that sends
    no Referer (the pages ask for no-referrer) is accepted."""
    client = production_app.test_client()
    page = client.get("https://localhost/account/login")
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    response = client.post(
        "https://localhost/account/login",
        data={
            "email": world.owner.email,
            "password": PASSWORD,
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    cookie = response.headers["Set-Cookie"]
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite=lax"} <= flags, cookie
    assert client.get("https://localhost/f/").status_code == 200


def test_R12_logout_ends_the_facilitator_session_on_the_server(
    app: Flask, world: SecurityWorld
) -> None:
    browser = signed_in(app, world.owner.email)
    stolen = session_cookie(browser)
    assert browser.get("/f/").status_code == 200
    out = browser.post(
        "/account/logout", data={"csrf_token": csrf_of(browser, "/account/password")}
    )
    assert out.status_code == 303
    replay = browser_with_cookie(app, stolen).get("/f/")
    assert replay.status_code == 302 and "/account/login" in replay.headers["Location"]


def test_R12_expert_logout_ends_the_expert_session_on_the_server(
    app: Flask, world: SecurityWorld
) -> None:
    browser = expert_browser(app, world.tokens[0])
    stolen = session_cookie(browser)
    assert browser.get("/e/").status_code == 200
    out = browser.post("/e/logout", data={"csrf_token": csrf_of(browser, "/e/")})
    assert out.status_code == 303
    replay = browser_with_cookie(app, stolen).get("/e/")
    assert replay.status_code == 302 and "/link-needed" in replay.headers["Location"]


def test_R12_password_change_ends_every_session_of_the_account(
    app: Flask, world: SecurityWorld
) -> None:
    changer = signed_in(app, world.owner.email)
    elsewhere = signed_in(app, world.owner.email)
    stolen = session_cookie(changer)
    new_password = "a brand new passphrase"
    response = changer.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": new_password,
            "confirm": new_password,
            "csrf_token": csrf_of(changer, "/account/password"),
        },
    )
    assert response.status_code == 303
    for browser in (elsewhere, browser_with_cookie(app, stolen)):
        page = browser.get("/f/")
        assert page.status_code == 302 and "/account/login" in page.headers["Location"]
    fresh = app.test_client()
    token = csrf_of(fresh, "/account/login")
    again = fresh.post(
        "/account/login",
        data={"email": world.owner.email, "password": new_password, "csrf_token": token},
    )
    assert again.status_code == 303
