"""Internal names in the reader's words: question keys, round states, consensus and stability
rules, in the page's language and digits.

A facilitator reads "at least 75 % agree and the middle half of the answers spans at most 1
point", never `pct_agree >= 0.75 and iqr <= 1`, and "Cross-impact", never `cross_E01`.
The rules are parsed with the grammar that evaluates them (analysis.expressions), so the words
say exactly what the verdicts apply.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_babel.speaklater import LazyString

from analysis.consensus import RULE_NAMES
from analysis.errors import InputError
from analysis.expressions import And, Compare, Const, Name, Node, Not, Number, Or
from analysis.expressions import parse_expression as parse
from app.definitions.model import QuestionKind, ScaleKind
from app.i18n import localise_digits
from app.templating import measure, number


class QuestionLike(Protocol):
    """What a title needs of a question (a model row or a report's question)."""

    key: str
    kind: str


#: titles of the questions the survey files use most, by key
QUESTION_TITLES: dict[str, LazyString] = {
    "probability": _l("Probability"),
    "impact": _l("Impact"),
    "confidence": _l("Confidence"),
    "reason": _l("Reasons"),
    "seed": _l("Calibration estimate"),
    "timing": _l("Timing"),
    "trend_level": _l("Trend level"),
    "trend_index": _l("Trend index"),
    "convergence_impact": _l("Impact on the trend"),
}

#: titles by question kind, for keys without their own
KIND_TITLES: dict[str, LazyString] = {
    QuestionKind.PROBABILITY: _l("Probability"),
    QuestionKind.LIKERT: _l("Rating"),
    QuestionKind.QUANTILES: _l("Estimate"),
    QuestionKind.CONDITIONAL: _l("Cross-impact"),
    QuestionKind.TREND_IMPACT: _l("Impact on the trend"),
    QuestionKind.TEXT: _l("Comments"),
    QuestionKind.INFLUENCE: _l("Direct influence"),
    QuestionKind.ACTOR_INFLUENCE: _l("Influence on the other actors"),
    QuestionKind.POSITIONS: _l("Positions on the objectives"),
    QuestionKind.CROSS_IMPACT: _l("Cross-impact judgements"),
}


def question_title(question: QuestionLike) -> str:
    """A question's title in the page's language: never its internal key."""
    if question.key in QUESTION_TITLES:
        return str(QUESTION_TITLES[question.key])
    if question.kind in KIND_TITLES:
        return str(KIND_TITLES[question.kind])
    return question.key.replace("_", " ").capitalize()


def part_name(question: QuestionLike, part: str) -> str:
    """A reader's label for a part of a question."""
    kind = question.kind
    if not part:
        return ""
    if kind == QuestionKind.PROBABILITY:
        return _("by %(year)s", year=localise_digits(part))
    if kind == QuestionKind.QUANTILES:
        return _("%(p)s %% quantile", p=localise_digits(part))
    if kind == QuestionKind.CONDITIONAL:
        event, _sep, side = part.partition("|")
        return (
            _("if %(event)s happens", event=event)
            if side == "given"
            else _("if %(event)s does not happen", event=event)
        )
    if kind == QuestionKind.TREND_IMPACT:
        return {
            "t1": _("years to first impact"),
            "t2": _("years to largest impact"),
            "i_max": _("largest impact"),
            "t3": _("years until it settles"),
            "i_ss": _("lasting impact"),
        }.get(part, part)
    return part


#: how survey files name cross-impact questions: cross_<event key>
CROSS_PREFIX = "cross_"


def key_title(key: str) -> str:
    """A question's title from its key alone, where only the key is at hand (pooled rows)."""
    if key in QUESTION_TITLES:
        return str(QUESTION_TITLES[key])
    if key.startswith(CROSS_PREFIX):
        # the parts name the conditioning events ("if E06 happens")
        return str(KIND_TITLES[QuestionKind.CONDITIONAL])
    return key.replace("_", " ").capitalize()


def key_part_name(part: str) -> str:
    """A probability question's part from its key alone: a horizon year or a condition."""
    if "|" in part:
        event, _sep, side = part.partition("|")
        if side == "given":
            return str(_("if %(event)s happens", event=event))
        return str(_("if %(event)s does not happen", event=event))
    if part.isdigit():
        return str(_("by %(year)s", year=localise_digits(part)))
    return localise_digits(part)


def item_question_title(item: Any, key: str) -> str:
    """The title of an item's question named by its key (as snapshots name them)."""
    found = next((q for q in item.questions if q.key == key), None)
    return question_title(found) if found is not None else key_title(key)


def item_part_name(item: Any, key: str, part: str) -> str:
    """The reader's label of a part of an item's question named by its key."""
    found = next((q for q in item.questions if q.key == key), None)
    return part_name(found, part) if found is not None else localise_digits(part)


#: titles by scale kind, for scales without their own
SCALE_TITLES: dict[str, LazyString] = {
    ScaleKind.PROBABILITY: _l("Probability"),
    ScaleKind.LIKERT: _l("Rating"),
    ScaleKind.CONTINUOUS: _l("Estimate"),
}


def scale_title(key: str, kind: str) -> str:
    """A scale's title in the page's language (its key only when nothing better is known)."""
    if key in QUESTION_TITLES:
        return str(QUESTION_TITLES[key])
    if kind in SCALE_TITLES:
        return str(SCALE_TITLES[kind])
    return key.replace("_", " ").capitalize()


def round_state(state: str) -> str:
    """A round's state (draft, open, closed) in the page's language."""
    return {
        "draft": _("draft"),
        "open": _("open"),
        "closed": _("closed"),
    }.get(state, state)


# ---------------------------------------------------------------- rules in words

#: statistics read as a share of the panel (0.75 is "75 %")
SHARES = frozenset({"pct_agree", "pct_disagree", "changed_share", "distribution_change"})

#: names of the statistics a rule may use, as a reader says them
STATISTICS: dict[str, LazyString] = {
    "n": _l("the number of answers"),
    "mean": _l("the mean"),
    "median": _l("the median"),
    "sd": _l("the standard deviation"),
    "q1": _l("the lower quartile"),
    "q3": _l("the upper quartile"),
    "iqr": _l("the interquartile range"),
    "pct_agree": _l("the share agreeing"),
    "pct_disagree": _l("the share disagreeing"),
    "cv": _l("the coefficient of variation"),
    "rwg": _l("the within-group agreement (rwg)"),
    "awg": _l("the agreement index (awg)"),
    "ipr": _l("the interpercentile range"),
    "iprcp": _l("the interpercentile range's central point"),
    "ipras": _l("the interpercentile range adjusted for symmetry"),
    "rand_disagreement": _l("disagreement by the RAND/UCLA measure"),
    "tastle_wierman": _l("Tastle and Wierman's consensus measure"),
    "bimodality": _l("the bimodality coefficient"),
    "dip_p": _l("the dip test's p-value"),
    "dissensus": _l("a split panel"),
    "logit_median": _l("the median in log-odds"),
    "logit_q1": _l("the lower quartile in log-odds"),
    "logit_q3": _l("the upper quartile in log-odds"),
    "n_paired": _l("the number of experts who answered both rounds"),
    "n_changed": _l("the number of experts who changed their answer"),
    "changed_share": _l("the share of experts who changed their answer"),
    "distribution_change": _l("the change in the distribution"),
    "wilcoxon_statistic": _l("the Wilcoxon statistic"),
    "wilcoxon_p": _l("the Wilcoxon test's p-value"),
    "mcnemar_p": _l("McNemar's test's p-value"),
    "delta_iqr": _l("the change in the interquartile range"),
    "delta_cv": _l("the change in the coefficient of variation"),
}

#: "<statistic> <relation> <value>" for any statistic
RELATIONS: dict[str, LazyString] = {
    "<": _l("%(statistic)s is below %(value)s"),
    "<=": _l("%(statistic)s is at most %(value)s"),
    ">": _l("%(statistic)s is above %(value)s"),
    ">=": _l("%(statistic)s is at least %(value)s"),
    "==": _l("%(statistic)s is %(value)s"),
    "!=": _l("%(statistic)s is not %(value)s"),
}

#: the comparisons rules use most, in plain words
PHRASES: dict[tuple[str, str], LazyString] = {
    ("pct_agree", ">="): _l("at least %(value)s agree"),
    ("pct_agree", ">"): _l("more than %(value)s agree"),
    ("pct_disagree", "<="): _l("at most %(value)s disagree"),
    ("pct_disagree", "<"): _l("fewer than %(value)s disagree"),
    ("iqr", "<="): _l("the middle half of the answers spans at most %(value)s"),
    ("iqr", "<"): _l("the middle half of the answers spans less than %(value)s"),
    ("changed_share", "<"): _l("fewer than %(value)s of the experts changed their answer"),
    ("changed_share", "<="): _l("at most %(value)s of the experts changed their answer"),
    ("wilcoxon_p", ">"): _l("no significant shift between the rounds (Wilcoxon p above %(value)s)"),
}

#: the mirror image of each comparison, for rules written `0.75 <= pct_agree`
_MIRRORED: dict[str, str] = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}

