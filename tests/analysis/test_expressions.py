"""The safe expression grammar: parsing, errors, Kleene evaluation, vectorised evaluation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.errors import InputError
from analysis.expressions import (
    MAX_DEPTH,
    MAX_LENGTH,
    And,
    Compare,
    Const,
    Name,
    Node,
    Not,
    Number,
    Or,
    parse_expression,
)

NAMES = ["a", "b", "c", "E01", "pct_agree"]


def test_parses_a_consensus_rule_into_names_and_canonical_text() -> None:
    expr = parse_expression("pct_agree>=0.75   and iqr<=1")
    assert expr.names == {"pct_agree", "iqr"}
    assert str(expr) == "pct_agree >= 0.75 and iqr <= 1"
    assert expr.evaluate({"pct_agree": 0.8, "iqr": 1.0}) is True
    assert expr.evaluate({"pct_agree": 0.7, "iqr": 1.0}) is False


def test_precedence_not_binds_tighter_than_and_tighter_than_or() -> None:
    expr = parse_expression("not a and b or c")
    assert expr.root == Or((And((Not(Name("a")), Name("b"))), Name("c")))


def test_symbol_aliases_mean_the_keywords() -> None:
    assert parse_expression("!a && b || c") == parse_expression("not a and b or c")


def test_parentheses_are_kept_only_where_needed() -> None:
    assert str(parse_expression("((a)) and ((b or c))")) == "a and (b or c)"
    assert str(parse_expression("not (a and b)")) == "not (a and b)"
    assert str(parse_expression("a and (b and c)")) == "a and b and c"


def test_numbers_in_all_forms() -> None:
    expr = parse_expression("x < .5 or x > 1e3 or x == -2 or x != 1.5E-2")
    assert str(expr) == "x < 0.5 or x > 1000 or x == -2 or x != 0.015"
    assert parse_expression("-1 < x").evaluate({"x": 0}) is True


def test_bare_names_are_booleans_and_numbers_count_when_non_zero() -> None:
    expr = parse_expression("E01 and not E02")
    assert expr.evaluate({"E01": 1, "E02": 0}) is True
    assert expr.evaluate({"E01": True, "E02": True}) is False
    assert expr.evaluate({"E01": 2.0, "E02": 0.0}) is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a and (b", 'unexpected end of expression at column 9 in "a and (b"'),
        ("a < b < c", "unexpected '<' at column 7"),
        ("sqrt(x) > 1", "unexpected '(' at column 5"),
        ("iqr = 1", "unexpected '=' at column 5"),
        ("iqr <= 1 and", "unexpected end of expression at column 13"),
        ("1", "unexpected end of expression at column 2"),
        ("3x > 1", "unexpected 'x' at column 2"),
        ("a and b)", "unexpected ')' at column 8"),
        ("__import__('os')", "unexpected '(' at column 11"),
        ("a; b", "unexpected ';' at column 2"),
        ("a.b", "unexpected '.' at column 2"),
        ("x < 1e999", "too large"),
        ("and a", "unexpected 'and' at column 1"),
        ("x > true", "unexpected 'true' at column 5"),
        ("", "empty expression"),
        ("   ", "empty expression"),
    ],
)
def test_rejects_anything_outside_the_grammar_with_the_column(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_expression(text)


def test_rejects_over_long_and_over_deep_expressions() -> None:
    with pytest.raises(InputError, match=f"longer than {MAX_LENGTH}"):
        parse_expression(" or ".join(["a"] * 600))
    deep = "(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(InputError, match="nested deeper"):
        parse_expression(deep)
    with pytest.raises(InputError, match="nested deeper"):
        parse_expression("not " * (MAX_DEPTH + 1) + "a")
    ok = "(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH
    assert str(parse_expression(ok)) == "a"


def test_allowed_names_lists_every_unknown_name() -> None:
    with pytest.raises(InputError, match="unknown names iqq, pct in"):
        parse_expression("iqq <= 1 and pct > 0.5 and n > 3", allowed_names={"iqr", "n"})
    assert parse_expression("n > 3", allowed_names={"n"}).names == {"n"}


def test_missing_variable_at_evaluation_is_an_input_error() -> None:
    with pytest.raises(InputError, match="'b'"):
        parse_expression("a and b").evaluate({"a": True})


def test_kleene_truth_tables() -> None:
    values: list[bool | None] = [True, False, None]
    both = parse_expression("a and b")
    either = parse_expression("a or b")
    negation = parse_expression("not a")
    for a, b in itertools.product(values, values):
        env = {"a": a, "b": b}
        expected_and = (
            False if (a is False or b is False) else None if (a is None or b is None) else True
        )
        expected_or = (
            True if (a is True or b is True) else None if (a is None or b is None) else False
        )
        assert both.evaluate(env) is expected_and
        assert either.evaluate(env) is expected_or
    assert negation.evaluate({"a": None}) is None


def test_comparison_with_undefined_value_cannot_tell() -> None:
    rule = parse_expression("cv <= 0.5")
    assert rule.evaluate({"cv": None}) is None
    assert rule.evaluate({"cv": math.nan}) is None
    # ... but a decided conjunct still decides the whole
    assert parse_expression("cv <= 0.5 and n > 5").evaluate({"cv": None, "n": 3}) is False
    assert parse_expression("cv <= 0.5 or n > 5").evaluate({"cv": None, "n": 9}) is True


def test_evaluate_array_over_scenario_matrix() -> None:
    states = np.array(list(itertools.product([0, 1], repeat=3)), dtype=float)
    env = {f"E{i + 1}": states[:, i] for i in range(3)}
    result = parse_expression("E1 and not (E2 or E3)").evaluate_array(env)
    expected = (states[:, 0] == 1) & (states[:, 1] == 0) & (states[:, 2] == 0)
    assert result.dtype == np.bool_
    np.testing.assert_array_equal(result, expected)


def test_evaluate_array_unknowns_and_constants() -> None:
    expr = parse_expression("x > 1 or true")
    np.testing.assert_array_equal(expr.evaluate_array({"x": np.array([np.nan, 0.0])}), [True, True])
    true, false = parse_expression("x > 1").evaluate_masks({"x": np.array([np.nan, 0.0, 2.0])})
    np.testing.assert_array_equal(true, [False, False, True])
    np.testing.assert_array_equal(false, [False, True, False])
    assert parse_expression("false").evaluate_array({}).shape == ()


# --- properties ---------------------------------------------------------------------------

operands = st.one_of(
    st.sampled_from(NAMES).map(Name),
    st.integers(-5, 5).map(lambda i: Number(float(i))),
    st.sampled_from([0.25, -0.5, 1e-3]).map(Number),
)
comparisons = st.builds(
    Compare, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), operands, operands
)
leaves = st.one_of(st.sampled_from(NAMES).map(Name), st.booleans().map(Const), comparisons)


def _flatten(kind: type[And] | type[Or], parts: list[Node]) -> Node:
    flat: list[Node] = []
    for part in parts:
        flat.extend(part.operands if isinstance(part, kind) else (part,))
    return kind(tuple(flat))


trees: st.SearchStrategy[Node] = st.recursive(
    leaves,
    lambda children: st.one_of(
        children.map(Not),
        st.lists(children, min_size=2, max_size=3).map(lambda parts: _flatten(And, parts)),
        st.lists(children, min_size=2, max_size=3).map(lambda parts: _flatten(Or, parts)),
    ),
    max_leaves=12,
)
assignments = st.fixed_dictionaries(
    {
        name: st.one_of(st.none(), st.booleans(), st.sampled_from([-1.0, 0.0, 0.25, 2.0, math.nan]))
        for name in NAMES
    }
)


@settings(max_examples=200, deadline=None)
@given(trees)
def test_canonical_form_round_trips(tree: Node) -> None:
    text = str(tree)
    reparsed = parse_expression(text)
    assert reparsed.root == tree
    assert str(reparsed) == text


@settings(max_examples=200, deadline=None)
@given(trees, trees, assignments)
def test_de_morgan_holds_in_three_valued_logic(
    left: Node, right: Node, env: dict[str, object]
) -> None:
    a, b = str(left), str(right)
    pairs = [
        (f"not (({a}) and ({b}))", f"(not ({a})) or (not ({b}))"),
        (f"not (({a}) or ({b}))", f"(not ({a})) and (not ({b}))"),
        (f"not not ({a})", a),
    ]
    for one, other in pairs:
        assert parse_expression(one).evaluate(env) is parse_expression(other).evaluate(env)  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(trees, st.lists(assignments, min_size=1, max_size=6))
def test_vectorised_evaluation_agrees_with_scalar(
    tree: Node, envs: list[dict[str, object]]
) -> None:
    expr = parse_expression(str(tree))

    def as_float(value: object) -> float:
        return math.nan if value is None else float(value)  # type: ignore[arg-type]

    columns = {n: np.array([as_float(env[n]) for env in envs]) for n in NAMES}
    true, false = expr.evaluate_masks(columns)
    for row, env in enumerate(envs):
        scalar = expr.evaluate(env)  # type: ignore[arg-type]
        assert bool(np.broadcast_to(true, (len(envs),))[row]) is (scalar is True)
        assert bool(np.broadcast_to(false, (len(envs),))[row]) is (scalar is False)
