"""Ranking events (or scenarios) by probability, impact, expected impact or matrix quadrant.

Each event brings its pooled probability (0-1) and its panel impact (the median of the experts'
ratings on the impact scale). Impacts are measured from a neutral point, the rating that means
"no effect": 0 on bipolar scales such as -3..+3, where the sign is the direction of the effect,
and the low end on one-sided scales such as 1..9. The size of an impact is its distance from the
neutral point, whatever its direction.

- probability: largest pooled probability first.
- impact: largest |impact - neutral| first.
- expected_impact: largest |p x (impact - neutral)| first. The expected impact is the pooled
  probability times the median impact (not the mean over experts of p_i x impact_i: that needs
  each expert's pair of answers, which frozen snapshots do not keep, and mixes the experts'
  probabilities with their own impacts only). The sign of the impact is kept in the figure.
- quadrant: the probability-impact matrix, high probability when p >= the probability threshold
  and high impact when |impact - neutral| >= the impact threshold. Quadrants come in the order
  of a risk matrix: high-high, then low probability with high impact (rare but grave), then
  high probability with low impact, then low-low; expected impact orders each quadrant.

Thresholds ("split"): "scale" takes the scales' midpoints (p = 0.5, and half the largest
possible impact: 1.5 on -3..+3, i.e. 5 on 1..9); "median" takes the panel's medians over the
ranked events (every quadrant then holds about a quarter of them). Ties keep the events' keys
in order, so a ranking is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any, Literal, TypeAlias

from analysis.errors import InputError

#: (key, probability, impact, expected impact, quadrant)
Row: TypeAlias = tuple[str, float | None, float | None, float | None, str | None]
RankBy: TypeAlias = Literal["expected_impact", "probability", "impact", "quadrant"]
#: the rankings, the default first
RANK_BY: tuple[str, ...] = ("expected_impact", "probability", "impact", "quadrant")
DEFAULT_RANK_BY = "expected_impact"
#: where the probability-impact matrix is split: the scales' midpoints or the panel's medians
SPLITS: tuple[str, ...] = ("scale", "median")
DEFAULT_SPLIT = "scale"
#: quadrants in ranking order
QUADRANTS: tuple[str, ...] = (
    "high_probability_high_impact",
    "low_probability_high_impact",
    "high_probability_low_impact",
    "low_probability_low_impact",
)


@dataclass(frozen=True)
class EventFigures:
    """What ranking needs of one event: its pooled probability (0-1) and panel impact."""

    key: str
    probability: float | None
    impact: float | None


@dataclass(frozen=True)
class RankedEvent:
    """An event's place in a ranking, with every figure the rankings use."""

    rank: int
    key: str
    probability: float | None
    impact: float | None
    #: probability x (impact - neutral); signed like the impact
    expected_impact: float | None
    quadrant: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "rank": self.rank,
            "key": self.key,
            "probability": self.probability,
            "impact": self.impact,
            "expected_impact": self.expected_impact,
            "quadrant": self.quadrant,
        }


@dataclass(frozen=True)
class Ranking:
    """Events in order under one ranking, and how it was made."""

    rank_by: str
    split: str
    #: the rating that means "no effect"
    neutral: float
    #: the quadrant thresholds: probability (0-1) and size of impact (None: no event to split)
    probability_threshold: float | None
    impact_threshold: float | None
    events: tuple[RankedEvent, ...]
    #: events left out: they lack the figure this ranking needs
    unranked: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "rank_by": self.rank_by,
            "split": self.split,
            "neutral": self.neutral,
            "probability_threshold": self.probability_threshold,
            "impact_threshold": self.impact_threshold,
            "events": [e.as_dict() for e in self.events],
            "unranked": list(self.unranked),
        }


def check_rank_by(rank_by: str) -> str:
    """The ranking's name, or an InputError listing the choices."""
    if rank_by not in RANK_BY:
        raise InputError(f"rank_by must be one of {', '.join(RANK_BY)}: {rank_by!r}")
    return rank_by


def check_split(split: str) -> str:
    """The quadrant split's name, or an InputError listing the choices."""
    if split not in SPLITS:
        raise InputError(f"split must be one of {', '.join(SPLITS)}: {split!r}")
    return split


def _finite(value: float | None, what: str, key: str) -> float | None:
    if value is None:
        return None
    number = float(value)
    if math.isnan(number):
        return None
    if math.isinf(number):
        raise InputError(f"event {key}: {what} is infinite")
    return number


