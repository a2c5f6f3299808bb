"""Turn a parsed TOML document into a `SurveyDefinition`, collecting every problem on the way.

Each table of the format is read by one function below, in dependency order: the study (its
languages are needed to check every text), rules, scales, questions, categories, items (which
refer to questions and categories), then the checks across tables (conditional questions name
events, trend impacts name trends) and scenarios (expressions over events). The fields each
table may have, and which kinds they apply to, are in the tables at the top of the file.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from types import MappingProxyType

from analysis.errors import InputError
from analysis.expressions import And, Name, Node, Not, Or, parse_expression
from analysis.settings import AnalysisSettings
from app.definitions.fields import (
    Checker,
    Converter,
    Loc,
    Section,
    boolean,
    checked_string,
    choice,
    describe,
    integer,
    list_of,
    number,
    one_of,
    pattern,
    positive_number,
    quote_key,
    string,
    text,
    word,
)
from app.definitions.model import (
    Anonymity,
    Category,
    Item,
    ItemKind,
    Objective,
    QuestionKind,
    QuestionTemplate,
    Rules,
    Scale,
    ScaleKind,
    Scenario,
    StudyMeta,
    SurveyDefinition,
    Text,
)
from app.definitions.record import RECORD_FIELDS, StudyRecord
from app.definitions.structural import (
    MAX_VARIANTS,
    OBJECTIVE_FIELDS,
    ROW_ITEM_EXTRAS,
    ROW_QUESTIONS,
    check_matrices,
    check_positions,
    scenario_states,
    variant,
)
from app.definitions.vocabulary import (
    CONSENSUS_NAMES,
    CONSENSUS_PRESETS,
    DEFAULT_TEXT_ANSWER,
    EXPRESSION_KEYWORDS,
    FORMAT_VERSION,
    IDENTIFIER,
    IDENTIFIER_RULE,
    LANGUAGE_CODE,
    MAX_BASELINE_YEARS,
    MAX_CATEGORIES,
    MAX_HORIZONS,
    MAX_ITEMS,
    MAX_K,
    MAX_LANGUAGES,
    MAX_LIKERT_POINTS,
    MAX_PAIRS_PER_EXPERT,
    MAX_QUESTIONS,
    MAX_QUESTIONS_PER_ITEM,
    MAX_ROUNDS,
    MAX_SCALES,
    MAX_SCENARIOS,
    MAX_SHORT_STRING,
    MAX_STUDY_KEY,
    MAX_TEXT_ANSWER,
    MAX_YEAR,
    MIN_K,
    MIN_YEAR,
    PAGE_BY,
    PROMPT_PLACEHOLDERS,
    QUANTILE_METHODS,
    STABILITY_NAMES,
    STUDY_KEY,
)

TOP_LEVEL_FIELDS = (
    "format",
    "study",
    "rules",
    "analysis",
    "scales",
    "questions",
    "categories",
    "items",
    "scenarios",
    "record",
    "objectives",
)
STUDY_FIELDS = (
    "key", "title", "description", "source", "horizon", "languages", "default_language",
    "anonymity", "k", "k_comments", "round_limit", "quantile_method", "reason_outside_iqr",
    "suggestions", "page_by", "welcome", "consent", "conditional_pairs_per_expert",
)  # fmt: skip
RULES_FIELDS = ("consensus", "stability", "compare_presets")
SCALE_FIELDS = (
    "kind", "min", "max", "step", "labels", "bipolar", "agree_region", "agree_within",
    "consensus", "unit",
)  # fmt: skip
QUESTION_FIELDS = (
    "kind", "prompt", "help", "scale", "required", "allow_no_answer", "from_round",
    "horizons", "quantiles", "given", "trend", "max_length",
)  # fmt: skip
CATEGORY_FIELDS = ("key", "label")
ITEM_FIELDS = (
    "key", "kind", "title", "text", "questions", "category", "source",
    "true_value", "unit", "baseline", "relative_impacts", "resolves_by", "resolution_source",
    "translation_note", "variants",
)  # fmt: skip
SCENARIO_FIELDS = ("key", "title", "description", "expression", "states")
#: Question fields that only some kinds of question have.
QUESTION_KIND_FIELDS: Mapping[str, Collection[QuestionKind]] = {
    "horizons": {QuestionKind.PROBABILITY},
    "quantiles": {QuestionKind.QUANTILES},
    "given": {QuestionKind.CONDITIONAL},
    "trend": {QuestionKind.TREND_IMPACT},
    "max_length": {QuestionKind.TEXT},
    "scale": set(QuestionKind)
    - {
        QuestionKind.TEXT,
        QuestionKind.INFLUENCE,
        QuestionKind.ACTOR_INFLUENCE,
        QuestionKind.POSITIONS,
        QuestionKind.CROSS_IMPACT,
    },
    "allow_no_answer": set(QuestionKind) - {QuestionKind.TEXT},
}
#: The scale kinds each question kind can use; kinds in QUESTION_NEEDS_SCALE must name one.
QUESTION_SCALES: Mapping[QuestionKind, Collection[ScaleKind]] = {
    QuestionKind.PROBABILITY: {ScaleKind.PROBABILITY},
    QuestionKind.CONDITIONAL: {ScaleKind.PROBABILITY},
    QuestionKind.LIKERT: {ScaleKind.LIKERT},
    QuestionKind.QUANTILES: {ScaleKind.CONTINUOUS, ScaleKind.PROBABILITY},
    QuestionKind.TREND_IMPACT: {ScaleKind.CONTINUOUS},
    QuestionKind.TEXT: set(),
    QuestionKind.INFLUENCE: set(),
    QuestionKind.ACTOR_INFLUENCE: set(),
    QuestionKind.POSITIONS: set(),
    QuestionKind.CROSS_IMPACT: set(),
}
QUESTION_NEEDS_SCALE = frozenset(
    {
        QuestionKind.PROBABILITY,
        QuestionKind.CONDITIONAL,
        QuestionKind.LIKERT,
        QuestionKind.QUANTILES,
    }
)
#: Question fields a kind cannot do without.
QUESTION_NEEDS: Mapping[QuestionKind, tuple[str, ...]] = {
    QuestionKind.QUANTILES: ("quantiles",),
    QuestionKind.CONDITIONAL: ("given",),
    QuestionKind.TREND_IMPACT: ("trend",),
}
#: Item fields that only some kinds of item have.
ITEM_KIND_FIELDS: Mapping[str, ItemKind] = {
    "true_value": ItemKind.CALIBRATION,
    "unit": ItemKind.TREND,
    "baseline": ItemKind.TREND,
    "relative_impacts": ItemKind.TREND,
    "variants": ItemKind.DESCRIPTOR,
}
#: Question kinds that only make sense about an event.
EVENT_ONLY_QUESTIONS = frozenset({QuestionKind.CONDITIONAL, QuestionKind.TREND_IMPACT})
_IDENTIFIER_RULE = IDENTIFIER_RULE
_YEAR = integer(MIN_YEAR, MAX_YEAR)
_PLACEHOLDER = re.compile(r"\{([^{}\n]{0,40})\}")

identifier = pattern(IDENTIFIER, _IDENTIFIER_RULE)
language_code = pattern(
    LANGUAGE_CODE, "a language code is 2 or 3 lowercase letters, e.g. en, fa, ru"
)


def _a(kind: ItemKind) -> str:
    """The kind with its article: "an event", "a trend"."""
    return f"an {kind.value}" if kind.value[0] in "aeiou" else f"a {kind.value}"


def _check_key(checker: Checker, name: str, loc: Loc, what: str) -> bool:
    """A table name used as a key (e.g. `[scales.impact]`) must be an identifier."""
    if IDENTIFIER.fullmatch(name):
        return True
    checker.error(loc, f"the {what} name {quote_key(name)} is not allowed: {_IDENTIFIER_RULE}")
    return False


def _rule(names: Collection[str], what: str) -> Converter[str]:
    """An expression of the analysis grammar over the statistics in `names`."""

    def convert(checker: Checker, value: object, loc: Loc) -> str | None:
        source = checked_string(checker, value, loc, 2000)
        if source is None:
            return None
        try:
            expression = parse_expression(source)
        except InputError as error:
            checker.error(loc, f"this {what} is not a valid expression: {error}")
            return None
        unknown = sorted(expression.names - set(names))
        for name in unknown:
            checker.error(
                loc,
                f"unknown statistic {quote_key(name)} in this {what}{checker.did_you_mean(name, names)}; "
                f"it may use: {one_of(sorted(names))}",
            )
        return None if unknown else source

    return convert


consensus_rule = _rule(CONSENSUS_NAMES, "consensus rule")
stability_rule = _rule(STABILITY_NAMES, "stability rule")

_DATE_RULE = "expected a date written as YYYY-MM-DD (e.g. 2035-12-31)"


def iso_date(checker: Checker, value: object, loc: Loc) -> dt.date | None:
    """A calendar date: a TOML date (2035-12-31) or the same as text ("2035-12-31")."""
    if isinstance(value, dt.datetime):  # a datetime is a date too; a time of day means nothing here
        checker.error(loc, f"{_DATE_RULE}, without a time of day")
        return None
    found: dt.date | None = value if isinstance(value, dt.date) else None
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        try:
            found = dt.date.fromisoformat(value)
        except ValueError:
            checker.error(loc, f"{describe(value)} is not a date of the calendar; {_DATE_RULE}")
            return None
    if found is not None and MIN_YEAR <= found.year <= MAX_YEAR:
        return found
    if found is not None:
        value = found.isoformat()
    checker.error(loc, f"{_DATE_RULE} between {MIN_YEAR} and {MAX_YEAR}, got {describe(value)}")
    return None


def _record(root: Section) -> StudyRecord:
    """The `[record]` table: each field a text in the study's languages (all optional)."""
    section = root.sub("record", RECORD_FIELDS, required=False)
    if section is None:
        return StudyRecord()
    texts = {name: section.get(name, text()) for name in RECORD_FIELDS}
    return StudyRecord(MappingProxyType({k: v for k, v in texts.items() if v is not None}))


