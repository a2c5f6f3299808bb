"""The expert's paged round without a browser: overview, item pages, drafts, keeping last
round's answers, review and submit, plain-form navigation, idempotent autosave."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Answer, AnswerDraft, Item, Question, Round, RoundProgress, Study
from app.services import panel, rounds
from tests.api.conftest import Panelist, add_panel, answer_directly
from tests.conftest import NOW, csrf_from, enter_link

JSON = {"Accept": "application/json"}


@pytest.fixture
def open_round(session: Session, example_study: Study) -> Round:
    """Round 1 of the example study, open."""
    round_ = rounds.create_round(session, example_study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW)
    session.commit()
    return round_


def _sign_in(client: FlaskClient, token: str) -> FlaskClient:
    """Enter through the private link and agree to take part."""
    enter_link(client, token)
    page = client.get("/e/consent")
    if page.status_code == 200:
        client.post(
            "/e/consent", data={"agree": "y", "csrf_token": csrf_from(page.get_data(as_text=True))}
        )
    return client


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
    return _sign_in(client, member.token)


def _item(session: Session, study: Study, key: str) -> Item:
    return session.scalars(select(Item).where(Item.study_id == study.id, Item.key == key)).one()


def _q(item: Item, key: str) -> Question:
    return next(q for q in item.questions if q.key == key)


def _csrf(client: FlaskClient, path: str = "/e/round") -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


def _current(session: Session, question: Question) -> Answer | None:
    session.expire_all()
    return session.scalar(
        select(Answer).where(Answer.question_id == question.id, Answer.is_current.is_(True))
    )


def test_consent_is_required_before_the_round(
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
    assert client.get("/e/round/items/E01").headers["Location"].endswith("/e/consent")
    page = client.get("/e/consent")
    refused = client.post("/e/consent", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert refused.status_code == 422


def test_overview_lists_every_item_with_its_state_and_links_to_its_page(
    expert: FlaskClient, session: Session, example_study: Study
) -> None:
    html = expert.get("/e/round").get_data(as_text=True)
    for key in ("E01", "E02", "E03", "T01", "C01"):
        assert f'href="/e/round/items/{key}"' in html
    assert html.count("state-not_started") == 5
    # one item per page, nothing of the items' questions on the overview
    assert "<textarea" not in html.split('id="suggest"')[0]
    e01 = _item(session, example_study, "E01")
    probability = _q(e01, "probability")
    expert.post(
        "/e/round/items/E01",
        data={"csrf_token": _csrf(expert), f"q{probability.id}": "40"},
        headers=JSON,
    )
    html = expert.get("/e/round").get_data(as_text=True)
    assert html.count("state-draft") == 1  # begun: the impact is still missing


def test_item_pages_show_each_question_kind_and_move_on(expert: FlaskClient) -> None:
    page = expert.get("/e/round/items/E02").get_data(as_text=True)
    assert 'type="radio"' in page  # Likert
    assert 'inputmode="decimal"' in page  # numbers by year and the impact profile
    assert "<textarea" in page  # the reason
    assert "Outside my expertise" in page
    assert 'value="next"' in page and 'value="previous"' in page
    assert 'id="item-E01"' not in page  # one item per page
    last = expert.get("/e/round/items/C01").get_data(as_text=True)
    assert 'value="review"' in last and 'value="next"' not in last


def test_autosave_is_idempotent_per_request_and_keeps_history(
    expert: FlaskClient, session: Session, example_study: Study
) -> None:
    e01 = _item(session, example_study, "E01")
    probability, impact = _q(e01, "probability"), _q(e01, "impact")
    data = {"csrf_token": _csrf(expert), f"q{probability.id}": "40", f"q{impact.id}": "2"}
    headers = {**JSON, "Idempotency-Key": "key-0001-abc"}
    first = expert.post("/e/round/items/E01", data=data, headers=headers)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.get_json()["replay"] is False
    assert first.get_json()["key"] == "key-0001-abc"  # the content acknowledged
    again = expert.post("/e/round/items/E01", data=data, headers=headers)
    assert again.get_json()["replay"] is True
    assert session.scalar(select(func.count()).select_from(Answer)) == 2
    changed = expert.post(
        "/e/round/items/E01", data={**data, f"q{probability.id}": "55"}, headers=headers
    )
    assert changed.status_code == 409
    assert changed.get_json()["payload"][f"q{probability.id}"] == "55"
    revised = expert.post(
        "/e/round/items/E01",
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
    # a late duplicate of the first save is a replay: it does not bring 40 back
    late = expert.post("/e/round/items/E01", data=data, headers=headers)
    assert late.status_code == 200 and late.get_json()["replay"] is True
    assert _current(session, probability).value == 55.0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("140", "between 0 and 100"),
        ("abc", "is not a number"),
        ("-5", "between 0 and 100"),
        ("1e400", "is not a number"),
    ],
)
def test_a_bad_value_is_kept_as_typed_with_a_clear_message(
    expert: FlaskClient, session: Session, example_study: Study, value: str, message: str
) -> None:
    e01 = _item(session, example_study, "E01")
    probability, impact = _q(e01, "probability"), _q(e01, "impact")
    response = expert.post(
        "/e/round/items/E01",
        data={"csrf_token": _csrf(expert), f"q{probability.id}": value, f"q{impact.id}": "1"},
        headers=JSON,
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["questions"]["probability"]["state"] == "draft"
    assert message in body["questions"]["probability"]["message"]
    assert body["questions"]["impact"]["state"] == "saved"
    assert _current(session, probability) is None  # not an answer
    assert _current(session, impact).value == 1.0  # type: ignore[union-attr]
    draft = session.scalars(select(AnswerDraft)).one()
    assert draft.payload == {"value": value}
    page = expert.get("/e/round/items/E01").get_data(as_text=True)
    assert f'name="q{probability.id}" value="{value}"' in page
    assert message in page


def test_persian_digits_are_accepted(
    expert: FlaskClient, session: Session, example_study: Study
) -> None:
    probability = _q(_item(session, example_study, "E01"), "probability")
    response = expert.post(
        "/e/round/items/E01",
        data={"csrf_token": _csrf(expert), f"q{probability.id}": "۳۵٫۵"},
        headers=JSON,
    )
    assert response.get_json()["questions"]["probability"]["state"] == "saved"
    assert _current(session, probability).value == 35.5  # type: ignore[union-attr]


def test_quantiles_out_of_order_stay_a_draft_until_fixed(
    expert: FlaskClient, session: Session, example_study: Study
) -> None:
    seed = _q(_item(session, example_study, "C01"), "seed")
    csrf = _csrf(expert)
    typed = {f"q{seed.id}_5": "10", f"q{seed.id}_50": "5", f"q{seed.id}_95": "20"}
    response = expert.post("/e/round/items/C01", data={"csrf_token": csrf, **typed}, headers=JSON)
    outcome = response.get_json()["questions"]["seed"]
    assert outcome["state"] == "draft" and "larger than the one before" in outcome["message"]
    assert response.get_json()["state"] == "draft"
    fixed = expert.post(
        "/e/round/items/C01",
        data={"csrf_token": csrf, **typed, f"q{seed.id}_50": "15"},
        headers=JSON,
    )
    assert fixed.get_json()["questions"]["seed"]["state"] == "saved"
    assert session.scalar(select(func.count()).select_from(AnswerDraft)) == 0
    assert _current(session, seed).value_json == {"5": 10.0, "50": 15.0, "95": 20.0}  # type: ignore[union-attr]


def test_review_names_each_missing_question_with_a_link_and_submit_waits_for_them(
    expert: FlaskClient, session: Session, example_study: Study
) -> None:
    e01 = _item(session, example_study, "E01")
    probability = _q(e01, "probability")
    csrf = _csrf(expert)
    expert.post(
        "/e/round/items/E01", data={"csrf_token": csrf, f"q{probability.id}": "33"}, headers=JSON
    )
    review = expert.get("/e/round/review").get_data(as_text=True)
    impact = _q(e01, "impact")
    assert f'href="/e/round/items/E01#question-{impact.id}"' in review
    assert f'href="/e/round/items/E01#question-{probability.id}"' not in review
    refused = expert.post("/e/round/submit", data={"csrf_token": csrf})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "not submitted yet" in html
    # every item that is not done; an item not started is one line with its count
    assert 'href="/e/round/items/E02"' in html and "Not started: 3 questions to answer." in html
    assert session.scalar(select(RoundProgress.submitted_at)) is None
    assert _current(session, probability).value == 33.0  # type: ignore[union-attr]


def test_submit_after_every_item_is_answered(
    expert: FlaskClient, session: Session, example_study: Study, open_round: Round
) -> None:
    participation = session.scalars(select(panel.Participation)).one()
    answer_directly(session, open_round, [Panelist(participation, "")], first_seed=1)
    progress = session.get(RoundProgress, (participation.id, open_round.id))
    assert progress is not None
    progress.submitted_at = None
    session.commit()
    done = expert.post("/e/round/submit", data={"csrf_token": _csrf(expert)})
    assert done.status_code == 303 and done.headers["Location"].endswith("/e/")
    session.expire_all()
    assert session.scalar(select(RoundProgress.submitted_at)) is not None


def test_plain_form_posts_save_and_go_where_the_button_says(
    expert: FlaskClient, session: Session, example_study: Study
) -> None:
    e01 = _item(session, example_study, "E01")
    probability, impact = _q(e01, "probability"), _q(e01, "impact")
    page = expert.get("/e/round/items/E01").get_data(as_text=True)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page)
    assert key is not None
    data = {
        "csrf_token": csrf_from(page),
        "idempotency_key": key.group(1),
        f"q{probability.id}": "20",
        f"shown_{impact.id}": "1",
        f"q{impact.id}": "-1",
        "action": "next",
    }
    moved = expert.post("/e/round/items/E01", data=data)
    assert moved.status_code == 303 and moved.headers["Location"].endswith("/e/round/items/E02")
    assert _current(session, probability).value == 20.0  # type: ignore[union-attr]
    # pressing Next twice (a double click) stores the item once
    expert.post("/e/round/items/E01", data=data)
    assert session.scalar(select(func.count()).select_from(Answer)) == 2
    back = expert.post(
        "/e/round/items/C01", data={"csrf_token": data["csrf_token"], "action": "review"}
    )
    assert back.headers["Location"].endswith("/e/round/review")


def test_a_stale_token_on_a_plain_form_shows_the_page_again_with_every_typed_value(
    expert: FlaskClient, session: Session, example_study: Study
) -> None:
    probability = _q(_item(session, example_study, "E01"), "probability")
    response = expert.post(
        "/e/round/items/E01",
        data={"csrf_token": "stale", f"q{probability.id}": "77", "action": "next"},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'name="q{probability.id}" value="77"' in html
    assert "press Save again" in html
    assert session.scalar(select(func.count()).select_from(Answer)) == 0


def test_script_requests_without_a_session_get_401_not_a_redirect(
    app: Flask, session: Session, open_round: Round
) -> None:
    anonymous = app.test_client()
    for path in ("/e/round/token", "/e/round"):
        response = anonymous.get(path, headers=JSON)
        assert response.status_code == 401, path
        assert response.get_json()["title"] == "Signed out"


def test_a_fresh_token_is_given_to_the_script(expert: FlaskClient) -> None:
    response = expert.get("/e/round/token", headers=JSON)
    assert response.status_code == 200 and len(response.get_json()["csrf_token"]) > 20


def test_resume_from_another_device_shows_answers_and_drafts(
    expert: FlaskClient, app: Flask, session: Session, example_study: Study
) -> None:
    e01 = _item(session, example_study, "E01")
    probability = _q(e01, "probability")
    seed = _q(_item(session, example_study, "C01"), "seed")
    csrf = _csrf(expert)
    expert.post(
        "/e/round/items/E01", data={"csrf_token": csrf, f"q{probability.id}": "61"}, headers=JSON
    )
    expert.post("/e/round/items/C01", data={"csrf_token": csrf, f"q{seed.id}_5": "7"}, headers=JSON)
    participation = session.scalars(select(panel.Participation)).one()
    token = panel.issue_link(session, participation, purpose="manual", now=NOW)
    session.commit()
    other = app.test_client()
    enter_link(other, token)
    assert f'name="q{probability.id}" value="61"' in other.get("/e/round/items/E01").get_data(
        as_text=True
    )
    assert f'name="q{seed.id}_5" value="7"' in other.get("/e/round/items/C01").get_data(
        as_text=True
    )


def test_saving_after_close_is_refused_with_the_payload(
    expert: FlaskClient, session: Session, example_study: Study, open_round: Round
) -> None:
    csrf = _csrf(expert)
    open_round.state = "closed"
    session.commit()
    probability = _q(_item(session, example_study, "E01"), "probability")
    response = expert.post(
        "/e/round/items/E01", data={"csrf_token": csrf, f"q{probability.id}": "12"}, headers=JSON
    )
    assert response.status_code == 409
    assert response.get_json()["payload"][f"q{probability.id}"] == "12"
    page = expert.post(
        "/e/round/items/E01",
        data={"csrf_token": csrf, f"q{probability.id}": "12", "action": "save"},
    )
    assert page.status_code == 409
    assert "12" in page.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Answer)) == 0


# ---------------------------------------------------------------- round 2: prefilled, kept


@pytest.fixture
def second_round(
    session: Session, example_study: Study, open_round: Round
) -> tuple[Round, list[Panelist]]:
    """Six experts answered round 1, which closed; round 2 is open."""
    experts = add_panel(session, example_study, 6)
    answer_directly(session, open_round, experts, first_seed=1)
    rounds.close_round(session, open_round, actor=None, now=NOW + timedelta(days=1))
    round_2 = rounds.create_round(session, example_study, actor=None, now=NOW + timedelta(days=2))
    rounds.open_round(session, round_2, actor=None, now=NOW + timedelta(days=2))
    session.commit()
    return round_2, experts


def test_round_two_prefills_last_rounds_answers_marked_as_such(
    app: Flask, session: Session, example_study: Study, second_round: tuple[Round, list[Panelist]]
) -> None:
    round_2, experts = second_round
    client = _sign_in(app.test_client(), experts[0].token)
    probability = _q(_item(session, example_study, "E01"), "probability")
    previous = session.scalar(
        select(Answer.value).where(
            Answer.question_id == probability.id,
            Answer.participation_id == experts[0].participation.id,
        )
    )
    page = client.get("/e/round/items/E01").get_data(as_text=True)
    assert f'name="q{probability.id}" value="{int(previous)}"' in page
    assert "Your round 1 answer, filled in for you" in page
    assert "Keep my round 1 answers" in page
    # prefilled is not answered: nothing is stored for round 2 until the expert says so
    assert (
        session.scalar(
            select(func.count()).select_from(Answer).where(Answer.round_id == round_2.id)
        )
        == 0
    )


def test_keep_records_last_rounds_answers_as_kept(
    app: Flask, session: Session, example_study: Study, second_round: tuple[Round, list[Panelist]]
) -> None:
    round_2, experts = second_round
    me = experts[0]
    client = _sign_in(app.test_client(), me.token)
    csrf = _csrf(client)
    kept = client.post(
        "/e/round/keep",
        data={"csrf_token": csrf, "scope": "item", "key": "E01", "next": "/e/round/items/E01"},
    )
    assert kept.status_code == 303 and kept.headers["Location"].endswith("/e/round/items/E01")
    e01 = _item(session, example_study, "E01")
    rows = session.scalars(
        select(Answer).where(
            Answer.round_id == round_2.id, Answer.participation_id == me.participation.id
        )
    ).all()
    round_1 = {
        a.question_id: a
        for a in session.scalars(
            select(Answer).where(
                Answer.round_id != round_2.id, Answer.participation_id == me.participation.id
            )
        )
    }
    assert {a.question_id for a in rows} == {q.id for q in e01.questions_in(2) if q.id in round_1}
    assert all(a.kept for a in rows)
    assert all(a.payload_hash == round_1[a.question_id].payload_hash for a in rows)
    # a revision after keeping is a revision, not kept
    probability = _q(e01, "probability")
    changed = str(int(round_1[probability.id].value or 0) + 1)
    client.post(
        "/e/round/items/E01", data={"csrf_token": csrf, f"q{probability.id}": changed}, headers=JSON
    )
    assert _current(session, probability).kept is False  # type: ignore[union-attr]


def test_keep_all_then_submit(
    app: Flask, session: Session, example_study: Study, second_round: tuple[Round, list[Panelist]]
) -> None:
    _round_2, experts = second_round
    me = experts[1]
    client = _sign_in(app.test_client(), me.token)
    overview = client.get("/e/round").get_data(as_text=True)
    assert "for the 5 items I have not opened" in overview
    csrf = csrf_from(overview)
    client.post("/e/round/keep", data={"csrf_token": csrf, "scope": "all", "next": "/e/round"})
    review = client.get("/e/round/review").get_data(as_text=True)
    # the conditional question starts in round 2: there is no round 1 answer to keep, so
    # exactly it is missing, in the two items that ask it, each a link to the question
    cross = {
        key: _q(_item(session, example_study, key), "cross_desalination") for key in ("E02", "E03")
    }
    links = re.findall(r'href="(/e/round/items/[^"]+)"', review.split('id="error-summary"')[1])
    assert [link for link in links if "#" in link] == [
        f"/e/round/items/{key}#question-{q.id}" for key, q in cross.items()
    ]
    assert "cross_desalination" not in review  # no raw key, even for what is missing
    overview = client.get("/e/round").get_data(as_text=True)
    assert "I have not opened" not in overview
    assert overview.count("state-complete") == 3 and overview.count("state-draft") == 2
    given = {f"q{cross['E02'].id}_E01__given": "60", f"q{cross['E02'].id}_E01__given_not": "20"}
    given_e03 = {f"q{cross['E03'].id}_E01__given": "70", f"q{cross['E03'].id}_E01__given_not": "40"}
    client.post("/e/round/items/E02", data={"csrf_token": csrf, **given}, headers=JSON)
    client.post("/e/round/items/E03", data={"csrf_token": csrf, **given_e03}, headers=JSON)
    done = client.post("/e/round/submit", data={"csrf_token": csrf})
    assert done.status_code == 303, done.get_data(as_text=True)[-3000:]


def test_category_paging_puts_a_categorys_items_on_one_page(
    app: Flask, session: Session, example_study: Study, expert: FlaskClient
) -> None:
    example_study.page_by = "category"
    session.commit()
    first = expert.get("/e/round/items/E01")
    assert (
        first.status_code == 302
        and "/e/round/categories/supply#item-E01" in first.headers["Location"]
    )
    page = expert.get("/e/round/categories/supply").get_data(as_text=True)
    assert 'id="item-E01"' in page and 'id="item-E03"' in page and 'id="item-E02"' not in page
    e01, e03 = _item(session, example_study, "E01"), _item(session, example_study, "E03")
    data = {
        "csrf_token": csrf_from(page),
        "idempotency_key": "page-key-0001",
        f"q{_q(e01, 'probability').id}": "10",
        f"q{_q(e03, 'probability').id}": "90",
        "action": "save",
    }
    saved = expert.post("/e/round/categories/supply", data=data)
    assert saved.status_code == 303
    assert _current(session, _q(e03, "probability")).value == 90.0  # type: ignore[union-attr]


def test_a_retry_after_the_close_of_an_acknowledged_save_is_a_replay(
    expert: FlaskClient, session: Session, example_study: Study, open_round: Round
) -> None:
    probability = _q(_item(session, example_study, "E01"), "probability")
    data = {"csrf_token": _csrf(expert), f"q{probability.id}": "44"}
    headers = {**JSON, "Idempotency-Key": "late-retry-0001"}
    assert expert.post("/e/round/items/E01", data=data, headers=headers).status_code == 200
    rounds.close_round(session, open_round, actor=None, now=NOW + timedelta(days=1))
    session.commit()
    # the acknowledgement was lost on the way: the page sends the same save again
    again = expert.post("/e/round/items/E01", data=data, headers=headers)
    assert again.status_code == 200 and again.get_json()["replay"] is True
    # a new save after the close is refused, with what was typed given back
    new = expert.post(
        "/e/round/items/E01",
        data={**data, f"q{probability.id}": "45"},
        headers={**headers, "Idempotency-Key": "late-retry-0002"},
    )
    assert new.status_code == 409 and new.get_json()["payload"][f"q{probability.id}"] == "45"
    assert _current(session, probability).value == 44.0  # type: ignore[union-attr]


def test_incoherent_conditionals_get_a_gentle_hint_that_does_not_block(
    app: Flask, session: Session, example_study: Study, second_round: tuple[Round, list[Panelist]]
) -> None:
    _round_2, experts = second_round
    client = _sign_in(app.test_client(), experts[2].token)
    e01, e03 = _item(session, example_study, "E01"), _item(session, example_study, "E03")
    cross = _q(e03, "cross_desalination")
    csrf = _csrf(client)
    client.post(
        "/e/round/items/E01",
        data={"csrf_token": csrf, f"q{_q(e01, 'probability').id}": "50"},
        headers=JSON,
    )
    saved = client.post(
        "/e/round/items/E03",
        data={
            "csrf_token": csrf,
            f"q{_q(e03, 'probability').id}": "80",
            f"q{cross.id}_E01__given": "20",
            f"q{cross.id}_E01__given_not": "30",
        },
        headers=JSON,
    ).get_json()
    assert saved["questions"]["cross_desalination"]["state"] == "saved"  # never blocked
    assert len(saved["hints"]) == 1 and "80" in saved["hints"][0]
    assert "20" in saved["hints"][0] and "30" in saved["hints"][0]
    page = client.get("/e/round/items/E03").get_data(as_text=True)
    assert 'class="coherence-hint"' in page
    review = client.get("/e/round/review").get_data(as_text=True)
    assert "Worth a second look" in review and 'href="/e/round/items/E03"' in review


def test_home_says_when_the_study_has_ended_and_links_the_report(
    expert: FlaskClient, session: Session, example_study: Study, open_round: Round
) -> None:
    assert "The study has ended" not in expert.get("/e/").get_data(as_text=True)
    rounds.close_round(session, open_round, actor=None, now=NOW + timedelta(days=1))
    session.commit()
    between = expert.get("/e/").get_data(as_text=True)
    assert "You will receive an email when the next round opens" in between
    example_study.finish(NOW + timedelta(days=2))
    session.commit()
    ended = expert.get("/e/").get_data(as_text=True)
    assert "The study has ended" in ended
    assert "You will receive an email" not in ended
    assert 'href="/e/report"' in ended
