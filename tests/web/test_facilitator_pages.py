"""The facilitator pages: each renders for its owner, each POST does its job and is audited."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import (
    AccessLink,
    Answer,
    AuditEvent,
    Item,
    ItemStatus,
    Participation,
    ParticipationStatus,
    Role,
    Round,
    RoundState,
    Snapshot,
    Study,
    StudyMember,
    StudyStatus,
    Suggestion,
    User,
)
from app.services import panel, rounds
from tests.conftest import EXAMPLE_SURVEY, NOW, csrf_from, make_user
from tests.facilitator_world import (
    World,
    build_world,
    enter_fresh,
    facilitator_rules,
    sign_in,
    submit,
)

# pages and texts, the same on any database: the PostgreSQL pass skips them
pytestmark = pytest.mark.once

TOKEN_IN_PAGE = re.compile(r"/t/([A-Za-z0-9_\-]{40,})")


@pytest.fixture
def world(session: Session, example_study: Study) -> World:
    """The example study with a panel of three, round 1 open and a suggestion."""
    return build_world(session, example_study)


@pytest.fixture
def owner(client: FlaskClient, world: World) -> FlaskClient:
    """The study owner's browser, logged in."""
    sign_in(client)
    return client


def _csrf(client: FlaskClient, url: str = "/f/") -> str:
    return csrf_from(client.get(url).get_data(as_text=True))


def _post(client: FlaskClient, url: str, follow: bool = False, **data: Any) -> Any:
    return client.post(url, data={"csrf_token": _csrf(client), **data}, follow_redirects=follow)


