"""Built reports and exports, kept per snapshot, language and format, and the jobs that build them.

A report reads every closed round up to the study's latest snapshot, so that snapshot, the
language and the format name the file. What else it reads can change after a close (the study
record, resolutions, withdrawals, the analysis settings, the report's own code): a fingerprint of
those is stored with the file, and a file whose fingerprint differs from today's is stale. Stale
files are never served; asking for one builds it again.

These functions flush and never commit. A build job asked for here runs once the session
commits (app/jobs/reports.py listens for that), on a worker or, in tests, at once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from app.models import (
    Item,
    ItemVersion,
    Job,
    NotFoundError,
    Participation,
    ReportFile,
    Resolution,
    Round,
    RoundItem,
    RoundState,
    Snapshot,
    Study,
    Suggestion,
    User,
)
from app.services import jobs as job_records

#: formats kept as files: the report (PDF, HTML) and the anonymous spreadsheet
FORMATS = ("pdf", "html", "xlsx")
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "html": "text/html; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
KIND = "report"
#: raise when a change to how reports are made is not visible in the files hashed below
REPORT_VERSION = 1
#: the session.info key of report jobs to run once the session commits
RUN_AFTER_COMMIT = "report_jobs_after_commit"

_APP = Path(__file__).resolve().parent.parent
#: the code and templates a report is made from: an edit to any makes every built file stale
_REPORT_SOURCES = (
    "reports/*.py",
    "templates/reports/*",
    "services/exports/*.py",
    "services/report_files.py",
)


@dataclass(frozen=True)
class BuildRequest:
    """What a build job is asked to make."""

    study_id: int
    snapshot_id: int
    round_number: int
    language: str
    fmt: str


def filename(study: Study, fmt: str, round_number: int | None = None) -> str:
    """The name the browser is offered (the names the downloads always had); a file of an
    earlier round than the latest says which."""
    stem = study.key if round_number is None else f"{study.key}-round-{round_number}"
    return f"{stem}.xlsx" if fmt == "xlsx" else f"{stem}-report.{fmt}"


def job_key(snapshot_id: int, language: str, fmt: str) -> str:
    """The job key of one file: while its build is queued or running, asking again joins it."""
    return f"{KIND}:{snapshot_id}:{language}:{fmt}"


def latest_snapshot(session: Session, study: Study) -> tuple[Snapshot, Round] | None:
    """The snapshot of the study's latest closed round (what a report reads up to), if any."""
    found = session.execute(
        select(Snapshot, Round)
        .join(Round, Snapshot.round_id == Round.id)
        .options(defer(Snapshot.data))  # the JSON is read when a caller needs it, once
        .where(Round.study_id == study.id, Round.state == RoundState.CLOSED)
        .order_by(Round.number.desc())
        .limit(1)
    ).first()
    return None if found is None else (found[0], found[1])


def round_snapshot(
    session: Session, study: Study, round_number: int | None = None
) -> tuple[Snapshot, Round] | None:
    """The snapshot a report as of `round_number` reads up to (None: the latest closed round);
    NotFoundError for a round that is not closed."""
    if round_number is None:
        return latest_snapshot(session, study)
    found = session.execute(
        select(Snapshot, Round)
        .join(Round, Snapshot.round_id == Round.id)
        .options(defer(Snapshot.data))
        .where(
            Round.study_id == study.id,
            Round.state == RoundState.CLOSED,
            Round.number == round_number,
        )
    ).first()
    if found is None:
        raise NotFoundError(f"Round {round_number} is not a closed round of this study.")
    return found[0], found[1]


