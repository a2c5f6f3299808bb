"""The report reads stability verdicts stored at close; it never re-applies today's rule."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from app.models import Study, User, utcnow
from app.reports.data import build_report, stored_stability
from app.services import results
from tests.reports.helpers import scripted_study


def test_the_stored_verdict_wins_over_the_rule() -> None:
    figures = {"n_paired": 8.0, "changed_share": 0.5, "distribution_change": 0.1}
    stored = {"stability": figures, "verdict": {"stable": True, "decision": "stop_consensus"}}
    assert stored_stability(stored, "changed_share < 0.15") == (True, "stop_consensus")
    unknown = {"stability": figures, "verdict": {"stable": None, "decision": "cannot_tell"}}
    assert stored_stability(unknown, "changed_share < 0.15") == (None, "cannot_tell")


def test_snapshots_without_a_verdict_fall_back_to_the_rule_they_record() -> None:
    figures = {"n_paired": 8.0, "changed_share": 0.5, "distribution_change": 0.1}
    assert stored_stability({"stability": figures}, "changed_share < 0.15") == (False, None)
    assert stored_stability({"stability": figures}, "distribution_change < 0.15") == (True, None)
    assert stored_stability({}, "changed_share < 0.15") == (None, None)


def test_changing_the_rule_after_close_does_not_change_the_report(
    app: Flask, session: Session, example_study: Study, facilitator_user: User
) -> None:
    scripted = scripted_study(session, example_study, facilitator_user)
    stored = {}
    for _, data in results.closed_snapshots(session, scripted.study):
        for key, item in data["items"].items():
            for q_key, question in item["questions"].items():
                for p_key, part in question["parts"].items():
                    if part.get("verdict"):
                        stored[(key, q_key, p_key)] = part["verdict"]["stable"]
    assert True in stored.values()
    scripted.study.stability_rule = "n_paired < 0"  # would make nothing stable
    session.flush()
    with app.test_request_context():
        report = build_report(session, scripted.study, now=utcnow(), with_results=False)
    seen = 0
    for item in report.items:
        final = item.final
        if final is None:
            continue
        for question in final.questions:
            for part in question.parts:
                if (item.key, question.key, part.part) in stored:
                    assert part.stable is stored[(item.key, question.key, part.part)]
                    seen += 1
    assert seen == len(stored)
