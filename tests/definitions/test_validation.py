"""One small bad file per validation rule: the message, the field path and the line."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.definitions.vocabulary import MAX_WARNINGS
from tests.definitions.helpers import MINIMAL, edited, line_of, parse, problem_at, problems_of

TWO_STEPS = '[scales.impact]\nkind = "likert"\nmin = -2\nmax = 2\n'


@dataclass(frozen=True)
class Case:
    """A rule broken by editing the minimal file, and the problem that must be reported."""

    id: str
    replacements: tuple[tuple[str, str], ...]
    field: str
    message: str
    #: text on the line the problem must point to (default: the first line the edit adds)
    anchor: str | None = None


def case(id: str, old: str, new: str, field: str, message: str, anchor: str | None = None) -> Case:
    return Case(id, ((old, new),), field, message, anchor)


# fmt: off
CASES = [
    # the file as a whole
    case('format-version', 'format = 1', 'format = 2', 'format', 'reads format = 1; this file says format = 2'),
    case('format-missing', 'format = 1\n', '', 'format', 'missing: this field is required', anchor='# The'),
    case('format-type', 'format = 1', 'format = "1"', 'format', 'expected an integer, got "1"'),
    case('unknown-top-level', 'format = 1', 'format = 1\nsurvey = 2', 'survey', "unknown field 'survey'"),
    case('table-name-typo', '[[scenarios]]', '[[scenarioz]]', 'scenarioz', "unknown field 'scenarioz' (did you mean 'scenarios'?)"),
    # study
    case('unknown-field-typo', 'title = { en = "Mini study"', 'titel = { en = "Mini study"', 'study.titel', "unknown field 'titel' (did you mean 'title'?)"),
    case('required-field', 'source = "Tests"\n', '', 'study.source', 'missing: this field is required', anchor='[study]'),
    case('study-key-slug', 'key = "mini"', 'key = "Mini Study"', 'study.key', '"Mini Study" is not allowed here: use lowercase letters, digits and hyphens'),
    case('horizon-type', 'horizon = 2035', 'horizon = "five"', 'study.horizon', 'expected an integer, got "five"'),
    case('horizon-range', 'horizon = 2035', 'horizon = 1800', 'study.horizon', 'must be between 1900 and 2300, got 1800'),
    case('horizon-float', 'horizon = 2035', 'horizon = 2035.5', 'study.horizon', 'expected an integer, got 2035.5'),
    case('k-floor', 'horizon = 2035', 'horizon = 2035\nk = 2', 'study.k', 'must be between 3 and 1000, got 2', anchor='k = 2'),
    case('k-boolean', 'horizon = 2035', 'horizon = 2035\nk = true', 'study.k', 'expected an integer, got true', anchor='k = true'),
    case('k-comments-below-k', 'horizon = 2035', 'horizon = 2035\nk = 7\nk_comments = 5', 'study.k_comments', 'must be at least k (7)', anchor='k_comments'),
    case('pairs-cap-zero', 'horizon = 2035', 'horizon = 2035\nconditional_pairs_per_expert = 0', 'study.conditional_pairs_per_expert', 'must be between 1 and 10000, got 0', anchor='conditional_pairs_per_expert'),
    case('pairs-cap-type', 'horizon = 2035', 'horizon = 2035\nconditional_pairs_per_expert = 2.5', 'study.conditional_pairs_per_expert', 'expected an integer, got 2.5', anchor='conditional_pairs_per_expert'),
    case('pairs-cap-typo', 'horizon = 2035', 'horizon = 2035\nconditional_pair_per_expert = 2', 'study.conditional_pair_per_expert', "unknown field 'conditional_pair_per_expert' (did you mean 'conditional_pairs_per_expert'?)", anchor='conditional_pair_per_expert'),
    case('round-limit', 'horizon = 2035', 'horizon = 2035\nround_limit = 21', 'study.round_limit', 'must be between 1 and 20, got 21', anchor='round_limit'),
    case('quantile-method', 'horizon = 2035', 'horizon = 2035\nquantile_method = "type10"', 'study.quantile_method', 'must be one of: type1, type2', anchor='quantile_method'),
    case('anonymity', 'horizon = 2035', 'horizon = 2035\nanonymity = "anonymus"', 'study.anonymity', 'must be one of: anonymous, confidential; got "anonymus" (did you mean \'anonymous\'?)', anchor='anonymity'),
    case('boolean', 'horizon = 2035', 'horizon = 2035\nsuggestions = "yes"', 'study.suggestions', 'expected true or false, got "yes"', anchor='suggestions'),
    case('language-code', 'languages = ["en", "fa"]', 'languages = ["en", "fa", "EN"]', 'study.languages[3]', '"EN" is not allowed here: a language code is 2 or 3 lowercase letters'),
    case('language-twice', 'languages = ["en", "fa"]', 'languages = ["en", "fa", "en"]', 'study.languages[3]', '"en" is listed twice'),
    case('languages-empty', 'languages = ["en", "fa"]', 'languages = []', 'study.languages', 'needs at least one entry, got 0'),
    case('default-language', 'default_language = "en"', 'default_language = "ru"', 'study.default_language', "'ru' is not in languages (en, fa)"),
    case('text-default-language', 'title = { en = "Mini study", fa = "مطالعهٔ کوچک" }', 'title = { fa = "مطالعهٔ کوچک" }', 'study.title', "no 'en' text: every text needs the default language"),
    case('text-foreign-language', 'title = { en = "Mini study", fa = "مطالعهٔ کوچک" }', 'title = { en = "Mini study", de = "Kleine Studie" }', 'study.title.de', "language 'de' is not one of the study's languages (en, fa)"),
    case('text-empty', 'title = { en = "Mini study", fa = "مطالعهٔ کوچک" }', 'title = { en = "  ", fa = "مطالعهٔ کوچک" }', 'study.title.en', "the 'en' text is empty"),
    case('text-type', 'title = { en = "Mini study", fa = "مطالعهٔ کوچک" }', 'title = 5', 'study.title', 'expected text in quotes, or a table of languages'),
    case('text-control-character', 'title = { en = "Mini study"', 'title = { en = "Mini\\u0000study"', 'study.title.en', 'contains the control character U+0000 at position 5'),
    case('text-escape-character', 'title = { en = "Mini study"', 'title = { en = "Mini\\u001bstudy"', 'study.title.en', 'control character U+001B'),
    case('string-type', 'source = "Tests"', 'source = [1]', 'study.source', 'expected text in quotes, got a list'),
    # rules
    case('consensus-syntax', '[scales.probability]', '[rules]\nconsensus = "pct_agree >="\n\n[scales.probability]', 'rules.consensus', 'this consensus rule is not a valid expression: unexpected end of expression', anchor='consensus ='),
    case('consensus-name', '[scales.probability]', '[rules]\nconsensus = "pct_agre >= 0.7"\n\n[scales.probability]', 'rules.consensus', "unknown statistic 'pct_agre' in this consensus rule (did you mean 'pct_agree'?)", anchor='consensus ='),
    case('stability-name', '[scales.probability]', '[rules]\nstability = "iqr < 1"\n\n[scales.probability]', 'rules.stability', "unknown statistic 'iqr' in this stability rule", anchor='stability ='),
    case('presets', '[scales.probability]', '[rules]\ncompare_presets = ["grade", "delphi"]\n\n[scales.probability]', 'rules.compare_presets[2]', 'must be one of: percent_iqr, grade, rand_ucla, cv; got "delphi"', anchor='compare_presets'),
    case('unknown-rules-field', '[scales.probability]', '[rules]\nstop = 1\n\n[scales.probability]', 'rules.stop', "unknown field 'stop'", anchor='stop ='),
    # scales
    case('scale-kind', 'kind = "continuous"', 'kind = "slider"', 'scales.estimate.kind', 'must be one of: probability, likert, continuous; got "slider"'),
    case('scale-name', '[scales.estimate]', '[scales."my scale"]', 'scales."my scale"', "the scale name 'my scale' is not allowed: start with a letter"),
    case('probability-range', '[scales.probability]\nkind = "probability"', '[scales.probability]\nkind = "probability"\nmax = 150', 'scales.probability.max', 'must be between 0 and 100, got 150', anchor='max = 150'),
    case('probability-labels', '[scales.probability]\nkind = "probability"', '[scales.probability]\nkind = "probability"\nlabels = {}', 'scales.probability.labels', "'labels' does not apply to a probability scale", anchor='labels'),
    case('likert-integer', 'min = -2', 'min = -2.5', 'scales.impact.min', 'expected an integer, got -2.5'),
    case('likert-order', 'min = -2\nmax = 2', 'min = 2\nmax = -2', 'scales.impact.max', 'max (-2) must be greater than min (2)', anchor='max = -2'),
    case('likert-points', 'min = -2\nmax = 2', 'min = 0\nmax = 20', 'scales.impact.max', 'this scale has 21 points; a Likert scale may have at most 11', anchor='max = 20'),
    case('likert-needs-bounds', 'min = -2\n', '', 'scales.impact.min', 'missing: this field is required', anchor='[scales.impact]'),
    case('likert-step', 'max = 2\n', 'max = 2\nstep = 3\n', 'scales.impact.step', 'steps of 3 from -2 do not reach max (2)', anchor='step = 3'),
    case('label-outside', '[scales.impact]\nkind = "likert"\nmin = -2\nmax = 2\n', '[scales.impact]\nkind = "likert"\nmin = -2\nmax = 2\n[scales.impact.labels]\n"3" = { en = "Three", fa = "سه" }\n', 'scales.impact.labels.3', '3 is not a point of this scale (-2 to 2)', anchor='"3" ='),
    case('label-twice', TWO_STEPS, TWO_STEPS + '[scales.impact.labels]\n"2" = "Two"\n"+2" = "Plus two"\n', 'scales.impact.labels."+2"', 'the point 2 has two labels', anchor='"+2" ='),
    case('label-not-a-point', '[scales.impact]\nkind = "likert"\nmin = -2\nmax = 2\n', '[scales.impact]\nkind = "likert"\nmin = -2\nmax = 2\n[scales.impact.labels]\nhigh = { en = "High", fa = "زیاد" }\n', 'scales.impact.labels.high', "label keys are the scale's points written as text", anchor='high ='),
    case('agree-region-outside', 'max = 2\n', 'max = 2\nagree_region = [1, 3]\n', 'scales.impact.agree_region', 'the region [1, 3] is not inside the scale (-2 to 2)', anchor='agree_region'),
    case('agree-region-order', 'max = 2\n', 'max = 2\nagree_region = [2, 1]\n', 'scales.impact.agree_region', "the region's low end (2) is above its high end (1)", anchor='agree_region'),
    case('agree-region-length', 'max = 2\n', 'max = 2\nagree_region = [1]\n', 'scales.impact.agree_region', 'needs at least 2 entries, got 1', anchor='agree_region'),
    case('agree-within', 'max = 2\n', 'max = 2\nagree_within = 0\n', 'scales.impact.agree_within', 'must be greater than 0, got 0', anchor='agree_within'),
    case('agree-both', 'max = 2\n', 'max = 2\nagree_region = [1, 2]\nagree_within = 1\n', 'scales.impact.agree_within', 'give either agree_region', anchor='agree_within'),
    case('bipolar-uncentred', 'kind = "continuous"', 'kind = "continuous"\nbipolar = true', 'scales.estimate.bipolar', 'a bipolar scale is centred on zero', anchor='bipolar'),
    case('scale-consensus', 'kind = "continuous"', 'kind = "continuous"\nconsensus = "median > 1 and"', 'scales.estimate.consensus', 'this consensus rule is not a valid expression', anchor='consensus'),
    case('number-type', 'kind = "continuous"', 'kind = "continuous"\nmin = "zero"', 'scales.estimate.min', 'expected a number, got "zero"'),
    case('number-finite', 'kind = "continuous"', 'kind = "continuous"\nmax = inf', 'scales.estimate.max', 'expected a finite number, got inf'),
    # questions
    case('question-kind', 'kind = "text"', 'kind = "essay"', 'questions.reason.kind', 'must be one of: probability, likert, quantiles, conditional, trend_impact, text, influence, actor_influence, positions, cross_impact; got "essay"'),
    case('question-unknown-field', 'kind = "text"', 'kind = "text"\nmaxlength = 10', 'questions.reason.maxlength', "unknown field 'maxlength' (did you mean 'max_length'?)", anchor='maxlength'),
    case('question-field-for-kind', 'kind = "text"', 'kind = "text"\nquantiles = [5, 95]', 'questions.reason.quantiles', "'quantiles' does not apply to text questions", anchor='quantiles = [5, 95]'),
    case('question-needs-scale', 'kind = "likert"\nscale = "impact"\n', 'kind = "likert"\n', 'questions.impact.scale', 'missing: this field is required for likert questions', anchor='[questions.impact]'),
    case('question-unknown-scale', 'scale = "impact"', 'scale = "impakt"', 'questions.impact.scale', "no scale 'impakt' is defined (did you mean 'impact'?)"),
    case('question-scale-kind', 'scale = "impact"', 'scale = "estimate"', 'questions.impact.scale', "a likert question needs a likert scale; 'estimate' is a continuous scale"),
    case('quantiles-increasing', 'quantiles = [5, 50, 95]', 'quantiles = [50, 5, 95]', 'questions.seed.quantiles[2]', '5 must be greater than the entry before it (50)'),
    case('quantiles-range', 'quantiles = [5, 50, 95]', 'quantiles = [0, 50, 95]', 'questions.seed.quantiles[1]', 'must be between 1 and 99, got 0'),
    case('quantiles-count', 'quantiles = [5, 50, 95]', 'quantiles = [50]', 'questions.seed.quantiles', 'needs at least 2 entries, got 1'),
    case('quantiles-needed', 'quantiles = [5, 50, 95]\n', '', 'questions.seed.quantiles', 'missing: this field is required for quantiles questions', anchor='[questions.seed]'),
    case('horizons-increasing', 'kind = "probability"\nscale = "probability"\n', 'kind = "probability"\nscale = "probability"\nhorizons = [2035, 2030]\n', 'questions.probability.horizons[2]', '2030 must be greater than the entry before it (2035)', anchor='horizons'),
    case('horizons-year', 'kind = "probability"\nscale = "probability"\n', 'kind = "probability"\nscale = "probability"\nhorizons = [35]\n', 'questions.probability.horizons[1]', 'must be between 1900 and 2300, got 35', anchor='horizons'),
    case('given-not-event', 'given = ["E01"]', 'given = ["T01"]', 'questions.cross.given[1]', "'T01' is a trend item; given must name events"),
    case('given-unknown', 'given = ["E01"]', 'given = ["E1"]', 'questions.cross.given[1]', "no item 'E1'"),
    case('given-itself', 'questions = ["probability", "impact", "reason"]', 'questions = ["probability", "impact", "reason", "cross"]', 'items[E01].questions[4]', 'an event cannot be conditioned on itself'),
    case('trend-not-trend', 'trend = "T01"', 'trend = "E01"', 'questions.shift.trend', "'E01' is an event item; trend must name a trend item"),
    case('trend-unknown', 'trend = "T01"', 'trend = "T02"', 'questions.shift.trend', "no trend item 'T02' (did you mean 'T01'?)"),
    case('from-round', 'kind = "text"', 'kind = "text"\nfrom_round = 4', 'questions.reason.from_round', 'must be between 1 and 3 (study.round_limit), got 4', anchor='from_round'),
    case('max-length-low', 'kind = "text"', 'kind = "text"\nmax_length = 0', 'questions.reason.max_length', 'must be between 1 and 20000, got 0', anchor='max_length'),
    case('max-length-high', 'kind = "text"', 'kind = "text"\nmax_length = 20001', 'questions.reason.max_length', 'must be between 1 and 20000, got 20001', anchor='max_length'),
    case('prompt-placeholder', 'How likely by {horizon}?', 'How likely by {horizn}?', 'questions.probability.prompt.en', "unknown placeholder '{horizn}' (did you mean 'horizon'?); prompts may use {horizon}"),
    case('prompt-missing', 'prompt = { en = "Why?", fa = "چرا؟" }\n', '', 'questions.reason.prompt', 'missing: this field is required', anchor='[questions.reason]'),
    case('question-name', '[questions.reason]', '[questions.2reason]', 'questions.2reason', "the question name '2reason' is not allowed"),
    case('event-only-question', 'baseline = { "2020" = 10 }\nquestions = ["seed"]', 'baseline = { "2020" = 10 }\nquestions = ["seed", "shift"]', 'items[T01].questions[2]', "'shift' is a trend_impact question; only events can ask it"),
    # categories
    case('category-twice', '[[categories]]\nkey = "main"', '[[categories]]\nkey = "main"\nlabel = "Main"\n\n[[categories]]\nkey = "main"', 'categories[main].key', "the category key 'main' is used twice", anchor='key = "main"\nlabel = { en'),
    case('category-label', 'label = { en = "Main", fa = "اصلی" }\n', '', 'categories[main].label', 'missing: this field is required', anchor='[[categories]]'),
    case('item-category', 'category = "main"', 'category = "mian"', 'items[E01].category', "no category 'mian' is defined (did you mean 'main'?)"),
    # items
    case('item-key-pattern', 'key = "E02"', 'key = "2E"', 'items[2].key', '"2E" is not allowed here: start with a letter'),
    case('item-key-twice', 'key = "E02"', 'key = "e01"', 'items[e01].key', "the item key 'e01' is used twice (as 'E01'; keys must differ by more than letter case)"),
    case('item-key-keyword', 'key = "E02"', 'key = "not"', 'items[not].key', "'not' is a word of the scenario language"),
    case('item-key-missing', 'key = "E02"\n', '', 'items[2].key', 'missing: this field is required', anchor='[[items]]\nkind = "event"'),
    case('item-kind', 'key = "E02"\nkind = "event"', 'key = "E02"\nkind = "development"', 'items[E02].kind', 'must be one of: event, trend, calibration, variable, actor, descriptor; got "development"', anchor='kind = "development"'),
    case('item-questions-empty', 'questions = ["probability", "cross", "shift"]', 'questions = []', 'items[E02].questions', 'needs at least one entry, got 0'),
    case('item-question-unknown', 'questions = ["probability", "cross", "shift"]', 'questions = ["probability", "cros", "shift"]', 'items[E02].questions[2]', "no question 'cros' is defined (did you mean 'cross'?)"),
    case('item-question-twice', 'questions = ["probability", "cross", "shift"]', 'questions = ["probability", "cross", "cross"]', 'items[E02].questions[3]', '"cross" is listed twice'),
    case('calibration-true-value', 'true_value = 42\n', '', 'items[C01].true_value', 'missing: this field is required for calibration items', anchor='[[items]]\nkey = "C01"'),
    case('calibration-number', 'true_value = 42', 'true_value = "forty-two"', 'items[C01].true_value', 'expected a number, got "forty-two"'),
    case('calibration-quantiles', 'true_value = 42\ntitle = { en = "A seed", fa = "یک پرسش سنجشی" }\ntext = { en = "What is the answer?", fa = "پاسخ چیست؟" }\nquestions = ["seed"]', 'true_value = 42\ntitle = { en = "A seed", fa = "یک پرسش سنجشی" }\ntext = { en = "What is the answer?", fa = "پاسخ چیست؟" }\nquestions = ["reason"]', 'items[C01].questions', 'a calibration item needs at least one quantiles question', anchor='questions = ["reason"]'),
    case('kind-only-field', 'key = "E02"\nkind = "event"', 'key = "E02"\nkind = "event"\nbaseline = { "2020" = 1 }', 'items[E02].baseline', "'baseline' applies only to trend items", anchor='baseline = { "2020" = 1 }'),
    case('baseline-year', 'baseline = { "2020" = 10 }', 'baseline = { "20x0" = 10 }', 'items[T01].baseline.20x0', 'baseline years are written as text'),
    case('baseline-value', 'baseline = { "2020" = 10 }', 'baseline = { "2020" = "ten" }', 'items[T01].baseline.2020', 'expected a number, got "ten"'),
    case('items-type', '[[items]]\nkey = "E01"', '[[itemz]]\nkey = "E01"', 'itemz', "unknown field 'itemz' (did you mean 'items'?)"),
    # scenarios
    case('scenario-trend', 'expression = "E01 and not E02"', 'expression = "E01 and T01"', 'scenarios[S1].expression', "'T01' is a trend item; scenarios combine events only"),
    case('scenario-unknown', 'expression = "E01 and not E02"', 'expression = "E01 and E011"', 'scenarios[S1].expression', "no event 'E011' (did you mean 'E01'?)"),
    case('scenario-comparison', 'expression = "E01 and not E02"', 'expression = "E01 > 0.5"', 'scenarios[S1].expression', 'a scenario combines event keys with and, or, not and parentheses only'),
    case('scenario-syntax', 'expression = "E01 and not E02"', 'expression = "E01 and"', 'scenarios[S1].expression', 'not a valid scenario expression: unexpected end of expression'),
    case('scenario-missing-expression', 'expression = "E01 and not E02"\n', '', 'scenarios[S1].expression', 'missing: this field is required', anchor='[[scenarios]]'),
]
# fmt: on


@pytest.mark.parametrize("broken", CASES, ids=[c.id for c in CASES])
def test_each_rule_reports_message_field_and_line(broken: Case) -> None:
    text = edited(*broken.replacements)
    problems = problems_of(text)
    problem = problem_at(problems, broken.field)
    assert broken.message in problem.message
    old, new = broken.replacements[0]
    added = [line for line in new.split("\n") if line and line not in old.split("\n")]
    anchor = broken.anchor or (added or [new])[0]
    assert problem.line == line_of(text, anchor), str(problem)
    assert problem.file == "bad.toml"


def test_missing_required_items_table() -> None:
    text = MINIMAL[: MINIMAL.index("[[items]]")] + MINIMAL[MINIMAL.index("[[scenarios]]") :]
    problems = problems_of(text)
    assert "needs at least one [[items]] table" in problem_at(problems, "items").message


def test_every_problem_is_reported_not_only_the_first() -> None:
    text = edited(
        ("horizon = 2035", 'horizon = "soon"'),
        ('scale = "impact"', 'scale = "impakt"'),
        ('expression = "E01 and not E02"', 'expression = "E01 and E99"'),
    )
    fields = [p.field for p in problems_of(text)]
    assert fields == ["study.horizon", "questions.impact.scale", "scenarios[S1].expression"]


def test_problems_come_in_file_order_with_their_lines() -> None:
    text = edited(('trend = "T01"', 'trend = "E01"'), ("format = 1", "format = 3"))
    lines = [p.line for p in problems_of(text)]
    assert lines == sorted(lines)


def test_missing_translation_is_a_warning_not_an_error() -> None:
    text = edited(
        ('title = { en = "Second event", fa = "رویداد دوم" }', 'title = { en = "Second event" }')
    )
    definition = parse(text)
    assert definition.warnings == (
        "items[E02].title: no 'fa' text; the default language will be shown",
    )
    assert dict(definition.item("E02").title) == {"en": "Second event"}


def test_empty_translation_is_dropped_with_a_warning() -> None:
    text = edited(
        (
            'title = { en = "Second event", fa = "رویداد دوم" }',
            'title = { en = "Second event", fa = "" }',
        )
    )
    definition = parse(text)
    assert definition.warnings == (
        "items[E02].title: empty 'fa' text; the default language will be shown",
    )
    assert "fa" not in definition.item("E02").title


def test_plain_string_text_means_the_default_language() -> None:
    text = edited(('title = { en = "Second event", fa = "رویداد دوم" }', 'title = "Second event"'))
    definition = parse(text)
    assert dict(definition.item("E02").title) == {"en": "Second event"}
    assert definition.warnings == (
        "items[E02].title: no 'fa' text; the default language will be shown",
    )


def test_unused_questions_and_scales_are_warnings() -> None:
    text = edited(
        (
            "[questions.reason]",
            '[questions.spare]\nkind = "text"\nprompt = "Spare"\n\n[questions.reason]',
        )
    )
    assert "questions.spare: no item asks this question" in parse(text).warnings


def test_defaults_fill_optional_fields() -> None:
    definition = parse(MINIMAL)
    study = definition.study
    assert (study.k, study.k_comments, study.round_limit, study.quantile_method) == (
        5,
        5,
        3,
        "type7",
    )
    assert definition.questions["reason"].required is False
    assert definition.questions["reason"].allow_no_answer is False
    assert definition.questions["probability"].required is True
    assert definition.questions["probability"].allow_no_answer is True
    assert definition.questions["reason"].max_length == 2000
    scale = definition.scales["probability"]
    assert (scale.min, scale.max, scale.step) == (0.0, 100.0, 1.0)
    assert definition.rules.consensus == "pct_agree >= 0.75 and iqr <= 1"


def test_the_pairs_cap_is_optional_and_counted_against_the_pairs() -> None:
    assert parse(MINIMAL).study.conditional_pairs_per_expert is None
    # the minimal file has one pair: E02 asks 'cross' given E01
    assert parse(MINIMAL).conditional_pairs == (("E02", "cross", "E01"),)
    capped = parse(edited(("horizon = 2035", "horizon = 2035\nconditional_pairs_per_expert = 1")))
    assert capped.study.conditional_pairs_per_expert == 1
    assert capped.warnings == (
        "study.conditional_pairs_per_expert: the file asks 1 conditional pairs and the cap is 1: "
        "every expert is asked every pair, so the cap has no effect",
    )


def test_a_pairs_cap_below_the_number_of_pairs_is_silent() -> None:
    text = edited(
        ("horizon = 2035", "horizon = 2035\nconditional_pairs_per_expert = 1"),
        ('given = ["E01"]', 'given = ["E01", "E03"]'),
        (
            '[[items]]\nkey = "T01"',
            '[[items]]\nkey = "E03"\nkind = "event"\ntitle = "Third"\ntext = "Third."\n'
            'questions = ["probability"]\n\n[[items]]\nkey = "T01"',
        ),
    )
    definition = parse(text)
    assert len(definition.conditional_pairs) == 2
    assert not [w for w in definition.warnings if "conditional_pairs_per_expert" in w]


def test_a_pairs_cap_without_conditional_questions_is_a_warning() -> None:
    text = edited(
        ("horizon = 2035", "horizon = 2035\nconditional_pairs_per_expert = 3"),
        ('questions = ["probability", "cross", "shift"]', 'questions = ["probability", "shift"]'),
    )
    assert (
        "study.conditional_pairs_per_expert: no item asks a conditional question, so this cap "
        "has no effect"
    ) in parse(text).warnings


def test_k_comments_defaults_to_k() -> None:
    definition = parse(edited(("horizon = 2035", "horizon = 2035\nk = 8")))
    assert definition.study.k_comments == 8


def test_texts_are_stored_exactly_as_given() -> None:
    hostile = '<script>alert(1)</script> {{7*7}} \\"quoted\\"\\nline two'
    definition = parse(
        edited(('text = { en = "The first event happens."', f'text = {{ en = "{hostile}"'))
    )
    assert (
        definition.item("E01").text["en"] == '<script>alert(1)</script> {{7*7}} "quoted"\nline two'
    )


def test_persian_zero_width_non_joiner_is_allowed() -> None:
    definition = parse(MINIMAL)
    assert "\u200c" in definition.questions["shift"].prompt["fa"]


def test_an_event_in_a_scenario_without_a_probability_question_is_a_warning() -> None:
    text = edited(('questions = ["probability", "cross", "shift"]', 'questions = ["shift"]'))
    assert "items[E02]: scenario S1 uses this event, but it asks no probability question" in (
        parse(text).warnings
    )


def test_a_flood_of_warnings_is_capped() -> None:
    items = "".join(
        f'[[items]]\nkey = "X{i}"\nkind = "event"\ntitle = "t"\ntext = "t"\nquestions = ["reason"]\n'
        for i in range(MAX_WARNINGS // 2 + 100)
    )  # each item lacks its 'fa' title and text: two warnings
    warnings = parse(MINIMAL + items).warnings
    assert len(warnings) == MAX_WARNINGS + 1
    assert warnings[-1] == "... and 200 more warnings of the same kinds"