# ---------------------------------------------------------------------------------------------
# The tables


def _study(checker: Checker, root: Section) -> StudyMeta | None:
    section = root.sub("study", STUDY_FIELDS, required=True)
    if section is None:
        return None
    languages = section.need(
        "languages", list_of(language_code, min_items=1, max_items=MAX_LANGUAGES, unique=True)
    )
    default_language = section.need("default_language", language_code)
    checker.languages = languages
    if default_language is not None and languages is not None and default_language not in languages:
        checker.error(
            section.loc.key("default_language"),
            f"{quote_key(default_language)} is not in languages ({one_of(languages)})",
        )
        default_language = None
    checker.default_language = default_language
    key = section.need(
        "key",
        pattern(
            STUDY_KEY,
            "use lowercase letters, digits and hyphens, e.g. iran-russia-us",
            MAX_STUDY_KEY,
        ),
    )
    title = section.need("title", text())
    description = section.need("description", text())
    source = section.need("source", string(MAX_SHORT_STRING))
    horizon = section.need("horizon", _YEAR)
    anonymity = section.default("anonymity", choice(Anonymity), Anonymity.ANONYMOUS)
    k = section.default("k", integer(MIN_K, MAX_K), 5)
    k_comments = section.default("k_comments", integer(MIN_K, MAX_K), k)
    if k_comments < k and "k" not in section.invalid:
        checker.error(
            section.loc.key("k_comments"),
            f"must be at least k ({k}): reasons are shown only when enough answers hide who "
            f"wrote them, got {k_comments}",
        )
    round_limit = section.default("round_limit", integer(1, MAX_ROUNDS), 3)
    quantile_method = section.default("quantile_method", word(QUANTILE_METHODS), "type7")
    reason_outside_iqr = section.default("reason_outside_iqr", boolean, True)
    suggestions = section.default("suggestions", boolean, True)
    page_by = section.default("page_by", word(PAGE_BY), "item")
    welcome = section.get("welcome", text())
    consent = section.get("consent", text())
    pairs_per_expert = section.get("conditional_pairs_per_expert", integer(1, MAX_PAIRS_PER_EXPERT))
    if (
        key is None
        or title is None
        or description is None
        or source is None
        or horizon is None
        or languages is None
        or default_language is None
    ):
        return None
    return StudyMeta(
        key=key,
        title=title,
        description=description,
        source=source,
        horizon=horizon,
        languages=languages,
        default_language=default_language,
        anonymity=anonymity,
        k=k,
        k_comments=k_comments,
        round_limit=round_limit,
        quantile_method=quantile_method,
        reason_outside_iqr=reason_outside_iqr,
        suggestions=suggestions,
        page_by=page_by,
        consent=consent or MappingProxyType({}),
        welcome=welcome or MappingProxyType({}),
        conditional_pairs_per_expert=pairs_per_expert,
    )


