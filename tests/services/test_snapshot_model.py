"""The typed snapshot: stored JSON -> dataclasses -> exactly the stored JSON, and clear errors."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis.snapshot import SNAPSHOT_FORMAT, SnapshotData, SnapshotFormatError
from app.models import Snapshot, User
from tests.demo_cache import cached_demo

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)

# -- hypothesis: snapshots of the stored shape, with optional blocks present or absent ---------

keys = st.text(alphabet="ABCDEFGHIJ0123456789|_", min_size=0, max_size=6)
numbers = st.one_of(
    st.none(), st.integers(-1000, 1000), st.floats(allow_nan=False, allow_infinity=False)
)
figures = st.dictionaries(
    st.sampled_from(["median", "q1", "q3", "iqr", "pct_agree", "dip_p"]), numbers
)
maybe_bool = st.one_of(st.none(), st.booleans())


def _with_optional(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A fixed dictionary whose optional keys may be absent."""
    return st.fixed_dictionaries(required, optional=optional)


bins = st.fixed_dictionaries(
    {"low": numbers, "high": numbers, "label": st.text(max_size=5), "count": st.integers(0, 50)}
)
consensus = st.fixed_dictionaries(
    {
        "rule": st.text(max_size=20),
        "reached": maybe_bool,
        "presets": st.dictionaries(keys, maybe_bool),
    }
)
pooled = st.fixed_dictionaries(
    {
        "eps": st.floats(1e-6, 0.1),
        "weights": st.just("equal"),
        "logodds": numbers,
        "linear": numbers,
        "median": numbers,
    }
)
stability = _with_optional(
    {"n_paired": numbers, "changed_share": numbers, "wilcoxon_p": numbers, "mcnemar_p": numbers},
    {
        "distribution_change": numbers,
        "wilcoxon_method": st.sampled_from(["exact", "normal", "none"]),
    },
)
verdict = st.fixed_dictionaries(
    {
        "decision": st.text(max_size=10),
        "label": st.text(max_size=10),
        "stable": maybe_bool,
        "reasons": st.lists(st.text(max_size=10), max_size=3),
    }
)
suppressed = st.just({"n": None, "suppressed": True})
shown = _with_optional(
    {
        "n": st.integers(0, 100),
        "suppressed": st.just(False),
        "stats": figures,
        "histogram": st.lists(bins, max_size=4),
    },
    {},
)
part = st.one_of(
    suppressed,
    _with_optional(
        {
            "n": st.integers(0, 100),
            "suppressed": st.just(False),
            "stats": figures,
            "histogram": st.lists(bins, max_size=4),
        },
        {
            "consensus": consensus,
            "pooled": pooled,
            "groups": st.dictionaries(keys, st.one_of(suppressed, shown), max_size=3),
            "stability": stability,
            "verdict": verdict,
            "a_later_key": st.integers(),
        },
    ),
)
question = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["probability", "likert", "estimate"]),
        "scale": st.one_of(st.none(), keys),
        "no_answer": st.one_of(st.none(), st.integers(0, 9)),
        "parts": st.dictionaries(keys, part, max_size=3),
    }
)
item = st.fixed_dictionaries(
    {
        "item_id": st.integers(1, 10**6),
        "kind": st.sampled_from(["event", "trend"]),
        "version": st.integers(1, 5),
        "respondents": st.one_of(st.none(), st.integers(0, 50)),
        "questions": st.dictionaries(keys, question, max_size=3),
        "reasons": st.lists(st.text(max_size=10), max_size=3),
        "reasons_withheld": st.booleans(),
    }
)
snapshot = _with_optional(
    {
        "format": st.just(1),
        "round": st.integers(1, 9),
        "k": st.integers(1, 9),
        "k_comments": st.integers(1, 9),
        "quantile_method": st.just("hyndman_fan_7"),
        "consensus_rule": st.text(max_size=20),
        "stability_rule": st.text(max_size=20),
        "compare_presets": st.lists(keys, max_size=3),
        "pooling": st.fixed_dictionaries(
            {
                "methods": st.just(["logodds", "linear", "median"]),
                "eps": st.floats(1e-6, 0.1),
                "weights": st.just("equal"),
            }
        ),
        "previous_round": st.one_of(st.none(), st.integers(1, 8)),
        "respondents": st.integers(0, 99),
        "items": st.dictionaries(keys, item, max_size=3),
    },
    {
        "analysis": st.dictionaries(keys, numbers, max_size=3),
        "wilcoxon": st.fixed_dictionaries(
            {"method": st.sampled_from(["auto", "exact"]), "exact_up_to": st.integers(0, 50)}
        ),
    },
)