#: statistics measured in the scale's own units (points, or percentage points)
_IN_SCALE_UNITS = frozenset({"iqr", "ipr", "median", "mean", "sd", "q1", "q3"})


def _value(name: str, value: float, kind: str) -> str:
    """A rule's threshold as the reader says it: a share as a percentage, a spread in points."""
    if name in SHARES:
        return measure(value * 100, "%", 1)
    if name in _IN_SCALE_UNITS:
        count = int(value) if float(value).is_integer() else 2
        if kind == ScaleKind.PROBABILITY:
            return str(
                ngettext(
                    "%(value)s percentage point",
                    "%(value)s percentage points",
                    count,
                    value=number(value, 2),
                )
            )
        return str(ngettext("%(value)s point", "%(value)s points", count, value=number(value, 2)))
    return number(value, 3)


def _statistic(name: str) -> str:
    """A statistic's name in words."""
    return str(STATISTICS[name]) if name in STATISTICS else name.replace("_", " ")


def _compare(node: Compare, kind: str) -> str:
    """One comparison in words."""
    op: str = node.op
    left, right = node.left, node.right
    if isinstance(left, Number) and isinstance(right, Name):
        op, left, right = _MIRRORED[op], right, left
    if isinstance(left, Name) and isinstance(right, Number):
        value = _value(left.name, right.value, kind)
        phrase = PHRASES.get((left.name, op))
        if phrase is not None:
            return str(phrase) % {"value": value}
        return str(RELATIONS[op]) % {"statistic": _statistic(left.name), "value": value}
    other = _statistic(right.name) if isinstance(right, Name) else number(right.value, 3)
    subject = _statistic(left.name) if isinstance(left, Name) else number(left.value, 3)
    return str(RELATIONS[op]) % {"statistic": subject, "value": other}


