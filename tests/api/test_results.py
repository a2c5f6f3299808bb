"""Results endpoints read the frozen snapshot, suppress small cells, and analyse final estimates."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Round, Snapshot
from app.services import snapshots
from tests.api.conftest import ApiWorld, answer_directly, problem_of


def _run_round(
    client: FlaskClient, session: Session, world: ApiWorld, number: int, experts: int
) -> None:
    """Create and open round `number`, let `experts` experts answer everything, close it."""
    assert client.post(world.url("/rounds"), json={}, headers=world.headers).status_code == 201
    opened = client.post(world.url(f"/rounds/{number}/open"), headers=world.headers)
    assert opened.status_code == 200
    round_ = session.scalar(select(Round).where(Round.number == number))
    assert round_ is not None
    answer_directly(session, round_, world.experts[:experts], number)
    closed = client.post(world.url(f"/rounds/{number}/close"), headers=world.headers)
    assert closed.status_code == 200


def _get(client: FlaskClient, world: ApiWorld, path: str) -> Any:
    response = client.get(world.url(path), headers=world.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def two_rounds(client: FlaskClient, session: Session, world: ApiWorld) -> ApiWorld:
    """Two closed rounds answered by all six experts."""
    _run_round(client, session, world, 1, 6)
    _run_round(client, session, world, 2, 6)
    return world


def test_round_results_come_from_the_snapshot(
    client: FlaskClient, session: Session, two_rounds: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = two_rounds

    def no_recomputing(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("results must be read from the snapshot, not recomputed")

    monkeypatch.setattr(snapshots, "compute_snapshot_data", no_recomputing)
    results = _get(client, world, "/rounds/2/results")
    assert results["round"] == 2 and results["previous_round"] == 1
    assert results["respondents"] == 6 and results["answer_count"] > 0
    assert [i["key"] for i in results["items"]] == ["E01", "E02", "E03", "T01", "C01"]
    e01 = results["items"][0]
    probability = next(q for q in e01["questions"] if q["key"] == "probability")
    part = probability["parts"][0]
    assert part["n"] == 6 and part["suppressed"] is False
    assert part["stats"]["median"] is not None and part["histogram"]
    assert part["consensus"]["rule"] and part["pooled"]["logodds"] is not None
    assert part["stability"]["n_paired"] == 6
    # groups of three are below k = 5: shown only as suppressed
    assert {(g["group"], g["suppressed"], g["n"]) for g in part["groups"]} == {
        ("G1", True, None),
        ("G2", True, None),
    }
    # editing the stored snapshot shows through: nothing is recomputed from raw answers
    snapshot = session.scalars(select(Snapshot).order_by(Snapshot.id)).all()[-1]
    snapshot.data = {**snapshot.data, "respondents": 4242}
    session.commit()
    assert _get(client, world, "/rounds/2/results")["respondents"] == 4242


def test_tables_of_consensus_stability_and_pooling(
    client: FlaskClient, two_rounds: ApiWorld
) -> None:
    world = two_rounds
    consensus = _get(client, world, "/rounds/2/consensus")
    keys = {(r["item"], r["question"], r["part"]) for r in consensus["rows"]}
    assert ("E01", "probability", "") in keys and ("E02", "timing", "2030") in keys
    assert not any(q == "usage_level" for _i, q, _p in keys)  # quantiles have no consensus rule
    assert all(isinstance(r["reached"], bool | None) for r in consensus["rows"])
    stability = _get(client, world, "/rounds/2/stability")
    assert stability["previous_round"] == 1 and stability["rows"]
    assert all(r["n_paired"] == 6 for r in stability["rows"])
    assert _get(client, world, "/rounds/1/stability")["rows"] == []
    pooled = _get(client, world, "/rounds/2/pooled")
    rows = {(r["item"], r["part"]): r for r in pooled["rows"]}
    assert set(rows) >= {("E01", ""), ("E02", "2030"), ("E02", "2040"), ("E03", "")}
    assert all(0 <= r["logodds"] <= 100 and r["n"] == 6 for r in rows.values())


def test_fewer_than_k_answers_show_nothing(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    _run_round(client, session, world, 1, 4)  # k = 5
    results = _get(client, world, "/rounds/1/results")
    parts = [p for i in results["items"] for q in i["questions"] for p in q["parts"]]
    assert parts and all(p["suppressed"] and p["n"] is None and p["stats"] is None for p in parts)
    assert all(i["respondents"] is None and i["reasons"] == [] for i in results["items"])
    assert _get(client, world, "/rounds/1/pooled")["rows"] == []
    consensus = _get(client, world, "/rounds/1/consensus")["rows"]
    assert consensus and all(r["n"] is None and r["reached"] is None for r in consensus)
    assert "reason 1" not in str(results)


def test_results_of_rounds_not_closed(client: FlaskClient, world: ApiWorld) -> None:
    client.post(world.url("/rounds"), json={}, headers=world.headers)
    for path in ("results", "consensus", "stability", "pooled"):
        body = problem_of(client.get(world.url(f"/rounds/1/{path}"), headers=world.headers), 409)
        assert "draft" in body["detail"]
        problem_of(client.get(world.url(f"/rounds/9/{path}"), headers=world.headers), 404)
    problem_of(client.get(world.url("/scenarios"), headers=world.headers), 404)
    problem_of(client.get(world.url("/tia"), headers=world.headers), 404)


def test_scenarios_and_trend_impacts(client: FlaskClient, two_rounds: ApiWorld) -> None:
    world = two_rounds
    scenarios = _get(client, world, "/scenarios?seed=7")
    assert scenarios["round"] == 2 and scenarios["seed"] == 7
    assert {e["key"] for e in scenarios["events"]} == {"E01", "E02", "E03"}
    assert all(0 <= e["probability"] <= 1 for e in scenarios["events"])
    assert scenarios["methods"] and all(m["top"] for m in scenarios["methods"])
    assert [n["key"] for n in scenarios["named"]] == [s.key for s in world.study.scenarios]
    assert _get(client, world, "/scenarios?seed=7") == scenarios  # reproducible
    assert scenarios["settings"] == {"scenario_pooling": "both", "unasked_pairs": "unknown"}
    assert {m["method"] for m in scenarios["methods"]} >= {"smic", "smic_experts"}
    assert scenarios["coherence"]["experts"] == len(scenarios["coherence_experts"]) > 0
    for row in scenarios["coherence_experts"]:
        assert row["expert"].startswith("P-") and 0 <= row["score"] <= 1
        assert {v["kind"] for v in row["details"]} <= {
            "total_probability",
            "frechet_joint",
            "frechet_joint_not",
            "reciprocity",
        }
    first_round = _get(client, world, "/scenarios?round=1")
    assert first_round["round"] == 1
    trends = _get(client, world, "/tia")
    assert [t["key"] for t in trends] == ["T01"]
    assert trends[0]["forecast"] and trends[0]["events"]
    for bad in ("seed=-1", "round=0", "seed=x"):
        problem_of(client.get(world.url(f"/scenarios?{bad}"), headers=world.headers), 422)
    problem_of(client.get(world.url("/tia?round=9"), headers=world.headers), 404)


def test_results_need_the_studys_key(
    client: FlaskClient, two_rounds: ApiWorld, other_world: ApiWorld
) -> None:
    for path in ("/rounds/1/results", "/rounds/2/pooled", "/scenarios", "/tia"):
        problem_of(client.get(two_rounds.url(path), headers=other_world.headers), 404)
        problem_of(client.get(two_rounds.url(path)), 401)
        expert = two_rounds.experts[0]
        problem_of(client.get(two_rounds.url(path), headers=expert.headers), 401)


def test_round_results_rank_the_events(client: FlaskClient, two_rounds: ApiWorld) -> None:
    world = two_rounds
    default = _get(client, world, "/rounds/2/results")["ranking"]
    assert default["rank_by"] == "expected_impact" and default["impact_question"] == "impact"
    assert default["neutral"] == 0.0 and default["impact_threshold"] == 1.5
    events = default["events"]
    assert events and {e["key"] for e in events} | set(default["unranked"]) == {"E01", "E02", "E03"}
    for event in events:
        assert event["expected_impact"] == pytest.approx(event["probability"] * event["impact"])
        assert event["round"] == 2
    sizes = [abs(e["expected_impact"]) for e in events]
    assert sizes == sorted(sizes, reverse=True)
    by_probability = _get(client, world, "/rounds/2/results?rank_by=probability")["ranking"]
    chances = [e["probability"] for e in by_probability["events"]]
    assert chances == sorted(chances, reverse=True)
    quadrant = _get(client, world, "/rounds/1/results?rank_by=quadrant")["ranking"]
    assert quadrant["round"] == 1 and all(e["quadrant"] for e in quadrant["events"])
    response = client.get(world.url("/rounds/2/results?rank_by=median"), headers=world.headers)
    problem = problem_of(response, 422)
    assert "rank_by must be one of" in str(problem) and "'median'" in str(problem)