def _rules(root: Section) -> Rules:
    section = root.sub("rules", RULES_FIELDS, required=False)
    if section is None:
        return Rules()
    defaults = Rules()
    presets = list_of(word(CONSENSUS_PRESETS), max_items=len(CONSENSUS_PRESETS), unique=True)
    return Rules(
        consensus=section.default("consensus", consensus_rule, defaults.consensus),
        stability=section.default("stability", stability_rule, defaults.stability),
        compare_presets=section.default("compare_presets", presets, defaults.compare_presets),
    )


def _analysis(checker: Checker, root: Section) -> AnalysisSettings:
    names = [name for name, _, _ in AnalysisSettings.documentation()]
    section = root.sub("analysis", names, required=False)
    if section is None:
        return AnalysisSettings()
    values: dict[str, object] = {}
    for name, value in section.data.items():
        if name not in names:
            continue  # reported by the section as an unknown field
        problem = AnalysisSettings.problem(name, value)
        if problem is not None:
            checker.error(section.loc.key(name), problem)
            continue
        values[name] = value
    return AnalysisSettings.from_mapping(values)


def _labels(checker: Checker, section: Section, low: int, high: int, step: int) -> dict[int, Text]:
    labels = section.sub("labels", None, required=False)
    if labels is None:
        return {}
    result: dict[int, Text] = {}
    for name in labels.data:
        if checker.full:
            break
        loc = labels.loc.key(name)
        if not re.fullmatch(r"[+-]?[0-9]{1,4}", name):
            checker.error(
                loc,
                f'label keys are the scale\'s points written as text, e.g. "-3"; got {quote_key(name)}',
            )
            continue
        point = int(name)
        if not low <= point <= high or (point - low) % step:
            checker.error(loc, f"{point} is not a point of this scale ({low} to {high})")
            continue
        if point in result:
            checker.error(loc, f"the point {point} has two labels")
            continue
        label = labels.get(name, text())
        if label is not None:
            result[point] = label
    return dict(sorted(result.items()))


