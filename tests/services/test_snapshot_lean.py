"""The close's lean read of the answers gives the snapshot the tidy table gave: same numbers,
same order, same content (k-suppression and all)."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.models import Answer, Question, Round, Study, User
from app.services import snapshot_numbers, snapshots
from app.services.tidy import tidy_answers
from tests.demo_cache import cached_demo

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def _tidy_numbers(
    session: Session, study: Study, rounds: list[Round], panel: Any
) -> dict[int, Any]:
    """The reference: the same reduction built from the tidy answer table, row by row."""
    frame = tidy_answers(session, study, rounds)
    rank = {pseudonym: r for r, pseudonym in enumerate(panel.pseudonyms)}
    found = {}
    for round_ in rounds:
        numbers = snapshot_numbers.RoundNumbers()
        lists: dict[tuple[str, str, str], tuple[list[int], list[float]]] = {}
        for row in frame[frame["round"] == round_.number].itertuples(index=False):
            who = rank[row.expert]
            numbers.respondents.setdefault(row.item, set()).add(who)
            refused = numbers.no_answer.setdefault((row.item, row.question), set())
            if row.no_answer:
                refused.add(who)
            if row.value is not None and not math.isnan(row.value):
                ranks, values = lists.setdefault((row.item, row.question, row.part), ([], []))
                ranks.append(who)
                values.append(float(row.value))
        numbers.parts = {
            key: snapshot_numbers.Numbers(np.asarray(r, dtype=np.int64), np.asarray(v, dtype=float))
            for key, (r, v) in lists.items()
        }
        found[round_.id] = numbers
    return found


@pytest.fixture
def demo_study(session: Session, first_study_definition: Any, facilitator_user: User) -> Study:
    """The demo: rounds 1 and 2 answered and closed, round 3 open."""
    links = cached_demo(session, first_study_definition, admin=facilitator_user, now=NOW)
    session.commit()
    return links.study


def test_the_lean_read_holds_the_tidy_tables_numbers_in_its_order(
    session: Session, demo_study: Study
) -> None:
    rounds = list(
        session.scalars(select(Round).where(Round.study_id == demo_study.id, Round.number <= 2))
    )
    panel = snapshot_numbers.read_panel(session, demo_study)
    lean = snapshot_numbers.round_numbers(session, demo_study, rounds, panel)
    tidy = _tidy_numbers(session, demo_study, rounds, panel)
    for round_ in rounds:
        got, want = lean[round_.id], tidy[round_.id]
        assert got.respondents == want.respondents
        assert got.no_answer == want.no_answer
        assert got.everyone == want.everyone
        assert sorted(got.parts) == sorted(want.parts)
        for key, numbers in want.parts.items():
            assert got.parts[key].ranks.tolist() == numbers.ranks.tolist(), key
            assert got.parts[key].values.tolist() == numbers.values.tolist(), key
        # the demo has refusals, structured parts and several groups: the test sees them all
        assert any(got.no_answer.values())
        assert any(part for _item, _question, part in got.parts)


def test_awkward_stored_json_reads_as_the_tidy_table_reads_it(
    session: Session, demo_study: Study
) -> None:
    """Numbers held as text or booleans, cells missing or null, a conditional's event without
    its sides: the server's packed reading (PostgreSQL) and the Python one (SQLite) take out
    of the JSON what `part_value` does."""
    round_ = session.scalars(
        select(Round).where(Round.study_id == demo_study.id, Round.number == 2)
    ).one()
    structured = list(
        session.scalars(
            select(Answer)
            .where(
                Answer.round_id == round_.id,
                Answer.is_current.is_(True),
                Answer.value_json.is_not(None),
                Answer.no_answer.is_(False),
            )
            .order_by(Answer.id)
        )
    )
    by_kind: dict[str, list[Answer]] = {}
    for answer in structured:
        if not isinstance(answer.value_json, dict) or not answer.value_json:
            continue
        by_kind.setdefault(session.get_one(Question, answer.question_id).kind, []).append(answer)
    edited = 0
    for kind, answers in by_kind.items():
        first, second = answers[0], answers[1]
        if kind == "conditional":
            event = next(iter(first.value_json))
            first.value_json = {**first.value_json, event: None}
            event = next(iter(second.value_json))
            second.value_json = {**second.value_json, event: {"given": "12.5", "given_not": None}}
        else:
            keys = [k for k in first.value_json if not k.startswith("_")]
            first.value_json = {**first.value_json, keys[0]: str(first.value_json[keys[0]])}
            if len(keys) > 1:
                first.value_json = {**first.value_json, keys[1]: None}
            keys = [k for k in second.value_json if not k.startswith("_")]
            second.value_json = {k: v for k, v in second.value_json.items() if k != keys[0]}
            if len(keys) > 1:
                second.value_json = {**second.value_json, keys[1]: True}
        edited += 2
    session.flush()
    assert edited >= 8  # conditionals, quantiles, impact profiles and the matrices' rows
    rounds = [round_]
    panel = snapshot_numbers.read_panel(session, demo_study)
    lean = snapshot_numbers.round_numbers(session, demo_study, rounds, panel)[round_.id]
    tidy = _tidy_numbers(session, demo_study, rounds, panel)[round_.id]
    assert sorted(lean.parts) == sorted(tidy.parts)
    for key, numbers in tidy.parts.items():
        assert lean.parts[key].ranks.tolist() == numbers.ranks.tolist(), key
        assert lean.parts[key].values.tolist() == numbers.values.tolist(), key
    session.rollback()


def test_the_snapshot_is_the_one_the_tidy_table_gives(
    session: Session, demo_study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    rounds = list(
        session.scalars(
            select(Round)
            .where(Round.study_id == demo_study.id, Round.number <= 2)
            .order_by(Round.number)
        )
    )
    lean = [
        snapshots.compute_snapshot_data(session, demo_study, r, rng=random.Random(7))
        for r in rounds
    ]
    monkeypatch.setattr(snapshots, "round_numbers", _tidy_numbers)
    reference = [
        snapshots.compute_snapshot_data(session, demo_study, r, rng=random.Random(7))
        for r in rounds
    ]
    assert json.dumps(lean, sort_keys=True) == json.dumps(reference, sort_keys=True)
    # and what the close stored is that content (its reasons shuffled, so compared sorted)
    for round_, content in zip(rounds, lean, strict=True):
        stored = round_.snapshot.data
        for key, item in content["items"].items():
            assert sorted(stored["items"][key].pop("reasons")) == sorted(item.pop("reasons"))
        assert json.dumps(stored, sort_keys=True) == json.dumps(content, sort_keys=True)
    # the second round compares with the first, and small groups are suppressed
    parts = [
        p
        for item in lean[1]["items"].values()
        for q in item["questions"].values()
        for p in q["parts"].values()
    ]
    assert any(p.get("stability") for p in parts)
    assert any(g.get("suppressed") for p in parts for g in (p.get("groups") or {}).values())


def test_describing_a_round_at_once_gives_the_figures_of_one_part_at_a_time(
    session: Session, demo_study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    round_ = session.scalars(
        select(Round).where(Round.study_id == demo_study.id, Round.number == 2)
    ).one()

    def content() -> str:
        data = snapshots.compute_snapshot_data(session, demo_study, round_, rng=random.Random(3))
        return json.dumps(data, sort_keys=True)

    batched = content()
    # in passes of a few answers each (the pass boundary falls inside the round's parts)
    monkeypatch.setattr(snapshots, "_DESCRIBED_AT_ONCE", 50)
    assert content() == batched
    # nothing described ahead: every part and group described on its own, as before batching
    monkeypatch.setattr(snapshots, "_describe_round", lambda *args: {})
    assert content() == batched


def _numbers_as_lists(found: dict[int, Any]) -> dict[int, Any]:
    """Round numbers in a comparable form."""
    return {
        round_id: (
            numbers.respondents,
            numbers.no_answer,
            {k: (v.ranks.tolist(), v.values.tolist()) for k, v in numbers.parts.items()},
        )
        for round_id, numbers in found.items()
    }


def test_on_postgresql_rounds_read_at_once_on_a_shared_snapshot_give_the_same_numbers(
    session: Session, demo_study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the shared snapshot is PostgreSQL's")
    # PostgreSQL 15 counts a transaction's writes in what it has not yet flushed to its
    # statistics, which can still hold the fixture's committed inserts (flushed once a second
    # at most): flush them, so that this transaction starts with none
    session.execute(text("select pg_stat_force_next_flush()"))
    session.commit()
    rounds = list(
        session.scalars(select(Round).where(Round.study_id == demo_study.id, Round.number <= 2))
    )
    panel = snapshot_numbers.read_panel(session, demo_study)
    connection = session.connection()
    assert not snapshot_numbers.answers_written_here(connection)
    calls: list[int] = []
    shared = snapshot_numbers._shared_snapshot_batches

    def counted(*args: Any) -> Any:
        calls.append(1)
        return shared(*args)

    monkeypatch.setattr(snapshot_numbers, "_shared_snapshot_batches", counted)
    at_once = snapshot_numbers.round_numbers(session, demo_study, rounds, panel)
    assert calls == [1]
    monkeypatch.setattr(snapshot_numbers, "ROUNDS_AT_ONCE", 1)
    one_by_one = snapshot_numbers.round_numbers(session, demo_study, rounds, panel)
    assert calls == [1]
    assert _numbers_as_lists(at_once) == _numbers_as_lists(one_by_one)


def test_on_postgresql_a_transaction_that_wrote_answers_reads_them_itself(
    session: Session, demo_study: Study
) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the shared snapshot is PostgreSQL's")
    rounds = list(
        session.scalars(select(Round).where(Round.study_id == demo_study.id, Round.number <= 2))
    )
    answer = session.scalars(
        select(Answer)
        .where(
            Answer.round_id == rounds[0].id,
            Answer.is_current.is_(True),
            Answer.value.is_not(None),
            Answer.no_answer.is_(False),
        )
        .order_by(Answer.id)
        .limit(1)
    ).one()
    answer.value = 12345.0  # not committed: another connection would read the old value
    session.flush()
    assert snapshot_numbers.answers_written_here(session.connection())
    panel = snapshot_numbers.read_panel(session, demo_study)
    found = snapshot_numbers.round_numbers(session, demo_study, rounds, panel)
    assert any(12345.0 in n.values.tolist() for n in found[rounds[0].id].parts.values())
    session.rollback()
