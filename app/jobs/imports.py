"""Large panel imports in the background: the same all-or-nothing import as on the page, with
progress, and a result that lists who was added or every problem found."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.jobs.runner import JobError, JobRun, handler
from app.models import Job, Study, User, ValidationError, utcnow
from app.services import panel


@handler(panel.IMPORT_KIND)
def import_panel_file(run: JobRun) -> dict[str, Any]:
    """Import the panel file the job carries; a refused file adds nobody and lists its problems."""
    session = run.session
    study = session.get(Study, int(run.args["study_id"]))
    if study is None:
        raise JobError("The study is gone: there is nothing to import into.")
    text = session.scalar(select(Job.payload).where(Job.id == run.job.id))
    if text is None:
        raise JobError("The uploaded file is no longer there; upload it again.")
    actor = session.get(User, run.job.requested_by_id) if run.job.requested_by_id else None
    run.progress(5, "reading")

    def tell(done: int, total: int) -> None:
        run.progress(10 + 85 * done // max(total, 1), "adding")

    # on SQLite our write transaction holds the file's lock: a progress write would wait for it
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        run.progress(10, "adding")
    # the rows are written in one transaction, all or none
    run.start_writing()
    try:
        result = panel.import_csv(
            session,
            study,
            text.encode("utf-8"),
            actor=actor,
            now=utcnow(),
            progress=None if sqlite else tell,
        )
    except ValidationError as refused:
        session.rollback()
        run.start_writing()  # the runner records the outcome in a clean transaction
        problems = [m for messages in refused.errors.values() for m in messages]
        return {"added": [], "skipped": [], "summary": str(refused), "problems": problems}
    return {
        "added": [m.participation.id for m in result.added],
        "skipped": result.skipped,
        "summary": "",
        "problems": [],
    }
