"""The report reads stability verdicts stored at close; it never re-applies today's rule."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from analysis.snapshot import PartSummary, Stability, Verdict
from app.models import Study, User, utcnow
from app.reports.data import build_report, stored_stability
from app.services import results
from tests.reports.helpers import scripted_study


def _part(verdict: Verdict | None) -> PartSummary:
    figures = {"n_paired": 8.0, "changed_share": 0.5, "distribution_change": 0.1}
    return PartSummary(n=8, suppressed=False, stability=Stability(figures), verdict=verdict)


def test_the_stored_verdict_is_the_only_source() -> None:
    stable = Verdict(decision="stop_consensus", label="", stable=True)
    assert stored_stability(_part(stable)) == (True, "stop_consensus")
    unknown = Verdict(decision="cannot_tell", label="", stable=None)
    assert stored_stability(_part(unknown)) == (None, "cannot_tell")
    # no verdict stored: nothing is re-evaluated, whatever the figures say
    assert stored_stability(_part(None)) == (None, None)


def test_changing_the_rule_after_close_does_not_change_the_report(
    app: Flask, session: Session, example_study: Study, facilitator_user: User
) -> None:
    scripted = scripted_study(session, example_study, facilitator_user)
    stored = {}
    for _, data in results.closed_snapshots(session, scripted.study):
        for key, item in data.items.items():
            for q_key, question in item.questions.items():
                for p_key, part in question.parts.items():
                    if part.verdict is not None:
                        stored[(key, q_key, p_key)] = part.verdict.stable
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
