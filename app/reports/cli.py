"""`flask report STUDY --format html|pdf|xlsx|csv|json --out PATH [--round N]` and
`flask archive import PATH`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app.extensions import db
from app.models import DomainError, RoundState, Study, User, utcnow
from app.services import exports, report_files, rounds

FORMATS = ("html", "pdf", "xlsx", "csv", "json")

archive_cli = AppGroup("archive", help="Study archives (canonical JSON): import.")


def _study(reference: str) -> Study:
    """A study by key or id, or exit with a message."""
    found = db.session.scalar(select(Study).where(Study.key == reference))
    if found is None and reference.isdigit():
        found = db.session.get(Study, int(reference))
    if found is None:
        click.echo(f"No study with the key or id '{reference}'.", err=True)
        sys.exit(1)
    return found


def _user(email: str | None) -> User | None:
    """An account by email, or exit with a message."""
    if not email:
        return None
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        click.echo(f"No account with the email {email}.", err=True)
        sys.exit(1)
    return user


@click.command("report")
@click.argument("study")
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True, help="Output format.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    required=True,
    help="File to write.",
)
@click.option("--language", help="Report language (default: the study's default language).")
@click.option(
    "--identified",
    is_flag=True,
    help="CSV/XLSX with names and emails: confidential studies only, with --as an administrator.",
)
@click.option("--as", "as_email", help="Email of the account making the export (recorded).")
@click.option("--reason", help="Why an identified export is needed (recorded).")
@click.option("--seed", type=int, default=None, help="Seed of the scenario and trend simulations.")
@click.option(
    "--round",
    "round_number",
    type=int,
    default=None,
    help="Report as of this closed round (HTML, PDF, XLSX; default: the latest closed round).",
)
@click.option(
    "--rebuild",
    is_flag=True,
    help="Build the report or spreadsheet again even when a fresh build is kept.",
)
def report_command(
    study: str,
    fmt: str,
    out: Path,
    language: str | None,
    identified: bool,
    as_email: str | None,
    reason: str | None,
    seed: int | None,
    rebuild: bool,
    round_number: int | None,
) -> None:
    """Write a study's consensus report (HTML, PDF), spreadsheet (XLSX), answers (CSV) or archive (JSON)."""
    found = _study(study)
    actor = _user(as_email)
    started = time.perf_counter()
    if language and language not in current_app.config["LANGUAGES"]:
        click.echo(f"Unknown language '{language}'.", err=True)
        sys.exit(1)
    if round_number is not None:
        _check_round(found, fmt, round_number)
    try:
        if identified and fmt not in ("csv", "xlsx"):
            raise DomainError("Identified exports exist only as CSV or XLSX.")
        exports.authorize_export(
            db.session,
            found,
            actor=actor,
            now=utcnow(),
            kind=fmt,
            identified=identified,
            reason=reason,
        )
        # the audit entry is kept before the answers are read, as the web's download keeps
        # it: the CSV's lines and the spreadsheet's rows are then read on connections of
        # their own at once
        db.session.commit()
        if fmt in ("csv", "json"):
            size = _stream(found, fmt, out, identified=identified)
        else:
            content = _make(
                found,
                fmt,
                language=language,
                identified=identified,
                seed=seed,
                rebuild=rebuild,
                round_number=round_number,
            )
            out.write_bytes(content)
            size = len(content)
    except DomainError as error:
        db.session.rollback()
        click.echo(str(error), err=True)
        sys.exit(1)
    db.session.commit()
    elapsed = time.perf_counter() - started
    click.echo(f"Wrote {out} ({size:,} bytes) in {elapsed:.1f} s.")


def _check_round(study: Study, fmt: str, number: int) -> None:
    """Exit with one line (status 2, a usage error) unless round `number` can be reported."""
    if fmt not in ("html", "pdf", "xlsx"):
        click.echo("--round applies to the report and the spreadsheet (html, pdf, xlsx).", err=True)
        sys.exit(2)
    closed = [r.number for r in rounds.rounds_of(db.session, study) if r.state == RoundState.CLOSED]
    if number not in closed:
        listed = ", ".join(str(n) for n in closed) or "none yet"
        click.echo(
            f"Round {number} is not a closed round of '{study.key}' (closed: {listed}).", err=True
        )
        sys.exit(2)


