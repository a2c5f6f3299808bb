"""The expert API on structural rows: the question says its columns and ratings, a row is
saved whole, and a bad cell is refused naming its column."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.definitions import SurveyDefinition
from app.models import User
from app.services import studies
from tests.api.conftest import API, add_panel, open_first_round, problem_of
from tests.conftest import NOW


def test_an_influence_row_through_the_api(
    client: FlaskClient,
    session: Session,
    first_study_definition: SurveyDefinition,
    facilitator_user: User,
) -> None:
    study = studies.import_study(session, first_study_definition, actor=facilitator_user, now=NOW)
    session.commit()
    expert = add_panel(session, study, 1)[0]
    open_first_round(session, study)
    round_json = client.get(f"{API}/expert/round", headers=expert.headers).get_json()
    lead = next(i for i in round_json["items"] if i["key"] == "LEAD")
    question = next(q for q in lead["questions"] if q["key"] == "influence")
    assert question["kind"] == "influence" and question["answer"] == "values"
    assert question["ratings"] == ["0", "1", "2", "3", "P"]
    assert len(question["columns"]) == 12 and "LEAD" not in question["columns"]
    us = next(i for i in round_json["items"] if i["key"] == "A_US")
    positions = next(q for q in us["questions"] if q["key"] == "positions")
    assert positions["columns"][0] == "ALLIANCE" and positions["ratings"][0] == "-4"

    row = dict.fromkeys(question["columns"], "1") | {"ECON": "P", "ALLY": "x"}
    refused = client.put(
        f"{API}/expert/round/items/LEAD",
        json={"answers": {"influence": {"values": row}}},
        headers=expert.headers,
    )
    assert "ALLY" in str(problem_of(refused, 422))
    saved = client.put(
        f"{API}/expert/round/items/LEAD",
        json={"answers": {"influence": {"values": row | {"ALLY": "3"}}}},
        headers=expert.headers,
    )
    assert saved.status_code == 200, saved.get_json()
    again = client.get(f"{API}/expert/round", headers=expert.headers).get_json()
    stored = next(i for i in again["items"] if i["key"] == "LEAD")
    answer = next(a for key, a in stored["answers"].items() if key == "influence")
    assert answer["values"]["ALLY"] == 3.0 and answer["values"]["_potential"] == ["ECON"]
