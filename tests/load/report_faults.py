"""Fault run R23: a worker SIGKILLed in the middle of a report build.

A real `flask jobs worker` on Redis takes a PDF build; once the build is under way (its job
reports progress) the worker's process group is SIGKILLed. Nothing may be half-kept. A new
worker, started once the dead one's lease has passed, takes the job up again (its second
attempt) and keeps one complete file: pypdf opens it and it has as many pages as a build made
in this process.

`make faults` runs it on the demo study (a 9-18 s PDF); tests/reliability runs it on the small
example study.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/8"


@dataclass
class ReportKillResult:
    """R23's figures."""

    study: str
    killed_at: str  #: the job's stage and percent when its worker was killed
    rows_after_kill: int  #: kept files right after the kill (0: nothing half-kept)
    status: str
    attempts: int
    files: int
    pages: int
    expected_pages: int
    waited_for_lease: float
    seconds: float

    @property
    def ok(self) -> bool:
        """R23 passes."""
        return (
            self.rows_after_kill == 0
            and self.status == "done"
            and self.attempts == 2
            and self.files == 1
            and self.pages == self.expected_pages > 0
        )

    def report(self) -> str:
        """The figures, one line."""
        return (
            f"R23 report worker killed mid-build ({self.study}): killed at {self.killed_at}, "
            f"files kept right after {self.rows_after_kill}; a new worker after the "
            f"{self.waited_for_lease:.1f} s lease: job {self.status} on attempt {self.attempts}, "
            f"{self.files} file(s), {self.pages} pages (a normal build: {self.expected_pages}); "
            f"{self.seconds:.1f} s -> " + ("PASS" if self.ok else "FAIL")
        )


def _config(database: str, redis_url: str, lease: int) -> dict[str, Any]:
    """The settings of this process's app and of the worker's."""
    return {
        "ENV_NAME": "testing",
        "SECRET_KEY": "report-faults-not-secret",
        "SQLALCHEMY_DATABASE_URI": database,
        "PUBLIC_BASE_URL": "http://127.0.0.1",
        "JOB_QUEUE_URL": redis_url,
        "JOB_LEASE_SECONDS": lease,
        "JOB_RETRY_DELAY_SECONDS": 1,
    }


def _start_worker(config: dict[str, Any], log: Path) -> subprocess.Popen[bytes]:
    """`flask jobs worker` with one thread, in a process group of its own."""
    environment = {
        **os.environ,
        "DELPHI_ENV": "testing",
        "JOB_QUEUE_URL": str(config["JOB_QUEUE_URL"]),
        "OPENBLAS_NUM_THREADS": "1",
    }
    environment.pop("DATABASE_URL", None)
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                f"app:create_app({config!r})",
                "jobs",
                "worker",
                "--threads",
                "1",
            ],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(worker: subprocess.Popen[bytes]) -> None:
    """End a worker's process group (SIGTERM, then SIGKILL)."""
    if worker.poll() is not None:
        return
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)


def _seed(app: Any, which: str) -> int:
    """The study to report on: the demo (two closed rounds) or the small example (one)."""
    from app.definitions import load_definition
    from app.extensions import db
    from app.models import Role, utcnow
    from app.services import accounts

    session = db.session
    admin = accounts.create_user(
        session,
        email="faults-admin@example.org",
        name="Faults",
        password="a long enough password, not used",
        role=Role.ADMIN,
        now=utcnow(),
    )
    now = utcnow() - timedelta(days=60)
    if which == "demo":
        from app.services import demo

        definition = load_definition(ROOT / "surveys" / "iran_russia_us.toml")
        study = demo.load_demo(session, definition, admin=admin, now=now).study
    else:
        from app.services import studies
        from tests.reports.helpers import scripted_study

        definition = load_definition(ROOT / "surveys" / "example.toml")
        study = studies.import_study(session, definition, actor=admin, now=now)
        session.commit()
        scripted_study(session, study, admin, closed_rounds=1)
    session.commit()
    return int(study.id)


def _pages(content: bytes) -> int:
    """Pages of a PDF (pypdf must open it)."""
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(content)).pages)


def report_worker_kill(
    database: str,
    *,
    which: str = "demo",
    redis_url: str = REDIS_URL,
    lease: int = 3,
    kill_at_percent: int = 25,
    timeout: float = 300.0,
    log_dir: Path,
    create_schema: bool = True,
) -> ReportKillResult:
    """Kill a worker mid-report and check the retried job keeps one complete file."""
    import redis

    from app import create_app
    from app.extensions import db
    from app.jobs import queue
    from app.jobs.reports import build_content
    from app.models import Job, ReportFile, Study, utcnow
    from app.services import report_files

    started = time.monotonic()
    previous = queue._Bound.app
    config = _config(database, redis_url, lease)
    redis.Redis.from_url(redis_url).flushdb()
    app = create_app(config)  # points the process's queue at Redis too
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "report_faults_worker.log"
    log.unlink(missing_ok=True)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        with app.app_context():
            if create_schema:
                db.create_all()
            study_id = _seed(app, which)
            session = db.session
            study = session.get_one(Study, study_id)
            latest = report_files.latest_snapshot(session, study)
            assert latest is not None
            with app.test_request_context():
                normal = build_content(
                    session, study, study.default_language, "pdf", up_to=latest[1].number
                )
            expected_pages = _pages(normal)
            session.commit()
            workers.append(_start_worker(config, log))
            job = report_files.request_build(
                session, study, study.default_language, "pdf", None, utcnow()
            )
            job_id = job.id
            session.commit()  # the job's message goes to Redis; the worker takes it
            killed_at = "never"
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                session.rollback()
                row = session.get_one(Job, job_id, populate_existing=True)
                if row.status == "running" and row.progress >= kill_at_percent:
                    os.killpg(workers[-1].pid, signal.SIGKILL)
                    workers[-1].wait(timeout=10)
                    killed_at = f"{row.stage} {row.progress} %"
                    break
                if row.status in ("done", "failed"):
                    break
                time.sleep(0.05)
            session.rollback()
            rows_after_kill = int(session.scalar(select(func.count()).select_from(ReportFile)) or 0)
            # the dead worker's lease must pass before another worker may take its job
            waited = time.monotonic()
            while True:
                session.rollback()
                row = session.get_one(Job, job_id, populate_existing=True)
                if row.lease_until is None or row.lease_until < utcnow():
                    break
                time.sleep(0.1)
            waited = time.monotonic() - waited
            workers.append(_start_worker(config, log))  # it looks for left work as it starts
            while time.monotonic() < deadline:
                session.rollback()
                row = session.get_one(Job, job_id, populate_existing=True)
                if row.status in ("done", "failed"):
                    break
                time.sleep(0.2)
            session.rollback()
            row = session.get_one(Job, job_id, populate_existing=True)
            files = session.scalars(select(ReportFile)).all()
            pages = _pages(report_files.content_of(session, files[0])) if files else 0
            result = ReportKillResult(
                study=which,
                killed_at=killed_at,
                rows_after_kill=rows_after_kill,
                status=row.status,
                attempts=row.attempts,
                files=len(files),
                pages=pages,
                expected_pages=expected_pages,
                waited_for_lease=waited,
                seconds=time.monotonic() - started,
            )
            session.rollback()
            db.session.remove()
            db.engine.dispose()
    finally:
        for worker in workers:
            _stop(worker)
        redis.Redis.from_url(redis_url).flushdb()
        if previous is not None:
            queue.configure_queue(previous)
        else:
            queue.huey.immediate = True
    return result
