"""A new worker decodes the open rounds' feedback snapshots before its first page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Round, RoundState, User
from app.services import feedback
from tests.demo_cache import cached_demo

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def test_the_open_rounds_feedback_is_decoded_once_and_then_read_from_the_cache(
    session: Session, first_study_definition: Any, facilitator_user: User, monkeypatch: Any
) -> None:
    links = cached_demo(session, first_study_definition, admin=facilitator_user, now=NOW)
    session.commit()
    open_round = session.scalars(
        select(Round).where(Round.study_id == links.study.id, Round.state == RoundState.OPEN)
    ).one()
    views = feedback.FeedbackViews()
    assert feedback.warm_views(session, views) == 1
    closed = feedback.previous_closed_round(session, open_round)
    assert closed is not None and closed.number == open_round.number - 1
    # a page now reads the decoded view: no snapshot is decoded again
    decoded: list[Any] = []
    original = feedback.SnapshotData.from_dict
    monkeypatch.setattr(
        feedback.SnapshotData,
        "from_dict",
        classmethod(lambda cls, data: decoded.append(1) or original(data)),
    )
    view = views.view_of(session, closed)
    assert view is not None and view.items and decoded == []


def test_nothing_is_decoded_when_no_round_is_open(session: Session) -> None:
    assert feedback.warm_views(session, feedback.FeedbackViews()) == 0
