"""Coherence of each expert's own probabilities, and a panel summary (methods.md section 4).

For every conditional an expert gave, P(A | B) = g and P(A | not B) = h on item A's question,
with their own P(A) = a and, when they gave it, P(B) = b (probabilities 0-1 here, violations
reported in percentage points):

- total probability: a = g b + h (1 - b). With b: the violation is |a - (g b + h (1 - b))|.
  Without b: a must lie between g and h whatever b is; the violation is a's distance from
  [min(g, h), max(g, h)].
- Fréchet bounds (needs a and b): the joint P(A and B) = g b must lie in
  [max(0, a + b - 1), min(a, b)], and P(A and not B) = h (1 - b) in
  [max(0, a - b), min(a, 1 - b)]; the violation is the distance from the interval.
- reciprocity (when both P(A | B) and P(B | A) were given, with a and b): the two readings of
  the joint, P(A | B) b and P(B | A) a, must agree; the violation is their difference.

An expert's score is 1 minus the mean violation over all their checks (as a probability), so 1
is fully coherent and a panel of round-number answers scores a little below 1; `violations`
counts the checks whose violation exceeds `tolerance` points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from analysis.errors import InputError

Pair = tuple[str, str]

#: a violation below this many points is rounding noise of the float arithmetic, not incoherence
_EPS_POINTS = 1e-7

CHECK_KINDS = ("total_probability", "frechet_joint", "frechet_joint_not", "reciprocity")


@dataclass(frozen=True)
class Judgements:
    """One set of judgements (probabilities 0-1): the panel's pooled ones or one expert's.

    given[(i, j)] = P(i | j) and given_not[(i, j)] = P(i | not j): item i's question about j.
    """

    p: Mapping[str, float] = field(default_factory=dict)
    given: Mapping[Pair, float] = field(default_factory=dict)
    given_not: Mapping[Pair, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Violation:
    """One check on one pair (A, B) and how far the expert's answers miss it (points)."""

    kind: str  #: one of CHECK_KINDS
    event: str  #: A
    given: str  #: B
    size: float  #: percentage points, 0 when the check holds


@dataclass(frozen=True)
class ExpertCoherence:
    """One expert's checks and score."""

    expert: str
    checks: int
    #: checks whose violation exceeds the tolerance
    violations: int
    #: mean and largest violation over all checks, in percentage points (0 with no checks)
    mean_violation: float
    max_violation: float
    #: 1 - mean violation as a probability; None when no check could be made
    score: float | None
    #: every check whose violation exceeds the tolerance, largest first
    details: tuple[Violation, ...]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "expert": self.expert,
            "checks": self.checks,
            "violations": self.violations,
            "mean_violation": self.mean_violation,
            "max_violation": self.max_violation,
            "score": self.score,
            "details": [v.__dict__ for v in self.details],
        }


@dataclass(frozen=True)
class PanelCoherence:
    """Coherence per expert and for the panel as a whole."""

    tolerance: float
    experts: tuple[ExpertCoherence, ...]
    #: experts with at least one check
    checked: int
    #: of those, experts with no violation above the tolerance
    coherent: int
    #: mean and median of the experts' scores (None when nobody was checked)
    mean_score: float | None
    median_score: float | None
    #: checks and violations over the panel; mean and largest violation (points)
    checks: int
    violations: int
    mean_violation: float
    max_violation: float

    def summary(self) -> dict[str, object]:
        """The panel figures only (no expert named): what an anonymous small panel may show."""
        return {
            "tolerance": self.tolerance,
            "experts": len(self.experts),
            "checked": self.checked,
            "coherent": self.coherent,
            "mean_score": self.mean_score,
            "median_score": self.median_score,
            "checks": self.checks,
            "violations": self.violations,
            "mean_violation": self.mean_violation,
            "max_violation": self.max_violation,
        }


def _distance(value: float, low: float, high: float) -> float:
    """How far value lies outside [low, high] (0 inside)."""
    return max(low - value, value - high, 0.0)