def _joined(parts: Iterable[str], pattern: LazyString) -> str:
    """Parts joined pairwise by a translated 'and' / 'or' pattern."""
    words = list(parts)
    text = words[0]
    for word in words[1:]:
        text = str(pattern) % {"first": text, "second": word}
    return text


def _words(node: Node, kind: str) -> str:
    """A rule's syntax tree in words."""
    if isinstance(node, Compare):
        return _compare(node, kind)
    if isinstance(node, Name):
        return _statistic(node.name)
    if isinstance(node, Const):
        return str(_("always")) if node.value else str(_("never"))
    if isinstance(node, Not):
        if isinstance(node.operand, Name) and node.operand.name == "rand_disagreement":
            return str(_("no disagreement by the RAND/UCLA measure"))
        return str(_("not: %(condition)s", condition=_words(node.operand, kind)))
    nested: Callable[[Node], str] = functools.partial(_nested, kind=kind)
    if isinstance(node, And):
        return _joined(map(nested, node.operands), _l("%(first)s and %(second)s"))
    return _joined(map(nested, node.operands), _l("%(first)s or %(second)s"))


def _nested(node: Node, kind: str) -> str:
    """A part of a conjunction or disjunction, bracketed where the grouping matters."""
    words = _words(node, kind)
    return f"({words})" if isinstance(node, And | Or) else words


def rule_in_words(text: str, kind: str = ScaleKind.LIKERT) -> str:
    """A consensus or stability rule in the page's words, with thresholds in the units of the
    questions it applies to (`kind`: a scale kind); a rule that cannot be read is quoted."""
    names = RULE_NAMES
    try:
        expression = parse(text, allowed_names=names)
    except InputError:
        return text
    return _words(expression.root, kind)
