"""The autosave writes with plain statements, not the ORM's unit of work: what a caller loaded
into the session before a save reads afresh after it (the revision it replaced is no longer
current, a draft it replaced is gone, the progress row moved on), a save of one item stays a
handful of statements, and text with control characters is still refused whole."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.models import (
    Answer,
    AnswerDraft,
    Participation,
    Round,
    RoundProgress,
    SaveRequest,
    Study,
    ValidationError,
)
from app.services import answers, panel, round_layouts, round_progress, rounds
from tests.conftest import NOW


def _open_round(session: Session, study: Study) -> tuple[Round, Participation]:
    """An open round of the study and one consenting expert."""
    round_ = rounds.create_round(session, study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW)
    member = panel.add_expert(
        session, study, name="A", email="a@example.org", group="", language="en",
        actor=None, now=NOW,
    )  # fmt: skip
    panel.record_consent(session, member.participation, language="en", now=NOW)
    return round_, member.participation


def _probability_item(round_: Round) -> Any:
    """An item of the round that asks a probability."""
    return next(
        ri.item
        for ri in round_.items
        if "probability" in {q.key for q in ri.item.questions_in(round_.number)}
    )


def _save(
    session: Session, me: Participation, round_: Round, item: Any, value: str, key: str
) -> answers.SavedItems:
    """Autosave one probability the way the page's script does (drafts allowed)."""
    return answers.save_items(
        session,
        me,
        round_,
        [answers.ItemEntry(item, {"probability": {"value": value}}, key)],
        now=NOW + timedelta(minutes=len(key)),
        drafts=True,
    )


def test_what_the_session_held_is_read_afresh(session: Session, example_study: Study) -> None:
    round_, me = _open_round(session, example_study)
    item = _probability_item(round_)
    _save(session, me, round_, item, "30", "key-00001")
    first = session.scalars(select(Answer).where(Answer.participation_id == me.id)).one()
    progress = session.get(RoundProgress, (me.id, round_.id))
    assert first.is_current and progress is not None
    before = progress.last_saved_at

    _save(session, me, round_, item, "140", "key-000002")  # out of range: a draft
    draft = session.scalars(select(AnswerDraft).where(AnswerDraft.participation_id == me.id)).one()
    assert draft.payload == {"value": "140"}

    saved = _save(session, me, round_, item, "40", "key-0000003")
    assert first.is_current is False  # the session's copy followed the UPDATE
    assert session.scalars(select(AnswerDraft)).all() == []  # the answer replaced the draft
    assert progress.last_saved_at > before
    current = session.scalars(
        select(Answer).where(Answer.participation_id == me.id, Answer.is_current.is_(True))
    ).one()
    assert current.value == 40 and current.revision == 2
    assert saved.results[item.key].answers["probability"].id == current.id
    # the ledger names the revision it acknowledged, so a retry is answered from it
    request = session.scalars(
        select(SaveRequest).where(SaveRequest.idempotency_key == "key-0000003")
    ).one()
    assert request.outcome["probability"] == {"state": "saved", "answer_id": current.id}
    retry = _save(session, me, round_, item, "40", "key-0000003")
    assert retry.results[item.key].replay
    assert retry.results[item.key].answers["probability"].id == current.id
    assert len(session.scalars(select(Answer).where(Answer.participation_id == me.id)).all()) == 2


def test_an_autosave_is_a_handful_of_statements(session: Session, example_study: Study) -> None:
    round_, me = _open_round(session, example_study)
    item = _probability_item(round_)
    _save(session, me, round_, item, "30", "key-00001")
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        # as the page's autosave calls it: the round's items and the closed round at hand
        answers.save_items(
            session,
            me,
            round_,
            [answers.ItemEntry(item, {"probability": {"value": "35"}}, "key-000002")],
            now=NOW,
            drafts=True,
            versions={ri.item_id: ri.item_version_id for ri in round_.items},
            closed=None,
        )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    # lock and round, the ledger, the answers and drafts read, the revision retired and the
    # new one, the ledger's row, the progress row: one statement each; PostgreSQL takes the
    # round's shared advisory lock in a statement of its own
    limit = 9 if engine.dialect.name == "postgresql" else 8
    assert len(seen) <= limit, "\n".join(s[:90] for s in seen)


def test_control_characters_in_a_draft_are_refused_whole(
    session: Session, example_study: Study
) -> None:
    round_, me = _open_round(session, example_study)
    item = _probability_item(round_)
    with pytest.raises(ValidationError):
        _save(session, me, round_, item, "4\x01", "key-00001")
    assert session.scalars(select(SaveRequest)).all() == []
    assert session.scalars(select(AnswerDraft)).all() == []


def test_the_cached_asked_list_is_the_rounds(session: Session, example_study: Study) -> None:
    round_, _me = _open_round(session, example_study)
    layouts = round_layouts.RoundLayouts()
    layout = list(round_.items)
    asked = layouts.asked(layout, round_.number)
    assert asked == round_progress.asked_questions(round_.items, round_.number)
    assert layouts.asked(layout, round_.number) is asked
