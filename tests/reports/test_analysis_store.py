"""Heavy analyses kept per snapshot: reused by the next build (not computed again), computed
again when a setting they read changes, equal to a fresh computation, never read when their
signature fails; and tidy answers read once per build."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.jobs.reports import analysis_store, build_content
from app.models import ReportFile, StoredAnalysis, Study, User
from app.reports import data as report_data
from app.reports.data import Report, build_report
from app.services import calibration, report_files, results, tidy
from app.services.analysis_store import AnalysisStore, build_memo, write_kept
from tests.conftest import NOW
from tests.reports.helpers import ScriptedStudy, scripted_study

#: the analyses a report keeps, by the function that computes each
COMPUTED = {
    "scenarios": (results, "scenario_results"),
    "tia": (results, "tia_results"),
    "weighting": (calibration, "weighted_pooling"),
    "ranking": (report_data, "event_ranking"),
    "measured": (report_data, "measured_record"),
    "micmac": (report_data, "micmac_panel"),
    "mactor": (report_data, "mactor_panel"),
    "cib": (report_data, "cib_panel"),
}


@pytest.fixture
def scripted(session: Session, example_study: Study, facilitator_user: User) -> ScriptedStudy:
    """The example study with two closed rounds."""
    return scripted_study(session, example_study, facilitator_user, closed_rounds=2)


def _counting(counted: Counter[str], name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    """`real`, counting its calls under `name`."""

    def counting(*args: Any, **kwargs: Any) -> Any:
        counted[name] += 1
        return real(*args, **kwargs)

    return counting


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each heavy analysis was computed."""
    counted: Counter[str] = Counter()
    for name, (module, attribute) in COMPUTED.items():
        monkeypatch.setattr(module, attribute, _counting(counted, name, getattr(module, attribute)))
    return counted


def _build(app: Flask, session: Session, study: Study, store: AnalysisStore | None) -> Report:
    """A report's data as a job builds it, the computed analyses written and committed."""
    with app.test_request_context():
        report = build_report(session, study, now=NOW, store=store)
    write_kept(session, store)
    session.commit()
    return report


def _store(app: Flask) -> AnalysisStore:
    with app.app_context():
        return analysis_store()


def test_a_second_build_reads_the_kept_analyses_and_computes_none(
    app: Flask, session: Session, scripted: ScriptedStudy, calls: Counter[str]
) -> None:
    study = scripted.study
    first = _store(app)
    _build(app, session, study, first)
    assert set(calls) == set(COMPUTED) and all(n == 1 for n in calls.values())
    kept_kinds = set(session.scalars(select(StoredAnalysis.kind)))
    assert {k.split(":")[0] for k in kept_kinds} == set(COMPUTED)
    assert not first.reused
    calls.clear()
    session.expunge_all()  # a new build: nothing left in the session
    second = _store(app)
    _build(app, session, session.get(Study, study.id), second)
    assert sum(calls.values()) == 0, f"computed again: {dict(calls)}"
    assert sorted(second.reused) == sorted(first.computed) and not second.computed


def test_kept_analyses_give_the_figures_of_a_fresh_computation(
    app: Flask, session: Session, scripted: ScriptedStudy
) -> None:
    study = scripted.study
    _build(app, session, study, _store(app))
    session.expunge_all()
    study = session.get(Study, study.id)
    store = _store(app)
    reused = _build(app, session, study, store)
    assert "weighting" in store.reused and store.reused[0].startswith("scenarios")
    fresh = _build(app, session, study, None)
    assert reused.scenarios is not None and fresh.scenarios is not None
    assert reused.scenarios.as_dict() == fresh.scenarios.as_dict()
    assert [t.as_dict() for t in reused.trends] == [t.as_dict() for t in fresh.trends]
    assert reused.weighting is not None and fresh.weighting is not None
    assert reused.weighting.as_dict() == fresh.weighting.as_dict()
    assert reused.ranking == fresh.ranking
    assert reused.measured == fresh.measured