@functools.cache
def code_version() -> str:
    """A hash of the report's code and templates and of the software versions (once a process)."""
    digest = hashlib.sha256(f"report-version:{REPORT_VERSION}".encode())
    for pattern in _REPORT_SOURCES:
        for path in sorted(_APP.glob(pattern)):
            if path.is_file():
                digest.update(path.relative_to(_APP).as_posix().encode())
                digest.update(path.read_bytes())
    versions = {"python": platform.python_version()}
    for name in (
        "delphi-platform",
        "delphi-analysis",  # its own distribution: a new release may change the figures
        "numpy",
        "scipy",
        "pandas",
        "matplotlib",
        "weasyprint",
    ):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    digest.update(json.dumps(versions, sort_keys=True).encode())
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """A column value as JSON (dates as text)."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value if isinstance(value, str | int | float | bool | None | list | dict) else str(value)


def fingerprint(session: Session, study: Study) -> str:
    """sha256 of what a report reads besides its snapshots and can change after a close.

    The study's record and settings (every column, the stored definition by its hash and its
    analysis table), resolutions, the panel's statuses and reminders, suggestions, the rounds'
    states and item counts, the items and their wordings, the withdrawn-answer count, and the
    report's code.
    """
    # the row as it stands now, not as this session last saw it (sessions keep objects on commit)
    session.flush()
    session.refresh(study)
    columns = {
        c.key: _plain(getattr(study, c.key))
        for c in Study.__mapper__.column_attrs
        if c.key
        not in ("definition", "reminder_days", "close_at_deadline", "logo", "mail_templates")
    }
    definition = study.definition or {}
    parts: dict[str, Any] = {
        "code": code_version(),
        "study": columns,
        "analysis": definition.get("analysis"),
        "resolutions": [
            [_plain(v) for v in row]
            for row in session.execute(
                select(
                    Resolution.item_id,
                    Resolution.kind,
                    Resolution.value,
                    Resolution.year,
                    Resolution.occurred,
                    Resolution.resolved_on,
                    Resolution.source,
                    Resolution.recorded_at,
                )
                .where(Resolution.study_id == study.id)
                .order_by(Resolution.id)
            )
        ],
        "panel": [
            list(row)
            for row in session.execute(
                select(
                    Participation.group,
                    Participation.status,
                    func.count(),
                    func.coalesce(func.sum(Participation.reminder_count), 0),
                )
                .where(Participation.study_id == study.id)
                .group_by(Participation.group, Participation.status)
                .order_by(Participation.group, Participation.status)
            )
        ],
        "suggestions": [
            list(row)
            for row in session.execute(
                select(Suggestion.status, func.count())
                .where(Suggestion.study_id == study.id)
                .group_by(Suggestion.status)
                .order_by(Suggestion.status)
            )
        ],
        "rounds": [
            list(row)
            for row in session.execute(
                select(Round.number, Round.state, func.count(RoundItem.item_id))
                .outerjoin(RoundItem, RoundItem.round_id == Round.id)
                .where(Round.study_id == study.id)
                .group_by(Round.id, Round.number, Round.state)
                .order_by(Round.number)
            )
        ],
        "items": [
            [_plain(v) for v in row]
            for row in session.execute(
                select(
                    Item.id,
                    Item.key,
                    Item.status,
                    Item.retired_in_round,
                    Item.true_value,
                    Item.baseline,
                    func.count(ItemVersion.id),
                )
                .outerjoin(ItemVersion, ItemVersion.item_id == Item.id)
                .where(Item.study_id == study.id)
                .group_by(Item.id)
                .order_by(Item.id)
            )
        ],
    }
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _check(study: Study, language: str, fmt: str) -> None:
    """Refuse a format or language the study has no file for."""
    if fmt not in FORMATS:
        raise NotFoundError(f"Reports are kept as {', '.join(FORMATS)}, not {fmt!r}.")
    if language not in study.languages:
        raise NotFoundError(f"The study has no language {language!r}.")


def cached_file(
    session: Session,
    study: Study,
    language: str,
    fmt: str,
    *,
    current: str | None = None,
    round_number: int | None = None,
) -> ReportFile | None:
    """The built file of the latest snapshot (or of round `round_number`'s) in this language
    and format, if it is fresh.

    `current` is today's fingerprint when the caller has it already.
    """
    _check(study, language, fmt)
    latest = round_snapshot(session, study, round_number)
    if latest is None:
        return None
    found = session.scalar(
        select(ReportFile)
        .where(
            ReportFile.snapshot_id == latest[0].id,
            ReportFile.language == language,
            ReportFile.format == fmt,
        )
        # a worker may have replaced it since this session last looked
        .execution_options(populate_existing=True)
    )
    if found is None:
        return None
    if found.fingerprint != (current or fingerprint(session, study)):
        return None  # something it shows has changed since: never serve it
    return found


def built_files(
    session: Session, study: Study, round_number: int | None = None
) -> list[tuple[ReportFile, bool]]:
    """Files built of the latest snapshot (or round `round_number`'s), each with whether it is
    still fresh."""
    latest = round_snapshot(session, study, round_number)
    if latest is None:
        return []
    current = fingerprint(session, study)
    files = session.scalars(
        select(ReportFile)
        .where(ReportFile.snapshot_id == latest[0].id)
        .order_by(ReportFile.language, ReportFile.format)
        .execution_options(populate_existing=True)
    ).all()
    return [(f, f.fingerprint == current) for f in files]


def _run_after_commit(session: Session, job: Job) -> None:
    """Mark a new job to be handed to the queue once the session commits."""
    pending: list[int] = session.info.setdefault(RUN_AFTER_COMMIT, [])
    if job.id not in pending:
        pending.append(job.id)


def request_build(
    session: Session,
    study: Study,
    language: str,
    fmt: str,
    actor: User | None,
    now: datetime,
    *,
    after_close: bool = False,
    round_number: int | None = None,
) -> Job:
    """Ask for the file of the latest snapshot (or of round `round_number`'s) in this language
    and format to be built (again).

    Joins a build of the same file already queued or running; a new one runs after commit.
    `after_close` marks the builds a close asks for (skipped when BUILD_REPORTS_ON_CLOSE is off).
    """
    _check(study, language, fmt)
    latest = round_snapshot(session, study, round_number)
    if latest is None:
        raise NotFoundError("No round has closed yet: there is nothing to report.")
    snapshot, round_ = latest
    job, created = job_records.request_job(
        session,
        kind=KIND,
        key=job_key(snapshot.id, language, fmt),
        args={
            "study_id": study.id,
            "snapshot_id": snapshot.id,
            "round_number": round_.number,
            "language": language,
            "format": fmt,
            "after_close": after_close,
        },
        study=study,
        requested_by=actor,
        now=now,
    )
    if created:
        _run_after_commit(session, job)
    return job


def request_builds_after_close(
    session: Session, study: Study, snapshot: Snapshot, now: datetime, actor: User | None = None
) -> list[Job]:
    """Build every language x format of the snapshot a close has just written.

    Every caller may call it: with BUILD_REPORTS_ON_CLOSE off its jobs end at once, unbuilt.
    """
    session.flush()  # the closed round must be visible to `latest_snapshot`
    latest = latest_snapshot(session, study)
    if latest is None or latest[0].id != snapshot.id:
        return []  # a later round has closed since: its own close builds its files
    return [
        request_build(session, study, language, fmt, actor, now, after_close=True)
        for language in study.languages
        for fmt in FORMATS
    ]


def build_request(job: Job) -> BuildRequest:
    """A report job's arguments, typed."""
    args = job.args
    return BuildRequest(
        study_id=int(args["study_id"]),
        snapshot_id=int(args["snapshot_id"]),
        round_number=int(args["round_number"]),
        language=str(args["language"]),
        fmt=str(args["format"]),
    )


def store(
    session: Session,
    study: Study,
    snapshot_id: int,
    language: str,
    fmt: str,
    content: bytes,
    *,
    fingerprint_: str,
    now: datetime,
    seconds: float,
    round_number: int | None = None,
) -> ReportFile:
    """Keep a built file, replacing the one of the same snapshot, language and format
    (`round_number` names the file of an earlier round than the latest)."""
    found = session.scalar(
        select(ReportFile).where(
            ReportFile.snapshot_id == snapshot_id,
            ReportFile.language == language,
            ReportFile.format == fmt,
        )
    )
    if found is None:
        found = ReportFile(
            snapshot_id=snapshot_id, study_id=study.id, language=language, format=fmt
        )
        session.add(found)
    found.filename = filename(study, fmt, round_number)
    found.media_type = MEDIA_TYPES[fmt]
    found.content = content
    found.size = len(content)
    found.sha256 = hashlib.sha256(content).hexdigest()
    found.fingerprint = fingerprint_
    found.built_at = now
    found.build_seconds = round(seconds, 3)
    session.flush()
    return found


def content_of(session: Session, file: ReportFile) -> bytes:
    """A kept file's bytes (loaded only when served)."""
    content = session.scalar(select(ReportFile.content).where(ReportFile.id == file.id))
    if content is None:
        raise NotFoundError("The built file is gone.")
    return bytes(content)


def job_of(session: Session, study: Study, job_id: int) -> Job:
    """A job of this study (NotFoundError for another study's or none)."""
    job = session.get(Job, job_id, populate_existing=True)  # a worker moves it on
    if job is None or job.study_id != study.id:
        raise NotFoundError("No such job.")
    return job


def latest_jobs(
    session: Session, study: Study, round_number: int | None = None
) -> dict[tuple[str, str], Job]:
    """The newest report job per (language, format) of the latest snapshot (or round
    `round_number`'s)."""
    latest = round_snapshot(session, study, round_number)
    if latest is None:
        return {}
    found: dict[tuple[str, str], Job] = {}
    prefix = f"{KIND}:{latest[0].id}:"
    for job in session.scalars(
        select(Job)
        .where(Job.study_id == study.id, Job.kind == KIND, Job.key.startswith(prefix))
        .order_by(Job.id)
        .execution_options(populate_existing=True)
    ):
        request = build_request(job)
        found[(request.language, request.fmt)] = job
    return found
