"""The account pages where facilitators make, see and revoke their API keys."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ApiKey, AuditEvent, Study, User
from app.security import hash_token
from app.services import accounts, api_keys, studies
from tests.api.conftest import API, bearer, definition_with_key
from tests.conftest import NOW, PASSWORD, csrf_from, login, make_user

KEY_IN_PAGE = re.compile(r"dlp_[A-Za-z0-9_\-]{43}")


def _create(client: FlaskClient, **data: object) -> object:
    page = client.get("/account/api-keys")
    return client.post(
        "/account/api-keys",
        data={"csrf_token": csrf_from(page.get_data(as_text=True)), **data},
    )


def test_pages_need_a_facilitator(client: FlaskClient) -> None:
    response = client.get("/account/api-keys")
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]


def test_make_a_key_shown_once_and_stored_hashed(
    client: FlaskClient, session: Session, example_study: Study, facilitator_user: User
) -> None:
    login(client)
    empty = client.get("/account/api-keys").get_data(as_text=True)
    assert "You have no API keys." in empty
    response = _create(client, name="reporting script", scope="all")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    found = KEY_IN_PAGE.search(page)
    assert found is not None and "shown only once" in page
    secret = found.group(0)
    assert response.headers["Cache-Control"] == "no-store"
    key = session.scalars(select(ApiKey)).one()
    assert key.key_hash == hash_token(secret) and key.study_ids is None
    assert secret not in str(vars(key))
    # the list shows the prefix only, never the key again
    listing = client.get("/account/api-keys").get_data(as_text=True)
    assert "reporting script" in listing and key.prefix in listing
    assert secret not in listing and not KEY_IN_PAGE.search(listing)
    # and the key works
    assert client.get(f"{API}/studies", headers=bearer(secret)).status_code == 200


def test_make_a_key_for_some_studies(
    client: FlaskClient, session: Session, example_study: Study, facilitator_user: User
) -> None:
    second = studies.import_study(
        session, definition_with_key("second"), actor=facilitator_user, now=NOW
    )
    session.commit()
    login(client)
    response = _create(client, name="only one", scope="some", studies=[str(second.id)])
    secret = KEY_IN_PAGE.search(response.get_data(as_text=True))
    assert secret is not None
    key = session.scalars(select(ApiKey)).one()
    assert key.study_ids == [second.id]
    listed = client.get(f"{API}/studies", headers=bearer(secret.group(0))).get_json()
    assert [s["id"] for s in listed] == [second.id]


def test_bad_key_forms_are_refused(
    client: FlaskClient, session: Session, example_study: Study, facilitator_user: User
) -> None:
    other = make_user(session, "other@example.org")
    api_keys.create_key(session, other, name="x", study_ids=None, now=NOW)
    session.commit()
    login(client)
    assert _create(client, name="", scope="all").status_code == 422
    assert _create(client, name="x" * 101, scope="all").status_code == 422
    assert _create(client, name="none ticked", scope="some").status_code == 422
    assert _create(client, name="foreign", scope="some", studies=["999"]).status_code == 422
    assert session.scalars(select(ApiKey).where(ApiKey.user_id != other.id)).all() == []


def test_revoke_own_key_only(
    client: FlaskClient, session: Session, example_study: Study, facilitator_user: User
) -> None:
    mine = api_keys.create_key(session, facilitator_user, name="mine", study_ids=None, now=NOW)
    other = make_user(session, "other@example.org")
    theirs = api_keys.create_key(session, other, name="theirs", study_ids=None, now=NOW)
    session.commit()
    login(client)
    token = csrf_from(client.get("/account/api-keys").get_data(as_text=True))
    refused = client.post(f"/account/api-keys/{theirs.key.id}/revoke", data={"csrf_token": token})
    assert refused.status_code == 404
    revoked = client.post(f"/account/api-keys/{mine.key.id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303
    session.expire_all()
    assert session.get(ApiKey, mine.key.id).revoked_at is not None  # type: ignore[union-attr]
    assert session.get(ApiKey, theirs.key.id).revoked_at is None  # type: ignore[union-attr]
    assert client.get(f"{API}/studies", headers=bearer(mine.secret)).status_code == 401
    assert client.get(f"{API}/studies", headers=bearer(theirs.secret)).status_code == 200
    page = client.get("/account/api-keys").get_data(as_text=True)
    assert "revoked" in page


def _change_password(client: FlaskClient, **extra: str) -> object:
    """Change the test password through the form (CSRF included)."""
    page = client.get("/account/password")
    return client.post(
        "/account/password",
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "confirm": "a brand new passphrase",
            **extra,
        },
        follow_redirects=True,
    )


def test_a_password_change_revokes_the_accounts_api_keys(
    client: FlaskClient, session: Session, example_study: Study, facilitator_user: User
) -> None:
    keys = [
        api_keys.create_key(session, facilitator_user, name=n, study_ids=None, now=NOW)
        for n in ("one", "two")
    ]
    other = api_keys.create_key(
        session, make_user(session, "other@example.org"), name="x", study_ids=None, now=NOW
    )
    session.commit()
    login(client)
    page = client.get("/account/password").get_data(as_text=True)
    assert "Keep my API keys working" in page and "revoked" in page
    changed = _change_password(client)
    assert "2 API keys were revoked" in changed.get_data(as_text=True)
    for new in keys:
        assert client.get(f"{API}/studies", headers=bearer(new.secret)).status_code == 401
    # another account's key is untouched; the revocation is in the audit log
    assert client.get(f"{API}/studies", headers=bearer(other.secret)).status_code == 200
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "api_key.revoke_all")
    ).all()
    assert [sorted(e.details["keys"]) for e in events] == [sorted(k.key.prefix for k in keys)]


def test_a_password_change_may_keep_the_api_keys_when_asked(
    client: FlaskClient, session: Session, example_study: Study, facilitator_user: User
) -> None:
    new = api_keys.create_key(session, facilitator_user, name="cron", study_ids=None, now=NOW)
    session.commit()
    login(client)
    changed = _change_password(client, keep_api_keys="y")
    assert "Your password is changed" in changed.get_data(as_text=True)
    assert client.get(f"{API}/studies", headers=bearer(new.secret)).status_code == 200


def test_an_administrators_password_reset_revokes_the_keys(
    client: FlaskClient, session: Session, facilitator_user: User
) -> None:
    new = api_keys.create_key(session, facilitator_user, name="cron", study_ids=None, now=NOW)
    accounts.set_password(session, facilitator_user, "reset by an admin 1", now=NOW)
    session.commit()
    assert client.get(f"{API}/studies", headers=bearer(new.secret)).status_code == 401
