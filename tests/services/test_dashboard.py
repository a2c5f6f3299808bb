"""Dashboard read models: the response funnel on a scripted panel, panel rows, verdicts."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from analysis.snapshot import ItemSummary, SnapshotFormatError
from app.definitions.model import Anonymity
from app.models import Participation, RoundProgress, Study
from app.services import dashboard, invitations, panel, rounds
from tests.conftest import NOW


def _add(session: Session, study: Study, name: str, group: str) -> tuple[Participation, str]:
    member = panel.add_expert(
        session,
        study,
        name=name,
        email=f"{name.lower()}@example.org",
        group=group,
        language="en",
        actor=None,
        now=NOW,
    )
    return member.participation, member.token


def test_funnel_counts_a_scripted_panel(session: Session, example_study: Study) -> None:
    """A: a1 submitted, a2 started, a3 opened the link; B: b1 consented (no link used), b2
    nothing; w1 withdrawn after submitting (not counted). A confidential study: its groups
    are shown whatever their size (an anonymous study's are not, see below)."""
    example_study.anonymity = Anonymity.CONFIDENTIAL
    a1, a1_token = _add(session, example_study, "A1", "A")
    a2, a2_token = _add(session, example_study, "A2", "A")
    _a3, a3_token = _add(session, example_study, "A3", "A")
    b1, _ = _add(session, example_study, "B1", "B")
    _b2, _ = _add(session, example_study, "B2", "B")
    w1, _ = _add(session, example_study, "W1", "A")
    round_ = rounds.create_round(session, example_study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW)
    for token in (a1_token, a2_token, a3_token):
        assert panel.open_session_from_link(session, token, NOW) is not None
    for member in (a1, a2, b1, w1):
        panel.record_consent(session, member, language="en", now=NOW)
    session.add_all(
        [
            RoundProgress(participation_id=a1.id, round_id=round_.id, submitted_at=NOW),
            RoundProgress(participation_id=a2.id, round_id=round_.id),
            RoundProgress(participation_id=w1.id, round_id=round_.id, submitted_at=NOW),
        ]
    )
    a1.invited_at = NOW
    panel.set_withdrawn(session, w1, True, actor=None, now=NOW)
    session.commit()

    funnel = dashboard.funnel(session, example_study)
    assert (funnel.panel_size, funnel.withdrawn, funnel.never_emailed) == (5, 1, 4)
    assert funnel.open_round is not None and funnel.open_round.number == 1
    total = funnel.open_round.total
    assert [s.count for s in total.stages] == [5, 4, 3, 2, 1]
    assert [s.percent for s in total.stages] == [100, 80, 60, 40, 20]
    assert [s.width for s in total.stages] == [100, 80, 60, 40, 20]
    assert total.response_rate == 20
    groups = {row.label: [s.count for s in row.stages] for row in funnel.open_round.groups}
    assert groups == {"A": [3, 3, 2, 2, 1], "B": [2, 1, 1, 0, 0]}
    assert [s.count for s in funnel.panel.stages][:3] == [5, 4, 3]

    [row] = dashboard.overview(session, [example_study])
    assert (row.rounds, row.panel_size, row.open_round, row.submitted) == (1, 5, 1, 1)
    assert row.response_rate == 20
    # the dashboard's count of those yet to submit is the reminder list's length
    pending = invitations.non_submitters(session, example_study, round_)
    assert dashboard.pending_count(session, example_study, round_) == len(pending) == 4


def test_the_funnel_costs_the_same_statements_whatever_the_panel_size(
    app: Any, session: Session, example_study: Study
) -> None:
    """The funnel is counted by the database: a larger panel adds no statement."""
    from sqlalchemy import event

    from app.extensions import db

    round_ = rounds.create_round(session, example_study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW)

    def statements() -> int:
        seen: list[str] = []
        record = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            dashboard.funnel(session, example_study)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        return len(seen)

    for number in range(3):
        _add(session, example_study, f"S{number}", "A")
    session.commit()
    dashboard.funnel(session, example_study)  # loads the study's expired attributes
    small = statements()
    for number in range(3, 30):
        member, _token = _add(session, example_study, f"S{number}", "AB"[number % 2])
        session.add(RoundProgress(participation_id=member.id, round_id=round_.id))
    session.commit()
    funnel = dashboard.funnel(session, example_study)
    assert funnel.panel_size == 30 and funnel.open_round is not None
    assert funnel.open_round.total.started == 27
    assert statements() == small


def test_funnel_before_any_round_and_for_an_empty_panel(
    session: Session, example_study: Study
) -> None:
    empty = dashboard.funnel(session, example_study)
    assert empty.panel_size == 0 and empty.rounds == [] and empty.open_round is None
    assert [s.percent for s in empty.panel.stages] == [0, 0, 0, 0, 0]
    [row] = dashboard.overview(session, [example_study])
    assert row.response_rate is None


def test_panel_rows_show_link_state_and_progress(session: Session, example_study: Study) -> None:
    example_study.anonymity = Anonymity.CONFIDENTIAL
    a, a_token = _add(session, example_study, "Ann", "A")
    b, _ = _add(session, example_study, "Bob", "A")
    c, _ = _add(session, example_study, "Cy", "B")
    round_ = rounds.create_round(session, example_study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW)
    panel.open_session_from_link(session, a_token, NOW)
    session.add(RoundProgress(participation_id=a.id, round_id=round_.id, submitted_at=NOW))
    panel.revoke_links(session, b, actor=None, now=NOW)
    panel.set_withdrawn(session, c, True, actor=None, now=NOW)
    session.commit()
    rows = {r.name: r for r in dashboard.panel_rows(session, example_study, round_)}
    assert (rows["Ann"].link_state, rows["Ann"].progress) == ("active", "submitted")
    assert rows["Ann"].last_entered_at == NOW
    assert (rows["Bob"].link_state, rows["Bob"].progress) == ("revoked", "not started")
    assert rows["Cy"].link_state == "withdrawn"
    assert [r.progress for r in dashboard.panel_rows(session, example_study, None)] == [None] * 3


def test_anonymous_panel_rows_are_coarse_and_progress_is_counted_per_group(
    session: Session, example_study: Study
) -> None:
    """Nobody's progress, date of link use or link count next to their name; per group only,
    groups under k (here B and C, 2 + 3) counted together."""
    members = [_add(session, example_study, f"A{i}", "A") for i in range(5)]
    members += [_add(session, example_study, f"B{i}", "B") for i in range(2)]
    members += [_add(session, example_study, f"C{i}", "C") for i in range(3)]
    round_ = rounds.create_round(session, example_study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW)
    (a0, a0_token), (b0, _t) = members[0], members[5]
    panel.open_session_from_link(session, a0_token, NOW)
    session.add(RoundProgress(participation_id=a0.id, round_id=round_.id, submitted_at=NOW))
    session.add(RoundProgress(participation_id=b0.id, round_id=round_.id))
    session.commit()
    rows = dashboard.panel_rows(session, example_study, round_)
    assert all(r.coarse and r.progress is None and r.last_entered_at is None for r in rows)
    counts = [
        (g.label, g.merged, g.members, g.submitted)
        for g in dashboard.submitted_by_group(session, example_study, round_)
    ]
    assert counts == [("A", False, 5, 1), (dashboard.MERGED_GROUPS, True, 5, 0)]
    funnel = dashboard.funnel(session, example_study)
    assert funnel.open_round is not None
    groups = [(row.label, row.merged, row.invited) for row in funnel.open_round.groups]
    assert groups == [("A", False, 5), (dashboard.MERGED_GROUPS, True, 5)]


def _item(questions: dict[str, Any]) -> ItemSummary:
    entry = {"item_id": 1, "kind": "event", "version": 1, "respondents": 7, "reasons": []}
    return ItemSummary.from_dict({**entry, "reasons_withheld": False, "questions": questions}, "E")


def test_verdicts_read_the_typed_snapshot() -> None:
    assert dashboard.verdicts_of(None) == []
    with pytest.raises(SnapshotFormatError, match=r"E\.questions\.q\.parts: expected an object"):
        _item({"q": {"kind": "likert", "scale": None, "no_answer": 0, "parts": ["x"]}})
    question = {"kind": "likert", "scale": None, "no_answer": 0}
    verdicts = dashboard.verdicts_of(
        _item(
            {
                "probability": {
                    **question,
                    "parts": {
                        "": {
                            "n": 7,
                            "suppressed": False,
                            "stats": {"median": 55, "q1": None, "q3": 70.5},
                            "consensus": {
                                "rule": "iqr <= 20",
                                "reached": True,
                                "presets": {"a": None},
                            },
                        }
                    },
                },
                "impact": {**question, "parts": {"": {"suppressed": True, "n": None}}},
                "timing": {
                    **question,
                    "parts": {"2030": {"n": 5, "suppressed": False, "stats": {}}},
                },
            }
        )
    )
    assert [(v.question, v.reached, v.suppressed) for v in verdicts] == [
        ("probability", True, False),
        ("impact", None, True),
    ]
    assert (verdicts[0].median, verdicts[0].q1, verdicts[0].q3, verdicts[0].n) == (
        55.0,
        None,
        70.5,
        7,
    )


def test_item_consensus_summary() -> None:
    def row(*reached: bool | None) -> dashboard.ItemRow:
        verdicts = [dashboard.Verdict("q", str(i), r, r is None) for i, r in enumerate(reached)]
        return dashboard.ItemRow(
            item=None, version=1, asked_last=True, respondents=None, verdicts=verdicts
        )  # type: ignore[arg-type]

    assert row(True, True).consensus == "reached"
    assert row(True, None).consensus == "partial"
    assert row(True, False).consensus == "partial"
    assert row(False).consensus == "not reached"
    assert row(None).consensus == "unknown"
    assert row().consensus == "unknown"
