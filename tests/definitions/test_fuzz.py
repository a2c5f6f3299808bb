"""Random input never crashes the parser: it returns a definition or raises DefinitionError."""

from __future__ import annotations

import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.definitions import DefinitionError, Problem, SurveyDefinition, parse_definition
from app.definitions.source_map import scan
from tests.definitions.helpers import MINIMAL

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIELD_NAMES = [
    "format", "study", "rules", "scales", "questions", "categories", "items", "scenarios",
    "key", "kind", "title", "text", "prompt", "scale", "min", "max", "labels", "given", "trend",
    "quantiles", "horizons", "baseline", "true_value", "expression", "languages", "en", "fa",
    "default_language", "horizon", "k", "probability", "likert", "event", "E01", "T01",
]  # fmt: skip


def _outcome(data: bytes) -> SurveyDefinition | list[Problem]:
    """Parse; any exception other than DefinitionError fails the test."""
    try:
        return parse_definition(data, "fuzz.toml")
    except DefinitionError as error:
        for problem in error.problems:
            assert problem.file == "fuzz.toml"
            assert problem.line is None or problem.line >= 1
            assert isinstance(problem.message, str) and problem.message
        return error.problems


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    _outcome(data)


@FUZZ
@given(st.text(alphabet=string.printable + "[]{}=\"'.,#\u06f1\u200c", max_size=400))
def test_random_toml_like_text(text: str) -> None:
    _outcome(text.encode("utf-8"))


# Random TOML documents built from the format's own field names, so values reach the validator.
_scalars = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=20),
    st.sampled_from(FIELD_NAMES),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(FIELD_NAMES), inner, max_size=4),
    ),
    max_leaves=20,
)


def _toml(value: object) -> str:
    """A value as an inline TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


@FUZZ
@given(st.dictionaries(st.sampled_from(FIELD_NAMES), _values, max_size=8))
def test_random_documents(document: dict[str, object]) -> None:
    text = "".join(f"{json.dumps(k)} = {_toml(v)}\n" for k, v in document.items())
    _outcome(text.encode("utf-8"))


_LINES = MINIMAL.splitlines(keepends=True)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["delete", "duplicate", "swap", "replace"]),
            st.integers(min_value=0, max_value=len(_LINES) - 1),
            st.sampled_from(["1", '"x"', "[]", "{}", "true", '"E01"', '"T01"', "-3", "1e999"]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutations_of_a_valid_file(mutations: list[tuple[str, int, str]]) -> None:
    """Near-valid files exercise the validator's cross-checks with partly broken tables."""
    lines = list(_LINES)
    for operation, index, value in mutations:
        index %= len(lines)
        if operation == "delete":
            del lines[index]
        elif operation == "duplicate":
            lines.insert(index, lines[index])
        elif operation == "swap":
            other = (index + 1) % len(lines)
            lines[index], lines[other] = lines[other], lines[index]
        elif "=" in lines[index]:
            lines[index] = lines[index].split("=", 1)[0] + "= " + value + "\n"
        if not lines:
            lines = ["\n"]
    outcome = _outcome("".join(lines).encode("utf-8"))
    if isinstance(outcome, list):
        problem_lines = [p.line or 0 for p in outcome]
        assert problem_lines == sorted(problem_lines) or problem_lines[-1] == 0
        assert all((p.line or 1) <= len(lines) + 1 for p in outcome)


@FUZZ
@given(st.text(max_size=300))
def test_the_line_scanner_never_fails(text: str) -> None:
    source_map = scan(text)
    last_line = text.count("\n") + text.count("\r") + 1
    assert all(1 <= line <= last_line for line in source_map.lines.values())
    assert 1 <= source_map.line_of(("study", "key", 3)) <= last_line


_FIELD_LINES = [index for index, line in enumerate(_LINES) if "=" in line]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(_FIELD_LINES), _values), min_size=1, max_size=3))
def test_random_values_in_every_field(replacements: list[tuple[int, object]]) -> None:
    """Any value of any type in any field of a valid file is reported, never a crash."""
    lines = list(_LINES)
    for index, value in replacements:
        lines[index] = lines[index].split("=", 1)[0] + "= " + _toml(value) + "\n"
    _outcome("".join(lines).encode("utf-8"))
