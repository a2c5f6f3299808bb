"""A small study world for facilitator tests: a panel, an open round, a suggestion, helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.models import (
    Base,
    Item,
    Participation,
    Round,
    RoundProgress,
    Study,
    Suggestion,
    User,
)
from app.services import builder, panel, rounds
from tests.conftest import EXAMPLE_SURVEY, NOW, csrf_from, enter_link, login

PANEL = (
    ("Ann Archer", "ann@example.org", "Academia", "en"),
    ("Bahram Bagheri", "bahram@example.org", "Academia", "fa"),
    ("Cyril Chernov", "cyril@example.org", "Government", "ru"),
)


@dataclass
class World:
    """Ids of the objects of one study, for building URLs."""

    study: Study
    members: list[Participation]
    round: Round
    item: Item
    suggestion: Suggestion
    draft_id: int = 0  #: a study draft of the study's owner in the builder (0: no owner)

    def url_values(self) -> dict[str, int | str]:
        """Values for every URL argument a facilitator route may take."""
        return {
            "study_id": self.study.id,
            "participation_id": self.members[0].id,
            "number": self.round.number,
            "item_id": self.item.id,
            "suggestion_id": self.suggestion.id,
            "user_id": self.study.created_by_id or 0,  # the owner, on the study's team
            "draft_id": self.draft_id,
            "section": "items",
            "entry": "E01",
            "kind": "invitation",  # an email the study may word itself
            "language": "fa",
        }


def build_world(session: Session, study: Study, *, open_round: bool = True) -> World:
    """Panel of three (two groups), round 1 (open unless asked otherwise), one suggestion."""
    members = [
        panel.add_expert(
            session, study, name=n, email=e, group=g, language=lang, actor=None, now=NOW
        ).participation
        for n, e, g, lang in PANEL
    ]
    round_ = rounds.create_round(session, study, actor=None, now=NOW)
    if open_round:
        rounds.open_round(session, round_, actor=None, now=NOW)
    suggestion = Suggestion(
        study_id=study.id,
        round_id=round_.id,
        text="Rainwater harvesting is mandated",
        language="en",
    )
    session.add(suggestion)
    item = session.scalars(select(Item).where(Item.study_id == study.id, Item.key == "E01")).one()
    owner = session.get(User, study.created_by_id) if study.created_by_id else None
    draft = (
        builder.draft_from_file(session, owner, EXAMPLE_SURVEY.read_bytes(), "example.toml", NOW)
        if owner is not None
        else None
    )
    session.commit()
    return World(study, members, round_, item, suggestion, draft.id if draft else 0)


def submit(session: Session, participation: Participation, round_: Round) -> None:
    """Mark a participation as having submitted a round (consent included)."""
    participation.consent_at = participation.consent_at or NOW
    progress = session.get(RoundProgress, (participation.id, round_.id))
    if progress is None:
        progress = RoundProgress(participation_id=participation.id, round_id=round_.id)
        session.add(progress)
    progress.started_at = NOW
    progress.submitted_at = NOW
    progress.submit_count = 1
    session.commit()


def fingerprint(session: Session) -> dict[str, list[Any]]:
    """Every row of every table, to show that a request changed nothing."""
    session.expire_all()
    return {
        table.name: sorted(
            (
                tuple(str(v) for v in row)
                for row in session.execute(text(f'select * from "{table.name}"'))  # noqa: S608
            ),
        )
        for table in Base.metadata.sorted_tables
    }


def facilitator_rules(app: Flask) -> list[Any]:
    """Every URL rule of the facilitator blueprint."""
    return [r for r in app.url_map.iter_rules() if r.endpoint.startswith("facilitator.")]


def page_csrf(client: FlaskClient, url: str = "/f/") -> str:
    """A CSRF token of the client's session."""
    return csrf_from(client.get(url).get_data(as_text=True))


def sign_in(client: FlaskClient, email: str = "fac@example.org") -> Any:
    """Log in through the form (conftest.login) and forget the request-cached CSRF token.

    The test app context outlives requests, so `g` is shared between them; logging in clears
    the session, and a token cached in `g` would no longer match it.
    """
    response = login(client, email)
    g.pop("csrf_token", None)
    return response


def enter_fresh(app: Flask, token: str) -> Any:
    """Follow a private link in a new browser (forgetting what `g` cached for other clients)."""
    for key in ("csrf_token", "participation"):
        g.pop(key, None)
    response = enter_link(app.test_client(), token)
    for key in ("csrf_token", "participation"):
        g.pop(key, None)
    return response