def _scale(checker: Checker, key: str, section: Section) -> Scale | None:
    kind = section.need("kind", choice(ScaleKind))
    if kind is None:
        return None
    low: float | None
    high: float | None
    step = 1.0
    labels: dict[int, Text] = {}
    if kind is ScaleKind.PROBABILITY:
        section.forbid(("labels", "bipolar"), "does not apply to a probability scale")
        low = section.default("min", number(0, 100), 0.0)
        high = section.default("max", number(0, 100), 100.0)
        step = section.default("step", positive_number, 1.0)
    elif kind is ScaleKind.LIKERT:
        int_low = section.need("min", integer(-1000, 1000))
        int_high = section.need("max", integer(-1000, 1000))
        int_step = section.default("step", integer(1, 1000), 1)
        if int_low is None or int_high is None:
            return None
        low, high, step = float(int_low), float(int_high), float(int_step)
        if int_low < int_high:
            points = (int_high - int_low) // int_step + 1
            if (int_high - int_low) % int_step:
                checker.error(
                    section.loc.key("step"),
                    f"steps of {int_step} from {int_low} do not reach max ({int_high})",
                )
                return None
            if points > MAX_LIKERT_POINTS:
                checker.error(
                    section.loc.key("max"),
                    f"this scale has {points} points; a Likert scale may have at most "
                    f"{MAX_LIKERT_POINTS}",
                )
                return None
            labels = _labels(checker, section, int_low, int_high, int_step)
    else:
        section.forbid(("labels",), "applies only to likert scales")
        low = section.get("min", number())
        high = section.get("max", number())
        step = section.default("step", positive_number, 1.0)
    if low is not None and high is not None and not low < high:
        checker.error(section.loc.key("max"), f"max ({high:g}) must be greater than min ({low:g})")
        return None
    bipolar = "bipolar" not in section.invalid and section.default("bipolar", boolean, False)
    if bipolar and (low is None or high is None or low != -high):
        checker.error(
            section.loc.key("bipolar"),
            "a bipolar scale is centred on zero: give min and max with min = -max, e.g. -3 and 3",
        )
    region = section.get("agree_region", list_of(number(), min_items=2, max_items=2))
    agree_region: tuple[float, float] | None = None
    if region is not None:
        agree_region = (region[0], region[1])
        outside = (low is not None and region[0] < low) or (high is not None and region[1] > high)
        if region[0] > region[1]:
            checker.error(
                section.loc.key("agree_region"),
                f"the region's low end ({region[0]:g}) is above its high end ({region[1]:g})",
            )
        elif outside:
            checker.error(
                section.loc.key("agree_region"),
                f"the region [{region[0]:g}, {region[1]:g}] is not inside the scale "
                f"({'-∞' if low is None else f'{low:g}'} to {'∞' if high is None else f'{high:g}'})",
            )
    agree_within = section.get("agree_within", positive_number)
    if section.has("agree_region") and section.has("agree_within"):
        checker.error(
            section.loc.key("agree_within"),
            "give either agree_region (a fixed region) or agree_within (distance from the "
            "median), not both",
        )
    consensus = section.get("consensus", consensus_rule)
    unit = section.get("unit", text())
    return Scale(
        key=key,
        kind=kind,
        min=low,
        max=high,
        step=step,
        labels=MappingProxyType(labels),
        bipolar=bipolar,
        agree_region=agree_region,
        agree_within=agree_within,
        consensus=consensus,
        unit=unit or MappingProxyType({}),
    )


def _named_tables(
    checker: Checker, root: Section, name: str, fields: Collection[str], limit: int, what: str
) -> list[tuple[str, Section]]:
    """The sub-tables of `[name.*]` (scales, questions) with valid names."""
    section = root.sub(name, None, required=False)
    if section is None:
        return []
    if len(section.data) > limit:
        checker.error(
            section.loc, f"has {len(section.data):,} {name}; at most {limit:,} are allowed"
        )
        return []
    result = []
    for key, value in section.data.items():
        loc = section.loc.key(key)
        if not _check_key(checker, key, loc, what):
            continue
        table = Section(checker, value, loc, fields)
        if isinstance(value, dict):
            result.append((key, table))
    return result


def _check_placeholders(checker: Checker, loc: Loc, prompt: Text) -> None:
    for language, value in prompt.items():
        for match in _PLACEHOLDER.finditer(value):
            name = match.group(1)
            if name not in PROMPT_PLACEHOLDERS:
                checker.error(
                    loc.key(language),
                    f"unknown placeholder {quote_key('{' + name + '}')}"
                    f"{checker.did_you_mean(name, PROMPT_PLACEHOLDERS)}; prompts may use "
                    f"{one_of('{' + p + '}' for p in sorted(PROMPT_PLACEHOLDERS))}",
                )