@settings(max_examples=150, deadline=None)
@given(snapshot)
def test_any_stored_shape_round_trips_exactly(data: dict[str, Any]) -> None:
    content = SnapshotData.from_dict(data)
    assert content.to_dict() == data
    # and through JSON, as the database stores it
    assert json.loads(json.dumps(content.to_dict())) == json.loads(json.dumps(data))


def test_the_demo_study_snapshots_round_trip(
    session: Session, first_study_definition: Any, facilitator_user: User
) -> None:
    cached_demo(session, first_study_definition, admin=facilitator_user, now=NOW)
    session.commit()
    stored = session.scalars(select(Snapshot)).all()
    assert len(stored) >= 2
    for snap in stored:
        content = snap.content
        assert content.format == SNAPSHOT_FORMAT
        assert content.to_dict() == snap.data
        assert snap.content is content  # decoded once per instance
        # at least one part carries every block, typed
        parts = [
            p
            for i in content.items.values()
            for q in i.questions.values()
            for p in q.parts.values()
        ]
        assert any(p.suppressed for p in parts) or all(p.stats is not None for p in parts)
        if content.previous_round is not None:
            assert any(p.verdict is not None and p.stability is not None for p in parts)


def _minimal() -> dict[str, Any]:
    return {
        "format": 1, "round": 2, "k": 3, "k_comments": 3, "quantile_method": "hyndman_fan_7",
        "consensus_rule": "iqr <= 1", "stability_rule": "changed_share < 0.15",
        "compare_presets": [], "pooling": {"methods": ["logodds"], "eps": 0.001, "weights": "equal"},
        "previous_round": 1, "respondents": 5,
        "items": {"E01": {"item_id": 1, "kind": "event", "version": 1, "respondents": 5,
                          "reasons": [], "reasons_withheld": False,
                          "questions": {"p": {"kind": "probability", "scale": None,
                                              "no_answer": 0,
                                              "parts": {"2030": {"n": 5, "suppressed": False,
                                                                 "stats": {"median": 40.0},
                                                                 "histogram": []}}}}}},
    }  # fmt: skip


def test_format_one_without_the_later_keys_is_read() -> None:
    data = _minimal()  # no "analysis", no "wilcoxon": snapshots stored before they existed
    content = SnapshotData.from_dict(data)
    assert content.analysis is None and content.wilcoxon is None
    part = content.items["E01"].questions["p"].parts["2030"]
    assert part.median == 40.0 and part.verdict is None and part.stability is None
    assert content.to_dict() == data


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d.pop("items"), "snapshot items: missing"),
        (lambda d: d.update(format=2), "snapshot format: 2"),
        (lambda d: d["items"]["E01"].update(version="one"), "snapshot items.E01.version"),
        (
            lambda d: d["items"]["E01"]["questions"]["p"]["parts"]["2030"].update(n=True),
            "snapshot items.E01.questions.p.parts.2030.n",
        ),
        (
            lambda d: d["items"]["E01"]["questions"]["p"]["parts"]["2030"]["stats"].update(
                median="forty"
            ),
            "snapshot items.E01.questions.p.parts.2030.stats.median",
        ),
        (lambda d: d.update(items=[]), "snapshot items: expected an object"),
    ],
)
def test_a_malformed_snapshot_names_the_bad_path(change: Any, where: str) -> None:
    data = copy.deepcopy(_minimal())
    change(data)
    with pytest.raises(SnapshotFormatError, match=where.replace(".", r"\.")):
        SnapshotData.from_dict(data)


def test_negative_zero_is_stored_as_zero() -> None:
    # the database's JSON has no signed zero: a snapshot must read back as it was computed
    import math

    from app.services import snapshots

    assert math.copysign(1.0, snapshots._clean(-0.0)) == 1.0
    assert snapshots._clean(float("nan")) is None and snapshots._clean(-2.5) == -2.5
