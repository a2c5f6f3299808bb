"""Importing a panel from CSV (`python -m tests.benchmarks panel`).

Setup (not timed) imports the example survey into a fresh SQLite database and writes a
5,000-row CSV, the most one file may hold. Each run imports it into the study (every row
validated, experts, participations, private links and audit events written and flushed) and
rolls back, so the next run starts from the same empty panel.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from tests.benchmarks.harness import Case

ROWS = 5000
ROOT = Path(__file__).resolve().parents[2]


def panel_csv(rows: int = ROWS) -> bytes:
    """A CSV of `rows` distinct experts in three groups and the study's languages."""
    lines = ["name,email,group,language"]
    groups = ("Iran", "Russia", "International")
    languages = ("en", "fa", "ru")
    for i in range(rows):
        lines.append(f"Expert {i:05d},expert{i:05d}@example.org,{groups[i % 3]},{languages[i % 3]}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def setup() -> dict[str, Any]:
    """An app on a fresh SQLite database with the first study imported, and the CSV."""
    from app import create_app
    from app.definitions import load_definition
    from app.extensions import db
    from app.models import Role, utcnow
    from app.services import accounts, studies

    holder = tempfile.TemporaryDirectory(prefix="bench-panel-")
    app = create_app(
        {
            "ENV_NAME": "testing",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(holder.name) / 'bench.sqlite'}",
            "PUBLIC_BASE_URL": "http://localhost",
            "MAIL_BACKEND": "outbox",
        }
    )
    context = app.app_context()
    context.push()
    db.create_all()
    owner = accounts.create_user(
        db.session,
        email="facilitator@example.org",
        name="Facilitator",
        password="benchmark password 1",
        role=Role.FACILITATOR,
        now=utcnow(),
    )
    definition = load_definition(ROOT / "surveys" / "iran_russia_us.toml")
    study = studies.import_study(db.session, definition, actor=owner, now=utcnow())
    db.session.commit()
    return {"holder": holder, "study_id": study.id, "owner_id": owner.id, "csv": panel_csv()}


def run(data: dict[str, Any]) -> dict[str, str]:
    """Import the CSV, then roll back."""
    from app.extensions import db
    from app.models import Study, User, utcnow
    from app.services import panel

    db.session.remove()
    cpu = time.process_time()
    study = db.session.get(Study, data["study_id"])
    owner = db.session.get(User, data["owner_id"])
    result = panel.import_csv(db.session, study, data["csv"], actor=owner, now=utcnow())
    added = len(result.added)
    db.session.rollback()
    return {"added": str(added), "CPU time of this run": f"{time.process_time() - cpu:.2f} s"}


CASES = [Case(f"panel: import a {ROWS:,}-row CSV", 2.0, run, setup=setup)]
