"""Snapshots: frozen at close, computed by analysis/, never an aggregate of fewer than k answers."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis.describe import ScaleSpec, describe
from analysis.pooling import pool
from app.models import Answer, Item, Participation, Round, Study
from app.services import answers, feedback, panel, rounds, snapshots
from tests.conftest import NOW


def _experts(session: Session, study: Study, groups: dict[str, int]) -> list[Participation]:
    made = []
    for group, count in groups.items():
        for i in range(count):
            member = panel.add_expert(
                session,
                study,
                name=f"{group}{i}",
                email=f"{group.lower()}{i}@example.org",
                group=group,
                language="en",
                actor=None,
                now=NOW,
            )
            panel.record_consent(session, member.participation, language="en", now=NOW)
            made.append(member.participation)
    return made


def _item(study: Study, key: str) -> Item:
    return next(i for i in study.items if i.key == key)


def _open(session: Session, study: Study, when=NOW) -> Round:
    round_ = rounds.create_round(session, study, actor=None, now=when)
    rounds.open_round(session, round_, actor=None, now=when)
    return round_


def _answer(session: Session, expert: Participation, round_: Round, item: Item, **payloads) -> None:
    answers.save_item(session, expert, round_, item, payloads, idempotency_key=None, now=NOW)


@pytest.fixture
def panel_of_12(session: Session, example_study: Study) -> list[Participation]:
    """7 experts in group A, 5 in group B."""
    experts = _experts(session, example_study, {"A": 7, "B": 5})
    session.commit()
    return experts


def test_statistics_match_analysis_and_pooling(
    session: Session, example_study: Study, panel_of_12
) -> None:
    round_ = _open(session, example_study)
    e01 = _item(example_study, "E01")
    values = [10, 20, 30, 35, 40, 50, 55, 60, 70, 80, 85, 90]
    for expert, value in zip(panel_of_12, values, strict=True):
        _answer(session, expert, round_, e01, probability={"value": value})
    snapshot = rounds.close_round(session, round_, actor=None, now=NOW + timedelta(days=1))
    part = snapshot.data["items"]["E01"]["questions"]["probability"]["parts"][""]
    expected = describe(np.array(values, dtype=float), ScaleSpec(kind="probability"))
    assert part["n"] == 12
    assert part["stats"]["median"] == pytest.approx(expected.median)
    assert part["stats"]["iqr"] == pytest.approx(expected.iqr)
    assert part["pooled"]["logodds"] == pytest.approx(100 * pool(np.array(values) / 100).p)
    assert part["consensus"]["rule"] == "iqr <= 20"
    assert part["consensus"]["reached"] is (expected.iqr <= 20)
    assert set(part["consensus"]["presets"]) == set(example_study.compare_presets)
    assert set(part["groups"]) == {"A", "B"} and part["groups"]["B"]["n"] == 5


def test_expert_feedback_comes_from_the_snapshot_without_group_splits_and_follows_a_rebuild(
    session: Session, example_study: Study, panel_of_12
) -> None:
    round_ = _open(session, example_study)
    e01 = _item(example_study, "E01")
    for expert, value in zip(panel_of_12, range(10, 70, 5), strict=True):
        _answer(session, expert, round_, e01, probability={"value": value})
    snapshot = rounds.close_round(session, round_, actor=None, now=NOW + timedelta(days=1))
    views = feedback.FeedbackViews(limit=4)
    snapshot_id, items = views.items_of(session, round_) or (None, {})
    assert snapshot_id == snapshot.id
    part = items["E01"].questions["probability"].parts[""]
    stored = snapshot.data["items"]["E01"]["questions"]["probability"]["parts"][""]
    assert "groups" in stored and part.groups is None and part.stats == stored["stats"]
    shown = feedback.feedback_of_round(session, panel_of_12[0], round_, views)
    assert shown["E01"].questions["probability"][0].median == part.median
    assert shown["E01"].questions["probability"][0].own == 10
    # a snapshot rebuilt for the round (new creation time) is read afresh, not served stale
    snapshot.data = {**snapshot.data, "items": {}}
    snapshot.created_at = NOW + timedelta(days=2)
    session.flush()
    assert views.items_of(session, round_) == (snapshot.id, {})
    assert feedback.feedback_of_round(session, panel_of_12[0], round_, views) == {}


def test_small_cells_are_suppressed_including_the_complement(
    session: Session, example_study: Study
) -> None:
    experts = _experts(session, example_study, {"A": 6, "B": 4, "C": 7})
    round_ = _open(session, example_study)
    e01 = _item(example_study, "E01")
    for i, expert in enumerate(experts):
        _answer(session, expert, round_, e01, probability={"value": 10 + i})
    snapshot = rounds.close_round(session, round_, actor=None, now=NOW)
    groups = snapshot.data["items"]["E01"]["questions"]["probability"]["parts"][""]["groups"]
    assert groups["B"] == {"n": None, "suppressed": True}  # 4 < k
    # hiding only B would let anyone subtract A and C from the total: the smallest shown goes too
    assert groups["A"] == {"n": None, "suppressed": True}
    assert groups["C"]["n"] == 7


def test_fewer_than_k_answers_store_no_statistics_and_no_reasons(
    session: Session, example_study: Study, panel_of_12
) -> None:
    round_ = _open(session, example_study)
    e03 = _item(example_study, "E03")
    for expert in panel_of_12[:4]:
        _answer(
            session,
            expert,
            round_,
            e03,
            probability={"value": 50},
            reason={"text": "canary-reason"},
        )
    snapshot = rounds.close_round(session, round_, actor=None, now=NOW)
    item = snapshot.data["items"]["E03"]
    assert item["questions"]["probability"]["parts"][""] == {"n": None, "suppressed": True}
    assert item["reasons"] == [] and item["reasons_withheld"] is True
    assert item["respondents"] is None
    assert "canary-reason" not in str(snapshot.data)


def test_snapshot_is_frozen_and_records_the_answer_set(
    session: Session, example_study: Study, panel_of_12
) -> None:
    round_ = _open(session, example_study)
    e01 = _item(example_study, "E01")
    for i, expert in enumerate(panel_of_12):
        _answer(
            session,
            expert,
            round_,
            e01,
            probability={"value": 30 + i},
            reason={"text": f"because {i}"},
        )
    snapshot = rounds.close_round(session, round_, actor=None, now=NOW)
    session.commit()
    stored = session.scalars(
        select(Answer).where(Answer.round_id == round_.id, Answer.is_current.is_(True))
    ).all()
    assert snapshot.answer_count == len(stored) == 24
    assert snapshot.answers_digest == snapshots.answers_digest(session, round_)[1]
    assert sorted(snapshot.data["items"]["E01"]["reasons"]) == sorted(
        f"because {i}" for i in range(12)
    )
    with pytest.raises(Exception, match="closed"):
        _answer(session, panel_of_12[0], round_, e01, probability={"value": 99})


def test_second_round_has_stability_and_a_verdict(
    session: Session, example_study: Study, panel_of_12
) -> None:
    e01 = _item(example_study, "E01")
    first = _open(session, example_study)
    for i, expert in enumerate(panel_of_12):
        _answer(session, expert, first, e01, probability={"value": 20 + 5 * i})
    rounds.close_round(session, first, actor=None, now=NOW + timedelta(days=1))
    second = _open(session, example_study, NOW + timedelta(days=2))
    for i, expert in enumerate(panel_of_12):
        _answer(session, expert, second, e01, probability={"value": 20 + 5 * i if i else 60})
    snapshot = rounds.close_round(session, second, actor=None, now=NOW + timedelta(days=3))
    part = snapshot.data["items"]["E01"]["questions"]["probability"]["parts"][""]
    assert part["stability"]["n_paired"] == 12
    assert part["stability"]["changed_share"] == pytest.approx(1 / 12)
    # one answer moved from the 20-30 % band to the 60-70 % band: 1 net change unit of 12
    assert part["stability"]["distribution_change"] == pytest.approx(1 / 12)
    # a single change of +40: exact p = 2 * 1/2
    assert part["stability"]["wilcoxon_method"] == "exact"
    assert part["stability"]["wilcoxon_p"] == pytest.approx(1.0)
    assert snapshot.data["wilcoxon"] == {"method": "auto", "exact_up_to": 200}
    assert part["verdict"]["stable"] is True
    assert snapshot.data["previous_round"] == 1


def test_the_study_pooling_eps_is_used_and_every_setting_is_stored(
    session: Session, example_study: Study, panel_of_12
) -> None:
    example_study.definition = {**example_study.definition, "analysis": {"pooling_eps": 0.05}}
    round_ = _open(session, example_study)
    e01 = _item(example_study, "E01")
    values = [0, 0, 1, 2, 5, 10, 20, 30, 40, 50, 60, 100]
    for expert, value in zip(panel_of_12, values, strict=True):
        _answer(session, expert, round_, e01, probability={"value": value})
    snapshot = rounds.close_round(session, round_, actor=None, now=NOW + timedelta(days=1))
    pooled = snapshot.data["items"]["E01"]["questions"]["probability"]["parts"][""]["pooled"]
    clipped = pool(np.array(values) / 100, method="logodds", eps=0.05).p
    assert pooled["eps"] == 0.05
    assert pooled["logodds"] == pytest.approx(100 * clipped)
    assert pooled["logodds"] != pytest.approx(100 * pool(np.array(values) / 100).p)
    assert snapshot.data["analysis"]["pooling_eps"] == 0.05
    assert snapshot.data["analysis"]["seed"] == 20240101


def test_reasons_are_stored_in_an_order_unrelated_to_their_authors() -> None:
    # a permutation of what was written, and not the order it came in (a thousand reasons in
    # their authors' order by chance: 1 in 1000!), different from one close to the next
    written = [f"reason of expert {n}" for n in range(1000)]
    first = snapshots._shuffled(written, None)
    second = snapshots._shuffled(written, None)
    assert sorted(first) == sorted(written) == sorted(second)
    assert first != written and second != written and first != second
    assert snapshots._shuffled([], None) == []
