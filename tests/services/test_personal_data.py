"""Data-subject rights: a person's data downloaded and erased, by themselves or an administrator,
without ever linking a name to a pseudonym in an anonymous study."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.definitions.model import Anonymity
from app.models import (
    AccessLink,
    Answer,
    AuditEvent,
    Base,
    NotFoundError,
    Role,
    Study,
    User,
    ValidationError,
)
from app.services import panel, personal_data
from tests.conftest import NOW, csrf_from, login, make_user
from tests.reports.helpers import CANARY_NAME, ScriptedStudy, scripted_study


@pytest.fixture
def scripted(session: Session, example_study: Study, facilitator_user: User) -> ScriptedStudy:
    """The example study with two closed rounds answered by a scripted panel."""
    return scripted_study(session, example_study, facilitator_user)


def _every_value(session: Session) -> str:
    """Every value of every table, as text (to look for what must be gone)."""
    found = []
    for table in Base.metadata.sorted_tables:
        rows = session.execute(text(f'select * from "{table.name}"')).all()  # noqa: S608
        found.extend(str(value) for row in rows for value in row)
    return "\n".join(found)


def test_an_administrators_download_of_an_anonymous_study_has_no_pseudonym_or_answers(
    session: Session, scripted: ScriptedStudy
) -> None:
    participation = scripted.members[0][0]
    data = personal_data.personal_data(session, participation.expert, now=NOW)
    text_of = json.dumps(data)
    assert data["person"]["email"] == participation.expert.email
    assert participation.pseudonym not in text_of
    [entry] = data["panels"]
    assert entry["group"] == participation.group and isinstance(entry["answers"], str)
    own = personal_data.personal_data(session, participation.expert, now=NOW, own=participation)
    assert own["panels"][0]["pseudonym"] == participation.pseudonym
    assert {a["round"] for a in own["panels"][0]["answers"]} == {1, 2}


def test_a_confidential_studys_answers_are_in_the_administrators_download(
    session: Session, scripted: ScriptedStudy
) -> None:
    scripted.study.anonymity = Anonymity.CONFIDENTIAL
    participation = scripted.members[0][0]
    [entry] = personal_data.personal_data(session, participation.expert, now=NOW)["panels"]
    assert entry["pseudonym"] == participation.pseudonym and entry["answers"]


def test_erasure_removes_name_and_email_everywhere_and_keeps_answers_unless_withdrawn(
    session: Session, scripted: ScriptedStudy, facilitator_user: User
) -> None:
    keep, withdraw = scripted.members[0][0], scripted.members[1][0]
    keep_email, withdraw_email = keep.expert.email, withdraw.expert.email
    panel.revoke_links(session, keep, actor=facilitator_user, now=NOW)  # "expert <email>" logged
    with pytest.raises(ValidationError):  # an administrator must say why
        personal_data.erase_person(
            session, keep.expert, withdraw_answers=False, actor=facilitator_user, now=NOW
        )
    done = personal_data.erase_person(
        session, keep.expert, withdraw_answers=False, actor=None, now=NOW
    )
    assert (done.studies, done.answers_withdrawn) == (1, 0)
    done = personal_data.erase_person(
        session, withdraw.expert, withdraw_answers=True, actor=facilitator_user, now=NOW,
        reason="Request by email of 1 March",
    )  # fmt: skip
    assert done.answers_withdrawn > 0
    session.commit()
    everything = _every_value(session)
    for gone in (
        keep_email,
        withdraw_email,
        f"{CANARY_NAME} Utility 0",
        f"{CANARY_NAME} Utility 1",
    ):
        assert gone not in everything
    answers_of = select(func.count()).select_from(Answer).where(Answer.participation_id == keep.id)
    assert session.scalar(answers_of) > 0
    withdrawn_answers = (
        select(func.count()).select_from(Answer).where(Answer.participation_id == withdraw.id)
    )
    assert session.scalar(withdrawn_answers) == 0
    assert scripted.study.answers_withdrawn == 1
    assert all(link.revoked_at is not None for p in (keep, withdraw) for link in p.links)
    assert panel.open_session_from_link(session, scripted.members[0][1], NOW) is None
    with pytest.raises(ValidationError, match="erased"):
        panel.set_withdrawn(session, keep, False, actor=facilitator_user, now=NOW)
    with pytest.raises(NotFoundError):
        personal_data.erase_person(session, keep.expert, withdraw_answers=True, actor=None, now=NOW)
    # the audit log says what was done, never to which pseudonym
    log = " ".join(f"{e.target} {e.details}" for e in session.scalars(select(AuditEvent)))
    assert keep.pseudonym not in log and withdraw.pseudonym not in log
    assert keep_email not in log and withdraw_email not in log


def test_the_administrators_page_finds_downloads_and_erases(
    client: FlaskClient, session: Session, scripted: ScriptedStudy
) -> None:
    make_user(session, "admin@example.org", role=Role.ADMIN)
    participation, _token = scripted.members[2]
    email = participation.expert.email
    login(client, "admin@example.org")
    page = client.get("/f/admin/people", query_string={"email": email})
    assert page.status_code == 200 and "Utility" in page.get_data(as_text=True)
    csrf = csrf_from(page.get_data(as_text=True))
    no_reason = client.post(
        "/f/admin/people/export", data={"csrf_token": csrf, "export-email": email}
    )
    assert no_reason.status_code == 303
    download = client.post(
        "/f/admin/people/export",
        data={"csrf_token": csrf, "export-email": email, "export-reason": "Their request"},
    )
    assert download.status_code == 200 and download.mimetype == "application/json"
    assert participation.pseudonym not in download.get_data(as_text=True)
    unconfirmed = client.post(
        "/f/admin/people/erase",
        data={"csrf_token": csrf, "erase-email": email, "erase-reason": "Their request"},
    )
    assert unconfirmed.status_code == 303
    session.expire_all()
    assert participation.expert.erased_at is None
    erased = client.post(
        "/f/admin/people/erase",
        data={
            "csrf_token": csrf,
            "erase-email": email,
            "erase-reason": "Their request of 1 March",
            "erase-confirm": "y",
        },
    )
    assert erased.status_code == 303
    session.expire_all()
    assert participation.expert.erased_at is not None
    assert (
        session.scalar(
            select(func.count())
            .select_from(AccessLink)
            .where(AccessLink.participation_id == participation.id, AccessLink.revoked_at.is_(None))
        )
        == 0
    )
    events = {e.action for e in session.scalars(select(AuditEvent))}
    assert {"person.export", "person.erase", "panel.erase"} <= events
    assert client.get("/f/admin/people", query_string={"email": email}).status_code == 200


def test_only_administrators_reach_the_page(client: FlaskClient, scripted: ScriptedStudy) -> None:
    login(client)
    assert client.get("/f/admin/people").status_code == 403
