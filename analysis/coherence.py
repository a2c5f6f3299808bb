"""Coherence of one expert's probabilities for an event A and a conditioning event B.

By the law of total probability P(A) = P(A|B) P(B) + P(A|not B) (1 - P(B)): a weighted mean of
the two conditionals, so P(A) always lies between them, whatever P(B) is. An answer outside
[min, max] of P(A|B) and P(A|not B) is incoherent for every P(B); when the expert also gave
P(B), P(A) should be near the value the law implies. The check only describes the gap: the
expert decides whether to revise (a hint, never a refusal).

All numbers are in percent, 0-100, as experts type them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from analysis.errors import InputError

#: Default distance (percentage points) between P(A) and the implied value before a hint.
#: Experts answer in round numbers: rounding each of P(A), P(A|B), P(A|not B) and P(B) to the
#: nearest 5 points moves P(A) - implied by at most 7.5 points (2.5 from P(A), 2.5 from the two
#: conditionals together, 2.5 from P(B) times |P(A|B) - P(A|not B)| <= 100), so a 10-point
#: tolerance never flags answers that are coherent up to that rounding.
DEFAULT_TOLERANCE = 10.0
#: Floating-point slack: a P(A) computed from the same numbers must never be flagged.
_EPS = 1e-9


class CoherenceKind(StrEnum):
    """What a hint is about."""

    #: P(A) lies outside [min, max] of P(A|B) and P(A|not B): incoherent for every P(B)
    OUTSIDE_RANGE = "outside_range"
    #: P(A) lies in the range but farther than the tolerance from the implied value
    FAR_FROM_IMPLIED = "far_from_implied"


@dataclass(frozen=True)
class CoherenceHint:
    """A gentle note that P(A) does not fit the conditionals (all figures in percent)."""

    kind: CoherenceKind
    stated: float  #: P(A) as the expert gave it
    low: float  #: min(P(A|B), P(A|not B))
    high: float  #: max(P(A|B), P(A|not B))
    #: P(A|B) P(B) + P(A|not B) (1 - P(B)), when P(B) is known
    implied: float | None
    tolerance: float  #: the distance from `implied` tolerated, in percentage points

    @property
    def distance(self) -> float:
        """How far P(A) is from the range (outside it) or from the implied value (inside)."""
        if self.kind is CoherenceKind.OUTSIDE_RANGE or self.implied is None:
            return max(self.low - self.stated, self.stated - self.high, 0.0)
        return abs(self.stated - self.implied)


def _percent(value: float, name: str) -> float:
    """A finite percentage in 0..100, else InputError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{name}: expected a number, got {value!r}")
    if not 0.0 <= value <= 100.0:
        raise InputError(f"{name}: a probability in percent is between 0 and 100, got {value}")
    return float(value)


def implied_probability(given: float, given_not: float, p_b: float) -> float:
    """P(A) by the law of total probability, from P(A|B), P(A|not B) and P(B) (percent)."""
    share = _percent(p_b, "p_b") / 100.0
    return _percent(given, "given") * share + _percent(given_not, "given_not") * (1.0 - share)


def check_conditionals(
    p_a: float,
    given: float,
    given_not: float,
    p_b: float | None = None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
) -> CoherenceHint | None:
    """A hint when P(A) does not fit P(A|B), P(A|not B) (and P(B) if known); None when it does."""
    stated = _percent(p_a, "p_a")
    low, high = sorted((_percent(given, "given"), _percent(given_not, "given_not")))
    if isinstance(tolerance, bool) or not math.isfinite(tolerance) or tolerance < 0:
        raise InputError(f"tolerance: expected a number of percentage points >= 0, got {tolerance}")
    implied = None if p_b is None else implied_probability(given, given_not, p_b)
    if stated < low - _EPS or stated > high + _EPS:
        return CoherenceHint(CoherenceKind.OUTSIDE_RANGE, stated, low, high, implied, tolerance)
    if implied is not None and abs(stated - implied) > tolerance + _EPS:
        return CoherenceHint(CoherenceKind.FAR_FROM_IMPLIED, stated, low, high, implied, tolerance)
    return None
