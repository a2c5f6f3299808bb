"""Importing a panel from CSV: what each imported expert gets, in bulk as one by one."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.definitions import SurveyDefinition
from app.models import AccessLink, AuditEvent, Expert, PairAssignment, Participation, Study
from app.security import hash_token
from app.services import panel, rounds, studies
from tests.conftest import NOW


def _study(session: Session, definition: SurveyDefinition, cap: int | None = None) -> Study:
    """The first study, with a cap on conditional pairs per expert if given."""
    meta = dataclasses.replace(definition.study, conditional_pairs_per_expert=cap)
    study = studies.import_study(
        session, dataclasses.replace(definition, study=meta), actor=None, now=NOW
    )
    session.flush()
    return study


def _csv(rows: list[tuple[str, str, str, str]]) -> bytes:
    """A panel CSV with these (name, email, group, language) rows."""
    lines = ["name,email,group,language", *(",".join(r) for r in rows)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def test_every_imported_expert_gets_a_pseudonym_a_working_link_and_an_audit_line(
    session: Session, first_study_definition: SurveyDefinition
) -> None:
    study = _study(session, first_study_definition)
    other = studies.import_study(
        session,
        dataclasses.replace(
            first_study_definition,
            study=dataclasses.replace(first_study_definition.study, key="other-study"),
        ),
        actor=None,
        now=NOW,
    )
    known = panel.add_expert(
        session,
        other,
        name="Known",
        email="known@example.org",
        group="",
        language="en",
        actor=None,
        now=NOW,
    )
    already = panel.add_expert(
        session,
        study,
        name="Here",
        email="here@example.org",
        group="Iran",
        language="fa",
        actor=None,
        now=NOW,
    )
    rows = [(f"Expert {i}", f"expert{i}@example.org", "Russia", "ru") for i in range(40)]
    rows += [
        ("Known again", "Known@Example.org", "Iran", "en"),
        ("Here", "here@example.org", "", ""),
    ]
    result = panel.import_csv(session, study, _csv(rows), actor=None, now=NOW)
    session.flush()

    assert result.skipped == ["here@example.org"]
    assert len(result.added) == 41
    pseudonyms = {p.pseudonym for p in panel.panel(session, study)}
    assert len(pseudonyms) == 42 and already.participation.pseudonym in pseudonyms
    # the email on another study's panel is the same expert, not a second one
    assert (
        session.scalar(
            select(func.count()).select_from(Expert).where(Expert.email == "known@example.org")
        )
        == 1
    )
    added = {m.participation.expert.email: m for m in result.added}
    assert added["known@example.org"].participation.expert_id == known.participation.expert_id
    for member in result.added:
        links = session.scalars(
            select(AccessLink).where(AccessLink.participation_id == member.participation.id)
        ).all()
        assert [link.token_hash for link in links] == [hash_token(member.token)]
        assert panel.open_session_from_link(session, member.token, NOW) is not None
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.study_id == study.id, AuditEvent.action == "panel.add")
    ).all()
    targets = {e.target for e in events}
    assert targets == {f"expert {email}" for email in [*added, "here@example.org"]}
    # the log names people by email, never by the pseudonym that keys their answers
    assert not any(p in e.target or p in str(e.details) for e in events for p in pseudonyms)


def test_experts_imported_into_an_open_round_get_their_pairs(
    session: Session, first_study_definition: SurveyDefinition
) -> None:
    study = _study(session, first_study_definition, cap=5)
    round_ = rounds.create_round(session, study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW + timedelta(hours=1))
    rows = [(f"Expert {i}", f"expert{i}@example.org", "", "en") for i in range(12)]
    result = panel.import_csv(session, study, _csv(rows), actor=None, now=NOW)
    session.flush()
    for member in result.added:
        count = session.scalar(
            select(func.count())
            .select_from(PairAssignment)
            .where(PairAssignment.participation_id == member.participation.id)
        )
        assert count == 5
    assert (
        session.scalar(
            select(func.count())
            .select_from(Participation)
            .where(Participation.study_id == study.id)
        )
        == 12
    )
