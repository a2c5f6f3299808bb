"""A whole three-round Delphi through the web: 12 experts in two groups, invitations by real
SMTP, feedback between rounds, k-suppression, anonymous reasons, retirement and the audit log."""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis.describe import ScaleSpec, describe
from app.definitions.model import QuestionKind
from app.expert.round_form import field_name, no_answer_name
from app.models import AuditEvent, Item, Question, Round, RoundProgress, Snapshot, Study
from app.services.tidy import question_parts
from tests.conftest import csrf_from, enter_link, login
from tests.mailbox import Mailbox, running_smtp_server

GROUPS = {"Academia": 7, "Government": 5}  # k = 5: both groups just large enough
E01_ROUND1 = [60, 62, 65, 70, 72, 75, 80, 30, 32, 35, 38, 40]  # wide: no consensus
E01_ROUND2 = [55, 56, 57, 58, 58, 59, 60, 50, 52, 53, 54, 55]  # converged: IQR <= 20
E03_ANSWERING = 4  # fewer than k answer E03's probability: it must be suppressed


@pytest.fixture
def mailbox(app: Flask):
    with running_smtp_server() as box:
        app.config.update(MAIL_BACKEND="smtp", SMTP_HOST=box.host, SMTP_PORT=box.port)
        yield box


def _post(client: FlaskClient, url: str, page: str | None = None, **data: Any):
    token = csrf_from(client.get(page or url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


def _form_values(question: Question, expert: int, round_number: int) -> dict[str, str]:
    """What simulated expert number `expert` types for one question."""
    item_key = question.item.key
    kind = QuestionKind(question.kind)
    if kind is QuestionKind.TEXT:
        return {field_name(question): f"reason-{item_key}-r{round_number}-e{expert}"}
    if item_key == "E03" and question.key == "probability" and expert >= E03_ANSWERING:
        return {no_answer_name(question): "y"}
    if kind is QuestionKind.LIKERT:
        scale = question.scale
        return {
            f"shown_{question.id}": "1",
            field_name(question): str(int(scale.min) + (expert % int(scale.max - scale.min + 1))),
        }
    if item_key == "E01" and question.key == "probability":
        series = E01_ROUND1 if round_number == 1 else E01_ROUND2
        return {field_name(question): str(series[expert])}
    values: dict[str, str] = {}
    for index, part in enumerate(question_parts(question)):
        if not part.part:
            values[field_name(question)] = str(40 + expert)
        elif kind is QuestionKind.TREND_IMPACT:
            profile = {"t1": 1, "t2": 2, "i_max": 10 + expert, "t3": 4, "i_ss": 5}
            values[field_name(question, part.part)] = str(profile[part.part])
        else:  # horizons, quantiles, conditionals: increasing numbers in range
            values[field_name(question, part.part)] = str(10 + 10 * index + expert)
    return values


def _answer_round(client: FlaskClient, session: Session, round_: Round, expert: int) -> Any:
    """Answer every item on its own page (plain form posts, as without JavaScript), then
    submit from the review page."""
    for round_item in round_.items:
        data: dict[str, str] = {"action": "next"}
        for question in round_item.item.questions_in(round_.number):
            data.update(_form_values(question, expert, round_.number))
        url = f"/e/round/items/{round_item.item.key}"
        saved = _post(client, url, **data)
        assert saved.status_code == 303, saved.get_data(as_text=True)[:3000]
    return _post(client, "/e/round/submit", page="/e/round/review")


def _snapshot(session: Session, study: Study, number: int) -> dict[str, Any]:
    session.expire_all()
    round_ = session.scalars(
        select(Round).where(Round.study_id == study.id, Round.number == number)
    ).one()
    return session.scalars(select(Snapshot).where(Snapshot.round_id == round_.id)).one().data


def test_three_round_study_through_the_web(
    app: Flask, client: FlaskClient, session: Session, facilitator_user, mailbox: Mailbox
) -> None:
    login(client)
    # 1. the study, from the library's example survey
    created = _post(client, "/f/studies/new", library="example.toml")
    assert created.status_code == 303, created.get_data(as_text=True)[:2000]
    study_id = int(re.search(r"/f/studies/(\d+)", created.headers["Location"]).group(1))
    study = session.get(Study, study_id)
    assert study is not None and study.k == 5

    # 2. the panel, by CSV
    rows = ["name,email,group,language"]
    people = [(g, i) for g, n in GROUPS.items() for i in range(n)]
    for number, (group, _index) in enumerate(people):
        rows.append(f"Expert {number},expert{number}@example.org,{group},en")
    token = csrf_from(client.get(f"/f/studies/{study_id}/panel/import").get_data(as_text=True))
    imported = client.post(
        f"/f/studies/{study_id}/panel/import",
        data={"csrf_token": token, "file": (io.BytesIO("\n".join(rows).encode()), "panel.csv")},
        content_type="multipart/form-data",
    )
    assert imported.status_code in (200, 303), imported.get_data(as_text=True)[:2000]

    experts: list[FlaskClient] = []
    for number in (1, 2, 3):
        # 3. prepare and open the round; invite (round 1) or remind
        assert (
            _post(
                client, f"/f/studies/{study_id}/rounds/new", page=f"/f/studies/{study_id}/rounds"
            ).status_code
            == 303
        )
        opened = _post(
            client,
            f"/f/studies/{study_id}/rounds/{number}/open",
            page=f"/f/studies/{study_id}/rounds",
            deadline="",
        )
        assert opened.status_code == 303
        session.expire_all()
        round_ = session.scalars(
            select(Round).where(Round.study_id == study_id, Round.number == number)
        ).one()
        assert round_.state == "open"

        if number == 1:
            sent = _post(
                client,
                f"/f/studies/{study_id}/mail/invitations",
                page=f"/f/studies/{study_id}/mail",
                audience="new",
            )
            assert sent.status_code == 303
            assert len(mailbox.messages) == 12
            for expert in range(12):
                browser = app.test_client()
                received = mailbox.to(f"expert{expert}@example.org")
                assert len(received) == 1
                assert enter_link(browser, received[0].token).status_code == 303
                consent = browser.get("/e/consent")
                browser.post(
                    "/e/consent",
                    data={"agree": "y", "csrf_token": csrf_from(consent.get_data(as_text=True))},
                )
                experts.append(browser)

        if number == 2:
            page = experts[0].get("/e/round/items/E01").get_data(as_text=True)
            probability = next(
                q.id
                for ri in round_.items
                if ri.item.key == "E01"
                for q in ri.item.questions
                if q.key == "probability"
            )
            block = page.split(f'id="question-{probability}"')[1].split(
                '<fieldset class="question'
            )[0]
            # feedback from round 1: the panel's median and spread, own answer, others' reasons
            expected = describe(np.array(E01_ROUND1, dtype=float), ScaleSpec(kind="probability"))
            assert "Median" in block and f"{expected.median:g}" in block
            assert "You:" in block
            assert "✓ Consensus" not in block and "No consensus yet" in block
            reasons = page.split('class="reasons"')[1].split("</ul>")[0]
            assert "reason-E01-r1-e5" in reasons  # another expert's reason
            assert "reason-E01-r1-e0" not in reasons  # not one's own
            assert "expert5@example.org" not in page and "Expert 5" not in page  # no identities
            e03 = experts[0].get("/e/round/items/E03").get_data(as_text=True)
            assert "Too few answers" in e03  # 4 < k answered E03's probability in round 1

        if number == 3:
            page = experts[0].get("/e/round").get_data(as_text=True)
            assert "/e/round/items/E01" not in page  # retired after reaching consensus
            assert "/e/round/items/E02" in page
            assert experts[0].get("/e/round/items/E01").status_code == 404

        # 4. every expert answers and submits
        for expert, browser in enumerate(experts):
            response = _answer_round(browser, session, round_, expert)
            assert response.status_code == 303, response.get_data(as_text=True)[:3000]
        session.expire_all()
        submitted = session.scalars(
            select(RoundProgress).where(
                RoundProgress.round_id == round_.id, RoundProgress.submitted_at.is_not(None)
            )
        ).all()
        assert len(submitted) == 12

        # 5. close: the snapshot freezes
        # E03's probability is under k: the close page wants the round number typed
        closed = _post(client, f"/f/studies/{study_id}/rounds/{number}/close", confirm=number)
        assert closed.status_code == 303
        data = _snapshot(session, study, number)
        e01 = data["items"].get("E01")
        if number == 1:
            part = e01["questions"]["probability"]["parts"][""]
            assert part["n"] == 12 and part["consensus"]["reached"] is False
            assert set(part["groups"]) == set(GROUPS)
            assert (
                data["items"]["E03"]["questions"]["probability"]["parts"][""]["suppressed"] is True
            )
            assert (
                data["items"]["E03"]["questions"]["probability"]["no_answer"] is not None
            )  # 8 >= k
        if number == 2:
            part = e01["questions"]["probability"]["parts"][""]
            assert part["consensus"]["reached"] is True
            assert part["stability"]["n_paired"] == 12
            # the facilitator retires the item that reached consensus
            item = session.scalars(
                select(Item).where(Item.study_id == study_id, Item.key == "E01")
            ).one()
            retired = _post(
                client,
                f"/f/studies/{study_id}/items/{item.id}/retire",
                page=f"/f/studies/{study_id}/items",
                reason="consensus in round 2",
            )
            assert retired.status_code == 303
        if number == 3:
            assert e01 is None

    # the round limit (3) holds
    _post(client, f"/f/studies/{study_id}/rounds/new", page=f"/f/studies/{study_id}/rounds")
    session.expire_all()
    assert len(session.scalars(select(Round).where(Round.study_id == study_id)).all()) == 3

    # the audit log tells what the facilitators did, and nothing of what experts said
    actions = [
        e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.study_id == study_id))
    ]
    for action, count in {
        "study.create": 1,
        "round.open": 3,
        "round.close": 3,
        "item.retire": 1,
    }.items():
        assert actions.count(action) == count, (action, actions)
    assert actions.count("panel.add") == 12
    log_page = client.get(f"/f/studies/{study_id}/audit").get_data(as_text=True)
    assert "item.retire" in log_page or "retire" in log_page.lower()
    assert "reason-E01" not in log_page
