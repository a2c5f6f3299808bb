"""Building reports and exports in the background, and keeping them (app/services/report_files.py).

`build_content` makes one file and tells a callback its stage and percent; the job handler,
`flask report` and nothing else call it. The handler reads everything first, then writes the file
in one short transaction at the end, so a worker killed mid-build leaves no half-written row:
the retried job starts again and upserts the one file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from flask import current_app, has_request_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.jobs.runner import JobError, JobRun, handler, run_job
from app.models import Snapshot, Study, utcnow
from app.services import report_files
from app.services.analysis_store import AnalysisStore, build_memo, write_kept

logger = logging.getLogger(__name__)

#: a callback told (percent, stage key) as a build goes on
Stages = Callable[[int, str], None]

#: stage keys a build goes through, with what the pages and the terminal call them
STAGES = {
    "queued": _l("Waiting for a worker"),
    "data": _l("Collecting the data"),
    "charts": _l("Drawing the charts"),
    "tables": _l("Making the tables"),
    "html": _l("Writing the HTML"),
    "pdf": _l("Laying out the PDF pages"),
    "writing": _l("Saving the file"),
    "reading": _l("Reading the file"),
    "adding": _l("Adding the experts"),
}

#: the render steps that end a chart (app/reports/render.py names them as each is done)
_CHART_STEPS = ("matrix", "convergence", "flow", "scenarios", "trends", "items")


def stage_label(key: str | None) -> str:
    """A stage key as the pages show it (an unknown key as it is)."""
    if not key:
        return str(STAGES["queued"])
    label = STAGES.get(key)
    return str(label) if label is not None else key


def analysis_store(*, keep: bool = True) -> AnalysisStore:
    """The app's store of kept analyses (signed with its secret key); keep: write what a build
    had to compute (jobs and the CLI), or only read (a page view)."""
    secret = current_app.secret_key or ""
    return AnalysisStore(secret=secret if isinstance(secret, bytes) else secret.encode(), keep=keep)


def build_content(
    session: Session,
    study: Study,
    language: str,
    fmt: str,
    *,
    up_to: int | None = None,
    seed: int | None = None,
    stages: Stages | None = None,
    store: AnalysisStore | None = None,
) -> bytes:
    """The bytes of the study's report (pdf, html) or anonymous spreadsheet (xlsx); with a
    store, the analyses kept at close are read instead of computed."""
    with build_memo(session):
        return _build_content(session, study, language, fmt, up_to, seed, stages, store)


def _build_content(
    session: Session,
    study: Study,
    language: str,
    fmt: str,
    up_to: int | None,
    seed: int | None,
    stages: Stages | None,
    store: AnalysisStore | None,
) -> bytes:
    """build_content inside the build's memo (the spreadsheet's tables read the same answers)."""
    from app.reports import render
    from app.reports.data import build_report
    from app.reports.tables import study_tables, workbook_bytes

    tell: Stages = stages or (lambda _percent, _stage: None)
    done_charts = 0
    after_html = 60 if fmt == "pdf" else 90

    def step(name: str) -> None:
        nonlocal done_charts
        if name in _CHART_STEPS:
            done_charts += 1
            tell(25 + 30 * done_charts // len(_CHART_STEPS), "charts")
        elif name == "html":
            tell(after_html, "pdf" if fmt == "pdf" else "writing")
        elif name == "pdf":
            tell(95, "writing")

    tell(5, "data")
    report = build_report(
        session, study, now=utcnow(), language=language, seed=seed, up_to=up_to, store=store
    )
    if fmt == "xlsx":
        tell(50, "tables")
        content = workbook_bytes(study_tables(session, report, identified=False))
        tell(95, "writing")
        return content
    tell(25, "charts")
    if fmt == "html":
        return render.render_html(report, progress=step).encode("utf-8")
    return render.render_pdf(report, progress=step)


def _in_request(function: Callable[[], bytes]) -> bytes:
    """Run `function` where templates can be rendered (a worker has no request of its own)."""
    if has_request_context():
        return function()
    with current_app.test_request_context():
        return function()


@handler(report_files.KIND)
def build_report_file(run: JobRun) -> dict[str, Any]:
    """Build one report or export file and keep it (replacing an older build of it)."""
    if run.args.get("after_close") and not current_app.config["BUILD_REPORTS_ON_CLOSE"]:
        return {"skipped": "BUILD_REPORTS_ON_CLOSE is off"}
    wanted = report_files.build_request(run.job)
    session = run.session
    study = session.get(Study, wanted.study_id)
    if study is None or session.get(Snapshot, wanted.snapshot_id) is None:
        raise JobError("The study or its round's snapshot is gone: there is nothing to build.")
    started = time.perf_counter()
    # taken before reading: an edit made during the build leaves the file stale, never wrong
    current = report_files.fingerprint(session, study)

    def tell(percent: int, stage: str) -> None:
        run.progress(percent, stage)

    store = analysis_store()
    content = _in_request(
        lambda: build_content(
            session,
            study,
            wanted.language,
            wanted.fmt,
            up_to=wanted.round_number,
            stages=tell,
            store=store,
        )
    )
    run.progress(97, "writing")
    run.start_writing()
    write_kept(session, store)
    latest = report_files.latest_snapshot(session, study)
    kept = report_files.store(
        session,
        study,
        wanted.snapshot_id,
        wanted.language,
        wanted.fmt,
        content,
        fingerprint_=current,
        now=utcnow(),
        seconds=time.perf_counter() - started,
        # a file of an earlier round than the latest says so in its name
        round_number=None
        if latest is not None and latest[0].id == wanted.snapshot_id
        else wanted.round_number,
    )
    return {"file_id": kept.id, "size": kept.size, "seconds": kept.build_seconds}


@event.listens_for(Session, "after_commit")
def _run_requested_builds(session: Session) -> None:
    """Hand the report jobs a committed transaction asked for to the queue."""
    for job_id in session.info.pop(report_files.RUN_AFTER_COMMIT, []):
        try:
            run_job(job_id)
        except Exception:  # the request stands; the minute's sweep finds the queued job
            logger.exception("could not enqueue report job %s; the next sweep will", job_id)


@event.listens_for(Session, "after_rollback")
def _drop_requested_builds(session: Session) -> None:
    """A rolled-back request builds nothing."""
    session.info.pop(report_files.RUN_AFTER_COMMIT, None)
