"""Between rounds: what a close would withhold under k, raising the round limit (audited), and
each round's own counts in a report as of that round."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    AuditEvent,
    PermissionDeniedError,
    Round,
    StateError,
    Study,
    User,
    ValidationError,
)
from app.reports.data import build_report
from app.services import between_rounds, rounds, studies
from tests.conftest import NOW, make_user
from tests.reports.helpers import ScriptedStudy, answer_next_round, scripted_study


@pytest.fixture
def scripted(session: Session, example_study: Study, facilitator_user: User) -> ScriptedStudy:
    """The example study (k = 5, at most 3 rounds), 8 experts in two groups, rounds 1-2 closed."""
    return scripted_study(session, example_study, facilitator_user)


def _rated(round_: Round) -> set[str]:
    """Keys of the round's items that ask at least one rated question."""
    return {
        ri.item.key
        for ri in round_.items
        if any(q.kind != "text" for q in ri.item.questions_in(round_.number))
    }


def test_a_close_under_k_withholds_every_item_and_says_so_before(
    session: Session, scripted: ScriptedStudy
) -> None:
    round_ = answer_next_round(session, scripted, answering=3)
    preview = between_rounds.close_preview(session, round_)
    assert preview.respondents == 3 and preview.k == 5
    assert set(preview.withheld_items) == _rated(round_)
    assert preview.rated_items == len(_rated(round_))
    assert preview.needs_confirmation and preview.withholds_anything
    # what the preview announced is what the close freezes
    snapshot = rounds.close_round(session, round_, actor=None, now=NOW + timedelta(hours=1))
    frozen = snapshot.content
    for key in preview.withheld_items:
        parts = [p for q in frozen.items[key].questions.values() for p in q.parts.values()]
        assert parts and all(p.suppressed for p in parts)


def test_a_full_round_withholds_only_the_groups_under_k(
    session: Session, scripted: ScriptedStudy
) -> None:
    round_ = answer_next_round(session, scripted, answering=8)
    preview = between_rounds.close_preview(session, round_)
    assert preview.respondents == 8
    assert preview.withheld_items == () and not preview.needs_confirmation
    # Academia (3) is under k; Utility (5) is hidden too, else it and the total would tell
    # Academia's answers apart
    assert set(preview.withheld_groups) == {"Academia", "Utility"}
    assert all(count >= 1 for count in preview.withheld_groups.values())
    assert preview.withholds_anything


def test_the_typed_confirmation_names_the_round(session: Session, scripted: ScriptedStudy) -> None:
    round_ = answer_next_round(session, scripted, answering=0)
    assert between_rounds.confirms_close(" 3 ", round_)
    assert between_rounds.confirms_close("Close", round_)
    assert not between_rounds.confirms_close("2", round_)
    assert not between_rounds.confirms_close("", round_)


def test_an_owner_raises_the_round_limit_and_it_is_audited(
    session: Session, scripted: ScriptedStudy, facilitator_user: User
) -> None:
    study = scripted.study
    third = rounds.create_round(session, study, actor=facilitator_user, now=NOW)
    rounds.open_round(session, third, actor=facilitator_user, now=NOW)
    rounds.close_round(session, third, actor=facilitator_user, now=NOW + timedelta(hours=1))
    session.commit()
    with pytest.raises(StateError, match="pre-registered limit"):
        rounds.create_round(session, study, actor=facilitator_user, now=NOW)
    session.rollback()

    between_rounds.raise_round_limit(
        session,
        study,
        4,
        reason="Dissent on E02 needs one more round",
        actor=facilitator_user,
        now=NOW,
    )
    session.commit()
    assert study.round_limit == 4
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "study.round_limit")
    ).one()
    assert event.study_id == study.id and event.actor_id == facilitator_user.id
    assert (event.details["old"], event.details["new"]) == (3, 4)
    assert event.reason == "Dissent on E02 needs one more round"
    fourth = rounds.create_round(session, study, actor=facilitator_user, now=NOW)
    assert fourth.number == 4


@pytest.mark.parametrize(
    ("limit", "reason", "error"),
    [
        pytest.param(3, "more", ValidationError, id="not-above"),
        pytest.param(21, "more", ValidationError, id="over-the-maximum"),
        pytest.param(4, "   ", ValidationError, id="no-reason"),
    ],
)
def test_a_limit_raise_needs_a_higher_limit_and_a_reason(
    session: Session,
    scripted: ScriptedStudy,
    facilitator_user: User,
    limit: int,
    reason: str,
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        between_rounds.raise_round_limit(
            session, scripted.study, limit, reason=reason, actor=facilitator_user, now=NOW
        )
    assert (
        session.scalar(select(AuditEvent).where(AuditEvent.action == "study.round_limit")) is None
    )


def test_only_owners_raise_the_limit_and_never_of_a_finished_study(
    session: Session, scripted: ScriptedStudy, facilitator_user: User
) -> None:
    study = scripted.study
    member = make_user(session, "member@example.org")
    studies.add_member(session, study, member, actor=facilitator_user, now=NOW)
    with pytest.raises(PermissionDeniedError):
        between_rounds.raise_round_limit(session, study, 4, reason="x", actor=member, now=NOW)
    rounds.finish_study(session, study, actor=facilitator_user, now=NOW)
    with pytest.raises(StateError):
        between_rounds.raise_round_limit(
            session, study, 4, reason="x", actor=facilitator_user, now=NOW
        )
    assert study.round_limit == 3


def test_a_report_as_of_round_two_counts_round_two(
    session: Session, scripted: ScriptedStudy
) -> None:
    round_ = answer_next_round(session, scripted, answering=3)
    rounds.close_round(session, round_, actor=None, now=NOW + timedelta(hours=1))
    session.commit()
    latest = build_report(session, scripted.study, now=NOW, with_results=False)
    assert [f.round.number for f in latest.rounds] == [1, 2, 3]
    assert latest.rounds[-1].respondents == 3
    as_of_two = build_report(session, scripted.study, now=NOW, with_results=False, up_to=2)
    assert as_of_two.final_round == 2
    assert [f.round.number for f in as_of_two.rounds] == [1, 2]
    assert as_of_two.rounds[-1].respondents == 8
