"""The demo study for tests, simulated once per test process and put back row by row after.

Simulating the demo panel (two answered and closed rounds, through the save and close
services) takes seconds; a dozen fixtures need it. The first load in a process keeps every
row of the resulting database; later loads of the same definition, admin and moment into an
equally empty database (only the admin's account) write those rows back instead. Whatever a
test then does to the study, its database is its own, as before.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.definitions.model import SurveyDefinition
from app.models import Base, Study, User
from app.services import demo
from tests.rows import Rows, restore_rows, table_rows


@dataclass(frozen=True)
class _Kept:
    """What one simulation left: every row, and what `load_demo` returned besides the study."""

    rows: Rows
    study_id: int
    facilitator_email: str
    facilitator_password: str
    expert_links: list[tuple[str, str, str, str]]


_KEPT: dict[tuple[str, str, str, datetime], _Kept] = {}


def _only_the_admin(session: Session, admin: User) -> bool:
    """Whether the database holds the admin's account and nothing else."""
    for table in Base.metadata.sorted_tables:
        count = session.scalar(select(func.count()).select_from(table))
        if count != (1 if table.name == User.__tablename__ else 0):
            return False
    return session.scalar(select(User.id)) == admin.id


def cached_demo(
    session: Session, definition: SurveyDefinition, *, admin: User, now: datetime
) -> demo.DemoLinks:
    """`demo.load_demo` and a commit, simulated once per process for the same inputs."""
    key = (
        session.get_bind().dialect.name,
        hashlib.sha256(repr(definition).encode()).hexdigest(),
        admin.email,
        now,
    )
    session.commit()
    if not _only_the_admin(session, admin):  # not the state the rows were kept from
        links = demo.load_demo(session, definition, admin=admin, now=now)
        session.commit()
        return links
    kept = _KEPT.get(key)
    if kept is None:
        links = demo.load_demo(session, definition, admin=admin, now=now)
        session.commit()
        _KEPT[key] = _Kept(
            table_rows(session),
            links.study.id,
            links.facilitator_email,
            links.facilitator_password,
            list(links.expert_links),
        )
        return links
    restore_rows(session, kept.rows)
    study = session.get(Study, kept.study_id)
    assert study is not None
    return demo.DemoLinks(
        study=study,
        facilitator_email=kept.facilitator_email,
        facilitator_password=kept.facilitator_password,
        expert_links=list(kept.expert_links),
    )
