"""Consensus rules as data: parsed expressions over item statistics, and the usual presets.

A rule such as `pct_agree >= 0.75 and iqr <= 1` is text the facilitator can read, change and
record; it is parsed by the safe grammar of analysis.expressions (never eval) and evaluated
three-valued: where a statistic is undefined (e.g. cv on a bipolar scale) the verdict is None,
"cannot tell", rather than a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.describe import STAT_NAMES, ItemStats, ScaleKind, ScaleSpec
from analysis.errors import InputError
from analysis.expressions import Expression, parse_expression
from analysis.stability import STABILITY_NAMES

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: names a consensus rule may use: the item statistics and the stability figures
RULE_NAMES: frozenset[str] = frozenset(STAT_NAMES) | frozenset(STABILITY_NAMES)


@dataclass(frozen=True)
class Rule:
    """A named consensus rule: its text and parsed expression."""

    name: str
    text: str
    expression: Expression

    def __str__(self) -> str:
        return str(self.expression)


def parse_rule(text: str, *, name: str = "custom") -> Rule:
    """Parse a consensus rule; unknown variable names raise InputError listing them."""
    return Rule(name, text, parse_expression(text, allowed_names=RULE_NAMES))


@dataclass(frozen=True)
class Preset:
    """A published consensus definition, with a rule per scale kind where thresholds differ."""

    key: str
    label: str
    description: str
    citation: str
    #: rule text by scale kind; "likert" is used for kinds not listed
    texts: Mapping[str, str]

    def rule(self, kind: ScaleKind | str = "likert") -> Rule:
        """The rule for answers on a scale of this kind."""
        return parse_rule(self.texts.get(kind, self.texts["likert"]), name=self.key)


PRESETS: Mapping[str, Preset] = {
    "percent_iqr": Preset(
        key="percent_iqr",
        label="Percent agreement + IQR",
        description=(
            "At least 75 % of the panel agrees and the interquartile range is at most 1 point "
            "(at most 20 percentage points on probability questions)."
        ),
        citation=(
            "Diamond IR et al. (2014) Defining consensus: a systematic review recommends "
            "methodologic criteria for reporting of Delphi studies. J Clin Epidemiol 67:401-409"
        ),
        texts={
            "likert": "pct_agree >= 0.75 and iqr <= 1",
            "probability": "pct_agree >= 0.75 and iqr <= 20",
        },
    ),
    "grade": Preset(
        key="grade",
        label="GRADE 70/15",
        description=(
            "At least 70 % of answers in the agree region and at most 15 % in the opposite "
            "region (the agree region mirrored about the scale's midpoint, e.g. 1-3 against "
            "7-9); needs an agree region on the scale, else it cannot tell."
        ),
        citation=(
            "Jaeschke R et al. (2008) Use of GRADE grid to reach decisions on clinical practice "
            "guidelines when consensus is elusive. BMJ 337:a744"
        ),
        texts={"likert": "pct_agree >= 0.7 and pct_disagree <= 0.15"},
    ),
    "rand_ucla": Preset(
        key="rand_ucla",
        label="RAND/UCLA (no disagreement)",
        description=(
            "No disagreement by the interpercentile range adjusted for symmetry: IPR <= IPRAS "
            "(9-point scales; other Likert scales rescaled to 1-9)."
        ),
        citation=(
            "Fitch K et al. (2001) The RAND/UCLA Appropriateness Method User's Manual. "
            "RAND, Santa Monica, MR-1269-DG-XII/RE"
        ),
        texts={"likert": "not rand_disagreement"},
    ),
    "cv": Preset(
        key="cv",
        label="Coefficient of variation <= 0.5",
        description=(
            "The standard deviation is at most half the mean (undefined on bipolar scales, "
            "where the verdict is 'cannot tell')."
        ),
        citation=(
            "English JM, Kernan GL (1976) The prediction of air travel and aircraft technology "
            "to the year 2000 using the Delphi method. Transportation Research 10:1-8"
        ),
        texts={"likert": "cv <= 0.5"},
    ),
}
DEFAULT_PRESET = "percent_iqr"


def evaluate(
    rule: Rule | Expression, stats: ItemStats | Mapping[str, float | bool | None]
) -> bool | None:
    """True, False, or None when undefined statistics decide the rule."""
    values = stats.as_dict() if isinstance(stats, ItemStats) else stats
    expression = rule.expression if isinstance(rule, Rule) else rule
    return expression.evaluate(values)


def _column_values(series: pd.Series) -> FloatArray:
    """A statistics column as floats with NaN for missing (booleans become 1.0 / 0.0)."""
    numbers = pd.to_numeric(series.astype("object"), errors="coerce").astype("float64")
    values: FloatArray = np.asarray(numbers.to_numpy(na_value=np.nan), dtype=np.float64)
    return values


def compare_presets(
    stats_table: pd.DataFrame,
    rules: Mapping[str, Rule | Preset],
    *,
    scales: Mapping[str, ScaleSpec] | None = None,
) -> pd.DataFrame:
    """The side-by-side view: the table's key columns and one True/False/NA column per rule.

    `stats_table` is what describe_long returns (suppressed cells give NA). A Preset picks its
    rule by each row's question's scale kind when `scales` is given (else its Likert rule).
    """
    keys = [c for c in stats_table.columns if c not in RULE_NAMES and c != "suppressed"]
    out = stats_table[keys].copy()
    available = {
        name: _column_values(stats_table[name])
        for name in sorted(RULE_NAMES)
        if name in stats_table
    }
    for label, rule in rules.items():
        if label in out.columns:
            raise InputError(f"rule name {label!r} clashes with a column of the table")
        if isinstance(rule, Preset) and scales is not None and "question" in stats_table:
            kinds = stats_table["question"].map(
                lambda q: scales[str(q)].kind if str(q) in scales else "likert"
            )
            true = np.zeros(len(stats_table), dtype=bool)
            false = np.zeros(len(stats_table), dtype=bool)
            for kind in kinds.unique():
                mask = (kinds == kind).to_numpy()
                t, f = _masks(rule.rule(kind), available, len(stats_table))
                true[mask], false[mask] = t[mask], f[mask]
        else:
            chosen = rule.rule() if isinstance(rule, Preset) else rule
            true, false = _masks(chosen, available, len(stats_table))
        column = pd.array([None] * len(stats_table), dtype="boolean")
        column[true] = True
        column[false] = False
        out[label] = column
    return out


def _masks(
    rule: Rule, available: Mapping[str, FloatArray], rows: int
) -> tuple[BoolArray, BoolArray]:
    missing = sorted(rule.expression.names - set(available))
    if missing:
        raise InputError(
            f"rule {rule.name!r} needs column(s) the table lacks: {', '.join(missing)}"
        )
    true, false = rule.expression.evaluate_masks(available)
    return np.broadcast_to(true, (rows,)).copy(), np.broadcast_to(false, (rows,)).copy()
