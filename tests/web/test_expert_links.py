"""Private links: landing changes nothing, the token is swapped for a session, bad links look alike."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.models import AccessLink, ExpertSession, Study
from app.security import hash_token
from app.services import panel
from tests.conftest import NOW, csrf_from, enter_link


def _member(session: Session, study: Study, email: str = "a@example.org") -> panel.NewMember:
    member = panel.add_expert(
        session, study, name="Ann", email=email, group="G1", language="en", actor=None, now=NOW
    )
    session.commit()
    return member


def test_token_is_stored_only_as_a_hash(session: Session, example_study: Study) -> None:
    member = _member(session, example_study)
    assert len(member.token) >= 43  # 256 bits in URL-safe base64
    dump = "\n".join(
        str(row)
        for table in ("access_links", "participations", "experts", "audit_events")
        for row in session.execute(text(f"select * from {table}"))  # noqa: S608 - fixed names
    )
    assert member.token not in dump
    assert hash_token(member.token) in dump


def test_get_and_head_of_a_link_change_nothing(
    client: FlaskClient, session: Session, example_study: Study
) -> None:
    member = _member(session, example_study)
    for method in (client.get, client.head):
        response = method(f"/t/{member.token}")
        assert response.status_code == 200
    assert session.scalar(select(func.count()).select_from(ExpertSession)) == 0
    link = session.scalar(select(AccessLink))
    assert link is not None and link.last_used_at is None


def test_link_exchanged_for_session_and_redirected_without_token(
    client: FlaskClient, session: Session, example_study: Study
) -> None:
    member = _member(session, example_study)
    response = enter_link(client, member.token)
    assert response.status_code == 303
    assert member.token not in response.headers["Location"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert session.scalar(select(func.count()).select_from(ExpertSession)) == 1
    # the session works: the expert is asked for consent first
    home = client.get("/e/", follow_redirects=False)
    assert home.status_code == 302 and home.headers["Location"].endswith("/e/consent")


def test_bad_revoked_and_unknown_links_are_indistinguishable(
    client: FlaskClient, session: Session, example_study: Study
) -> None:
    member = _member(session, example_study)
    panel.revoke_links(session, member.participation, actor=None, now=NOW)
    session.commit()
    withdrawn = _member(session, example_study, "w@example.org")
    panel.set_withdrawn(session, withdrawn.participation, True, actor=None, now=NOW)
    session.commit()
    bodies = set()
    for token in (member.token, withdrawn.token, "x" * 43, "short"):
        response = enter_link(client, token)
        assert response.status_code == 404
        body = response.get_data(as_text=True)
        bodies.add(body.replace(csrf_from(body), "") if "csrf_token" in body else body)
    assert len(bodies) == 1


def test_reissued_link_replaces_the_old_one(
    client: FlaskClient, session: Session, example_study: Study
) -> None:
    member = _member(session, example_study)
    new_token = panel.reissue_link(session, member.participation, actor=None, now=NOW)
    session.commit()
    assert enter_link(client, member.token).status_code == 404
    assert enter_link(client, new_token).status_code == 303
