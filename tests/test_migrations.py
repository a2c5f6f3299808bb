"""Migrations: upgrade from empty to head leaves nothing for autogenerate to add (R19)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import inspect, text

from app.extensions import db
from app.models import Base

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _alembic_config() -> Config:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def test_upgrade_from_empty_matches_the_models_and_downgrades(
    app: Flask, is_postgres: bool
) -> None:
    db.drop_all()
    config = _alembic_config()
    command.upgrade(config, "head")
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    command.check(config)  # raises if autogenerate would emit any operation
    command.downgrade(config, "base")
    assert not set(Base.metadata.tables) & set(inspect(db.engine).get_table_names())
    if is_postgres:  # leave the shared test database as the other tests expect it
        db.create_all()


#: the revision that moves names to participations and introduces owner/member roles
NAMES_AND_ROLES = "060ba4458647"


def _insert_before_names_and_roles() -> None:
    """Two studies, three accounts, two experts (one on both panels), as the old schema held
    them: names on experts, roles 'owner' and 'facilitator'."""
    statements = [
        "insert into users (id, email, name, password_hash, role, is_active, created_at, "
        "password_changed_at) values (1, 'a@x.org', 'A', 'h', 'facilitator', true, :t, :t), "
        "(2, 'b@x.org', 'B', 'h', 'facilitator', true, :t, :t), "
        "(3, 'c@x.org', 'C', 'h', 'facilitator', true, :t, :t)",
        "insert into studies (id, key, title, description, source, horizon, languages, "
        "default_language, anonymity, k, k_comments, round_limit, quantile_method, "
        "reason_outside_iqr, suggestions_enabled, consensus_rule, stability_rule, "
        "compare_presets, welcome, consent, definition, definition_hash, status, created_at, "
        "created_by_id) values "
        "(1, 's1', '{}', '{}', '', 2040, '[\"en\"]', 'en', 'anonymous', 5, 5, 3, 'type7', "
        "true, true, 'r', 'r', '[]', '{}', '{}', '{}', 'h', 'draft', :t, 1), "
        "(2, 's2', '{}', '{}', '', 2040, '[\"en\"]', 'en', 'anonymous', 5, 5, 3, 'type7', "
        "true, true, 'r', 'r', '[]', '{}', '{}', '{}', 'h', 'draft', :t, null)",
        # study 1: its creator A was demoted by hand, B joined; study 2: no creator left
        "insert into study_members (study_id, user_id, role) values "
        "(1, 1, 'facilitator'), (1, 2, 'facilitator'), (2, 2, 'facilitator'), "
        "(2, 3, 'facilitator')",
        "insert into experts (id, email, name, created_at) values "
        "(1, 'e1@x.org', 'Ann', :t), (2, 'e2@x.org', 'Bob', :t)",
        'insert into participations (id, study_id, expert_id, "group", language, pseudonym, '
        "status, reminder_count, synthetic, created_at) values "
        "(1, 1, 1, 'G', 'en', 'P-1', 'invited', 0, false, :t), "
        "(2, 2, 1, 'G', 'en', 'P-2', 'invited', 0, false, :t), "
        "(3, 2, 2, 'G', 'en', 'P-3', 'invited', 0, false, :t)",
        "insert into access_links (id, participation_id, token_hash, purpose, created_at) "
        "values (1, 1, 'x', 'manual', :t)",
    ]
    with db.engine.begin() as connection:
        for statement in statements:
            parameters = {"t": "2026-01-01 00:00:00"} if ":t" in statement else {}
            connection.execute(text(statement), parameters)


def test_names_and_roles_survive_the_upgrade_and_the_downgrade(
    app: Flask, is_postgres: bool
) -> None:
    db.drop_all()
    config = _alembic_config()
    before = ScriptDirectory.from_config(config).get_revision(NAMES_AND_ROLES).down_revision
    assert isinstance(before, str)
    command.upgrade(config, before)
    _insert_before_names_and_roles()
    command.upgrade(config, NAMES_AND_ROLES)
    with db.engine.connect() as connection:
        names = dict(connection.execute(text("select id, name from participations")).all())
        roles = set(
            connection.execute(text("select study_id, user_id, role from study_members")).all()
        )
        links = connection.scalar(text("select count(*) from access_links"))
    assert names == {1: "Ann", 2: "Ann", 3: "Bob"}  # every participation keeps its name
    assert "name" not in {c["name"] for c in inspect(db.engine).get_columns("experts")}
    # the creator owns study 1; study 2 had no owner, so its members all became owners
    assert roles == {(1, 1, "owner"), (1, 2, "member"), (2, 2, "owner"), (2, 3, "owner")}
    assert links == 1  # nothing that hangs on a participation was lost (SQLite: no table copy)
    command.downgrade(config, before)
    with db.engine.connect() as connection:
        experts = dict(connection.execute(text("select id, name from experts")).all())
        old_roles = {r for (r,) in connection.execute(text("select role from study_members"))}
    assert experts == {1: "Ann", 2: "Bob"}
    assert old_roles == {"owner", "facilitator"}
    command.downgrade(config, "base")
    if is_postgres:
        db.create_all()