def _question(
    checker: Checker,
    key: str,
    section: Section,
    scales: Mapping[str, Scale | None],
    round_limit: int,
) -> QuestionTemplate | None:
    kind = section.need("kind", choice(QuestionKind))
    prompt = section.need("prompt", text())
    if prompt is not None:
        _check_placeholders(checker, section.loc.key("prompt"), prompt)
    help_text = section.get("help", text())
    from_round = section.default("from_round", integer(1, round_limit, " (study.round_limit)"), 1)
    if kind is None:
        return None
    for name, kinds in QUESTION_KIND_FIELDS.items():
        if kind not in kinds:
            section.forbid((name,), f"does not apply to {kind.value} questions")
    for name in QUESTION_NEEDS.get(kind, ()):
        section.require(name, f" for {kind.value} questions")
    scale_key = section.get("scale", identifier) if kind is not QuestionKind.TEXT else None
    if scale_key is not None:
        scale = scales.get(scale_key)
        if scale_key not in scales:
            checker.error(
                section.loc.key("scale"),
                f"no scale {quote_key(scale_key)} is defined{checker.did_you_mean(scale_key, scales)}",
            )
        elif scale is not None and scale.kind not in QUESTION_SCALES[kind]:
            fits = " or ".join(sorted(s.value for s in QUESTION_SCALES[kind]))
            checker.error(
                section.loc.key("scale"),
                f"a {kind.value} question needs a {fits} scale; {quote_key(scale_key)} is a "
                f"{scale.kind.value} scale",
            )
    elif kind in QUESTION_NEEDS_SCALE:
        section.require("scale", f" for {kind.value} questions")
    horizons = section.get(
        "horizons", list_of(_YEAR, min_items=1, max_items=MAX_HORIZONS, increasing=True)
    )
    quantiles = section.get(
        "quantiles", list_of(integer(1, 99), min_items=2, max_items=99, increasing=True)
    )
    given = section.get("given", list_of(identifier, min_items=1, max_items=MAX_ITEMS, unique=True))
    trend = section.get("trend", identifier)
    max_length = section.default("max_length", integer(1, MAX_TEXT_ANSWER), DEFAULT_TEXT_ANSWER)
    rated = kind is not QuestionKind.TEXT
    required = section.default("required", boolean, rated)
    allow_no_answer = section.default("allow_no_answer", boolean, rated)
    if prompt is None or section.invalid:
        return None
    return QuestionTemplate(
        key=key,
        kind=kind,
        prompt=prompt,
        scale=scale_key,
        required=required,
        allow_no_answer=allow_no_answer,
        help=help_text or MappingProxyType({}),
        horizons=horizons or (),
        quantiles=quantiles or (),
        given=given or (),
        trend=trend,
        max_length=max_length,
        from_round=from_round,
    )


def _array_of_tables(
    checker: Checker, root: Section, name: str, limit: int, allowed: Collection[str], required: bool
) -> list[Section]:
    """The tables of `[[name]]`, each located by its `key` when it has a valid one."""
    if not root.has(name):
        if required:
            checker.error(
                root.loc.key(name), f"missing: the file needs at least one [[{name}]] table"
            )
        return []
    value = root.data[name]
    loc = root.loc.key(name)
    if not isinstance(value, list):
        checker.error(loc, f"expected a list of [[{name}]] tables, got {describe(value)}")
        return []
    if required and not value:
        checker.error(loc, f"the file needs at least one [[{name}]] table")
    if len(value) > limit:
        checker.error(loc, f"has {len(value):,} entries; at most {limit:,} are allowed")
        return []
    sections = []
    for index, entry in enumerate(value):
        key = entry.get("key") if isinstance(entry, dict) else None
        shown = key if isinstance(key, str) and IDENTIFIER.fullmatch(key) else None
        section = Section(checker, entry, loc.at(index, shown), allowed)
        if isinstance(entry, dict):
            sections.append(section)
    return sections


def _unique_key(checker: Checker, section: Section, seen: dict[str, str], what: str) -> str | None:
    """The table's `key` field: required, an identifier, unique (ignoring letter case)."""
    key = section.need("key", identifier)
    if key is None:
        return None
    folded = key.casefold()
    if folded in seen:
        other = seen[folded]
        same = (
            ""
            if other == key
            else f" (as {quote_key(other)}; keys must differ by more than letter case)"
        )
        checker.error(
            section.loc.key("key"), f"the {what} key {quote_key(key)} is used twice{same}"
        )
        return None
    seen[folded] = key
    return key


def _categories(checker: Checker, root: Section) -> tuple[list[Category], list[str]]:
    """The valid categories, and the keys of all categories (valid or not)."""
    seen: dict[str, str] = {}
    result = []
    for section in _array_of_tables(
        checker, root, "categories", MAX_CATEGORIES, CATEGORY_FIELDS, False
    ):
        key = _unique_key(checker, section, seen, "category")
        label = section.need("label", text())
        if key is not None and label is not None:
            result.append(Category(key=key, label=label))
    return result, list(seen.values())


