"""The demo study's consensus report and exports, built cold (`python -m tests.benchmarks report`).

Setup (not timed) loads the demo study into a fresh SQLite database, as `flask demo load`
does. Each timed run starts from an empty session (no object, snapshot or chart left from an
earlier run) and builds the report's data from the database, then the PDF or the XLSX, as
`flask report` and the download pages do.

Two figures for each: "nothing stored" is a database whose heavy analyses (scenarios, trend
impact, weighting) were never kept, so the build computes them (and keeps them: the write is
rolled back after each run, so every run starts with nothing stored); "analyses stored" is the
usual case after a close, whose job kept them, with the file itself not built yet.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from tests.benchmarks.harness import Case

STUDY_KEY = "iran-russia-us"


def demo_app() -> dict[str, Any]:
    """An app on a fresh SQLite database holding the demo study, and its app context pushed."""
    from sqlalchemy import select

    from app import create_app
    from app.cli import DEMO_ADMIN_EMAIL, FIRST_STUDY
    from app.definitions import load_definition
    from app.extensions import db
    from app.models import Role, utcnow
    from app.services import accounts, demo

    # removed when the benchmark's process ends
    holder = tempfile.TemporaryDirectory(prefix="bench-report-")
    folder = Path(holder.name)
    app = create_app(
        {
            "ENV_NAME": "testing",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.sqlite'}",
            "PUBLIC_BASE_URL": "http://localhost",
            "MAIL_BACKEND": "outbox",
        }
    )
    app.instance_path = str(folder / "instance")
    context = app.app_context()
    context.push()
    db.create_all()
    admin = accounts.create_user(
        db.session,
        email=DEMO_ADMIN_EMAIL,
        name="Demo facilitator",
        password="benchmark password 1",
        role=Role.ADMIN,
        now=utcnow(),
    )
    demo.load_demo(db.session, load_definition(FIRST_STUDY), admin=admin, now=utcnow())
    db.session.commit()
    db.session.remove()
    # warm the imports the timed runs use (a server has them loaded; a cold report does not
    # mean a cold interpreter)
    import scipy.stats  # noqa: F401
    import weasyprint  # noqa: F401

    from app.models import Study
    from app.reports import render, tables  # noqa: F401

    study_id = db.session.scalar(select(Study.id).where(Study.key == STUDY_KEY))
    db.session.remove()
    return {"app": app, "study_id": study_id, "folder": holder}


def stored_app() -> dict[str, Any]:
    """The demo app with the report's analyses computed and kept, as the close's job does."""
    from app.extensions import db
    from app.jobs.reports import analysis_store
    from app.models import Study, utcnow
    from app.reports.data import build_report
    from app.reports.tables import study_tables
    from app.services.analysis_store import build_memo, write_kept

    data = demo_app()
    store = analysis_store()
    with data["app"].test_request_context(), build_memo(db.session):
        report = build_report(
            db.session, db.session.get(Study, data["study_id"]), now=utcnow(), store=store
        )
        # the job builds the spreadsheet too, whose tables keep what they compute
        for table in study_tables(db.session, report):
            table.cells()
    write_kept(db.session, store)
    db.session.commit()
    db.session.remove()
    return data


def _cold_report(data: dict[str, Any], language: str | None = None) -> Any:
    """The report's data built from a fresh session (what it computes is kept in the session
    and rolled back by the caller's next `_cold_report`)."""
    from app.extensions import db
    from app.jobs.reports import analysis_store
    from app.models import Study, utcnow
    from app.reports.data import build_report
    from app.services.analysis_store import write_kept

    db.session.rollback()
    db.session.remove()
    study = db.session.get(Study, data["study_id"])
    store = analysis_store()
    report = build_report(db.session, study, now=utcnow(), language=language, store=store)
    write_kept(db.session, store)  # as a build does; never committed here
    return report


def pdf(data: dict[str, Any], language: str | None = None) -> dict[str, str]:
    """The cold PDF report; reports its pages and size and how long the data took."""
    from app.reports import render

    with data["app"].test_request_context():
        started, cpu = time.perf_counter(), time.process_time()
        report = _cold_report(data, language)
        built = time.perf_counter() - started
        content = render.render_pdf(report)
        cpu = time.process_time() - cpu
    pages = len(PdfReader(io.BytesIO(content)).pages)
    return {
        "data (of the total)": f"{built:.2f} s",
        # on a busy machine the wall time above says more about the neighbours than the code
        "CPU time of this run": f"{cpu:.2f} s",
        "size": f"{len(content) / 1e6:.1f} MB, {pages} pages",
    }


def xlsx(data: dict[str, Any]) -> dict[str, str]:
    """The cold XLSX export (report data and workbook); reports the workbook's share."""
    from app.extensions import db
    from app.reports.tables import study_tables, workbook_bytes
    from app.services.analysis_store import build_memo

    with data["app"].test_request_context():
        started, cpu = time.perf_counter(), time.process_time()
        # one build's memo, as the report job's (the tables read the answers the data read)
        with build_memo(db.session):
            report = _cold_report(data)
            built = time.perf_counter()
            content = workbook_bytes(study_tables(db.session, report))
        done = time.perf_counter()
        cpu = time.process_time() - cpu
    return {
        "data (of the total)": f"{built - started:.2f} s",
        "tables and workbook (of the total)": f"{done - built:.2f} s",
        "CPU time of this run": f"{cpu:.2f} s",
        "size": f"{len(content) / 1e6:.2f} MB",
    }


CASES = [
    Case(
        "report: demo PDF, English, cold, analyses stored (data + charts + layout)",
        5.0,
        pdf,
        setup=stored_app,
    ),
    Case(
        "report: demo PDF, English, cold, nothing stored",
        None,
        pdf,
        setup=demo_app,
    ),
    Case(
        "report: demo PDF, Persian, cold, analyses stored",
        None,
        lambda data: pdf(data, "fa"),
        setup=stored_app,
    ),
    Case(
        "report: demo XLSX export, cold, analyses stored (data + workbook)",
        1.0,
        xlsx,
        setup=stored_app,
    ),
    Case("report: demo XLSX export, cold, nothing stored", None, xlsx, setup=demo_app),
]
