"""Named scenarios as a reader states them, and the most likely configurations grouped by them.

A named scenario is a Boolean expression over events ("not E01 and (E22 or E30 or E34)");
`clauses` splits it into conditions a report can put into words with each event's title ("E01
... does not happen and at least one of E22, E30, E34 happens"). A ranked configuration says of
every event of a method whether it happens; `group_top` tells which named scenarios each of the
top configurations falls in and groups them, so a reader sees how the tiny probabilities of
single configurations add up to the named scenarios'. Pure: strings and tuples in and out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from analysis.expressions import And, Expression, Name, Not, Or, parse_expression
from analysis.scenarios.assemble import RankedScenario

ClauseKind = Literal["happens", "not", "any", "none", "text"]


@dataclass(frozen=True)
class Clause:
    """One condition of a named scenario: events that happen, do not, or a written rest."""

    #: happens: the event happens; not: it does not; any: at least one of the events happens;
    #: none: none of them happens; text: anything else, kept as written in `text`
    kind: ClauseKind
    events: tuple[str, ...] = ()
    text: str = ""


def _names_of(operands: Sequence[object]) -> tuple[str, ...] | None:
    """The names when every operand is a bare name, else None."""
    if all(isinstance(o, Name) for o in operands):
        return tuple(o.name for o in operands if isinstance(o, Name))
    return None


def _clause(node: object) -> Clause:
    """One conjunct as a clause."""
    if isinstance(node, Name):
        return Clause("happens", (node.name,))
    if isinstance(node, Not) and isinstance(node.operand, Name):
        return Clause("not", (node.operand.name,))
    if isinstance(node, Or) and (names := _names_of(node.operands)) is not None:
        return Clause("any", names)
    if isinstance(node, Not) and isinstance(node.operand, Or):
        names = _names_of(node.operand.operands)
        if names is not None:
            return Clause("none", names)
    return Clause("text", text=str(node))


def clauses(expression: str) -> tuple[Clause, ...]:
    """The conditions that must all hold for the scenario `expression`, in its order."""
    root = parse_expression(expression).root
    parts = root.operands if isinstance(root, And) else (root,)
    return tuple(_clause(part) for part in parts)


@dataclass(frozen=True)
class TopGroup:
    """Top configurations that fall in the same named scenarios, and their summed probability."""

    #: the named scenarios every configuration of the group falls in (empty: none of them)
    named: tuple[str, ...]
    #: named scenarios that cannot be told: they use events the method left out
    unsure: tuple[str, ...]
    ranks: tuple[int, ...]
    probability: float


def membership(
    expressions: Mapping[str, Expression], events: Sequence[str], occurring: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(named scenarios the configuration falls in, those it cannot tell) for one configuration.

    The configuration: the events in `occurring` happen, the other `events` do not; events
    outside `events` are unknown, so a scenario that depends on them cannot be told.
    """
    happening = set(occurring)
    env: dict[str, float | bool | None] = {key: key in happening for key in events}
    inside: list[str] = []
    unsure: list[str] = []
    for name, expression in expressions.items():
        values = {n: env.get(n) for n in expression.names}
        verdict = expression.evaluate(values)
        if verdict is None:
            unsure.append(name)
        elif verdict:
            inside.append(name)
    return tuple(inside), tuple(unsure)


def group_top(
    top: Sequence[RankedScenario], expressions: Mapping[str, str], events: Sequence[str]
) -> tuple[TopGroup, ...]:
    """The configurations of `top` grouped by the named scenarios they fall in, best rank first."""
    parsed = {name: parse_expression(text) for name, text in expressions.items()}
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[RankedScenario]] = {}
    for scenario in top:
        groups.setdefault(membership(parsed, events, scenario.occurring), []).append(scenario)
    found = [
        TopGroup(
            named=named,
            unsure=unsure,
            ranks=tuple(s.rank for s in rows),
            probability=float(sum(s.probability for s in rows)),
        )
        for (named, unsure), rows in groups.items()
    ]
    return tuple(sorted(found, key=lambda g: min(g.ranks)))