def _baseline(checker: Checker, section: Section) -> dict[int, float]:
    baseline = section.sub("baseline", None, required=False)
    if baseline is None:
        return {}
    if len(baseline.data) > MAX_BASELINE_YEARS:
        checker.error(
            baseline.loc, f"has {len(baseline.data):,} years; at most {MAX_BASELINE_YEARS}"
        )
        return {}
    result: dict[int, float] = {}
    for name in baseline.data:
        loc = baseline.loc.key(name)
        year = int(name) if re.fullmatch(r"[0-9]{4}", name) else None
        if year is None or not MIN_YEAR <= year <= MAX_YEAR:
            checker.error(
                loc,
                f'baseline years are written as text, e.g. "2020" = 50, between {MIN_YEAR} '
                f"and {MAX_YEAR}; got {quote_key(name)}",
            )
            continue
        value = baseline.get(name, number())
        if value is not None:
            result[year] = value
    return dict(sorted(result.items()))


def _item(
    checker: Checker,
    section: Section,
    key: str | None,
    questions: Mapping[str, QuestionTemplate | None],
    categories: Collection[str],
) -> Item | None:
    kind = section.need("kind", choice(ItemKind))
    title = section.need("title", text())
    body = section.need("text", text())
    source = section.default("source", string(MAX_SHORT_STRING), "")
    category = section.get("category", identifier)
    if category is not None and category not in categories:
        checker.error(
            section.loc.key("category"),
            f"no category {quote_key(category)} is defined{checker.did_you_mean(category, categories)}",
        )
    asked = section.need(
        "questions",
        list_of(identifier, min_items=1, max_items=MAX_QUESTIONS_PER_ITEM, unique=True),
    )
    for index, name in enumerate(asked or ()):
        loc = section.loc.key("questions").at(index)
        if name not in questions:
            checker.error(
                loc,
                f"no question {quote_key(name)} is defined{checker.did_you_mean(name, questions)}",
            )
            continue
        question = questions[name]
        if question is None or kind is None:
            continue
        if question.kind in EVENT_ONLY_QUESTIONS and kind is not ItemKind.EVENT:
            checker.error(
                loc,
                f"{quote_key(name)} is a {question.kind.value} question; only events can ask it",
            )
        row_kind = ROW_QUESTIONS.get(question.kind)
        if row_kind is not None and kind is not row_kind:
            checker.error(
                loc,
                f"{quote_key(name)} is a {question.kind.value} question; only {row_kind.value} "
                "items can ask it",
            )
        if (
            kind in ROW_QUESTIONS.values()
            and question.kind not in ROW_QUESTIONS
            and question.kind not in ROW_ITEM_EXTRAS
        ):
            checker.error(
                loc,
                f"{quote_key(name)} is a {question.kind.value} question; {_a(kind)} item asks "
                "its row question (and, if you like, a text question) only",
            )
        if question.kind is QuestionKind.CONDITIONAL and key is not None and key in question.given:
            checker.error(
                loc,
                f"{quote_key(name)} asks about {quote_key(key)} given {quote_key(key)}: an event cannot "
                f"be conditioned on itself; use another conditional question for this item",
            )
    if kind is None:
        return None
    for name, owner in ITEM_KIND_FIELDS.items():
        if kind is not owner:
            section.forbid((name,), f"applies only to {owner.value} items")
    true_value = section.get("true_value", number())
    if kind is ItemKind.CALIBRATION:
        section.require("true_value", " for calibration items (the known answer)")
        templates = [questions.get(name) for name in asked or ()]
        kinds = {template.kind for template in templates if template is not None}
        if asked is not None and None not in templates and QuestionKind.QUANTILES not in kinds:
            checker.error(
                section.loc.key("questions"),
                "a calibration item needs at least one quantiles question (the experts' estimate "
                "of the known answer)",
            )
    if kind in ROW_QUESTIONS.values():
        templates = [questions.get(name) for name in asked or ()]
        for row_question in (k for k, owner in ROW_QUESTIONS.items() if owner is kind):
            asked_rows = [t for t in templates if t is not None and t.kind is row_question]
            if asked is not None and None not in templates and len(asked_rows) != 1:
                checker.error(
                    section.loc.key("questions"),
                    f"{_a(kind)} item asks exactly one {row_question.value} question (its row of "
                    f"the matrix); this one asks {len(asked_rows)}",
                )
    variants = section.get(
        "variants", list_of(variant, min_items=2, max_items=MAX_VARIANTS, unique=True)
    )
    if kind is ItemKind.DESCRIPTOR:
        section.require("variants", " for descriptor items (the states it can take)")
    unit = section.get("unit", text())
    baseline = _baseline(checker, section)
    relative_impacts = section.default("relative_impacts", boolean, True)
    resolves_by = section.get("resolves_by", iso_date)
    resolution_source = section.default("resolution_source", string(MAX_SHORT_STRING), "")
    translation_note = section.get("translation_note", text())
    if key is None or title is None or body is None or asked is None:
        return None
    return Item(
        key=key,
        kind=kind,
        title=title,
        text=body,
        questions=asked,
        category=category,
        source=source,
        true_value=true_value,
        unit=unit or MappingProxyType({}),
        baseline=MappingProxyType(baseline),
        relative_impacts=relative_impacts,
        resolves_by=resolves_by,
        resolution_source=resolution_source,
        translation_note=translation_note or MappingProxyType({}),
        variants=variants or (),
    )