def _events(session: Session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _count(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _close_with_snapshot(session: Session, round_: Round, data: dict[str, Any]) -> None:
    """Close a round by hand with a given snapshot (no statistics needed)."""
    round_.state = RoundState.CLOSED
    round_.closed_at = NOW
    session.add(Snapshot(round_id=round_.id, data=data, answer_count=0, answers_digest="0" * 64))
    session.commit()


def _question(kind: str, parts: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "scale": None, "no_answer": 0, "parts": parts}


def _entry(item_id: int, questions: dict[str, Any], respondents: int | None = 6) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "kind": "event",
        "version": 1,
        "respondents": respondents,
        "questions": questions,
        "reasons": [],
        "reasons_withheld": False,
    }


#: a format-1 snapshot written by hand (the statistics the items page shows, nothing more)
SNAPSHOT = {
    "format": 1,
    "round": 1,
    "k": 5,
    "k_comments": 5,
    "quantile_method": "type7",
    "consensus_rule": "iqr <= 20",
    "stability_rule": "changed_share < 0.15",
    "compare_presets": [],
    "pooling": {"methods": ["logodds"], "eps": 0.001, "weights": "equal"},
    "previous_round": None,
    "respondents": 6,
    "items": {
        "E01": _entry(
            1,
            {
                "probability": _question(
                    "probability",
                    {
                        "": {
                            "n": 6,
                            "suppressed": False,
                            "stats": {"median": 60.0, "q1": 50.0, "q3": 70.0},
                            "consensus": {"rule": "iqr <= 20", "reached": True, "presets": {}},
                        }
                    },
                ),
                "impact": _question("likert", {"": {"suppressed": True, "n": None}}),
            },
        ),
        "E02": _entry(2, {}, respondents=None),
        "E03": _entry(
            3,
            {
                "probability": _question(
                    "probability",
                    {
                        "": {
                            "n": 6,
                            "suppressed": False,
                            "stats": {"median": 40.0, "q1": 10.0, "q3": 80.0},
                            "consensus": {"rule": "iqr <= 20", "reached": False, "presets": {}},
                        }
                    },
                )
            },
        ),
    },
}


def _get_urls(app: Flask, values: dict[str, Any]) -> list[str]:
    """Every GET page of the blueprint whose arguments can be filled."""
    urls = []
    with app.test_request_context():
        for rule in facilitator_rules(app):
            if "GET" in (rule.methods or set()) and set(rule.arguments) <= set(values):
                urls.append(app.url_for(rule.endpoint, **{k: values[k] for k in rule.arguments}))
    return urls


@pytest.mark.parametrize("state", ["fresh", "open", "closed"])
def test_every_page_renders_for_its_owner(
    app: Flask, client: FlaskClient, session: Session, example_study: Study, state: str
) -> None:
    make_user(session, "admin@example.org", role=Role.ADMIN)
    values: dict[str, Any] = {"study_id": example_study.id}
    if state == "fresh":
        values["item_id"] = example_study.items[0].id
    else:
        world = build_world(session, example_study)
        # the owner's study draft is private to the owner, admins included (tests/web/test_builder)
        values = {k: v for k, v in world.url_values().items() if k != "draft_id"}
        submit(session, world.members[0], world.round)
        if state == "closed":
            _close_with_snapshot(session, world.round, SNAPSHOT)
    sign_in(client, "admin@example.org")
    urls = _get_urls(app, values)
    assert len(urls) >= 12
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, f"GET {url}: {response.status_code}"
        html = response.get_data(as_text=True)
        assert "<script" not in html  # the CSP forbids inline scripts; these pages need none
        assert " style=" not in html


def test_studies_list_shows_rounds_panel_and_response(
    owner: FlaskClient, session: Session, world: World
) -> None:
    submit(session, world.members[0], world.round)
    html = owner.get("/f/").get_data(as_text=True)
    assert "Water supply of a large city to 2040" in html
    assert "Round 1: 1 of 3 (33 %)" in html


def test_dashboard_shows_the_funnel_by_group_and_next_steps(
    owner: FlaskClient, session: Session, world: World
) -> None:
    world.study.anonymity = "confidential"  # an anonymous study shows groups under k together
    submit(session, world.members[0], world.round)
    html = owner.get(f"/f/studies/{world.study.id}").get_data(as_text=True)
    assert "Response funnel, round 1" in html
    assert "By group, round 1" in html and "Academia" in html and "Government" in html
    assert "2 experts have not submitted round 1 yet." in html
    assert "Email a reminder to 2 experts" in html
    assert "3 experts have not been sent an invitation." in html


# --- creating studies ------------------------------------------------------------------------


def test_create_study_from_the_library(owner: FlaskClient, session: Session) -> None:
    # the example study exists already (the owner fixture's world); the library's other file is new
    response = _post(owner, "/f/studies/new", library="iran_russia_us.toml")
    assert response.status_code == 303
    created = session.scalars(select(Study).where(Study.key != "water-2040")).one()
    assert response.headers["Location"].endswith(f"/f/studies/{created.id}")
    owner_row = session.get(StudyMember, (created.id, created.created_by_id))
    assert owner_row is not None and owner_row.role == "owner"
    assert [e.study_id for e in _events(session, "study.create")][-1] == created.id


def test_create_study_by_upload(client: FlaskClient, session: Session) -> None:
    make_user(session)
    sign_in(client)
    data = {
        "csrf_token": _csrf(client),
        "file": (io.BytesIO(EXAMPLE_SURVEY.read_bytes()), "water.toml"),
    }
    response = client.post("/f/studies/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 303
    assert session.scalar(select(Study.key)) == "water-2040"


def test_duplicate_study_key_is_reported_and_nothing_imported(
    owner: FlaskClient, session: Session
) -> None:
    response = _post(owner, "/f/studies/new", library="example.toml")
    assert response.status_code == 422
    assert "exists already" in response.get_data(as_text=True)
    assert _count(session, Study) == 1


def _upload(client: FlaskClient, content: bytes, filename: str) -> Any:
    data = {"csrf_token": _csrf(client), "file": (io.BytesIO(content), filename)}
    return client.post("/f/studies/new", data=data, content_type="multipart/form-data")


def test_bad_survey_file_lists_every_problem_with_lines(
    client: FlaskClient, session: Session
) -> None:
    make_user(session)
    sign_in(client)
    response = _upload(client, b'format = 1\n[study]\nkey = "x"\nhorizon = "soon"\n', "bad.toml")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    problems = re.findall(r'<code class="problem">([^<]*)</code>', html)
    assert len(problems) >= 5
    assert "bad.toml:4: study.horizon: expected an integer" in html
    assert all(p.startswith("bad.toml:") for p in problems)
    assert _count(session, Study) == 0


def test_hostile_survey_file_is_rendered_escaped(client: FlaskClient, session: Session) -> None:
    make_user(session)
    sign_in(client)
    hostile = (
        b'format = 1\n[study]\nkey = "<script>alert(1)</script>{{7*7}}"\n'
        b'title = { en = "<script>alert(2)</script>{{7*7}}" }\n'
        b'languages = ["en", "<img src=x onerror=alert(3)>"]\n'
    )
    response = _upload(client, hostile, "<script>alert(4)</script>{{7*7}}.toml")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;{{7*7}}" in html
    summary = html[
        html.index('id="error-summary"') : html.index("</ul>", html.index('id="error-summary"'))
    ]
    assert "{{7*7}}" in summary and "49" not in summary
    assert _count(session, Study) == 0


def test_oversized_uploads_and_unknown_library_files_import_nothing(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    make_user(session)
    sign_in(client)
    app.config["MAX_CONTENT_LENGTH"] = 2048
    assert _upload(client, b"#" * 4096, "big.toml").status_code == 413
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024
    response = _post(client, "/f/studies/new", library="../pyproject.toml")
    assert response.status_code == 422
    assert "Choose a survey file to upload, or one from the library." in response.get_data(
        as_text=True
    )
    assert _count(session, Study) == 0


# --- panel -----------------------------------------------------------------------------------


def test_add_expert_shows_the_link_once_and_it_works(
    app: Flask, owner: FlaskClient, session: Session, world: World
) -> None:
    url = f"/f/studies/{world.study.id}/panel/add"
    response = owner.post(
        url,
        data={
            "csrf_token": _csrf(owner, url),
            "name": "Dana Doe",
            "email": "Dana@Example.org",
            "group": "Industry",
            "language": "ru",
        },
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "shown only once" in html
    token = TOKEN_IN_PAGE.search(html)
    assert token and f"http://localhost/t/{token.group(1)}" in html
    member = session.scalars(select(Participation).where(Participation.group == "Industry")).one()
    assert member.language == "ru" and member.expert.email == "dana@example.org"
    assert _events(session, "panel.add")[-1].target == "expert dana@example.org"
    # never the pseudonym: answer exports are keyed by it
    assert member.pseudonym not in html
    # the link is in no other page, and it lets the expert in
    assert token.group(1) not in owner.get(f"/f/studies/{world.study.id}/panel").get_data(
        as_text=True
    )
    assert enter_fresh(app, token.group(1)).status_code == 303


def test_add_expert_with_bad_fields_explains_and_adds_nobody(
    owner: FlaskClient, session: Session, world: World
) -> None:
    url = f"/f/studies/{world.study.id}/panel/add"
    before = _count(session, Participation)
    response = owner.post(
        url,
        data={
            "csrf_token": _csrf(owner, url),
            "name": "Ann again",
            "email": "ann@example.org",
            "language": "en",
        },
    )
    assert response.status_code == 422
    assert "already on this panel" in response.get_data(as_text=True).lower()
    response = owner.post(
        url, data={"csrf_token": _csrf(owner, url), "name": "", "email": "nope", "language": "en"}
    )
    assert response.status_code == 422
    assert 'class="error-summary"' in response.get_data(as_text=True)
    assert _count(session, Participation) == before


def _csv(client: FlaskClient, study: Study, content: str, send_now: bool) -> Any:
    url = f"/f/studies/{study.id}/panel/import"
    data: dict[str, Any] = {
        "csrf_token": _csrf(client, url),
        "file": (io.BytesIO(content.encode()), "panel.csv"),
    }
    if send_now:
        data["send_now"] = "y"
    return client.post(url, data=data, content_type="multipart/form-data")


def test_csv_with_bad_rows_imports_nothing_and_lists_each_row(
    owner: FlaskClient, session: Session, world: World
) -> None:
    before = _count(session, Participation)
    content = (
        "name,email,group,language\n"
        "Eve,eve@example.org,Academia,en\n"
        ",nameless@example.org,Academia,en\n"
        "Fay,not-an-email,Academia,en\n"
        "Gus,gus@example.org,Academia,xx\n"
        "Hal,eve@example.org,Academia,en\n"
    )
    response = _csv(owner, world.study, content, send_now=False)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Nothing was imported" in html
    for row in ("row 3: name", "row 4: email", "row 5: language", "row 6: email"):
        assert row in html
    assert _count(session, Participation) == before


def test_csv_import_shows_each_new_link_once(
    app: Flask, owner: FlaskClient, session: Session, world: World
) -> None:
    content = "name,email,group,language\nEve,eve@example.org,Academia,en\nFay,fay@example.org,,fa\nAnn,ann@example.org,Academia,en\n"
    response = _csv(owner, world.study, content, send_now=False)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    tokens = TOKEN_IN_PAGE.findall(html)
    assert len(tokens) == 2  # Ann is on the panel already: skipped
    assert "1 were on the panel already and were skipped: ann@example.org" in html
    for token in tokens:
        assert enter_fresh(app, token).status_code == 303
    assert _count(session, Participation) == 5


def test_csv_import_can_send_invitations_at_once(
    app: Flask, owner: FlaskClient, session: Session, world: World
) -> None:
    content = (
        "name,email,group,language\nEve,eve@example.org,Academia,en\nFay,fay@example.org,,fa\n"
    )
    response = _csv(owner, world.study, content, send_now=True)
    assert response.status_code == 303
    outbox = list((Path(app.instance_path) / "outbox").glob("*.eml"))
    assert len(outbox) == 2
    invited = session.scalars(
        select(Participation).where(Participation.invited_at.is_not(None))
    ).all()
    assert {p.expert.email for p in invited} == {"eve@example.org", "fay@example.org"}
    page = owner.get(f"/f/studies/{world.study.id}/panel").get_data(as_text=True)
    assert "Invitations queued: 2." in page
    assert not TOKEN_IN_PAGE.search(page)


def test_revoke_reissue_withdraw_and_reinstate(
    app: Flask, owner: FlaskClient, session: Session, world: World
) -> None:
    member = world.members[0]
    base = f"/f/studies/{world.study.id}/panel/{member.id}"
    assert _post(owner, f"{base}/revoke").status_code == 303
    session.expire_all()
    assert not member.has_usable_link
    assert _events(session, "panel.revoke_links")

    response = _post(owner, f"{base}/reissue")
    assert response.status_code == 200
    token = TOKEN_IN_PAGE.search(response.get_data(as_text=True))
    assert token is not None
    assert enter_fresh(app, token.group(1)).status_code == 303
    assert _events(session, "panel.reissue_link")

    assert _post(owner, f"{base}/withdraw").status_code == 303
    session.expire_all()
    assert member.status == ParticipationStatus.WITHDRAWN
    assert enter_fresh(app, token.group(1)).status_code == 404
    page = _post(owner, f"{base}/reissue")
    assert page.status_code == 303  # a withdrawn expert gets no link: an error message instead
    assert "reinstate them first" in owner.get(f"/f/studies/{world.study.id}/panel").get_data(
        as_text=True
    )

    assert _post(owner, f"{base}/reinstate").status_code == 303
    session.expire_all()
    assert member.status == ParticipationStatus.INVITED
    assert [e.action for e in _events(session, "panel.reinstate")] == ["panel.reinstate"]


# --- rounds ----------------------------------------------------------------------------------


def _local(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")


def test_round_lifecycle_prepare_open_and_deadlines(
    client: FlaskClient, session: Session, example_study: Study
) -> None:
    sign_in(client)
    base = f"/f/studies/{example_study.id}/rounds"
    response = _post(
        client, f"{base}/new", message_en="Welcome to round one", message_ru="Добро пожаловать"
    )
    assert response.status_code == 303
    round_ = session.scalars(select(Round)).one()
    assert round_.state == RoundState.DRAFT
    assert round_.message == {"en": "Welcome to round one", "ru": "Добро пожаловать"}

    # a second draft is refused while round 1 is not closed
    refused = _post(client, f"{base}/new", follow=True)
    assert "close it before preparing the next one" in refused.get_data(as_text=True)
    assert _count(session, Round) == 1

    deadline = (datetime.now(UTC) + timedelta(days=10)).replace(second=0, microsecond=0)
    assert _post(client, f"{base}/1/open", deadline=_local(deadline)).status_code == 303
    session.expire_all()
    assert round_.state == RoundState.OPEN and round_.deadline == deadline
    assert _events(session, "round.open")

    later = deadline + timedelta(days=3)
    _post(client, f"{base}/1/deadline", deadline=_local(later))
    session.expire_all()
    assert round_.deadline == later
    bad = _post(client, f"{base}/1/deadline", deadline="not a date", follow=True)
    assert "Enter the deadline as a date and time (UTC)" in bad.get_data(as_text=True)
    past = _post(client, f"{base}/1/deadline", deadline="2001-01-01T10:00", follow=True)
    assert "The deadline must be in the future" in past.get_data(as_text=True)
    session.expire_all()
    assert round_.deadline == later
    _post(client, f"{base}/1/deadline", deadline="")
    session.expire_all()
    assert round_.deadline is None
    assert len(_events(session, "round.deadline")) == 2


def _add_experts(session: Session, study: Study, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        panel.add_expert(
            session,
            study,
            name=f"Expert {n}",
            email=f"expert{n}@example.org",
            group="",
            language="en",
            actor=None,
            now=NOW,
        )
    session.commit()


def test_rounds_page_says_whether_every_conditional_pair_reaches_k(
    client: FlaskClient, session: Session, example_study: Study
) -> None:
    """The example study asks two pairs (E02 and E03, each given E01); k = 5."""
    sign_in(client)
    url = f"/f/studies/{example_study.id}/rounds"
    assert "Conditional pairs per expert" not in client.get(url).get_data(as_text=True)

    example_study.conditional_pairs_per_expert = 1
    _add_experts(session, example_study, 6)
    page = client.get(url).get_data(as_text=True)
    assert "Each expert is asked 1 of the study's 2 conditional pairs" in page
    assert "6 experts on the panel get their pairs when the next round opens" in page
    assert "With the panel of 6 experts, 2 of 2 pairs are asked of fewer than k = 5 experts" in page
    assert "A panel of at least 10 experts gives every pair k answers." in page
    short = re.findall(r"<tr><td>(E0\d)</td><td>(E0\d)</td><td class=\"num\">(\d+)</td></tr>", page)
    assert short == [("E02", "E01", "3"), ("E03", "E01", "3")]

    _add_experts(session, example_study, 4, start=6)
    round_ = rounds.create_round(session, example_study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW)
    session.commit()
    page = client.get(url).get_data(as_text=True)
    assert "get their pairs when the next round opens" not in page
    assert (
        "With the panel of 10 experts, every pair is asked of at least 5 experts (k = 5)." in page
    )
    assert "Pairs short of k" not in page


def test_round_limit_is_respected(
    client: FlaskClient, session: Session, example_study: Study
) -> None:
    example_study.round_limit = 1
    round_ = rounds.create_round(session, example_study, actor=None, now=NOW)
    _close_with_snapshot(session, round_, {"items": {}})
    sign_in(client)
    page = client.get(f"/f/studies/{example_study.id}/rounds").get_data(as_text=True)
    assert "pre-registered limit" in page
    _post(client, f"/f/studies/{example_study.id}/rounds/new")
    assert _count(session, Round) == 1


def test_close_round_asks_first_then_freezes_the_snapshot(
    owner: FlaskClient, session: Session, world: World
) -> None:
    url = f"/f/studies/{world.study.id}/rounds/1/close"
    page = owner.get(url).get_data(as_text=True)
    assert "Closing freezes the snapshot; experts can no longer change answers." in page
    assert world.round.state == RoundState.OPEN  # looking changed nothing
    try:
        import app.services.snapshots  # noqa: F401 - needs the analysis package complete
    except ImportError as error:  # pragma: no cover - while analysis/ is being finished
        pytest.skip(f"closing needs analysis functions: {error}")
    # nobody answered (k = 5): the close wants the round number typed
    refused = owner.post(url, data={"csrf_token": csrf_from(page)})
    assert refused.status_code == 422
    session.expire_all()
    assert world.round.state == RoundState.OPEN
    response = owner.post(url, data={"csrf_token": csrf_from(page), "confirm": "1"})
    assert response.status_code == 303
    session.expire_all()
    assert world.round.state == RoundState.CLOSED
    assert world.round.snapshot is not None
    assert _events(session, "round.close")


def test_finish_study_needs_the_round_closed_and_a_confirmation_then_ends_it(
    owner: FlaskClient, session: Session, world: World
) -> None:
    rounds_url = f"/f/studies/{world.study.id}/rounds"
    finish_url = f"/f/studies/{world.study.id}/finish"
    page = owner.get(rounds_url).get_data(as_text=True)
    assert "Close round 1 before finishing the study." in page
    token = csrf_from(page)
    refused = owner.post(finish_url, data={"csrf_token": token, "confirm": "yes"})
    assert refused.status_code == 303
    session.expire_all()
    assert world.study.status != StudyStatus.FINISHED
    assert "close it before finishing" in owner.get(rounds_url).get_data(as_text=True)

    _close_with_snapshot(session, world.round, {"items": {}})
    owner.post(finish_url, data={"csrf_token": token})  # the box not ticked
    session.expire_all()
    assert world.study.status != StudyStatus.FINISHED
    assert "Tick the box" in owner.get(rounds_url).get_data(as_text=True)

    assert owner.post(finish_url, data={"csrf_token": token, "confirm": "yes"}).status_code == 303
    session.expire_all()
    assert world.study.status == StudyStatus.FINISHED and world.study.finished_at is not None
    assert _events(session, "study.finish")
    page = owner.get(rounds_url).get_data(as_text=True)
    assert "The study is finished" in page and "Prepare round" not in page
    _post(owner, f"/f/studies/{world.study.id}/rounds/new")
    assert _count(session, Round) == 1


# --- items and suggestions -------------------------------------------------------------------


def _item(session: Session, study: Study, key: str) -> Item:
    return session.scalars(select(Item).where(Item.study_id == study.id, Item.key == key)).one()


def test_items_page_shows_verdicts_from_the_snapshot(
    owner: FlaskClient, session: Session, world: World
) -> None:
    _close_with_snapshot(session, world.round, SNAPSHOT)
    html = owner.get(f"/f/studies/{world.study.id}/items").get_data(as_text=True)
    e01 = html[html.index('id="item-E01"') : html.index('id="item-E02"')]
    assert "median 60, IQR 50 to 70, n 6" in e01
    assert "fewer than 5 answers" in e01
    e03 = html[html.index('id="item-E03"') : html.index('id="item-T01"')]
    assert "no consensus" in e03


def test_retire_and_reinstate_an_item(owner: FlaskClient, session: Session, world: World) -> None:
    item = world.item
    base = f"/f/studies/{world.study.id}/items/{item.id}"
    assert _post(owner, f"{base}/retire", reason="consensus reached in round 1").status_code == 303
    session.expire_all()
    assert item.status == ItemStatus.RETIRED
    assert _events(session, "item.retire")[-1].reason == "consensus reached in round 1"
    _post(owner, f"{base}/retire", reason="again")
    assert "already retired" in owner.get(f"/f/studies/{world.study.id}/items").get_data(
        as_text=True
    )
    assert _post(owner, f"{base}/reinstate").status_code == 303
    session.expire_all()
    assert item.status == ItemStatus.ACTIVE
    assert _events(session, "item.reinstate")


def test_reword_an_item_needs_a_change_note(
    owner: FlaskClient, session: Session, world: World
) -> None:
    url = f"/f/studies/{world.study.id}/items/{world.item.id}/reword"
    form = owner.get(url).get_data(as_text=True)
    assert "A desalination plant supplies the city" in form  # prefilled with the current wording
    data = {
        "csrf_token": csrf_from(form),
        "title_en": "A desalination plant supplies a fifth of the city",
        "text_en": "At least 20 % of the drinking water comes from desalination.",
    }
    missing_note = owner.post(url, data=data)
    assert missing_note.status_code == 422
    assert "Say what changed" in missing_note.get_data(as_text=True)
    response = owner.post(url, data={**data, "note_en": "Now 20 % instead of 10 %."})
    assert response.status_code == 303
    session.expire_all()
    version = world.item.current_version
    assert version.number == 2 and version.change_note == {"en": "Now 20 % instead of 10 %."}
    assert _events(session, "item.reword")


def test_merge_items(owner: FlaskClient, session: Session, world: World) -> None:
    url = f"/f/studies/{world.study.id}/items/merge"
    e01, e03 = _item(session, world.study, "E01"), _item(session, world.study, "E03")
    response = owner.post(
        url,
        data={
            "csrf_token": _csrf(owner, url),
            "into": e01.id,
            "merged": [e03.id],
            "note_en": "E03 is now part of E01.",
        },
    )
    assert response.status_code == 303
    session.expire_all()
    assert e03.status == ItemStatus.MERGED and e03.merged_into_id == e01.id
    assert _events(session, "item.merge")[-1].details["merged"] == ["E03"]
    into_itself = owner.post(
        url,
        data={"csrf_token": _csrf(owner, url), "into": e01.id, "merged": [e01.id], "note_en": "x"},
    )
    assert into_itself.status_code == 422


def test_accept_and_decline_suggestions(owner: FlaskClient, session: Session, world: World) -> None:
    url = f"/f/studies/{world.study.id}/suggestions/{world.suggestion.id}/accept"
    form = owner.get(url).get_data(as_text=True)
    assert "Rainwater harvesting is mandated" in form
    response = owner.post(
        url,
        data={
            "csrf_token": csrf_from(form),
            "key": "E99",
            "like": world.item.id,
            "title_en": "Rainwater harvesting",
            "text_en": "New buildings must harvest rainwater.",
        },
    )
    assert response.status_code == 303
    session.expire_all()
    new = _item(session, world.study, "E99")
    assert [q.key for q in new.questions] == [q.key for q in world.item.questions]
    assert world.suggestion.status == "accepted" and world.suggestion.item_id == new.id
    # a suggestion is turned into an item only once
    assert owner.get(url).status_code == 303

    second = Suggestion(
        study_id=world.study.id, round_id=world.round.id, text="Fog nets", language="en"
    )
    session.add(second)
    session.commit()
    decline = f"/f/studies/{world.study.id}/suggestions/{second.id}/decline"
    assert _post(owner, decline).status_code == 303
    session.expire_all()
    assert second.status == "declined"
    assert _events(session, "suggestion.decline")


# --- audit, team, accounts, anonymity --------------------------------------------------------


def test_audit_log_lists_events_newest_first(
    owner: FlaskClient, session: Session, world: World
) -> None:
    _post(owner, f"/f/studies/{world.study.id}/items/{world.item.id}/retire", reason="dropped")
    html = owner.get(f"/f/studies/{world.study.id}/audit").get_data(as_text=True)
    assert html.index("item.retire") < html.index("round.open") < html.index("study.create")
    assert "dropped" in html


def test_team_gives_another_facilitator_access(
    client: FlaskClient, session: Session, world: World
) -> None:
    make_user(session, "second@example.org", name="Second Facilitator")
    sign_in(client)
    url = f"/f/studies/{world.study.id}/team"
    unknown = client.post(
        url, data={"csrf_token": _csrf(client, url), "email": "nobody@example.org"}
    )
    assert unknown.status_code == 422
    assert "No account has this email" in unknown.get_data(as_text=True)
    response = client.post(
        url, data={"csrf_token": _csrf(client, url), "email": "Second@example.org"}
    )
    assert response.status_code == 303
    assert "Second Facilitator" in client.get(url).get_data(as_text=True)
    assert _events(session, "study.add_member")[-1].target == "second@example.org"

    other = client.application.test_client()
    sign_in(other, "second@example.org")
    assert other.get(f"/f/studies/{world.study.id}/panel").status_code == 200


def test_admin_creates_accounts(client: FlaskClient, session: Session) -> None:
    make_user(session, "admin@example.org", role=Role.ADMIN)
    sign_in(client, "admin@example.org")
    url = "/f/admin/accounts"
    weak = client.post(
        url,
        data={
            "csrf_token": _csrf(client, url),
            "email": "new@example.org",
            "name": "New",
            "password": "short",
            "role": "facilitator",
        },
    )
    assert weak.status_code == 422
    response = client.post(
        url,
        data={
            "csrf_token": _csrf(client, url),
            "email": "New@Example.org",
            "name": "New Person",
            "password": "a long enough password",
            "role": "facilitator",
        },
    )
    assert response.status_code == 303
    created = session.scalars(select(User).where(User.email == "new@example.org")).one()
    assert created.role == Role.FACILITATOR
    assert _events(session, "account.create")[-1].target == "new@example.org"
    assert "new@example.org" in client.get(url).get_data(as_text=True)


def test_no_facilitator_page_shows_answers_of_an_anonymous_study(
    app: Flask, owner: FlaskClient, session: Session, world: World
) -> None:
    assert world.study.is_anonymous
    ann = world.members[0]
    item = world.item
    version = item.current_version
    reason = next(q for q in item.questions if q.key == "reason")
    probability = next(q for q in item.questions if q.key == "probability")
    session.add_all(
        [
            Answer(
                participation_id=ann.id,
                round_id=world.round.id,
                item_version_id=version.id,
                question_id=reason.id,
                text="CANARY-7c1e reasons",
                payload_hash="a" * 64,
            ),
            Answer(
                participation_id=ann.id,
                round_id=world.round.id,
                item_version_id=version.id,
                question_id=probability.id,
                value=37.25,
                payload_hash="b" * 64,
            ),
        ]
    )
    session.commit()
    submit(session, ann, world.round)
    for url in _get_urls(app, world.url_values()):
        html = owner.get(url).get_data(as_text=True)
        assert "CANARY-7c1e" not in html, url
        assert "37.25" not in html and "37,25" not in html, url


def test_access_links_are_never_rendered_after_creation(
    owner: FlaskClient, session: Session, world: World, app: Flask
) -> None:
    token = panel.issue_link(session, world.members[1], purpose="manual", now=NOW)
    session.commit()
    assert _count(session, AccessLink) == 4
    for url in _get_urls(app, world.url_values()):
        assert token not in owner.get(url).get_data(as_text=True)
