"""Hostile input is refused with words that name what was wrong and where (issue 12, point 5):
a form error next to the field, or a problem detail with the field's path. The sweep
(test_hostile_sweep.py) shows that nothing gets a 5xx; these show what the user is told."""

from __future__ import annotations

from io import BytesIO

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Participation, Study, User
from app.services import api_keys, panel
from app.services import rounds as round_service
from tests.conftest import NOW
from tests.reliability.world import csrf_of, signed_in


@pytest.fixture
def key(session: Session, facilitator_user: User) -> dict[str, str]:
    """The facilitator's API header."""
    secret = api_keys.create_key(session, facilitator_user, name="t", study_ids=None, now=NOW)
    session.commit()
    return {"Authorization": f"Bearer {secret.secret}"}


@pytest.fixture
def expert(session: Session, example_study: Study, facilitator_user: User) -> dict[str, str]:
    """An expert's API header, with round 1 open."""
    new = panel.add_expert(
        session,
        example_study,
        name="Ann",
        email="ann@example.org",
        group="G",
        language="en",
        actor=None,
        now=NOW,
    )
    panel.record_consent(session, new.participation, language="en", now=NOW)
    round_ = round_service.create_round(session, example_study, actor=None, now=NOW)
    round_service.open_round(session, round_, actor=None, now=NOW)
    session.commit()
    return {"X-Expert-Token": new.token}


def _members(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Participation)) or 0


@pytest.mark.parametrize(
    "bad", ["Ann\x00Archer", "Ann\x1b[31mArcher", "Ann\x7fArcher"], ids=["NUL", "ESC", "DEL"]
)
def test_a_control_character_in_a_web_form_is_an_error_next_to_its_field(
    app: Flask, session: Session, example_study: Study, facilitator_user: User, bad: str
) -> None:
    browser = signed_in(app, facilitator_user.email)
    url = f"/f/studies/{example_study.id}/panel/add"
    response = browser.post(
        url,
        data={
            "csrf_token": csrf_of(browser, url),
            "name": bad,
            "email": "ann@example.org",
            "group": "",
            "language": "en",
        },
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    code = f"U+{ord(bad[3]):04X}"
    assert f'<p class="field-error" id="name-error">Contains the control character {code}' in page
    assert _members(session) == 0


def test_a_control_character_in_an_api_body_is_a_422_naming_the_field(
    app: Flask, session: Session, example_study: Study, key: dict[str, str]
) -> None:
    response = app.test_client().post(
        f"/api/v1/studies/{example_study.id}/panel",
        json={"name": "Ann", "email": "ann@example.org", "group": "G\u0000", "language": "en"},
        headers=key,
    )
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert "U+0000" in response.get_json()["errors"]["group"][0]
    assert _members(session) == 0


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 32 levels"),
        (b'{"answers": {"probability": {"value": ' + b"9" * 5000 + b"}}}", "more than 100 digits"),
        (b'{"answers": {"probability": {"value": 1e400}}}', "too large"),
        (b'{"answers": {"probability": {"value": NaN}}}', "NaN is not a number JSON allows"),
    ],
    ids=["deep", "digits", "1e400", "NaN"],
)
def test_deep_or_huge_json_from_an_expert_is_a_400_problem(
    app: Flask, expert: dict[str, str], body: bytes, says: str
) -> None:
    response = app.test_client().put(
        "/api/v1/expert/round/items/E01",
        data=body,
        headers={**expert, "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert says in response.get_json()["detail"]


def test_an_unpaired_surrogate_in_an_answer_is_a_422_naming_the_field(
    app: Flask, expert: dict[str, str]
) -> None:
    body = b'{"answers": {"probability": {"value": 40}, "reason": {"text": "a\\ud800b"}}}'
    response = app.test_client().put(
        "/api/v1/expert/round/items/E01",
        data=body,
        headers={**expert, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "U+D800" in response.get_json()["errors"]["answers.reason.text"][0]


def test_a_csv_field_over_the_csv_modules_limit_is_refused_with_its_line(
    app: Flask, session: Session, example_study: Study, facilitator_user: User, key: dict[str, str]
) -> None:
    csv = b'name,email\nAnn,ann@example.org\n"' + b"x" * 140_000 + b'",long@example.org\n'
    api = app.test_client().post(
        f"/api/v1/studies/{example_study.id}/panel/import",
        data=csv,
        headers={**key, "Content-Type": "text/csv"},
    )
    assert api.status_code == 422
    assert "line 3 cannot be read as CSV" in api.get_json()["detail"]
    browser = signed_in(app, facilitator_user.email)
    url = f"/f/studies/{example_study.id}/panel/import"
    page = browser.post(
        url,
        data={"csrf_token": csrf_of(browser, url), "file": (BytesIO(csv), "panel.csv")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 422
    assert "line 3 cannot be read as CSV" in page.get_data(as_text=True)
    assert _members(session) == 0  # not even the good first row


def test_control_characters_in_the_address_name_nothing(
    app: Flask, expert: dict[str, str], facilitator_user: User
) -> None:
    client = app.test_client()
    path = client.put("/api/v1/expert/round/items/E0%001", json={}, headers=expert)
    assert path.status_code == 404
    query = client.get("/account/login?next=%2F%0D%0ASet-Cookie:x")
    assert query.status_code == 400


def test_nothing_with_a_control_character_is_ever_flushed(
    session: Session, example_study: Study
) -> None:
    """The last line: whatever path forgets to check, the flush refuses (422, not a 500)."""
    from app.models import ValidationError

    example_study.source = "from \x00 somewhere"
    with pytest.raises(ValidationError) as refused:
        session.flush()
    assert "studies.source" in refused.value.errors
    session.rollback()
