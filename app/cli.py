"""Command-line tools: `flask survey`, `flask users`, `flask demo`."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app.definitions import DefinitionError, load_definition
from app.extensions import db
from app.models import Role, User, ValidationError, utcnow
from app.services import accounts, burden, demo, studies
from app.services.invitations import private_link

survey_cli = AppGroup("survey", help="Validate and load survey definition files.")
users_cli = AppGroup("users", help="Manage facilitator accounts.")
demo_cli = AppGroup("demo", help="The first study with a simulated demo panel.")

FIRST_STUDY = Path(__file__).resolve().parent.parent / "surveys" / "iran_russia_us.toml"


def _print_problems(error: DefinitionError) -> None:
    """One line per problem, on stderr."""
    click.echo(
        f"The survey file is not valid ({len(error.problems)} problem(s)); nothing was imported:",
        err=True,
    )
    for problem in error.problems:
        click.echo(f"  {problem}", err=True)


@survey_cli.command("validate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def validate_command(path: Path) -> None:
    """Check a survey file; print every problem with its line and field."""
    try:
        definition = load_definition(path)
    except DefinitionError as error:
        _print_problems(error)
        sys.exit(1)
    click.echo(
        f"{path}: valid: study '{definition.study.key}', {len(definition.items)} items, "
        f"{len(definition.scenarios)} scenarios, languages {', '.join(definition.study.languages)}."
    )
    cap = definition.study.conditional_pairs_per_expert
    if cap is not None:
        pairs = len(definition.conditional_pairs)
        k = definition.study.k
        click.echo(
            f"  conditional pairs: {pairs}, each expert is asked {min(cap, pairs)}; every pair "
            f"gets k = {k} answers from a panel of at least "
            f"{burden.smallest_panel(pairs, k, cap)} experts."
        )
    for warning in definition.warnings:
        click.echo(f"  warning: {warning}")


@survey_cli.command("load")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--owner", help="Email of the facilitator who owns the study.")
def load_command(path: Path, owner: str | None) -> None:
    """Create a study from a survey file (all or nothing)."""
    try:
        definition = load_definition(path)
    except DefinitionError as error:
        _print_problems(error)
        sys.exit(1)
    actor = None
    if owner:
        actor = db.session.scalar(select(User).where(User.email == owner.strip().lower()))
        if actor is None:
            click.echo(f"No account with the email {owner}.", err=True)
            sys.exit(1)
    try:
        study = studies.import_study(db.session, definition, actor=actor, now=utcnow())
    except ValidationError as error:
        db.session.rollback()
        click.echo(str(error), err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(f"Loaded study '{study.key}' (id {study.id}) with {len(study.items)} items.")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", default="")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.FACILITATOR.value)
@click.option(
    "--password", envvar="DELPHI_PASSWORD", help="Or set DELPHI_PASSWORD; generated if absent."
)
def create_user_command(email: str, name: str, role: str, password: str | None) -> None:
    """Create a facilitator or admin account."""
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        user = accounts.create_user(
            db.session,
            email=email,
            name=name or email,
            password=password,
            role=Role(role),
            now=utcnow(),
        )
    except ValidationError as error:
        db.session.rollback()
        click.echo(f"{error} {error.errors}", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(
        f"Created {user.role} {user.email}." + (f" Password: {password}" if generated else "")
    )


DEMO_ADMIN_EMAIL = "facilitator@example.org"


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="Do nothing when the demo study exists already.")
def demo_load_command(if_empty: bool) -> None:
    """Load the first study with a simulated panel (rounds 1-2 answered, round 3 open)."""
    definition = load_definition(FIRST_STUDY)
    existing = db.session.scalar(select(User).where(User.email == DEMO_ADMIN_EMAIL))
    from app.models import Study

    study = db.session.scalar(select(Study).where(Study.key == definition.study.key))
    if study is not None:
        if if_empty:
            click.echo(f"The demo study '{study.key}' is loaded already.")
            _print_demo_hint(current_app)
            return
        click.echo(f"The study '{study.key}' exists already; use a fresh database.", err=True)
        sys.exit(1)
    password = secrets.token_urlsafe(12)
    if existing is None:
        admin = accounts.create_user(
            db.session,
            email=DEMO_ADMIN_EMAIL,
            name="Demo facilitator",
            password=password,
            role=Role.ADMIN,
            now=utcnow(),
        )
    else:
        admin = existing
        accounts.set_password(db.session, admin, password, now=utcnow())
    links = demo.load_demo(db.session, definition, admin=admin, now=utcnow())
    db.session.commit()
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    click.echo("")
    click.echo(f"Demo study loaded: {links.study.text('title', 'en')}")
    click.echo(f"Facilitator login: {base}/account/login  email {admin.email}  password {password}")
    click.echo("Expert links (one per group):")
    for _pseudonym, group, language, token in links.expert_links:
        click.echo(f"  {group:<14} {private_link(base, token, language)}")
    click.echo("")


def _print_demo_hint(app: Flask) -> None:
    """Tell how to get fresh credentials for an existing demo."""
    click.echo("To start over, delete instance/delphi.sqlite and run 'make run' again.")


def register_commands(app: Flask) -> None:
    """Attach the command groups to the app's CLI."""
    app.cli.add_command(survey_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    from app.jobs.cli import jobs_cli
    from app.reports.cli import register_report_commands

    app.cli.add_command(jobs_cli)

    register_report_commands(app)
