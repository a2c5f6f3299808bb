"""`flask report STUDY --format html|pdf|xlsx|csv|json --out PATH` and `flask archive import PATH`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app.extensions import db
from app.models import DomainError, Study, User, utcnow
from app.services import exports

FORMATS = ("html", "pdf", "xlsx", "csv", "json")
#: the steps a PDF report goes through, for the progress bar
PDF_STEPS = ("data", "matrix", "convergence", "flow", "scenarios", "trends", "items", "html", "pdf")

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
def report_command(
    study: str,
    fmt: str,
    out: Path,
    language: str | None,
    identified: bool,
    as_email: str | None,
    reason: str | None,
    seed: int | None,
) -> None:
    """Write a study's consensus report (HTML, PDF), spreadsheet (XLSX), answers (CSV) or archive (JSON)."""
    found = _study(study)
    actor = _user(as_email)
    started = time.perf_counter()
    if language and language not in current_app.config["LANGUAGES"]:
        click.echo(f"Unknown language '{language}'.", err=True)
        sys.exit(1)
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
        content = _make(found, fmt, language=language, identified=identified, seed=seed)
    except DomainError as error:
        db.session.rollback()
        click.echo(str(error), err=True)
        sys.exit(1)
    out.write_bytes(content)
    db.session.commit()
    elapsed = time.perf_counter() - started
    click.echo(f"Wrote {out} ({len(content):,} bytes) in {elapsed:.1f} s.")


def _make(
    study: Study, fmt: str, *, language: str | None, identified: bool, seed: int | None
) -> bytes:
    """The export's bytes, with a progress bar on the terminal for the long formats."""
    if fmt == "json":
        return exports.export_archive(db.session, study)
    if fmt == "csv":
        rows = exports.answer_rows(db.session, study, identified=identified)
        return exports.csv_text(rows, exports.answer_columns(identified)).encode("utf-8")
    from app.reports import render
    from app.reports.data import build_report
    from app.reports.tables import study_tables, workbook_bytes

    steps = PDF_STEPS if fmt == "pdf" else PDF_STEPS[:-1] if fmt == "html" else ("data",)
    with (
        click.progressbar(length=len(steps), label=f"{fmt.upper()} report", file=sys.stderr) as bar,
        current_app.test_request_context(),
    ):
        report = build_report(
            db.session,
            study,
            now=utcnow(),
            language=language,
            seed=seed,
        )
        bar.update(1)
        if fmt == "xlsx":
            return workbook_bytes(study_tables(db.session, report, identified=identified))

        def step(_name: str) -> None:
            bar.update(1)

        if fmt == "html":
            return render.render_html(report, progress=step).encode("utf-8")
        return render.render_pdf(report, progress=step)


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
