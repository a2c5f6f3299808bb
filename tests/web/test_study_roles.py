"""Owner and member roles per study: owners alone manage the team and finish the study, the
creator is an owner, and a study always keeps at least one owner (web, API and services)."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    AuditEvent,
    MemberRole,
    PermissionDeniedError,
    Role,
    StateError,
    Study,
    StudyMember,
    StudyStatus,
    User,
)
from app.services import api_keys, rounds, studies
from tests.conftest import NOW, make_user
from tests.reliability.world import csrf_of, signed_in

# pages and texts, the same on any database: the PostgreSQL pass skips them
pytestmark = pytest.mark.once


@pytest.fixture
def member(session: Session, example_study: Study, facilitator_user: User) -> User:
    """A facilitator on the example study's team as a member (not an owner)."""
    user = make_user(session, "member@example.org", name="Mia Member")
    studies.add_member(session, example_study, user, actor=facilitator_user, now=NOW)
    session.commit()
    return user


def _roles(session: Session, study: Study) -> dict[str, str]:
    """Email -> role of the study's team."""
    session.expire_all()
    return {user.email: role for user, role in _team(session, study)}


def _team(session: Session, study: Study) -> list[tuple[User, str]]:
    rows = session.execute(
        select(User, StudyMember.role)
        .join(StudyMember, StudyMember.user_id == User.id)
        .where(StudyMember.study_id == study.id)
    ).all()
    return [(user, role) for user, role in rows]


def test_the_creator_owns_the_study_and_new_members_are_members(
    session: Session, example_study: Study, facilitator_user: User, member: User
) -> None:
    assert _roles(session, example_study) == {
        facilitator_user.email: MemberRole.OWNER,
        member.email: MemberRole.MEMBER,
    }


def test_members_cannot_manage_the_team_or_finish_the_study(
    session: Session, example_study: Study, facilitator_user: User, member: User
) -> None:
    third = make_user(session, "third@example.org")
    mine = session.get_one(StudyMember, (example_study.id, member.id))
    owners = session.get_one(StudyMember, (example_study.id, facilitator_user.id))
    with pytest.raises(PermissionDeniedError):
        studies.add_member(session, example_study, third, actor=member, now=NOW)
    with pytest.raises(PermissionDeniedError):
        studies.set_member_role(
            session, example_study, mine, MemberRole.OWNER, actor=member, now=NOW
        )
    with pytest.raises(PermissionDeniedError):
        studies.remove_member(session, example_study, owners, actor=member, now=NOW)
    with pytest.raises(PermissionDeniedError):
        rounds.finish_study(session, example_study, actor=member, now=NOW)
    session.rollback()
    assert example_study.status == StudyStatus.DRAFT
    assert set(_roles(session, example_study)) == {facilitator_user.email, member.email}


def test_a_study_always_keeps_an_owner(
    session: Session, example_study: Study, facilitator_user: User, member: User
) -> None:
    owner_row = session.get_one(StudyMember, (example_study.id, facilitator_user.id))
    with pytest.raises(StateError, match="at least one owner"):
        studies.set_member_role(
            session, example_study, owner_row, MemberRole.MEMBER, actor=facilitator_user, now=NOW
        )
    with pytest.raises(StateError, match="at least one owner"):
        studies.remove_member(session, example_study, owner_row, actor=facilitator_user, now=NOW)
    session.rollback()
    # with a second owner, the first may step down, and the new owner manages the team
    member_row = session.get_one(StudyMember, (example_study.id, member.id))
    studies.set_member_role(
        session, example_study, member_row, MemberRole.OWNER, actor=facilitator_user, now=NOW
    )
    owner_row = session.get_one(StudyMember, (example_study.id, facilitator_user.id))
    studies.set_member_role(
        session, example_study, owner_row, MemberRole.MEMBER, actor=facilitator_user, now=NOW
    )
    session.commit()
    assert _roles(session, example_study) == {
        facilitator_user.email: MemberRole.MEMBER,
        member.email: MemberRole.OWNER,
    }
    with pytest.raises(PermissionDeniedError):
        rounds.finish_study(session, example_study, actor=facilitator_user, now=NOW)
    session.rollback()
    rounds.finish_study(session, example_study, actor=member, now=NOW)
    session.commit()
    assert example_study.status == StudyStatus.FINISHED