def _check_references(
    checker: Checker,
    question_sections: Mapping[str, Section],
    questions: Mapping[str, QuestionTemplate | None],
    item_kinds: Mapping[str, ItemKind | None],
) -> None:
    """Conditional questions must name events, trend impact questions a trend."""
    for key, question in questions.items():
        if question is None:
            continue
        loc = question_sections[key].loc
        for index, event in enumerate(question.given):
            where = loc.key("given").at(index)
            if event not in item_kinds:
                checker.error(
                    where, f"no item {quote_key(event)}{checker.did_you_mean(event, item_kinds)}"
                )
            elif (event_kind := item_kinds[event]) is not None and event_kind is not ItemKind.EVENT:
                checker.error(
                    where, f"{quote_key(event)} is {_a(event_kind)} item; given must name events"
                )
        if question.trend is not None:
            trend = question.trend
            trends = [k for k, v in item_kinds.items() if v is ItemKind.TREND]
            if trend not in item_kinds:
                checker.error(
                    loc.key("trend"),
                    f"no trend item {quote_key(trend)}{checker.did_you_mean(trend, trends)}",
                )
            elif (trend_kind := item_kinds[trend]) is not None and trend_kind is not ItemKind.TREND:
                checker.error(
                    loc.key("trend"),
                    f"{quote_key(trend)} is {_a(trend_kind)} item; trend must name a trend "
                    f"item{checker.did_you_mean(trend, trends)}",
                )


def _objectives(checker: Checker, root: Section) -> list[Objective]:
    """The MACTOR objectives (`[[objectives]]`)."""
    seen: dict[str, str] = {}
    result = []
    for section in _array_of_tables(
        checker, root, "objectives", MAX_CATEGORIES, OBJECTIVE_FIELDS, False
    ):
        key = _unique_key(checker, section, seen, "objective")
        title = section.need("title", text())
        description = section.get("description", text())
        if key is not None and title is not None:
            result.append(
                Objective(key=key, title=title, description=description or MappingProxyType({}))
            )
    return result


def _scenario_names(node: Node) -> list[str] | None:
    """The event names of a scenario expression, or None if it uses more than and/or/not."""
    stack: list[Node] = [node]
    names: list[str] = []
    while stack:
        current = stack.pop()
        if isinstance(current, Name):
            names.append(current.name)
        elif isinstance(current, Not):
            stack.append(current.operand)
        elif isinstance(current, And | Or):
            stack.extend(current.operands)
        else:
            return None
    return names


def _scenario(
    checker: Checker,
    section: Section,
    seen: dict[str, str],
    item_kinds: Mapping[str, ItemKind | None],
    variants: Mapping[str, tuple[str, ...]],
) -> Scenario | None:
    key = _unique_key(checker, section, seen, "scenario")
    states = scenario_states(checker, section, variants)
    title = section.need("title", text())
    description = section.get("description", text())
    source = section.need("expression", string(2000))
    loc = section.loc.key("expression")
    valid = source is not None
    if source is not None:
        try:
            names = _scenario_names(parse_expression(source).root)
        except InputError as error:
            checker.error(loc, f"not a valid scenario expression: {error}")
            names, valid = [], False
        if names is None:
            checker.error(
                loc,
                "a scenario combines event keys with and, or, not and parentheses only "
                "(no comparisons, numbers, true or false)",
            )
            names, valid = [], False
        events = [k for k, v in item_kinds.items() if v is ItemKind.EVENT]
        for name in sorted(set(names)):
            if name not in item_kinds:
                checker.error(
                    loc, f"no event {quote_key(name)}{checker.did_you_mean(name, events)}"
                )
                valid = False
            elif (kind := item_kinds[name]) is not ItemKind.EVENT:
                valid = False
                if kind is not None:
                    checker.error(
                        loc, f"{quote_key(name)} is {_a(kind)} item; scenarios combine events only"
                    )
    if key is None or title is None or source is None or not valid:
        return None
    return Scenario(
        key=key,
        title=title,
        expression=source,
        description=description or MappingProxyType({}),
        states=MappingProxyType(states),
    )


def _warn_loose_ends(
    checker: Checker, root: Loc, items: list[Item], questions: Mapping[str, QuestionTemplate | None],
    scales: Mapping[str, Scale | None], categories: list[Category], scenarios: list[Scenario],
) -> None:  # fmt: skip
    """Warn about parts nothing uses, and events scenarios need that have no probability."""
    asked = {q for item in items for q in item.questions}
    for key in questions:
        if key not in asked:
            checker.warn(root.key("questions").key(key), "no item asks this question")
    used_scales = {q.scale for q in questions.values() if q is not None}
    for key in scales:
        if key not in used_scales:
            checker.warn(root.key("scales").key(key), "no question uses this scale")
    used_categories = {item.category for item in items}
    for category in categories:
        if category.key not in used_categories:
            checker.warn(
                root.key("categories"), f"no item is in the category {quote_key(category.key)}"
            )
    probability_kinds = (QuestionKind.PROBABILITY, QuestionKind.CONDITIONAL)
    for item in items:
        users = [s.key for s in scenarios if item.key in parse_expression(s.expression).names]
        rated = any(
            (q := questions.get(name)) is not None and q.kind in probability_kinds
            for name in item.questions
        )
        if users and not rated:
            checker.warn(
                Loc(label=f"items[{item.key}]"),
                f"{'scenarios' if len(users) > 1 else 'scenario'} {one_of(users)} "
                f"{'use' if len(users) > 1 else 'uses'} this event, but it asks no probability "
                "question",
            )


