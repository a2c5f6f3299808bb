"""The expert's round form: consent, per-item autosave with idempotency, resume, submit, bad input."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Answer, Item, Question, Round, RoundProgress, Study
from app.services import panel, rounds
from tests.conftest import NOW, csrf_from, enter_link


@pytest.fixture
def open_round(session: Session, example_study: Study) -> Round:
    """Round 1 of the example study, open."""
    round_ = rounds.create_round(session, example_study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW)
    session.commit()
    return round_


@pytest.fixture
def expert(
    client: FlaskClient, session: Session, example_study: Study, open_round: Round
) -> FlaskClient:
    """A client signed in through a private link, with consent given."""
    member = panel.add_expert(
        session,
        example_study,
        name="Ann",
        email="ann@example.org",
        group="G1",
        language="en",
        actor=None,
        now=NOW,
    )
    session.commit()
    enter_link(client, member.token)
    page = client.get("/e/consent")
    response = client.post(
        "/e/consent", data={"agree": "y", "csrf_token": csrf_from(page.get_data(as_text=True))}
    )
    assert response.status_code == 303
    return client


def _item(session: Session, study: Study, key: str) -> Item:
    return session.scalars(select(Item).where(Item.study_id == study.id, Item.key == key)).one()


def _q(item: Item, key: str) -> Question:
    return next(q for q in item.questions if q.key == key)


def _csrf(client: FlaskClient) -> str:
    return csrf_from(client.get("/e/round").get_data(as_text=True))


def test_consent_is_required_before_the_form(
    client: FlaskClient, session: Session, example_study: Study, open_round: Round
) -> None:
    member = panel.add_expert(
        session,
        example_study,
        name="Bo",
        email="bo@example.org",
        group="G1",
        language="en",
        actor=None,
        now=NOW,
    )
    session.commit()
    enter_link(client, member.token)
    assert client.get("/e/round").headers["Location"].endswith("/e/consent")
    page = client.get("/e/consent")
    refused = client.post("/e/consent", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert refused.status_code == 422


def test_form_shows_every_item_and_question_kind(expert: FlaskClient, example_study: Study) -> None:
    html = expert.get("/e/round").get_data(as_text=True)
    for key in ("E01", "E02", "E03", "T01", "C01"):
        assert f'id="item-{key}"' in html
    assert 'type="radio"' in html  # Likert scales
    assert 'inputmode="decimal"' in html  # numbers
    assert "<textarea" in html  # reasons
    assert "Outside my expertise" in html


def test_autosave_is_idempotent_and_keeps_history(
    expert: FlaskClient, session: Session, example_study: Study
) -> None:
    e01 = _item(session, example_study, "E01")
    probability, impact = _q(e01, "probability"), _q(e01, "impact")
    data = {"csrf_token": _csrf(expert), f"q{probability.id}": "40", f"q{impact.id}": "2"}
    headers = {"Idempotency-Key": "key-0001-abc", "Accept": "application/json"}
    first = expert.post(f"/e/round/items/{e01.id}", data=data, headers=headers)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.get_json()["replay"] is False
    again = expert.post(f"/e/round/items/{e01.id}", data=data, headers=headers)
    assert again.get_json()["replay"] is True
    assert session.scalar(select(func.count()).select_from(Answer)) == 2
    changed = expert.post(
        f"/e/round/items/{e01.id}", data={**data, f"q{probability.id}": "55"}, headers=headers
    )
    assert changed.status_code == 409
    assert changed.get_json()["payload"][f"q{probability.id}"] == "55"
    revised = expert.post(
        f"/e/round/items/{e01.id}",
        data={**data, f"q{probability.id}": "55"},
        headers={**headers, "Idempotency-Key": "key-0002-abc"},
    )
    assert revised.status_code == 200
    rows = session.scalars(
        select(Answer).where(Answer.question_id == probability.id).order_by(Answer.revision)
    ).all()
    assert [(a.value, a.revision, a.is_current) for a in rows] == [
        (40.0, 1, False),
        (55.0, 2, True),
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("140", "between 0 and 100"),
        ("abc", "is not a number"),
        ("-5", "between 0 and 100"),
        ("1e400", "is not a number"),
    ],
)
def test_bad_values_get_a_clear_message_and_save_nothing(
    expert: FlaskClient, session: Session, example_study: Study, value: str, message: str
) -> None:
    e01 = _item(session, example_study, "E01")
    probability, impact = _q(e01, "probability"), _q(e01, "impact")
    response = expert.post(
        f"/e/round/items/{e01.id}",
        data={"csrf_token": _csrf(expert), f"q{probability.id}": value, f"q{impact.id}": "1"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 422
    body = response.get_json()
    assert message in " ".join(body["errors"]["probability"])
    assert session.scalar(select(func.count()).select_from(Answer)) == 0  # impact not half-saved


def test_persian_digits_are_accepted(
    expert: FlaskClient, session: Session, example_study: Study
) -> None:
    e01 = _item(session, example_study, "E01")
    probability = _q(e01, "probability")
    response = expert.post(
        f"/e/round/items/{e01.id}",
        data={"csrf_token": _csrf(expert), f"q{probability.id}": "۳۵٫۵"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    assert session.scalar(select(Answer.value)) == 35.5


def test_quantiles_must_increase(
    expert: FlaskClient, session: Session, example_study: Study
) -> None:
    c01 = _item(session, example_study, "C01")
    seed = _q(c01, "seed")
    response = expert.post(
        f"/e/round/items/{c01.id}",
        data={
            "csrf_token": _csrf(expert),
            f"q{seed.id}_5": "10",
            f"q{seed.id}_50": "5",
            f"q{seed.id}_95": "20",
        },
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 422
    assert "larger than the one before" in response.get_json()["errors"]["seed"][0]


def test_submit_lists_missing_answers_and_keeps_what_was_typed(
    expert: FlaskClient, session: Session, example_study: Study
) -> None:
    e01 = _item(session, example_study, "E01")
    probability = _q(e01, "probability")
    response = expert.post(
        "/e/round",
        data={"csrf_token": _csrf(expert), f"q{probability.id}": "33", "action": "submit"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "There is a problem" in html
    assert f'name="q{probability.id}" value="33"' in html
    assert session.scalar(select(RoundProgress.submitted_at)) is None
    assert session.scalar(select(Answer.value).where(Answer.question_id == probability.id)) == 33


def test_resume_from_another_device_shows_saved_answers(
    expert: FlaskClient, app, session: Session, example_study: Study
) -> None:
    e01 = _item(session, example_study, "E01")
    probability = _q(e01, "probability")
    expert.post(
        f"/e/round/items/{e01.id}",
        data={"csrf_token": _csrf(expert), f"q{probability.id}": "61"},
        headers={"Accept": "application/json"},
    )
    participation = session.scalars(select(panel.Participation)).one()
    token = panel.issue_link(session, participation, purpose="manual", now=NOW)
    session.commit()
    other = app.test_client()
    enter_link(other, token)
    html = other.get("/e/round").get_data(as_text=True)
    assert re.search(rf'name="q{probability.id}" value="61"', html)


def test_saving_after_close_is_rejected_with_the_payload(
    expert: FlaskClient, session: Session, example_study: Study, open_round: Round
) -> None:
    csrf = _csrf(expert)
    open_round.state = "closed"
    session.commit()
    e01 = _item(session, example_study, "E01")
    probability = _q(e01, "probability")
    response = expert.post(
        f"/e/round/items/{e01.id}",
        data={"csrf_token": csrf, f"q{probability.id}": "12"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 409
    assert response.get_json()["payload"][f"q{probability.id}"] == "12"
    page = expert.post(
        "/e/round", data={"csrf_token": csrf, f"q{probability.id}": "12", "action": "save"}
    )
    assert page.status_code == 409
    assert "12" in page.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Answer)) == 0
