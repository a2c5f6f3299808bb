"""The account pages where facilitators make, see and revoke their API keys."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ApiKey, Study, User
from app.security import hash_token
from app.services import api_keys, studies
from tests.api.conftest import API, bearer, definition_with_key
from tests.conftest import NOW, csrf_from, login, make_user

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