def _stream(study: Study, fmt: str, out: Path, *, identified: bool) -> int:
    """Write the answers (CSV) or the archive (JSON) to `out` as they are read; the size.

    Written beside it first and then moved in place, so a failed export leaves no half file.
    """
    partial = out.with_name(out.name + ".part")
    try:
        with partial.open("wb") as target:
            if fmt == "json":
                size = exports.write_archive(db.session, study, target)
            else:
                chunks = exports.answer_csv_chunks(db.session, study, identified=identified)
                size = exports.write_chunks(target, chunks)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return size


def _make(
    study: Study,
    fmt: str,
    *,
    language: str | None,
    identified: bool,
    seed: int | None,
    rebuild: bool = False,
    round_number: int | None = None,
) -> bytes:
    """The report's or spreadsheet's bytes: a kept build when it is fresh, else built with its
    stages on stderr (and kept, when it is the file the web serves: anonymous, default seed)."""
    from app.jobs.reports import analysis_store, build_content, stage_label
    from app.services.analysis_store import write_kept

    language = language or study.default_language
    keep = (
        fmt in report_files.FORMATS
        and not identified
        and seed is None
        and language in study.languages
    )
    if keep and not rebuild:
        kept = report_files.cached_file(db.session, study, language, fmt, round_number=round_number)
        if kept is not None:
            click.echo(
                f"Using the {fmt.upper()} built at {kept.built_at:%Y-%m-%d %H:%M} UTC "
                "(nothing it shows has changed since; --rebuild builds it again).",
                err=True,
            )
            return report_files.content_of(db.session, kept)

    def stages(percent: int, stage: str) -> None:
        click.echo(f"{percent:3d} %  {stage_label(stage)}", err=True)

    store = analysis_store()
    with current_app.test_request_context():
        if identified:
            from app.reports.data import build_report
            from app.reports.tables import study_tables, workbook_bytes

            stages(5, "data")
            report = build_report(
                db.session,
                study,
                now=utcnow(),
                language=language,
                seed=seed,
                up_to=round_number,
                store=store,
            )
            stages(50, "tables")
            content = workbook_bytes(study_tables(db.session, report, identified=True))
            write_kept(db.session, store)
            return content
        current = report_files.fingerprint(db.session, study) if keep else ""
        latest = report_files.round_snapshot(db.session, study, round_number)
        started = time.perf_counter()
        content = build_content(
            db.session,
            study,
            language,
            fmt,
            up_to=latest[1].number if latest else None,
            seed=seed,
            stages=stages,
            store=store,
        )
    write_kept(db.session, store)
    if keep and latest is not None:
        newest = report_files.latest_snapshot(db.session, study)
        report_files.store(
            db.session,
            study,
            latest[0].id,
            language,
            fmt,
            content,
            fingerprint_=current,
            now=utcnow(),
            seconds=time.perf_counter() - started,
            round_number=None if newest and newest[0].id == latest[0].id else round_number,
        )
        stages(100, "writing")
    return content


@archive_cli.command("import")
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--owner", help="Email of the facilitator who owns the imported study.")
def import_command(path: Path, owner: str | None) -> None:
    """Create a study from an archive (all or nothing; a damaged archive imports nothing)."""
    actor = _user(owner)
    try:
        study = exports.import_archive(db.session, path.read_bytes(), actor=actor, now=utcnow())
    except DomainError as error:
        db.session.rollback()
        click.echo(str(error), err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(f"Imported study '{study.key}' (id {study.id}).")


def register_report_commands(app: Flask) -> None:
    """Attach `flask report` and `flask archive` to the app's CLI."""
    app.cli.add_command(report_command)
    app.cli.add_command(archive_cli)
