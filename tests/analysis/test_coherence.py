"""Coherence hints for P(A), P(A|B), P(A|not B) and P(B): hand-computed cases and properties."""

from __future__ import annotations

import math

import hypothesis
import pytest
from hypothesis import strategies as st

from analysis.coherence import (
    DEFAULT_TOLERANCE,
    CoherenceKind,
    check_conditionals,
    implied_probability,
)
from analysis.errors import InputError

percent = st.floats(min_value=0, max_value=100, allow_nan=False)
whole_percent = st.integers(min_value=0, max_value=100).map(float)


def test_implied_probability_by_hand() -> None:
    # 80 * 0.25 + 40 * 0.75 = 20 + 30 = 50
    assert implied_probability(80, 40, 25) == pytest.approx(50)
    assert implied_probability(80, 40, 0) == pytest.approx(40)
    assert implied_probability(80, 40, 100) == pytest.approx(80)


def test_inside_the_range_without_p_b_is_no_hint() -> None:
    assert check_conditionals(50, 40, 80) is None
    assert check_conditionals(40, 40, 80) is None  # the ends belong to the range
    assert check_conditionals(80, 80, 40) is None


def test_outside_the_range_is_a_hint_with_its_numbers() -> None:
    hint = check_conditionals(90, 40, 80)
    assert hint is not None
    assert hint.kind is CoherenceKind.OUTSIDE_RANGE
    assert (hint.stated, hint.low, hint.high, hint.implied) == (90, 40, 80, None)
    assert hint.distance == pytest.approx(10)
    below = check_conditionals(30, 80, 40, 25)
    assert below is not None and below.kind is CoherenceKind.OUTSIDE_RANGE
    assert (below.low, below.high) == (40, 80)  # ordered whichever conditional is larger
    assert below.implied == pytest.approx(80 * 0.25 + 40 * 0.75)
    assert below.distance == pytest.approx(10)


def test_far_from_the_implied_value() -> None:
    # P(A|B) = 80, P(A|not B) = 40, P(B) = 25: implied 50. Stated 70 is in [40, 80] but 20 away.
    hint = check_conditionals(70, 80, 40, 25)
    assert hint is not None
    assert hint.kind is CoherenceKind.FAR_FROM_IMPLIED
    assert hint.implied == pytest.approx(50)
    assert hint.distance == pytest.approx(20)
    assert hint.tolerance == DEFAULT_TOLERANCE


def test_the_tolerance_is_inclusive() -> None:
    assert check_conditionals(60, 80, 40, 25) is None  # exactly 10 points from 50
    assert check_conditionals(60.5, 80, 40, 25) is not None
    assert check_conditionals(60, 80, 40, 25, tolerance=9.5) is not None
    assert check_conditionals(70, 80, 40, 25, tolerance=20) is None


def test_equal_conditionals_mean_independence() -> None:
    # P(A|B) = P(A|not B) = 30: P(A) must be 30 whatever P(B) is.
    assert check_conditionals(30, 30, 30) is None
    hint = check_conditionals(35, 30, 30, 50)
    assert hint is not None and hint.kind is CoherenceKind.OUTSIDE_RANGE


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((101, 50, 50), {}),
        ((50, -1, 50), {}),
        ((50, 50, 50, 100.5), {}),
        ((math.nan, 50, 50), {}),
        ((50, 50, 50), {"tolerance": -1}),
        ((50, 50, 50), {"tolerance": math.inf}),
    ],
)
def test_bad_input_is_refused(args: tuple[float, ...], kwargs: dict[str, float]) -> None:
    with pytest.raises(InputError):
        check_conditionals(*args, **kwargs)


@hypothesis.given(given=percent, given_not=percent, p_b=percent)
def test_no_hint_when_p_a_is_the_implied_value(given: float, given_not: float, p_b: float) -> None:
    implied = given * p_b / 100 + given_not * (1 - p_b / 100)
    assert check_conditionals(min(100.0, implied), given, given_not, p_b, tolerance=0) is None


@hypothesis.given(
    p_a=percent,
    given=percent,
    given_not=percent,
    p_b=st.none() | percent,
    tolerance=st.floats(min_value=0, max_value=100),
)
def test_inside_the_range_is_necessary_for_coherence(
    p_a: float, given: float, given_not: float, p_b: float | None, tolerance: float
) -> None:
    """Outside [min, max] there is a hint whatever P(B) and the tolerance are; inside the range
    and without P(B) there is none."""
    low, high = min(given, given_not), max(given, given_not)
    hint = check_conditionals(p_a, given, given_not, p_b, tolerance=tolerance)
    if p_a < low - 1e-6 or p_a > high + 1e-6:
        assert hint is not None and hint.kind is CoherenceKind.OUTSIDE_RANGE
        assert hint.distance > 0
    elif p_b is None and low <= p_a <= high:
        assert hint is None


@hypothesis.given(
    p_a=whole_percent, given=whole_percent, given_not=whole_percent, p_b=whole_percent
)
def test_a_hint_inside_the_range_means_far_from_the_implied_value(
    p_a: float, given: float, given_not: float, p_b: float
) -> None:
    hint = check_conditionals(p_a, given, given_not, p_b)
    implied = implied_probability(given, given_not, p_b)
    if hint is None:
        assert abs(p_a - implied) <= DEFAULT_TOLERANCE + 1e-9
    elif hint.kind is CoherenceKind.FAR_FROM_IMPLIED:
        assert hint.low <= p_a <= hint.high
        assert hint.distance > DEFAULT_TOLERANCE


@hypothesis.given(
    p_a=percent,
    given=percent,
    given_not=percent,
    p_b=percent,
    tolerances=st.tuples(st.floats(0, 100), st.floats(0, 100)),
)
def test_a_smaller_tolerance_never_removes_a_hint(
    p_a: float, given: float, given_not: float, p_b: float, tolerances: tuple[float, float]
) -> None:
    small, large = sorted(tolerances)
    if check_conditionals(p_a, given, given_not, p_b, tolerance=large) is not None:
        assert check_conditionals(p_a, given, given_not, p_b, tolerance=small) is not None


@hypothesis.given(p_a=percent, given=percent, given_not=percent, p_b=st.none() | percent)
def test_b_and_not_b_are_interchangeable(
    p_a: float, given: float, given_not: float, p_b: float | None
) -> None:
    """Conditioning on "not B" instead of B swaps the conditionals and P(B) -> 100 - P(B)."""
    if p_b is not None:  # the two implied values may differ in the last bits
        distance = abs(p_a - implied_probability(given, given_not, p_b))
        hypothesis.assume(abs(distance - DEFAULT_TOLERANCE) > 1e-6)
    one = check_conditionals(p_a, given, given_not, p_b)
    other = check_conditionals(p_a, given_not, given, None if p_b is None else 100 - p_b)
    assert (one and one.kind) == (other and other.kind)


@hypothesis.given(given=whole_percent, given_not=whole_percent, p_b=whole_percent)
def test_rounding_to_fives_never_trips_the_default_tolerance(
    given: float, given_not: float, p_b: float
) -> None:
    """The documented reason for 10 points: an expert whose four answers are coherent numbers
    rounded to the nearest 5 gets no far-from-implied hint."""
    implied = implied_probability(given, given_not, p_b)

    def to_five(x: float) -> float:
        return min(100.0, 5 * math.floor(x / 5 + 0.5))

    assert (
        check_conditionals(to_five(implied), to_five(given), to_five(given_not), to_five(p_b))
        is None
    )
