"""Migrations: upgrade from empty to head leaves nothing for autogenerate to add (R19)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from flask import Flask
from sqlalchemy import inspect

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
