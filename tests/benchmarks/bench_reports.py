"""Kept reports: a download served from the file built when the round closed
(`python -m tests.benchmarks report`).

The demo study (the first study's two closed rounds, simulated panel) on a SQLite file; its PDF
and HTML are built once in setup (not timed), as the close's background jobs would; then each
timed run downloads the kept file through the web app (login session, authorisation, freshness
check, the file's bytes), as a facilitator's browser does.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from tests.benchmarks.harness import Case

ROOT = Path(__file__).resolve().parents[2]
EMAIL = "bench@example.org"
PASSWORD = "a benchmark password, long enough"


def setup() -> dict[str, Any]:
    """The demo study with its PDF and HTML kept, and a logged-in client."""
    from app import create_app
    from app.definitions import load_definition
    from app.extensions import db
    from app.models import Role, utcnow
    from app.services import accounts, demo, report_files
    from tests.conftest import csrf_from

    folder = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    app = create_app(
        {
            "ENV_NAME": "testing",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.sqlite'}",
            "PUBLIC_BASE_URL": "http://localhost",
        }
    )
    context = app.app_context()
    context.push()
    db.create_all()
    admin = accounts.create_user(
        db.session, email=EMAIL, name="Bench", password=PASSWORD, role=Role.ADMIN, now=utcnow()
    )
    definition = load_definition(ROOT / "surveys" / "iran_russia_us.toml")
    study = demo.load_demo(db.session, definition, admin=admin, now=utcnow()).study
    db.session.commit()
    for fmt in ("pdf", "html"):  # what the close builds (tests run jobs at commit)
        report_files.request_build(db.session, study, study.default_language, fmt, admin, utcnow())
        db.session.commit()
    client = app.test_client()
    token = csrf_from(client.get("/account/login").get_data(as_text=True))
    client.post("/account/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
    return {
        "client": client,
        "study": study.id,
        "language": study.default_language,
        "jobs": _jobs(),
    }


def _jobs() -> int:
    """Jobs asked for so far (a download that builds asks for one)."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Job

    db.session.rollback()
    return int(db.session.scalar(select(func.count()).select_from(Job)) or 0)


def _download(data: dict[str, Any], fmt: str) -> dict[str, str]:
    """One download of the kept file; refuses to count a build as a download."""
    response = data["client"].get(
        f"/f/studies/{data['study']}/results/report.{fmt}?language={data['language']}"
    )
    if response.status_code != 200 or _jobs() != data["jobs"]:
        raise RuntimeError(f"report.{fmt}: {response.status_code}, not served from the kept file")
    return {"size": f"{len(response.get_data()) / 1024:.0f} KB"}


CASES = [
    Case(
        "cached report download (PDF, demo study)",
        1.0,
        lambda data: _download(data, "pdf"),
        setup,
        repeat=5,
        note="the file kept when the round closed; the cold build takes 9-18 s",
    ),
    Case(
        "cached report download (HTML, demo study)",
        1.0,
        lambda data: _download(data, "html"),
        setup,
        repeat=5,
    ),
]