def build_definition(checker: Checker, document: Mapping[str, object]) -> SurveyDefinition | None:
    """The definition a parsed TOML document describes, or None when the checker has problems."""
    root = Section(checker, dict(document), Loc(), TOP_LEVEL_FIELDS)
    version = root.need("format", integer(-(10**9), 10**9))
    if version is not None and version != FORMAT_VERSION:
        checker.error(
            root.loc.key("format"),
            f"this platform reads format = {FORMAT_VERSION}; this file says format = {version}",
        )
    study = _study(checker, root)
    round_limit = study.round_limit if study is not None else MAX_ROUNDS
    rules = _rules(root)
    analysis = _analysis(checker, root)
    record = _record(root)

    scales = {
        key: _scale(checker, key, section)
        for key, section in _named_tables(
            checker, root, "scales", SCALE_FIELDS, MAX_SCALES, "scale"
        )
    }
    question_sections = dict(
        _named_tables(checker, root, "questions", QUESTION_FIELDS, MAX_QUESTIONS, "question")
    )
    root.require("questions", ": define the questions items ask, e.g. [questions.probability]")
    questions = {
        key: _question(checker, key, section, scales, round_limit)
        for key, section in question_sections.items()
    }
    categories, category_keys = _categories(checker, root)

    item_sections = _array_of_tables(checker, root, "items", MAX_ITEMS, ITEM_FIELDS, True)
    seen: dict[str, str] = {}
    item_keys = [_unique_key(checker, section, seen, "item") for section in item_sections]
    item_kinds: dict[str, ItemKind | None] = {}  # None: the item's kind is wrong
    for item_key, section in zip(item_keys, item_sections, strict=True):
        if item_key in EXPRESSION_KEYWORDS:
            checker.error(
                section.loc.key("key"),
                f"{quote_key(item_key)} is a word of the scenario language "
                f"({one_of(sorted(EXPRESSION_KEYWORDS))}); choose another key",
            )
        kind = section.data.get("kind")
        if item_key is not None:
            known = isinstance(kind, str) and kind in {k.value for k in ItemKind}
            item_kinds[item_key] = ItemKind(str(kind)) if known else None
    items = [
        _item(checker, section, key, questions, category_keys)
        for key, section in zip(item_keys, item_sections, strict=True)
    ]
    _check_references(checker, question_sections, questions, item_kinds)
    check_matrices(checker, item_sections, item_kinds)
    objectives = _objectives(checker, root)
    check_positions(checker, question_sections, questions, objectives, root)

    scenario_keys: dict[str, str] = {}
    descriptor_variants = {
        item.key: tuple(v.key for v in item.variants)
        for item in items
        if item is not None and item.kind is ItemKind.DESCRIPTOR
    }
    scenarios = [
        _scenario(checker, section, scenario_keys, item_kinds, descriptor_variants)
        for section in _array_of_tables(
            checker, root, "scenarios", MAX_SCENARIOS, SCENARIO_FIELDS, False
        )
    ]
    valid_items = [item for item in items if item is not None]
    valid_scenarios = [s for s in scenarios if s is not None]
    _warn_loose_ends(checker, root.loc, valid_items, questions, scales, categories, valid_scenarios)

    if checker.problems or study is None or version is None:
        return None
    definition = SurveyDefinition(
        format=version,
        study=study,
        rules=rules,
        analysis=analysis,
        scales=MappingProxyType({k: v for k, v in scales.items() if v is not None}),
        questions=MappingProxyType({k: q for k, q in questions.items() if q is not None}),
        categories=tuple(categories),
        items=tuple(valid_items),
        scenarios=tuple(valid_scenarios),
        record=record,
        objectives=tuple(objectives),
    )
    _warn_pairs_cap(checker, root.loc, definition)
    return definition


def _warn_pairs_cap(checker: Checker, root: Loc, definition: SurveyDefinition) -> None:
    """Warn when the cap on conditional pairs per expert cannot lighten anyone's round."""
    cap = definition.study.conditional_pairs_per_expert
    if cap is None:
        return
    loc = root.key("study").key("conditional_pairs_per_expert")
    pairs = len(definition.conditional_pairs)
    if pairs == 0:
        checker.warn(loc, "no item asks a conditional question, so this cap has no effect")
    elif cap >= pairs:
        checker.warn(
            loc,
            f"the file asks {pairs} conditional pairs and the cap is {cap}: every expert is "
            "asked every pair, so the cap has no effect",
        )
