"""A small, safe Boolean expression language for consensus rules and scenarios (never eval).

Grammar (case-sensitive; keywords are lower case)::

    expression := or
    or         := and (("or" | "||") and)*
    and        := not (("and" | "&&") not)*
    not        := ("not" | "!") not | atom
    atom       := "(" expression ")" | "true" | "false" | comparison | NAME
    comparison := operand ("<" | "<=" | ">" | ">=" | "==" | "!=") operand
    operand    := NAME | "-"? NUMBER
    NAME       := [A-Za-z_][A-Za-z0-9_]*       (but not a keyword)
    NUMBER     := digits with an optional fraction and exponent, e.g. 0.75, 1e-3, .5

A bare NAME is a Boolean variable: true when its value is true or a non-zero number. Evaluation is
three-valued (Kleene): a variable that is None or NaN makes a comparison "cannot tell" (None), and
`and` / `or` / `not` propagate it the Kleene way (false and unknown = false; true or unknown = true).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from analysis.errors import InputError

MAX_LENGTH = 2000
MAX_DEPTH = 50

KEYWORDS = frozenset({"and", "or", "not", "true", "false"})

Comparator: TypeAlias = Literal["<", "<=", ">", ">=", "==", "!="]
Value: TypeAlias = float | bool | None

_COMPARATORS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_SYMBOL_ALIASES = {"&&": "and", "||": "or", "!": "not"}


# ---------------------------------------------------------------------------------------------
# Syntax tree: frozen, hashable, structurally comparable


@dataclass(frozen=True)
class Number:
    """A numeric literal operand."""

    value: float

    def __str__(self) -> str:
        if self.value.is_integer() and abs(self.value) < 1e15:
            return str(int(self.value))
        return repr(self.value)


@dataclass(frozen=True)
class Name:
    """A variable: an operand of a comparison, or a Boolean on its own."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Const:
    """The literal true or false."""

    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(frozen=True)
class Compare:
    """`left op right` between two operands."""

    op: Comparator
    left: Number | Name
    right: Number | Name

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@dataclass(frozen=True)
class Not:
    """Negation."""

    operand: Node

    def __str__(self) -> str:
        inner = str(self.operand)
        return f"not ({inner})" if isinstance(self.operand, And | Or) else f"not {inner}"


@dataclass(frozen=True)
class And:
    """Conjunction of two or more operands (nested conjunctions are flattened)."""

    operands: tuple[Node, ...]

    def __str__(self) -> str:
        return " and ".join(f"({o})" if isinstance(o, Or) else str(o) for o in self.operands)


@dataclass(frozen=True)
class Or:
    """Disjunction of two or more operands (nested disjunctions are flattened)."""

    operands: tuple[Node, ...]

    def __str__(self) -> str:
        return " or ".join(str(o) for o in self.operands)


Node: TypeAlias = Const | Name | Compare | Not | And | Or


def _names(node: Node | Number) -> frozenset[str]:
    if isinstance(node, Name):
        return frozenset({node.name})
    if isinstance(node, Compare):
        return _names(node.left) | _names(node.right)
    if isinstance(node, Not):
        return _names(node.operand)
    if isinstance(node, And | Or):
        return frozenset().union(*(_names(o) for o in node.operands))
    return frozenset()


# ---------------------------------------------------------------------------------------------
# Evaluation


def _scalar(env: Mapping[str, Value], operand: Number | Name) -> float | None:
    """The numeric value of an operand, or None when undefined (None or NaN)."""
    if isinstance(operand, Number):
        return operand.value
    try:
        raw = env[operand.name]
    except KeyError:
        raise InputError(f"no value for {operand.name!r} in the expression's variables") from None
    if raw is None:
        return None
    value = float(raw)
    return None if math.isnan(value) else value


def _evaluate(node: Node, env: Mapping[str, Value]) -> bool | None:
    if isinstance(node, Const):
        return node.value
    if isinstance(node, Name):
        value = _scalar(env, node)
        return None if value is None else value != 0
    if isinstance(node, Compare):
        left, right = _scalar(env, node.left), _scalar(env, node.right)
        if left is None or right is None:
            return None
        return bool(_COMPARATORS[node.op](left, right))
    if isinstance(node, Not):
        inner = _evaluate(node.operand, env)
        return None if inner is None else not inner
    if isinstance(node, And):
        unknown = False
        for operand in node.operands:
            result = _evaluate(operand, env)
            if result is False:
                return False
            unknown = unknown or result is None
        return None if unknown else True
    unknown = False
    for operand in node.operands:
        result = _evaluate(operand, env)
        if result is True:
            return True
        unknown = unknown or result is None
    return None if unknown else False


