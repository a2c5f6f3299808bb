"""Active working time per item from save timestamps, and typical times over a panel."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import hypothesis
import pytest
from hypothesis import strategies as st

from analysis.errors import InputError
from analysis.timing import DEFAULT_IDLE, active_seconds, typical_item_times, whole_minutes

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """T0 plus some minutes."""
    return T0 + timedelta(minutes=minutes)


def test_gaps_count_for_the_item_saved_at_their_end() -> None:
    # A at 0, B at 3, B again at 4, C at 9: B took 3 + 1 minutes, C 5
    saves = [("A", at(0)), ("B", at(3)), ("B", at(4)), ("C", at(9))]
    assert active_seconds(saves) == {"B": 240.0, "C": 300.0}


def test_an_item_whose_start_is_unknown_is_not_measured() -> None:
    # A opens the round: how long it was read before its save is unknown, even though the
    # expert came back to it a minute after B
    saves = [("A", at(0)), ("B", at(3)), ("A", at(4)), ("C", at(9))]
    assert active_seconds(saves) == {"B": 180.0, "C": 300.0}


def test_breaks_longer_than_the_idle_threshold_are_not_work() -> None:
    # lunch between B and C (2 hours): C started before an unknown part of it, so it is not
    # measured; D after C is
    saves = [("A", at(0)), ("B", at(5)), ("C", at(125)), ("C", at(127)), ("D", at(137))]
    assert active_seconds(saves) == {"B": 300.0, "D": 600.0}
    # a revisit after a break adds nothing, and keeps what was measured before
    back = [("A", at(0)), ("B", at(5)), ("B", at(300))]
    assert active_seconds(back) == {"B": 300.0}
    # exactly the threshold is still work; a second more is a break
    assert active_seconds([("A", at(0)), ("B", at(10))]) == {"B": 600.0}
    assert active_seconds([("A", at(0)), ("B", at(10) + timedelta(seconds=1))]) == {}


def test_order_of_input_does_not_matter_and_equal_moments_are_one_save() -> None:
    saves = [("B", at(2)), ("A", at(0)), ("B", at(2)), ("C", at(2))]
    result = active_seconds(saves)
    assert sum(result.values()) == 120.0  # one gap of two minutes, whoever gets it
    assert set(result) <= {"B", "C"}


def test_nothing_measured_from_one_save_or_none() -> None:
    assert active_seconds([]) == {}
    assert active_seconds([("A", at(0))]) == {}


def test_a_custom_threshold() -> None:
    saves = [("A", at(0)), ("B", at(20))]
    assert active_seconds(saves) == {}
    assert active_seconds(saves, idle=timedelta(minutes=30)) == {"B": 1200.0}


def test_bad_input_is_refused() -> None:
    with pytest.raises(InputError):
        active_seconds([("A", datetime(2026, 5, 1, 9, 0))])
    with pytest.raises(InputError):
        active_seconds([("A", at(0))], idle=timedelta(0))
    with pytest.raises(InputError):
        typical_item_times([{"x": {"A": 1.0}}], k=0)
    with pytest.raises(InputError):
        typical_item_times([{"x": {"A": -1.0}}], k=1)


@hypothesis.given(
    st.lists(
        st.tuples(st.sampled_from("ABCD"), st.integers(min_value=0, max_value=24 * 3600)),
        max_size=40,
    )
)
def test_measured_work_is_at_most_the_span_and_never_a_break(
    raw: list[tuple[str, int]],
) -> None:
    saves = [(item, T0 + timedelta(seconds=s)) for item, s in raw]
    work = active_seconds(saves)
    span = (max(s for _i, s in raw) - min(s for _i, s in raw)) if raw else 0
    assert sum(work.values()) <= span + 1e-9
    assert all(seconds > 0 for seconds in work.values())
    moments = sorted(s for _i, s in raw)
    gaps = [b - a for a, b in itertools.pairwise(moments)]
    idle = DEFAULT_IDLE.total_seconds()
    assert sum(work.values()) <= sum(g for g in gaps if 0 < g <= idle) + 1e-9
    if raw:  # the item saved first is never measured
        first = min(raw, key=lambda save: save[1])
        assert first[0] not in work


def test_typical_times_need_k_experts_per_item() -> None:
    round_ = {
        "e1": {"A": 60.0, "B": 300.0},
        "e2": {"A": 120.0, "B": 100.0},
        "e3": {"A": 180.0},
    }
    times = typical_item_times([round_], k=3)
    assert times is not None
    assert dict(times.per_item) == {"A": 120.0}  # B has only two experts
    assert times.fallback == 120.0
    assert times.seconds_for("B") == 120.0  # not measured: the fallback
    assert times.total_seconds(["A", "B", "C"]) == 360.0
    assert (times.experts, times.rounds, times.k) == (3, 1, 3)
    assert typical_item_times([round_], k=4) is None
    two = typical_item_times([round_], k=2)
    assert two is not None and dict(two.per_item) == {"A": 120.0, "B": 200.0}
    assert two.fallback == 160.0


def test_the_latest_round_with_enough_experts_wins() -> None:
    first = {"e1": {"A": 600.0, "B": 60.0}, "e2": {"A": 600.0, "B": 60.0}}
    second = {"e1": {"A": 120.0}, "e2": {"A": 240.0}, "e3": {"B": 1.0}}
    times = typical_item_times([first, second], k=2)
    assert times is not None
    assert dict(times.per_item) == {"A": 180.0, "B": 60.0}  # B: only one expert in round 2
    assert (times.experts, times.rounds) == (2, 2)
    only_second = typical_item_times([{}, second], k=2)
    assert only_second is not None and only_second.rounds == 1


def test_unmeasured_items_take_the_time_of_their_kind() -> None:
    round_ = {
        "e1": {"plain1": 60.0, "plain2": 80.0, "key1": 300.0},
        "e2": {"plain1": 70.0, "plain2": 90.0, "key1": 320.0},
    }
    kinds = {"plain1": "plain", "plain2": "plain", "key1": "key", "key2": "key", "odd": "odd"}
    times = typical_item_times([round_], k=2, groups=kinds)
    assert times is not None
    assert times.seconds_for("key2") == 310.0  # like key1
    assert times.seconds_for("odd") == times.fallback == 85.0  # no measured item of its kind
    assert times.seconds_for("new") == 85.0  # no kind given
    assert times.group_fallback == {"plain": 75.0, "key": 310.0}


def test_whole_minutes_round_up() -> None:
    assert [whole_minutes(s) for s in (0, 1, 60, 60.0000001, 61, 3599)] == [0, 1, 1, 1, 2, 60]
