"""Property tests of answer validation (app.services.answers.normalise), which every save of the
API and the web form goes through: whatever arrives, it either refuses with a ValueError (a
message for the person who typed it) or returns values inside the question's scale."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.messages import render
from app.models import Question, Scale
from app.services.answers import Normalised, normalise

# the normalisation of values, before any database
pytestmark = pytest.mark.once

SCALES = {
    "probability": Scale(key="p", kind="probability", min=0.0, max=100.0, step=5.0),
    "likert": Scale(key="l", kind="likert", min=-3.0, max=3.0, step=1.0),
    "continuous": Scale(key="c", kind="continuous", min=0.0, max=None, step=1.0),
}
#: (question kind, scale, config) combinations the survey format allows
SHAPES = [
    ("probability", "probability", {}),
    ("probability", "probability", {"horizons": [2030, 2035, 2040]}),
    ("likert", "likert", {}),
    ("quantiles", "continuous", {"quantiles": [5, 50, 95]}),
    ("quantiles", "probability", {"quantiles": [10, 50, 90]}),
    ("conditional", "probability", {"given": ["E01", "E02"]}),
    ("trend_impact", None, {}),
    ("text", None, {"max_length": 200}),
]


def _question(
    kind: str, scale: str | None, config: dict[str, Any], allow_no_answer: bool
) -> Question:
    return Question(
        key="q",
        kind=kind,
        scale=SCALES[scale] if scale else None,
        config=dict(config),
        allow_no_answer=allow_no_answer,
        required=True,
        prompt={},
        help={},
    )


numbers = st.one_of(
    st.integers(min_value=-1000, max_value=1000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 5, 50, 95, 100, -3, 3, 2.5, 1e308, -0.0]),
)
typed = st.one_of(
    numbers.map(str),
    st.sampled_from(["۴۵", "٤٥٫٥", "45%", "4,5", " 7 ", "", "−2", "1e3", "nan", "inf", "0x10"]),
    st.text(max_size=30),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, typed)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["given", "given_not", "5", "50", "x"]), inner, max_size=4),
    ),
    max_leaves=12,
)
part_keys = st.sampled_from(
    [
        "2030",
        "2035",
        "2040",
        "5",
        "50",
        "95",
        "10",
        "90",
        "E01",
        "E02",
        "t1",
        "t2",
        "i_max",
        "t3",
        "i_ss",
        "zz",
    ]
)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "value": json_values,
        "values": st.one_of(json_values, st.dictionaries(part_keys, json_values, max_size=6)),
        "text": st.one_of(st.none(), st.text(max_size=250), numbers),
        "no_answer": st.one_of(st.booleans(), st.sampled_from(["1", "true", "on", "no", ""])),
    },
)


def _inside(value: float, scale: Scale | None) -> bool:
    if not math.isfinite(value):
        return False
    if scale is None:
        return True
    return (scale.min is None or value >= scale.min) and (scale.max is None or value <= scale.max)


def _check_accepted(question: Question, result: Normalised) -> None:
    """Everything accepted is finite, inside the scale and shaped as the kind requires."""
    scale = question.scale
    if result.no_answer:
        assert question.allow_no_answer and question.kind != "text"
        assert result.value is None and result.value_json is None and result.text is None
        return
    if question.kind == "text":
        assert result.text is None or len(result.text) <= question.config["max_length"]
        return
    if result.value is not None:
        assert _inside(result.value, scale)
        if scale is not None and scale.kind == "likert":
            assert float(result.value).is_integer()
    data = result.value_json or {}
    if question.kind == "conditional":
        assert not data or set(data) == set(question.config["given"])
        for pair in data.values():
            assert set(pair) == {"given", "given_not"}
            assert all(_inside(v, scale) for v in pair.values())
    elif question.kind == "trend_impact":
        if data:
            assert set(data) == {"t1", "t2", "i_max", "t3", "i_ss"}
            assert all(math.isfinite(v) for v in data.values())
            assert 0 <= data["t1"] <= data["t2"] <= data["t3"]
    elif data:
        expected = question.config.get("horizons") or question.config.get("quantiles")
        assert list(data) == [str(k) for k in expected]
        ordered = list(data.values())
        assert all(_inside(v, scale) for v in ordered)
        if question.kind == "quantiles":
            assert all(b > a for a, b in itertools.pairwise(ordered))
        else:
            assert all(b >= a for a, b in itertools.pairwise(ordered))


@settings(
    max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(shape=st.sampled_from(SHAPES), allow_no_answer=st.booleans(), payload=payloads)
def test_normalise_refuses_with_value_error_or_accepts_values_in_the_scale(
    shape: tuple[str, str | None, dict[str, Any]], allow_no_answer: bool, payload: dict[str, Any]
) -> None:
    question = _question(*shape, allow_no_answer)
    try:
        result = normalise(question, payload)
    except ValueError as error:
        message = render(error.args[0], lambda s: s)
        assert isinstance(message, str) and message  # a readable reason, never empty
        event("refused")
        return
    event("accepted, empty" if result.is_empty else "accepted")
    _check_accepted(question, result)
    assert len(result.digest()) == 64


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    value=st.one_of(st.integers(-10, 110), st.floats(-10, 110, allow_nan=False)),
    as_text=st.booleans(),
)
def test_probabilities_are_accepted_exactly_inside_zero_to_hundred(
    value: float, as_text: bool
) -> None:
    question = _question("probability", "probability", {}, True)
    raw: Any = str(value) if as_text else value
    try:
        result = normalise(question, {"value": raw})
    except ValueError:
        assert not 0 <= float(value) <= 100
        return
    assert result.value is not None and 0 <= result.value <= 100
    assert result.value == float(value)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(point=st.integers(-5, 5), offset=st.sampled_from([0.0, 0.5, 0.25]))
def test_likert_accepts_only_the_scales_points(point: int, offset: float) -> None:
    question = _question("likert", "likert", {}, True)
    try:
        result = normalise(question, {"value": point + offset})
    except ValueError:
        assert offset != 0.0 or not -3 <= point <= 3
        return
    assert offset == 0.0 and -3 <= point <= 3 and result.value == point