BoolArray: TypeAlias = npt.NDArray[np.bool_]


def _array(env: Mapping[str, npt.ArrayLike], operand: Number | Name) -> npt.NDArray[np.float64]:
    if isinstance(operand, Number):
        return np.asarray(operand.value, dtype=np.float64)
    try:
        raw = env[operand.name]
    except KeyError:
        raise InputError(f"no values for {operand.name!r} in the expression's variables") from None
    return np.asarray(raw, dtype=np.float64)


def _evaluate_array(
    node: Node, env: Mapping[str, npt.ArrayLike], shape: tuple[int, ...]
) -> tuple[BoolArray, BoolArray]:
    """(definitely true, definitely false) masks; where neither holds the value is unknown."""
    if isinstance(node, Const):
        return np.full(shape, node.value), np.full(shape, not node.value)
    if isinstance(node, Name):
        values = np.broadcast_to(_array(env, node), shape)
        return (values != 0) & ~np.isnan(values), values == 0  # NaN is neither: unknown
    if isinstance(node, Compare):
        left = np.broadcast_to(_array(env, node.left), shape)
        right = np.broadcast_to(_array(env, node.right), shape)
        known = ~(np.isnan(left) | np.isnan(right))
        holds = np.asarray(_COMPARATORS[node.op](left, right), dtype=bool)
        return holds & known, ~holds & known
    if isinstance(node, Not):
        true, false = _evaluate_array(node.operand, env, shape)
        return false, true
    parts = [_evaluate_array(o, env, shape) for o in node.operands]
    trues = np.stack([p[0] for p in parts])
    falses = np.stack([p[1] for p in parts])
    if isinstance(node, And):
        return np.asarray(trues.all(axis=0)), np.asarray(falses.any(axis=0))
    return np.asarray(trues.any(axis=0)), np.asarray(falses.all(axis=0))


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its syntax tree and the variable names it uses."""

    root: Node

    @property
    def names(self) -> frozenset[str]:
        """The variable names the expression reads."""
        return _names(self.root)

    def evaluate(self, env: Mapping[str, Value]) -> bool | None:
        """Three-valued result for one assignment: None when undefined variables decide it."""
        return _evaluate(self.root, env)

    def evaluate_masks(self, env: Mapping[str, npt.ArrayLike]) -> tuple[BoolArray, BoolArray]:
        """Vectorised Kleene result as (definitely true, definitely false) Boolean arrays."""
        arrays = [np.asarray(env[n]) for n in self.names if n in env]
        shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
        true, false = _evaluate_array(self.root, env, shape)
        return np.asarray(true, dtype=bool), np.asarray(false, dtype=bool)

    def evaluate_array(self, env: Mapping[str, npt.ArrayLike]) -> BoolArray:
        """Vectorised result: True where the expression is definitely true (unknown counts False).

        Each name maps to an array (e.g. a column of 0/1 event states, one row per scenario);
        arrays broadcast together. NaN marks an undefined value; use `evaluate_masks` to tell
        "false" from "cannot tell".
        """
        return self.evaluate_masks(env)[0]

    def __str__(self) -> str:
        return str(self.root)


# ---------------------------------------------------------------------------------------------
# Tokenizer and recursive-descent parser


@dataclass(frozen=True)
class _Token:
    kind: Literal["name", "number", "keyword", "op", "bad", "end"]
    text: str
    column: int  # 1-based, for error messages


def _is_name_start(char: str) -> bool:
    return char == "_" or ("a" <= char <= "z") or ("A" <= char <= "Z")


def _is_name_char(char: str) -> bool:
    return _is_name_start(char) or "0" <= char <= "9"


def _quote(text: str) -> str:
    return '"' + (text if len(text) <= 80 else text[:77] + "...") + '"'


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in " \t\r\n":
            i += 1
            continue
        start = i
        if _is_name_start(char):
            while i < n and _is_name_char(text[i]):
                i += 1
            word = text[start:i]
            tokens.append(_Token("keyword" if word in KEYWORDS else "name", word, start + 1))
            continue
        if char.isascii() and (char.isdigit() or (char == "." and text[i + 1 : i + 2].isdigit())):
            while i < n and text[i].isascii() and text[i].isdigit():
                i += 1
            if i < n and text[i] == ".":
                i += 1
                while i < n and text[i].isascii() and text[i].isdigit():
                    i += 1
            if i < n and text[i] in "eE":
                j = i + 1
                if j < n and text[j] in "+-":
                    j += 1
                if j < n and text[j].isascii() and text[j].isdigit():
                    i = j
                    while i < n and text[i].isascii() and text[i].isdigit():
                        i += 1
            tokens.append(_Token("number", text[start:i], start + 1))
            if i < n and _is_name_char(text[i]):
                tokens.append(_Token("bad", text[i], i + 1))  # "3x": no implicit product
                break
            continue
        two = text[i : i + 2]
        if two in ("<=", ">=", "==", "!=", "&&", "||"):
            tokens.append(_Token("op", _SYMBOL_ALIASES.get(two, two), start + 1))
            i += 2
            continue
        if char in "<>()!-":
            tokens.append(_Token("op", _SYMBOL_ALIASES.get(char, char), start + 1))
            i += 1
            continue
        # The parser reports it when it gets there, so errors come in reading order.
        tokens.append(_Token("bad", char, start + 1))
        break
    tokens.append(_Token("end", "", n + 1))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.position = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.position]

    def take(self) -> _Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def is_word(self, word: str) -> bool:
        token = self.peek()
        return token.kind in ("keyword", "op") and token.text == word

    def fail(self, token: _Token) -> InputError:
        what = "end of expression" if token.kind == "end" else repr(token.text)
        return InputError(f"unexpected {what} at column {token.column} in {_quote(self.text)}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            column = self.peek().column
            raise InputError(
                f"expression nested deeper than {MAX_DEPTH} levels at column {column} "
                f"in {_quote(self.text)}"
            )

    def parse(self) -> Node:
        node = self.parse_or()
        if self.peek().kind != "end":
            raise self.fail(self.peek())
        return node

    def parse_or(self) -> Node:
        operands = [self.parse_and()]
        while self.is_word("or"):
            self.take()
            operands.append(self.parse_and())
        if len(operands) == 1:
            return operands[0]
        flat: list[Node] = []
        for operand in operands:
            flat.extend(operand.operands if isinstance(operand, Or) else (operand,))
        return Or(tuple(flat))

    def parse_and(self) -> Node:
        operands = [self.parse_not()]
        while self.is_word("and"):
            self.take()
            operands.append(self.parse_not())
        if len(operands) == 1:
            return operands[0]
        flat: list[Node] = []
        for operand in operands:
            flat.extend(operand.operands if isinstance(operand, And) else (operand,))
        return And(tuple(flat))

    def parse_not(self) -> Node:
        if self.is_word("not"):
            self.take()
            self.enter()
            inner = self.parse_not()
            self.depth -= 1
            return Not(inner)
        return self.parse_atom()

    def parse_atom(self) -> Node:
        token = self.peek()
        if token.kind == "op" and token.text == "(":
            self.take()
            self.enter()
            node = self.parse_or()
            self.depth -= 1
            if not (self.peek().kind == "op" and self.peek().text == ")"):
                raise self.fail(self.peek())
            self.take()
            return node
        if token.kind == "keyword" and token.text in ("true", "false"):
            self.take()
            return Const(token.text == "true")
        if token.kind == "name" and not self.next_is_comparator(1):
            self.take()
            return Name(token.text)
        left = self.parse_operand()
        comparator = self.take()
        if comparator.kind != "op" or comparator.text not in _COMPARATORS:
            raise self.fail(comparator)
        right = self.parse_operand()
        op: Comparator = comparator.text  # type: ignore[assignment]  # checked just above
        return Compare(op, left, right)

    def next_is_comparator(self, offset: int) -> bool:
        token = self.tokens[min(self.position + offset, len(self.tokens) - 1)]
        return token.kind == "op" and token.text in _COMPARATORS

    def parse_operand(self) -> Number | Name:
        token = self.take()
        if token.kind == "name":
            return Name(token.text)
        sign = 1.0
        if token.kind == "op" and token.text == "-":
            sign = -1.0
            token = self.take()
        if token.kind != "number":
            raise self.fail(token)
        value = sign * float(token.text)
        if not math.isfinite(value):
            raise InputError(
                f"number {token.text!r} at column {token.column} is too large in {_quote(self.text)}"
            )
        return Number(value + 0.0)  # + 0.0 turns -0.0 into 0.0, so "-0" prints as "0"


def parse_expression(text: str, *, allowed_names: Collection[str] | None = None) -> Expression:
    """Parse `text` into an Expression; InputError names the column and the unexpected token."""
    if not isinstance(text, str):
        raise InputError(f"an expression must be text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise InputError(f"expression longer than {MAX_LENGTH} characters ({len(text)})")
    if not text.strip():
        raise InputError("empty expression")
    expression = Expression(_Parser(text).parse())
    if allowed_names is not None:
        unknown = sorted(expression.names - frozenset(allowed_names))
        if unknown:
            raise InputError(
                f"unknown name{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                f"in {_quote(text)}; allowed: {', '.join(sorted(allowed_names))}"
            )
    return expression