def _probability(value: float, what: str) -> float:
    """A finite probability in [0, 1], else InputError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{what}: expected a probability, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise InputError(f"{what}: a probability is between 0 and 1, got {value}")
    return float(value)


def pair_checks(judgements: Judgements) -> list[Violation]:
    """Every check the judgements allow, one Violation (possibly of size 0) per check."""
    out: list[Violation] = []
    p = {k: _probability(v, f"P({k})") for k, v in judgements.p.items()}
    for (a_key, b_key), g_raw in sorted(judgements.given.items()):
        if (a_key, b_key) not in judgements.given_not:
            continue
        g = _probability(g_raw, f"P({a_key} | {b_key})")
        h = _probability(judgements.given_not[(a_key, b_key)], f"P({a_key} | not {b_key})")
        a, b = p.get(a_key), p.get(b_key)
        if a is None:
            continue  # nothing to compare the conditionals with
        if b is None:
            gap = _distance(a, min(g, h), max(g, h))
            out.append(Violation("total_probability", a_key, b_key, 100.0 * gap))
            continue
        implied = g * b + h * (1.0 - b)
        out.append(Violation("total_probability", a_key, b_key, 100.0 * abs(a - implied)))
        joint = g * b
        out.append(
            Violation(
                "frechet_joint",
                a_key,
                b_key,
                100.0 * _distance(joint, max(0.0, a + b - 1.0), min(a, b)),
            )
        )
        joint_not = h * (1.0 - b)
        out.append(
            Violation(
                "frechet_joint_not",
                a_key,
                b_key,
                100.0 * _distance(joint_not, max(0.0, a - b), min(a, 1.0 - b)),
            )
        )
        # each unordered pair once: from the alphabetically first direction
        back = judgements.given.get((b_key, a_key))
        if back is not None and a_key < b_key:
            reverse = _probability(back, f"P({b_key} | {a_key})")
            out.append(Violation("reciprocity", a_key, b_key, 100.0 * abs(joint - reverse * a)))
    return [
        Violation(v.kind, v.event, v.given, 0.0 if v.size < _EPS_POINTS else v.size) for v in out
    ]


def expert_coherence(
    expert: str, judgements: Judgements, *, tolerance: float = 0.0
) -> ExpertCoherence:
    """One expert's checks, violations above `tolerance` points, and coherence score."""
    if isinstance(tolerance, bool) or not math.isfinite(tolerance) or tolerance < 0:
        raise InputError(f"tolerance: expected percentage points >= 0, got {tolerance!r}")
    checks = pair_checks(judgements)
    sizes = [v.size for v in checks]
    over = sorted(
        (v for v in checks if v.size > tolerance), key=lambda v: (-v.size, v.event, v.given, v.kind)
    )
    mean = float(np.mean(sizes)) if sizes else 0.0
    return ExpertCoherence(
        expert=expert,
        checks=len(checks),
        violations=len(over),
        mean_violation=mean,
        max_violation=max(sizes, default=0.0),
        score=1.0 - mean / 100.0 if sizes else None,
        details=tuple(over),
    )


def panel_coherence(experts: Mapping[str, Judgements], *, tolerance: float = 0.0) -> PanelCoherence:
    """Every expert's coherence (sorted by name) and the panel summary."""
    rows = tuple(expert_coherence(k, experts[k], tolerance=tolerance) for k in sorted(experts))
    scored = [r.score for r in rows if r.score is not None]
    checks = sum(r.checks for r in rows)
    total = sum(r.mean_violation * r.checks for r in rows)
    return PanelCoherence(
        tolerance=tolerance,
        experts=rows,
        checked=len(scored),
        coherent=sum(1 for r in rows if r.checks and r.violations == 0),
        mean_score=float(np.mean(scored)) if scored else None,
        median_score=float(np.median(scored)) if scored else None,
        checks=checks,
        violations=sum(r.violations for r in rows),
        mean_violation=total / checks if checks else 0.0,
        max_violation=max((r.max_violation for r in rows), default=0.0),
    )