def test_admins_manage_any_study_without_being_on_its_team(
    session: Session, example_study: Study, member: User
) -> None:
    admin = make_user(session, "admin@example.org", role=Role.ADMIN)
    member_row = session.get_one(StudyMember, (example_study.id, member.id))
    studies.set_member_role(
        session, example_study, member_row, MemberRole.OWNER, actor=admin, now=NOW
    )
    session.commit()
    assert _roles(session, example_study)[member.email] == MemberRole.OWNER


def test_on_the_web_only_owners_manage_the_team_and_finish(
    app: Flask, session: Session, example_study: Study, facilitator_user: User, member: User
) -> None:
    base = f"/f/studies/{example_study.id}"
    third = make_user(session, "third@example.org")
    browser = signed_in(app, member.email)
    page = browser.get(f"{base}/team").get_data(as_text=True)
    assert "Only the study's owners can add facilitators" in page
    token = csrf_of(browser, f"{base}/rounds")
    assert "Only the study's owners can finish it" in browser.get(f"{base}/rounds").get_data(
        as_text=True
    )
    refused = [
        browser.post(f"{base}/team", data={"csrf_token": token, "email": third.email}),
        browser.post(f"{base}/team/{member.id}/role", data={"csrf_token": token, "role": "owner"}),
        browser.post(f"{base}/team/{facilitator_user.id}/remove", data={"csrf_token": token}),
        browser.post(f"{base}/finish", data={"csrf_token": token, "confirm": "yes"}),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403, 403]
    assert set(_roles(session, example_study)) == {facilitator_user.email, member.email}
    assert example_study.status == StudyStatus.DRAFT

    owner = signed_in(app, facilitator_user.email)
    token = csrf_of(owner, f"{base}/team")
    added = owner.post(
        f"{base}/team", data={"csrf_token": token, "email": third.email, "role": "owner"}
    )
    assert added.status_code == 303
    assert _roles(session, example_study)[third.email] == MemberRole.OWNER
    demoted = owner.post(
        f"{base}/team/{third.id}/role", data={"csrf_token": token, "role": "member"}
    )
    assert demoted.status_code == 303
    assert _roles(session, example_study)[third.email] == MemberRole.MEMBER
    # the last owner cannot remove themselves: the page says why, nothing changes
    last = owner.post(
        f"{base}/team/{facilitator_user.id}/remove",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "A study needs at least one owner" in last.get_data(as_text=True)
    assert _roles(session, example_study)[facilitator_user.email] == MemberRole.OWNER
    removed = owner.post(f"{base}/team/{third.id}/remove", data={"csrf_token": token})
    assert removed.status_code == 303
    assert third.email not in _roles(session, example_study)
    actions = set(session.scalars(select(AuditEvent.action)))
    assert {"study.add_member", "study.member_role", "study.remove_member"} <= actions
    finished = owner.post(f"{base}/finish", data={"csrf_token": token, "confirm": "yes"})
    assert finished.status_code == 303
    session.expire_all()
    assert example_study.status == StudyStatus.FINISHED


def test_through_the_api_only_owners_finish_the_study(
    app: Flask, session: Session, example_study: Study, facilitator_user: User, member: User
) -> None:
    member_key = api_keys.create_key(session, member, name="m", study_ids=None, now=NOW).secret
    owner_key = api_keys.create_key(
        session, facilitator_user, name="o", study_ids=None, now=NOW
    ).secret
    session.commit()
    client = app.test_client()
    url = f"/api/v1/studies/{example_study.id}/finish"
    refused = client.post(url, headers={"Authorization": f"Bearer {member_key}"})
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    assert "owners" in refused.get_json()["detail"]
    session.expire_all()
    assert example_study.status == StudyStatus.DRAFT
    done = client.post(url, headers={"Authorization": f"Bearer {owner_key}"})
    assert done.status_code == 200 and done.get_json()["status"] == "finished"
