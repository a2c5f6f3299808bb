"""API credentials: keys and link tokens stored hashed only, revocable, scoped; bad ones look alike."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.models import AccessLink, ApiKey, AuditEvent, User, ValidationError
from app.security import hash_token
from app.services import api_keys, panel, studies
from tests.api.conftest import (
    API,
    ApiWorld,
    bearer,
    definition_with_key,
    expert_header,
    problem_of,
)
from tests.conftest import NOW


def _dump(session: Session, *tables: str) -> str:
    """Every row of some tables as text."""
    return "\n".join(
        str(row)
        for table in tables
        for row in session.execute(text(f"select * from {table}"))  # noqa: S608 - fixed names
    )


def test_key_is_stored_only_as_a_hash(session: Session, world: ApiWorld) -> None:
    assert world.secret.startswith("dlp_") and len(world.secret) >= 4 + 43
    dump = _dump(session, "api_keys", "audit_events")
    assert world.secret not in dump
    assert hash_token(world.secret) in dump
    key = session.scalar(select(ApiKey))
    assert key is not None and world.secret.startswith(key.prefix) and len(key.prefix) == 12


def test_link_tokens_returned_by_the_api_are_stored_only_as_hashes(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    response = client.post(
        world.url("/panel"), json={"name": "Nia", "email": "nia@example.org"}, headers=world.headers
    )
    token = response.get_json()["token"]
    assert response.get_json()["link"].endswith(f"/t/{token}?lang=en")
    dump = _dump(session, "access_links", "participations", "experts", "audit_events")
    assert token not in dump and hash_token(token) in dump


def test_missing_unknown_malformed_and_revoked_keys_get_the_same_401(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    key = session.scalar(select(ApiKey))
    assert key is not None
    api_keys.revoke_key(session, key, actor=world.user, now=NOW)
    session.commit()
    bodies = set()
    for headers in (
        {},
        bearer(world.secret),  # revoked
        bearer("dlp_" + "x" * 43),
        bearer("not-a-key"),
        {"Authorization": f"Basic {world.secret}"},
        {"Authorization": world.secret},
    ):
        response = client.get(f"{API}/studies", headers=headers)
        body = problem_of(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        bodies.add(str(body))
    assert len(bodies) == 1


def test_key_of_a_deactivated_account_stops_working(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    assert client.get(f"{API}/studies", headers=world.headers).status_code == 200
    user = session.get(User, world.user.id)
    assert user is not None
    user.is_active = False
    session.commit()
    problem_of(client.get(f"{API}/studies", headers=world.headers), 401)


def test_scoped_key_sees_only_its_studies(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    second = studies.import_study(session, definition_with_key("second"), actor=world.user, now=NOW)
    session.commit()
    scoped = api_keys.create_key(
        session, world.user, name="only second", study_ids=[second.id], now=NOW
    ).secret
    session.commit()
    listed = client.get(f"{API}/studies", headers=bearer(scoped)).get_json()
    assert [s["id"] for s in listed] == [second.id]
    assert client.get(f"{API}/studies/{second.id}", headers=bearer(scoped)).status_code == 200
    for path in ("", "/panel", "/rounds"):
        problem_of(client.get(world.url(path), headers=bearer(scoped)), 404)
    problem_of(client.post(world.url("/rounds"), json={}, headers=bearer(scoped)), 404)
    # creating a study needs an unlimited key
    problem_of(client.post(f"{API}/studies", data=b"x", headers=bearer(scoped)), 403)
    # the unlimited key of the same user sees both
    assert len(client.get(f"{API}/studies", headers=world.headers).get_json()) == 2


def test_key_scope_is_limited_to_the_owners_studies(
    session: Session, world: ApiWorld, other_world: ApiWorld
) -> None:
    with pytest.raises(ValidationError):
        api_keys.create_key(
            session, world.user, name="x", study_ids=[other_world.study.id], now=NOW
        )
    with pytest.raises(ValidationError):
        api_keys.create_key(session, world.user, name="x", study_ids=[], now=NOW)
    with pytest.raises(ValidationError):
        api_keys.create_key(session, world.user, name=" ", study_ids=None, now=NOW)


def test_other_facilitators_study_is_not_found(
    client: FlaskClient, world: ApiWorld, other_world: ApiWorld
) -> None:
    for path in ("", "/panel", "/rounds", "/rounds/1", "/scenarios"):
        body = problem_of(client.get(other_world.url(path), headers=world.headers), 404)
        assert body["detail"] == "No such study."


def test_admin_key_reaches_every_study(
    client: FlaskClient, admin_secret: str, world: ApiWorld, other_world: ApiWorld
) -> None:
    listed = client.get(f"{API}/studies", headers=bearer(admin_secret)).get_json()
    assert {s["id"] for s in listed} == {world.study.id, other_world.study.id}


def test_last_use_is_written_at_most_once_a_minute(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    for _ in range(3):
        assert client.get(f"{API}/studies", headers=world.headers).status_code == 200
    session.expire_all()
    key = session.scalar(select(ApiKey))
    assert key is not None and key.last_used_at is not None
    first = key.last_used_at
    for _ in range(3):
        client.get(f"{API}/studies", headers=world.headers)
    session.expire_all()
    assert key.last_used_at == first  # within the minute: no write
    key.last_used_at = first - timedelta(minutes=2)
    session.commit()
    client.post(world.url("/rounds"), json={}, headers=world.headers)  # a write request too
    session.expire_all()
    assert key.last_used_at > first


def test_expert_tokens_unknown_revoked_and_withdrawn_look_alike(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    revoked, withdrawn, good = world.experts[0], world.experts[1], world.experts[2]
    panel.revoke_links(session, revoked.participation, actor=None, now=NOW)
    panel.set_withdrawn(session, withdrawn.participation, True, actor=None, now=NOW)
    session.commit()
    assert client.get(f"{API}/expert", headers=good.headers).status_code == 200
    bodies = set()
    for headers in (
        {},
        revoked.headers,
        withdrawn.headers,
        expert_header("x" * 43),
        expert_header(""),
        bearer(world.secret),  # a facilitator key is no expert token
    ):
        bodies.add(str(problem_of(client.get(f"{API}/expert", headers=headers), 401)))
    assert len(bodies) == 1


def test_expert_token_marks_the_link_as_used(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    expert = world.experts[0]
    assert client.get(f"{API}/expert", headers=expert.headers).status_code == 200
    link = session.scalar(
        select(AccessLink).where(AccessLink.participation_id == expert.participation.id)
    )
    assert link is not None and link.last_used_at is not None


def test_expert_token_gives_no_facilitator_access(client: FlaskClient, world: ApiWorld) -> None:
    expert = world.experts[0]
    problem_of(client.get(f"{API}/studies", headers=expert.headers), 401)
    problem_of(
        client.get(f"{API}/studies", headers={"Authorization": f"Bearer {expert.token}"}), 401
    )


def test_api_calls_leave_the_audit_log_free_of_secrets(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    client.post(world.url("/rounds"), json={}, headers=world.headers)
    events = session.scalars(select(AuditEvent)).all()
    assert events
    assert world.secret not in _dump(session, "audit_events")
    assert all(e.actor_id == world.user.id for e in events if e.action == "round.create")


def test_api_never_sets_a_cookie(client: FlaskClient, world: ApiWorld) -> None:
    expert = world.experts[0]
    for response in (
        client.get(f"{API}/studies", headers=world.headers),
        client.get(f"{API}/expert", headers=expert.headers),
        client.post(f"{API}/expert/consent", json={"agree": True}, headers=expert.headers),
    ):
        assert "Set-Cookie" not in response.headers