def rank_events(
    events: Sequence[EventFigures],
    rank_by: str = DEFAULT_RANK_BY,
    *,
    neutral: float = 0.0,
    largest_impact: float | None = None,
    split: str = DEFAULT_SPLIT,
) -> Ranking:
    """Order events by probability, impact, expected impact or quadrant (see the module).

    `neutral` is the "no effect" rating; `largest_impact` the largest possible |impact -
    neutral| on the scale (e.g. 3 on -3..+3), needed for split="scale" quadrants.
    """
    check_rank_by(rank_by)
    check_split(split)
    keys = [e.key for e in events]
    if len(set(keys)) != len(keys):
        duplicate = next(k for k in keys if keys.count(k) > 1)
        raise InputError(f"event {duplicate} appears twice")
    figures = []
    for event in events:
        p = _finite(event.probability, "probability", event.key)
        if p is not None and not 0.0 <= p <= 1.0:
            raise InputError(f"event {event.key}: probability {p} is outside 0..1")
        figures.append((event.key, p, _finite(event.impact, "impact", event.key)))
    both = [(k, p, i) for k, p, i in figures if p is not None and i is not None]
    p_threshold, i_threshold = _thresholds(both, neutral, largest_impact, split)

    def size(impact: float) -> float:
        return abs(impact - neutral)

    rows: list[Row] = []
    for key, p, i in figures:
        expected = None if p is None or i is None else p * (i - neutral)
        quadrant = None
        if expected is not None and p_threshold is not None and i_threshold is not None:
            high_p = p >= p_threshold  # type: ignore[operator]
            high_i = size(i) >= i_threshold  # type: ignore[arg-type]
            quadrant = QUADRANTS[(0 if high_i else 2) + (0 if high_p else 1)]
        rows.append((key, p, i, expected, quadrant))

    def order(row: Row) -> tuple[Any, ...]:
        key, p, i, expected, quadrant = row
        if rank_by == "probability":
            return (-(p or 0.0), key)
        if rank_by == "impact":
            return (-size(i or neutral), key)
        if rank_by == "expected_impact":
            return (-abs(expected or 0.0), key)
        return (QUADRANTS.index(quadrant or QUADRANTS[-1]), -abs(expected or 0.0), key)

    # the figure each ranking needs: probability, impact, expected impact or quadrant
    needed = {"probability": 1, "impact": 2, "expected_impact": 3, "quadrant": 4}[rank_by]

    def needs(row: Row) -> bool:
        return row[needed] is not None

    ranked = sorted((r for r in rows if needs(r)), key=order)
    return Ranking(
        rank_by=rank_by,
        split=split,
        neutral=float(neutral),
        probability_threshold=p_threshold,
        impact_threshold=i_threshold,
        events=tuple(RankedEvent(n, *row) for n, row in enumerate(ranked, start=1)),
        unranked=tuple(r[0] for r in rows if not needs(r)),
    )


def _thresholds(
    both: Sequence[tuple[str, float | None, float | None]],
    neutral: float,
    largest_impact: float | None,
    split: str,
) -> tuple[float | None, float | None]:
    """(probability, impact size) thresholds of the quadrants."""
    if split == "median":
        if not both:
            return None, None
        return (
            float(median(p for _, p, _ in both if p is not None)),
            float(median(abs(i - neutral) for _, _, i in both if i is not None)),
        )
    if not both:
        return None, None
    if largest_impact is None or not largest_impact > 0:
        raise InputError("split 'scale' needs the largest possible impact (e.g. 3 on -3..+3)")
    return 0.5, largest_impact / 2.0


def impact_reference(low: float, high: float, *, bipolar: bool) -> tuple[float, float]:
    """(neutral, largest impact) of an impact scale: the centre and half its span when
    bipolar (-3..+3 gives 0 and 3), else the low end and the whole span (1..9 gives 1 and 8)."""
    if not low < high:
        raise InputError(f"impact scale low ({low}) must be below high ({high})")
    if bipolar:
        return (low + high) / 2.0, (high - low) / 2.0
    return float(low), float(high - low)


def figures_from_long(
    df: Any,
    *,
    probability: str,
    impact: str,
    round_: object | None = None,
    eps: float = 1e-3,
) -> list[EventFigures]:
    """Each item's log-odds pooled probability (answers in percent) and median impact, from
    long data (columns round, expert, item, question, value) in one round (default: the last)."""
    import numpy as np

    from analysis.pooling import pool

    missing = [c for c in ("round", "item", "question", "value") if c not in df.columns]
    if missing:
        raise InputError(f"missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    rounds = sorted(df["round"].dropna().unique().tolist())
    if not rounds:
        raise InputError("the data has no rounds")
    if round_ is None:
        round_ = rounds[-1]
    elif round_ not in rounds:
        raise InputError(f"round {round_!r} is not in the data ({', '.join(map(str, rounds))})")
    for question in (probability, impact):
        if question not in set(df["question"].astype(str)):
            raise InputError(f"question {question!r} is not in the data")
    rows = df[(df["round"] == round_) & df["value"].notna()]
    figures = []
    for item in sorted(rows["item"].astype(str).unique()):
        cell = rows[rows["item"].astype(str) == item]
        shares = cell.loc[cell["question"] == probability, "value"].astype(float).to_numpy() / 100
        ratings = cell.loc[cell["question"] == impact, "value"].astype(float).to_numpy()
        if len(shares) and not ((shares >= 0) & (shares <= 1)).all():
            raise InputError(f"item {item}: probabilities must be percentages 0..100")
        figures.append(
            EventFigures(
                key=item,
                probability=pool(shares, method="logodds", eps=eps).p if len(shares) else None,
                impact=float(np.median(ratings)) if len(ratings) else None,
            )
        )
    return figures
