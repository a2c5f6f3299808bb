"""Facilitator endpoints: studies from survey files, the panel, rounds with their funnels."""

from __future__ import annotations

import io

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import AccessLink, Participation, Round, Snapshot, Study
from tests.api.conftest import API, ApiWorld, expert_header, open_first_round, problem_of
from tests.conftest import EXAMPLE_SURVEY


def _count(session: Session, model: object) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


# --- studies ---------------------------------------------------------------------------------


def _survey(key: str = "api-study") -> bytes:
    return (
        EXAMPLE_SURVEY.read_text(encoding="utf-8")
        .replace('key = "water-2040"', f'key = "{key}"')
        .encode()
    )


def test_create_study_from_a_toml_body(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    response = client.post(
        f"{API}/studies",
        data=_survey(),
        headers={**world.headers, "Content-Type": "application/toml"},
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["key"] == "api-study" and body["status"] == "draft"
    assert [i["key"] for i in body["items"]] == ["E01", "E02", "E03", "T01", "C01"]
    assert response.headers["Location"] == f"{API}/studies/{body['id']}"
    study = session.get(Study, body["id"])
    assert study is not None and [m.user_id for m in study.members] == [world.user.id]
    assert client.get(response.headers["Location"], headers=world.headers).get_json() == body


def test_create_study_from_a_multipart_upload(client: FlaskClient, world: ApiWorld) -> None:
    response = client.post(
        f"{API}/studies",
        data={"file": (io.BytesIO(_survey("uploaded")), "mine.toml")},
        headers=world.headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 201 and response.get_json()["key"] == "uploaded"
    missing = client.post(
        f"{API}/studies",
        data={"other": "x"},
        headers=world.headers,
        content_type="multipart/form-data",
    )
    assert problem_of(missing, 422)["errors"] == {"file": ["Missing."]}


def test_bad_survey_file_lists_every_problem_and_imports_nothing(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    before = _count(session, Study)
    bad = (
        _survey("bad").replace(b"k = 5", b"k = 1").replace(b'kind = "likert"', b'kind = "stars"', 1)
    )
    response = client.post(
        f"{API}/studies",
        data={"file": (io.BytesIO(bad), "bad.toml")},
        headers=world.headers,
        content_type="multipart/form-data",
    )
    body = problem_of(response, 422)
    assert body["title"] == "Invalid survey file"
    assert len(body["problems"]) >= 2
    assert {p["file"] for p in body["problems"]} == {"bad.toml"}
    assert all(isinstance(p["line"], int) and p["field"] for p in body["problems"])
    assert any(p["field"] == "study.k" for p in body["problems"])
    assert _count(session, Study) == before


def test_survey_syntax_errors_empty_bodies_and_duplicates(
    client: FlaskClient, world: ApiWorld
) -> None:
    syntax = client.post(f"{API}/studies", data=b"[study\nkey=", headers=world.headers)
    assert problem_of(syntax, 422)["problems"][0]["line"] == 1
    problem_of(client.post(f"{API}/studies", data=b"  ", headers=world.headers), 422)
    duplicate = client.post(
        f"{API}/studies", data=EXAMPLE_SURVEY.read_bytes(), headers=world.headers
    )
    assert "study.key" in problem_of(duplicate, 422)["errors"]
    hostile = client.post(f"{API}/studies", data=b"\xff\xfe<script>", headers=world.headers)
    assert "<script>" not in str(problem_of(hostile, 422))


def test_list_and_read_studies(client: FlaskClient, world: ApiWorld) -> None:
    listed = client.get(f"{API}/studies", headers=world.headers).get_json()
    assert [s["id"] for s in listed] == [world.study.id]
    detail = client.get(world.url(), headers=world.headers).get_json()
    assert detail["consensus_rule"] and detail["scenarios"] and detail["items"]
    problem_of(client.get(f"{API}/studies/999999", headers=world.headers), 404)


# --- panel -----------------------------------------------------------------------------------


def test_add_member_returns_the_link_once(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    response = client.post(
        world.url("/panel"),
        json={"name": "Nia", "email": "NIA@example.org", "group": "G3", "language": "fa"},
        headers=world.headers,
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["member"]["email"] == "nia@example.org" and body["member"]["language"] == "fa"
    assert body["member"]["link_state"] == "active" and "pseudonym" not in body["member"]
    assert body["link"] == f"http://localhost/t/{body['token']}?lang=fa"  # lands in Persian
    # the token works for the expert API; the listing never shows it again
    assert client.get(f"{API}/expert", headers=expert_header(body["token"])).status_code == 200
    listing = client.get(world.url("/panel"), headers=world.headers)
    assert body["token"] not in listing.get_data(as_text=True)
    assert len(listing.get_json()) == 7
    member = client.get(world.url(f"/panel/{body['member']['id']}"), headers=world.headers)
    assert member.get_json()["name"] == "Nia"


def test_add_member_bad_inputs(client: FlaskClient, session: Session, world: ApiWorld) -> None:
    before = _count(session, Participation)
    cases = [
        ({"email": "x@example.org"}, "name"),
        ({"name": "X", "email": "not-an-email"}, "email"),
        ({"name": "X", "email": "x@example.org", "language": "de"}, "language"),
        ({"name": "X", "email": "e0@example.org"}, "email"),  # already on the panel
        ({"name": "X", "email": "x@example.org", "role": "admin"}, "role"),  # unknown field
        ({"name": "X" * 201, "email": "x@example.org"}, "name"),
    ]
    for payload, field in cases:
        body = problem_of(
            client.post(world.url("/panel"), json=payload, headers=world.headers), 422
        )
        assert field in body["errors"], (payload, body)
    problem_of(client.post(world.url("/panel"), data="x", headers=world.headers), 422)
    assert _count(session, Participation) == before


def test_csv_import_all_or_nothing(client: FlaskClient, session: Session, world: ApiWorld) -> None:
    before = _count(session, Participation)
    bad = "name,email,group\nAna,ana@example.org,G1\nBob,bob,G2\nCy,,G2\n"
    body = problem_of(
        client.post(
            world.url("/panel/import"),
            data=bad,
            headers={**world.headers, "Content-Type": "text/csv"},
        ),
        422,
    )
    assert len(body["errors"]["rows"]) == 2 and "row 3" in body["errors"]["rows"][0]
    assert _count(session, Participation) == before
    good = "name,email,group,language\nAna,ana@example.org,G1,en\nEve,e0@example.org,G1,en\n"
    response = client.post(
        world.url("/panel/import"),
        data={"file": (io.BytesIO(good.encode()), "panel.csv")},
        headers=world.headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 201
    result = response.get_json()
    assert [a["member"]["email"] for a in result["added"]] == ["ana@example.org"]
    assert result["skipped"] == ["e0@example.org"]
    assert f"/t/{result['added'][0]['token']}?lang=" in result["added"][0]["link"]
    not_utf8 = client.post(world.url("/panel/import"), data=b"\xff\xfe", headers=world.headers)
    assert "UTF-8" in problem_of(not_utf8, 422)["detail"]


def test_revoke_reissue_withdraw_reinstate(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    expert = world.experts[0]
    base = world.url(f"/panel/{expert.participation.id}")
    revoked = client.post(f"{base}/revoke", headers=world.headers)
    # an anonymous study does not say how many (each reminder adds a link)
    assert revoked.status_code == 200 and revoked.get_json()["revoked_links"] is None
    assert revoked.get_json()["member"]["link_state"] == "revoked"
    problem_of(client.get(f"{API}/expert", headers=expert.headers), 401)

    reissued = client.post(f"{base}/reissue", headers=world.headers)
    assert reissued.status_code == 201
    token = reissued.get_json()["token"]
    assert client.get(f"{API}/expert", headers=expert_header(token)).status_code == 200
    problem_of(client.get(f"{API}/expert", headers=expert.headers), 401)

    withdrawn = client.post(f"{base}/withdraw", headers=world.headers)
    assert withdrawn.get_json()["status"] == "withdrawn"
    problem_of(client.get(f"{API}/expert", headers=expert_header(token)), 401)
    problem_of(client.post(f"{base}/reissue", headers=world.headers), 422)

    reinstated = client.post(f"{base}/reinstate", headers=world.headers)
    assert reinstated.get_json()["status"] == "active"
    assert reinstated.get_json()["link_state"] == "revoked"  # old links stay dead
    assert client.post(f"{base}/reissue", headers=world.headers).status_code == 201
    live = session.scalar(
        select(func.count())
        .select_from(AccessLink)
        .where(
            AccessLink.participation_id == expert.participation.id,
            AccessLink.revoked_at.is_(None),
        )
    )
    assert live == 1


def test_members_of_another_study_are_not_found(
    client: FlaskClient, world: ApiWorld, other_world: ApiWorld
) -> None:
    foreign = other_world.experts[0].participation.id
    for action in ("revoke", "reissue", "withdraw", "reinstate"):
        problem_of(client.post(world.url(f"/panel/{foreign}/{action}"), headers=world.headers), 404)
    problem_of(client.get(world.url(f"/panel/{foreign}"), headers=world.headers), 404)
    # and the other study's expert still gets in
    assert client.get(f"{API}/expert", headers=other_world.experts[0].headers).status_code == 200


# --- rounds ----------------------------------------------------------------------------------


def test_round_life_cycle_with_funnel(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    assert client.get(world.url("/rounds"), headers=world.headers).get_json() == []
    created = client.post(
        world.url("/rounds"), json={"message": {"en": "Welcome"}}, headers=world.headers
    )
    assert created.status_code == 201
    assert created.get_json()["state"] == "draft" and created.get_json()["message"] == {
        "en": "Welcome"
    }
    problem_of(client.post(world.url("/rounds"), json={}, headers=world.headers), 409)

    past = client.post(
        world.url("/rounds/1/open"),
        json={"deadline": "2000-01-01T00:00:00Z"},
        headers=world.headers,
    )
    assert "deadline" in problem_of(past, 422)["errors"]
    opened = client.post(
        world.url("/rounds/1/open"), json={"deadline": "2099-01-01T12:00:00"}, headers=world.headers
    )
    assert opened.status_code == 200
    round_json = opened.get_json()
    assert round_json["state"] == "open" and round_json["items"] == 5
    assert round_json["deadline"].startswith("2099-01-01T12:00:00")
    assert round_json["funnel"]["total"]["invited"] == 6
    # G1 and G2 (3 each) are under k = 5: an anonymous study counts them together
    assert [(g["group"], g["merged"]) for g in round_json["funnel"]["groups"]] == [
        ("(groups under k)", True)
    ]
    problem_of(client.post(world.url("/rounds/1/open"), headers=world.headers), 409)

    expert = world.experts[0]
    client.put(
        f"{API}/expert/round/items/E01",
        json={"answers": {"probability": {"value": 40}}},
        headers=expert.headers,
    )
    funnel = client.get(world.url("/rounds/1"), headers=world.headers).get_json()["funnel"]
    assert funnel["total"]["started"] == 1 and funnel["total"]["submitted"] == 0

    closed = client.post(world.url("/rounds/1/close"), headers=world.headers)
    assert closed.status_code == 200 and closed.get_json()["state"] == "closed"
    assert closed.get_json()["answer_count"] == 1
    assert _count(session, Snapshot) == 1
    problem_of(client.post(world.url("/rounds/1/close"), headers=world.headers), 409)
    problem_of(client.get(world.url("/rounds/7"), headers=world.headers), 404)
    problem_of(client.post(world.url("/rounds/7/open"), headers=world.headers), 404)


def test_finish_study_after_the_last_round_closes(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    client.post(world.url("/rounds"), json={}, headers=world.headers)
    client.post(world.url("/rounds/1/open"), headers=world.headers)
    refused = problem_of(client.post(world.url("/finish"), headers=world.headers), 409)
    assert "close it before finishing" in refused["detail"]
    assert client.get(world.url(""), headers=world.headers).get_json()["status"] == "running"

    client.post(world.url("/rounds/1/close"), headers=world.headers)
    finished = client.post(world.url("/finish"), headers=world.headers)
    assert finished.status_code == 200
    assert finished.get_json()["status"] == "finished" and finished.get_json()["finished_at"]
    problem_of(client.post(world.url("/rounds"), json={}, headers=world.headers), 409)
    problem_of(client.post(world.url("/finish"), headers=world.headers), 409)
    assert _count(session, Round) == 1


def test_round_bad_inputs(client: FlaskClient, session: Session, world: ApiWorld) -> None:
    for payload in (
        {"deadline": "tomorrow"},
        {"message": "text"},
        {"message": {"en": 5}},
        {"unknown": 1},
    ):
        problem_of(client.post(world.url("/rounds"), json=payload, headers=world.headers), 422)
    assert _count(session, Round) == 0


def test_round_limit_is_kept(client: FlaskClient, session: Session, world: ApiWorld) -> None:
    for number in (1, 2, 3):
        assert client.post(world.url("/rounds"), json={}, headers=world.headers).status_code == 201
        client.post(world.url(f"/rounds/{number}/open"), headers=world.headers)
        client.post(world.url(f"/rounds/{number}/close"), headers=world.headers)
    problem_of(client.post(world.url("/rounds"), json={}, headers=world.headers), 409)
    rounds = client.get(world.url("/rounds"), headers=world.headers).get_json()
    assert [(r["number"], r["state"]) for r in rounds] == [(n, "closed") for n in (1, 2, 3)]


def test_open_round_helper_matches_the_api(session: Session, world: ApiWorld) -> None:
    open_first_round(session, world.study, world.user)
    assert session.scalar(select(Round.state)) == "open"
