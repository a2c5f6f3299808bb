"""How long experts actually work on each item, measured from when their answers were saved.

An expert's saves in one round, in time order, split into work and breaks: the time from one
save to the next is work on the item saved second, unless it is longer than an idle threshold
(then the expert was away, and the gap says nothing about the item). Per item, the typical time
is the median over experts, and only with enough experts that no one expert's pace shows.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from analysis.errors import InputError

#: A gap between two saves longer than this is a break, not work. Ten minutes: long enough to
#: read an item with its feedback and write a reason, short enough that a lunch break or the
#: next day does not count as work (web analytics use 30 minutes for a visit; an item is smaller).
DEFAULT_IDLE = timedelta(minutes=10)

K = TypeVar("K", bound=Hashable)  #: an item
E = TypeVar("E", bound=Hashable)  #: an expert


def active_seconds(
    saves: Iterable[tuple[K, datetime]], *, idle: timedelta = DEFAULT_IDLE
) -> dict[K, float]:
    """Seconds of work per item from one expert's (item, saved at) pairs in one round.

    Each gap of at most `idle` between consecutive saves is counted for the item saved at its
    end; longer gaps are breaks. An item whose first save opens the round or follows a break
    is left out: how long the expert read it before that save is unknown, and counting only
    what came after would make it look quicker than it was. Left out means "not measured",
    never "took no time".
    """
    if idle <= timedelta(0):
        raise InputError(f"idle: expected a positive duration, got {idle}")
    ordered = sorted(saves, key=lambda save: save[1])
    for _item, moment in ordered:
        if moment.tzinfo is None:
            raise InputError("saves: naive timestamps are ambiguous; pass aware datetimes")
    limit = idle.total_seconds()
    work: dict[K, float] = {}
    seen: set[K] = set()
    unknown_start: set[K] = set()
    previous: datetime | None = None
    for item, moment in ordered:
        gap = None if previous is None else (moment - previous).total_seconds()
        working = gap is not None and 0 < gap <= limit
        if item not in seen:
            seen.add(item)
            if not working:
                unknown_start.add(item)
        if working and gap is not None:
            work[item] = work.get(item, 0.0) + gap
        previous = moment
    return {item: seconds for item, seconds in work.items() if item not in unknown_start}


@dataclass(frozen=True)
class ItemTimes(Generic[K]):
    """Typical working time per item (median over experts), in seconds."""

    #: item -> median seconds, for items measured on at least `k` experts in one round
    per_item: Mapping[K, float]
    #: the median of the per-item medians: the time assumed for an item not measured
    fallback: float
    experts: int  #: distinct experts whose times went into the medians
    rounds: int  #: rounds the medians come from
    k: int
    #: item -> its kind (e.g. the kinds of questions it asks), for items given a kind
    groups: Mapping[K, Hashable] = field(default_factory=dict)
    #: kind -> the median of the per-item medians of measured items of that kind
    group_fallback: Mapping[Hashable, float] = field(default_factory=dict)

    def seconds_for(self, item: K) -> float:
        """The typical time of `item`; unmeasured: the median of measured items of its kind,
        else of all measured items."""
        if item in self.per_item:
            return self.per_item[item]
        group = self.groups.get(item)
        if group is not None and group in self.group_fallback:
            return self.group_fallback[group]
        return self.fallback

    def total_seconds(self, items: Iterable[K]) -> float:
        """The typical time for a list of items."""
        return math.fsum(self.seconds_for(item) for item in items)


def typical_item_times(
    rounds: Sequence[Mapping[E, Mapping[K, float]]],
    *,
    k: int,
    groups: Mapping[K, Hashable] | None = None,
) -> ItemTimes[K] | None:
    """Per-item medians of experts' working times, from rounds of (expert -> item -> seconds).

    `rounds` runs from the earliest to the latest. Each item takes its median from the latest
    round in which at least `k` experts were measured on it (the latest round is the most like
    the next one: same wording, same feedback, a revising panel). `groups` gives items a kind
    (e.g. the kinds of questions they ask): an unmeasured item is then assumed to take as long
    as the measured items of its kind. None when no item has a median.
    """
    if k < 1:
        raise InputError(f"k: expected a whole number >= 1, got {k}")
    medians: dict[K, float] = {}
    experts: set[E] = set()
    used: set[int] = set()
    for index in range(len(rounds) - 1, -1, -1):
        by_item: dict[K, list[tuple[E, float]]] = {}
        for expert, times in rounds[index].items():
            for item, seconds in times.items():
                if not math.isfinite(seconds) or seconds < 0:
                    raise InputError(f"item {item!r}: expected seconds >= 0, got {seconds}")
                by_item.setdefault(item, []).append((expert, seconds))
        for item, measured in by_item.items():
            if item in medians or len(measured) < k:
                continue
            medians[item] = statistics.median(seconds for _expert, seconds in measured)
            experts.update(expert for expert, _seconds in measured)
            used.add(index)
    if not medians:
        return None
    kinds = dict(groups or {})
    by_kind: dict[Hashable, list[float]] = {}
    for item, seconds in medians.items():
        if item in kinds:
            by_kind.setdefault(kinds[item], []).append(seconds)
    return ItemTimes(
        per_item=medians,
        fallback=statistics.median(medians.values()),
        experts=len(experts),
        rounds=len(used),
        k=k,
        groups=kinds,
        group_fallback={kind: statistics.median(v) for kind, v in by_kind.items()},
    )


def whole_minutes(seconds: float) -> int:
    """Seconds as whole minutes, rounded up (an estimate of time left should not promise less)."""
    return math.ceil(round(seconds, 6) / 60) if seconds > 0 else 0