def test_a_changed_setting_makes_the_kept_analyses_stale(
    app: Flask, session: Session, scripted: ScriptedStudy, calls: Counter[str]
) -> None:
    study = scripted.study
    before = _build(app, session, study, _store(app))
    rows = session.scalar(select(func.count()).select_from(StoredAnalysis))
    calls.clear()
    definition = dict(study.definition or {})
    definition["analysis"] = {**(definition.get("analysis") or {}), "cross_impact_plays": 2000}
    study.definition = definition
    session.commit()
    store = _store(app)
    after = _build(app, session, study, store)
    assert calls["scenarios"] == 1 and not any(k.startswith("scenarios") for k in store.reused)
    crossimpact = after.scenarios.method("crossimpact") if after.scenarios else None
    assert crossimpact is not None and crossimpact.facts["plays"] == 2000
    assert before.scenarios is not None
    old = before.scenarios.method("crossimpact")
    assert old is not None and old.facts["plays"] != 2000
    # replaced in place, not added beside the stale ones
    assert session.scalar(select(func.count()).select_from(StoredAnalysis)) == rows
    calls.clear()
    _build(app, session, study, _store(app))
    assert sum(calls.values()) == 0  # and kept again


def test_another_seed_is_kept_apart(
    app: Flask, session: Session, scripted: ScriptedStudy, calls: Counter[str]
) -> None:
    study = scripted.study
    _build(app, session, study, _store(app))
    calls.clear()
    with app.test_request_context():
        report = build_report(session, study, now=NOW, seed=99, store=_store(app))
    assert report.scenarios is not None and report.scenarios.seed == 99
    assert calls["scenarios"] == 1 and calls["tia"] == 1


def test_a_payload_that_fails_its_signature_is_not_read(
    app: Flask, session: Session, scripted: ScriptedStudy, calls: Counter[str]
) -> None:
    study = scripted.study
    _build(app, session, study, _store(app))
    for row in session.scalars(select(StoredAnalysis)):
        row.payload = bytes(row.payload) + b"."  # tampered with
    session.commit()
    calls.clear()
    store = _store(app)
    _build(app, session, study, store)
    assert not store.reused and all(calls[name] >= 1 for name in COMPUTED)


def test_a_page_view_reads_but_never_writes(
    app: Flask, session: Session, scripted: ScriptedStudy
) -> None:
    with app.app_context():
        reader = analysis_store(keep=False)
    _build(app, session, scripted.study, reader)
    assert reader.computed and not reader.pending
    assert session.scalar(select(func.count()).select_from(StoredAnalysis)) == 0


def test_one_build_reads_the_tidy_answers_of_the_same_rounds_once(
    app: Flask, session: Session, scripted: ScriptedStudy, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[object] = []
    real = tidy._read_tidy

    def counting(*args: Any) -> Any:
        reads.append(args[2])
        return real(*args)

    monkeypatch.setattr(tidy, "_read_tidy", counting)
    study = scripted.study
    with app.test_request_context(), build_memo(session) as memo:
        build_content(session, study, "en", "xlsx")
        keys = [None if r is None else tuple(sorted(x.id for x in r)) for r in reads]  # type: ignore[attr-defined]
        assert len(keys) == len(set(keys)) == memo.tidy_reads
        first = tidy.tidy_answers(session, study)
        first.loc[:, "value"] = -1.0  # a caller's change stays its own
        assert (tidy.tidy_answers(session, study)["value"] != -1.0).any()
    assert session.info.get("report_build_memo") is None  # gone with the build


def test_the_build_job_keeps_the_analyses_and_the_next_build_reuses_them(
    app: Flask,
    session: Session,
    scripted: ScriptedStudy,
    facilitator_user: User,
    calls: Counter[str],
) -> None:
    study = scripted.study
    # what a close asks for (jobs run at commit in tests)
    report_files.request_build(session, study, "en", "xlsx", facilitator_user, NOW)
    session.commit()
    assert calls["scenarios"] == 1
    kinds = {k.split(":")[0] for k in session.scalars(select(StoredAnalysis.kind))}
    assert kinds == set(COMPUTED)
    calls.clear()
    report_files.request_build(session, study, "en", "html", facilitator_user, NOW)
    session.commit()
    assert session.scalar(select(func.count()).select_from(ReportFile)) == 2
    assert sum(calls.values()) == 0, f"computed again: {dict(calls)}"
