"""Expert records are scoped to what a facilitator may see (issue 12, attack 3).

Facilitator B, with no access to study 1, adds to their own study an expert by the email of a
study-1 panellist. Before the fix, the answer and B's panel showed the name study 1's
facilitators had typed, and so told B that this email sits on another panel. Now the name is
the participation's own, and every answer (page, API, CSV import) is the same whether or not
the email is known elsewhere: equal once the email, links, ids and pseudonyms are masked.
"""

from __future__ import annotations

import re
from io import BytesIO

from flask import Flask
from sqlalchemy.orm import Session

from app.models import Study, User
from app.services import api_keys, panel, studies
from tests.api.conftest import definition_with_key
from tests.conftest import NOW, make_user
from tests.reliability.world import csrf_of, signed_in

#: what study 1's facilitators typed, which nobody else may ever see
SECRET_NAME = "Ann Archer-Secretname"
KNOWN = "ann@example.org"
TYPED = "Typed By B"


def _mask(text: str, study: Study, *emails: str) -> str:
    """A response with what legitimately differs between two additions masked."""
    text = re.sub(rf"/studies/{study.id}\b", "/studies/S", text).replace(study.key, "KEY")
    for email in emails:
        text = text.replace(email, "EMAIL")
    text = re.sub(r"[A-Za-z0-9_-]{43}", "TOKEN", text)  # link tokens
    text = re.sub(r'name="csrf_token"[^>]*value="[^"]+"', "CSRF", text)
    text = re.sub(r"P-[A-Z0-9]{6}", "PSEUDONYM", text)
    text = re.sub(r"/panel/\d+/", "/panel/ID/", text)
    return re.sub(r"""(["']id["'][:,] ?)\d+""", r"\1ID", text)


def _studies(session: Session) -> tuple[Study, User, Study, Study]:
    """Study 1 with the known expert; facilitator B with two studies of their own."""
    owner_1 = make_user(session, "one@example.org")
    study_1 = studies.import_study(
        session, definition_with_key("study-one"), actor=owner_1, now=NOW
    )
    panel.add_expert(
        session,
        study_1,
        name=SECRET_NAME,
        email=KNOWN,
        group="Academia",
        language="en",
        actor=owner_1,
        now=NOW,
    )
    b = make_user(session, "b@example.org")
    study_b = studies.import_study(session, definition_with_key("b-one"), actor=b, now=NOW)
    study_c = studies.import_study(session, definition_with_key("b-two"), actor=b, now=NOW)
    session.commit()
    return study_1, b, study_b, study_c


def _panel_names(session: Session, study: Study) -> list[str]:
    """The names the study's panel holds."""
    session.expire_all()
    return [p.name for p in panel.panel(session, study)]


def test_adding_a_known_email_on_the_web_reveals_nothing(app: Flask, session: Session) -> None:
    study_1, b, study_b, study_c = _studies(session)
    browser = signed_in(app, b.email)
    pages = []
    for study, email in ((study_b, KNOWN), (study_c, "zed@example.org")):
        url = f"/f/studies/{study.id}/panel/add"
        response = browser.post(
            url,
            data={
                "csrf_token": csrf_of(browser, url),
                "name": TYPED,
                "email": email,
                "group": "",
                "language": "en",
            },
        )
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert SECRET_NAME not in page and f"{TYPED} is on the panel" in page
        pages.append(_mask(page, study, KNOWN, "zed@example.org"))
        listing = browser.get(f"/f/studies/{study.id}/panel").get_data(as_text=True)
        assert SECRET_NAME not in listing and TYPED in listing
    assert pages[0] == pages[1], "adding a known email must look exactly like adding a new one"
    assert _panel_names(session, study_1) == [SECRET_NAME]  # study 1 keeps its own name
    assert _panel_names(session, study_b) == [TYPED]


def test_adding_a_known_email_through_the_api_reveals_nothing(app: Flask, session: Session) -> None:
    study_1, b, study_b, study_c = _studies(session)
    secret = api_keys.create_key(session, b, name="b", study_ids=None, now=NOW).secret
    session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    bodies = []
    for study, email in ((study_b, KNOWN), (study_c, "zed@example.org")):
        response = client.post(
            f"/api/v1/studies/{study.id}/panel",
            json={"name": TYPED, "email": email, "group": "", "language": "en"},
            headers=headers,
        )
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        assert body["member"]["name"] == TYPED
        body["member"].pop("created_at")
        bodies.append(_mask(str(sorted(body["member"].items())), study, KNOWN, "zed@example.org"))
        listing = client.get(f"/api/v1/studies/{study.id}/panel", headers=headers)
        assert SECRET_NAME not in listing.get_data(as_text=True)
    assert bodies[0] == bodies[1]
    assert _panel_names(session, study_1) == [SECRET_NAME]


def test_a_csv_import_of_a_known_email_reveals_nothing(app: Flask, session: Session) -> None:
    study_1, b, study_b, study_c = _studies(session)
    browser = signed_in(app, b.email)
    secret = api_keys.create_key(session, b, name="b", study_ids=None, now=NOW).secret
    session.commit()
    pages, bodies = [], []
    for study, email in ((study_b, KNOWN), (study_c, "zed@example.org")):
        csv = f"name,email,group,language\n{TYPED},{email},G,en\n".encode()
        url = f"/f/studies/{study.id}/panel/import"
        page = browser.post(
            url,
            data={"csrf_token": csrf_of(browser, url), "file": (BytesIO(csv), "panel.csv")},
            content_type="multipart/form-data",
        )
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert SECRET_NAME not in text and TYPED in text
        pages.append(_mask(text, study, KNOWN, "zed@example.org"))
        # and again through the API: the member is on B's panel already, so it is skipped
        api = app.test_client().post(
            f"/api/v1/studies/{study.id}/panel/import",
            data=csv,
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "text/csv"},
        )
        assert api.status_code == 201
        bodies.append(_mask(api.get_data(as_text=True), study, KNOWN, "zed@example.org"))
    assert pages[0] == pages[1]
    assert bodies[0] == bodies[1]
    assert _panel_names(session, study_1) == [SECRET_NAME]
    assert _panel_names(session, study_b) == [TYPED]
