"""Who may use the facilitator pages: per-study access on every route, CSRF on every POST.

The loops run over the blueprint's URL rules, so a new route is covered the day it is added;
a route taking an argument the tests do not know fails the suite until it is classified.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.definitions import SurveyDefinition
from app.models import Role, Study
from app.services import studies
from tests.conftest import NOW, make_user
from tests.facilitator_world import (
    World,
    build_world,
    facilitator_rules,
    fingerprint,
    page_csrf,
    sign_in,
)

#: routes outside any study, and what a facilitator who is no admin gets there
UNSCOPED = {
    "facilitator.studies": 200,
    "facilitator.new_study": 200,
    "facilitator.accounts": 403,
    "facilitator.people": 403,
    "facilitator.export_person": 405,  # POST only (and administrators only)
    "facilitator.erase_person": 405,
    "facilitator.builder_drafts": 200,
    "facilitator.builder_new": 200,
    "facilitator.builder_import": 200,
}


@pytest.fixture
def world(session: Session, example_study: Study) -> World:
    """Study 1 (owned by fac@example.org) with a panel, an open round and a suggestion."""
    return build_world(session, example_study)


@pytest.fixture
def other_study(session: Session, first_study_definition: SurveyDefinition) -> Study:
    """Study 2, owned by another facilitator."""
    other = make_user(session, "other@example.org")
    study = studies.import_study(session, first_study_definition, actor=other, now=NOW)
    session.commit()
    return study


def _urls(app: Flask, world: World) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every study route, filled with study 1's real ids."""
    values = world.url_values()
    found = []
    with app.test_request_context():
        for rule in facilitator_rules(app):
            if rule.endpoint in UNSCOPED:
                continue
            unknown = set(rule.arguments) - set(values)
            assert not unknown, f"{rule.endpoint}: classify the arguments {unknown} in this test"
            # a study draft in the builder belongs to the facilitator who started it
            scoped = {"study_id", "draft_id"} & set(rule.arguments)
            assert scoped, f"{rule.endpoint} is not scoped to a study or a draft"
            url = app.url_for(rule.endpoint, **{k: values[k] for k in rule.arguments})
            for method in sorted((rule.methods or set()) & {"GET", "POST"}):
                found.append((rule.endpoint, method, url))
    return found


def test_every_route_is_classified(app: Flask, world: World) -> None:
    endpoints = {r.endpoint for r in facilitator_rules(app)}
    assert set(UNSCOPED) <= endpoints
    assert len(_urls(app, world)) >= 30


def test_another_facilitator_gets_404_everywhere_and_changes_nothing(
    app: Flask, client: FlaskClient, session: Session, world: World, other_study: Study
) -> None:
    sign_in(client, "other@example.org")
    assert client.get(f"/f/studies/{other_study.id}").status_code == 200  # logged in for real
    token = page_csrf(client)
    before = fingerprint(session)
    for endpoint, method, url in _urls(app, world):
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(
                url, data={"csrf_token": token, "reason": "x", "email": "a@b.cd"}
            )
        assert response.status_code == 404, f"{method} {url} ({endpoint}): {response.status_code}"
        assert world.study.key not in response.get_data(as_text=True)
    assert fingerprint(session) == before


def test_foreign_objects_inside_own_study_are_404(
    app: Flask, client: FlaskClient, session: Session, world: World, other_study: Study
) -> None:
    """Study 2's owner cannot reach study 1's objects through study 2's URLs either."""
    other_world = build_world(session, other_study, open_round=False)
    del other_world  # study 2 has its own objects; the URLs below mix in study 1's ids
    sign_in(client, "other@example.org")
    token = page_csrf(client)
    values = world.url_values()
    before = fingerprint(session)
    with app.test_request_context():
        rules = [
            r
            for r in facilitator_rules(app)
            if set(r.arguments) & {"participation_id", "item_id", "suggestion_id", "user_id"}
        ]
        urls = [
            (
                m,
                app.url_for(
                    r.endpoint,
                    **{**{k: values[k] for k in r.arguments}, "study_id": other_study.id},
                ),
            )
            for r in rules
            for m in sorted((r.methods or set()) & {"GET", "POST"})
        ]
    assert urls
    for method, url in urls:
        response = (
            client.get(url) if method == "GET" else client.post(url, data={"csrf_token": token})
        )
        assert response.status_code == 404, f"{method} {url}: {response.status_code}"
    assert fingerprint(session) == before


def test_admin_sees_every_study(client: FlaskClient, session: Session, world: World) -> None:
    make_user(session, "admin@example.org", role=Role.ADMIN)
    sign_in(client, "admin@example.org")
    assert client.get(f"/f/studies/{world.study.id}").status_code == 200
    assert client.get(f"/f/studies/{world.study.id}/panel").status_code == 200


def test_logged_out_visitors_are_sent_to_login(
    app: Flask, client: FlaskClient, world: World
) -> None:
    token = page_csrf(client, "/account/login")
    for endpoint, method, url in _urls(app, world):
        response = (
            client.get(url) if method == "GET" else client.post(url, data={"csrf_token": token})
        )
        assert response.status_code == 302, f"{method} {url} ({endpoint})"
        assert "/account/login" in response.headers["Location"]


def test_unscoped_pages_and_admin_only_accounts(
    client: FlaskClient, session: Session, world: World
) -> None:
    sign_in(client)
    for endpoint, status in UNSCOPED.items():
        url = {
            "facilitator.studies": "/f/",
            "facilitator.new_study": "/f/studies/new",
            "facilitator.accounts": "/f/admin/accounts",
            "facilitator.people": "/f/admin/people",
            "facilitator.export_person": "/f/admin/people/export",
            "facilitator.erase_person": "/f/admin/people/erase",
            "facilitator.builder_drafts": "/f/builder/",
            "facilitator.builder_new": "/f/builder/new",
            "facilitator.builder_import": "/f/builder/import",
        }[endpoint]
        assert client.get(url).status_code == status, endpoint
    before = fingerprint(session)
    response = client.post(
        "/f/admin/accounts",
        data={
            "csrf_token": page_csrf(client),
            "email": "x@example.org",
            "name": "X",
            "password": "long enough password",
            "role": "admin",
        },
    )
    assert response.status_code == 403
    assert fingerprint(session) == before


def test_every_post_without_csrf_is_rejected_and_changes_nothing(
    app: Flask, client: FlaskClient, session: Session, world: World
) -> None:
    sign_in(client)
    before = fingerprint(session)
    posts = [(e, u) for e, m, u in _urls(app, world) if m == "POST"]
    posts += [
        ("facilitator.new_study", "/f/studies/new"),
        ("facilitator.accounts", "/f/admin/accounts"),
        ("facilitator.export_person", "/f/admin/people/export"),
        ("facilitator.erase_person", "/f/admin/people/erase"),
        ("facilitator.builder_new", "/f/builder/new"),
        ("facilitator.builder_import", "/f/builder/import"),
    ]
    assert len(posts) >= 20
    for endpoint, url in posts:
        response = client.post(
            url,
            data={"reason": "x", "email": "a@b.cd", "audience": "all", "library": "example.toml"},
        )
        assert response.status_code == 400, f"POST {url} ({endpoint}): {response.status_code}"
        wrong = client.post(url, data={"csrf_token": "forged", "audience": "all"})
        assert wrong.status_code == 400, f"POST {url} with a forged token ({endpoint})"
    assert fingerprint(session) == before
