"""The fixed vocabulary and limits of the survey file format, kept in one place.

The name lists mirror `analysis/`: the statistics a consensus rule may test are the ones
`analysis.describe` computes per question (`STAT_NAMES`; a test keeps the two equal), the
stability statistics are the paired round-to-round measures of analysis (methods section 2), and
the presets are analysis's named consensus rules. When analysis gains a statistic, add its name
here so survey files may use it.
"""

from __future__ import annotations

import re

#: The only format version this parser reads.
FORMAT_VERSION = 1

#: Statistics a consensus rule may use (mirrors analysis.consensus).
CONSENSUS_NAMES: frozenset[str] = frozenset(
    {
        "n",
        "mean",
        "median",
        "sd",
        "q1",
        "q3",
        "iqr",
        "pct_agree",
        "pct_disagree",
        "cv",
        "rwg",
        "awg",
        "ipr",
        "iprcp",
        "ipras",
        "rand_disagreement",
        "tastle_wierman",
        "bimodality",
        "dip_p",
        "dissensus",
        "logit_median",
        "logit_q1",
        "logit_q3",
    }
)

#: Statistics a stability (stopping) rule may use (mirrors analysis.stability).
STABILITY_NAMES: frozenset[str] = frozenset(
    {"changed_share", "wilcoxon_p", "mcnemar_p", "delta_iqr", "delta_cv", "n_paired"}
)

#: Named consensus rules reports can show next to the study's own (mirrors analysis.consensus).
CONSENSUS_PRESETS: tuple[str, ...] = ("percent_iqr", "grade", "rand_ucla", "cv")

#: Placeholders a question prompt may contain; the platform fills them in.
PROMPT_PLACEHOLDERS: frozenset[str] = frozenset({"horizon"})

#: Words of the expression grammar; they cannot be item keys, because scenarios name items.
EXPRESSION_KEYWORDS: frozenset[str] = frozenset({"and", "or", "not", "true", "false"})

# Limits: generous for real studies, small enough that a hostile file is rejected quickly.
MAX_FILE_BYTES = 2 * 1024 * 1024
#: line breaks, commas, '=', '[' and '{' together: bounds parsing time on files of tiny values
#: (a real 2 MB study with 950 items in three languages has about 36,000)
MAX_SEPARATORS = 100_000
MAX_NESTING = 20  #: lists and tables inside each other; real files need 3
MAX_PROBLEMS = 200  #: problems reported before the rest are summarised
MAX_WARNINGS = 1_000  #: warnings kept before the rest are counted
MAX_SUGGESTIONS = 50  #: "did you mean" hints per file (each compares with every known name)
MAX_TEXT_LENGTH = 20_000  #: characters in one text of one language
MAX_SHORT_STRING = 500  #: characters in a plain string such as `source`
MAX_ITEMS = 1_000
MAX_SCENARIOS = 1_000
MAX_QUESTIONS = 200  #: question templates
MAX_SCALES = 100
MAX_CATEGORIES = 200
MAX_LANGUAGES = 20
MAX_QUESTIONS_PER_ITEM = 50
MAX_HORIZONS = 20
MAX_BASELINE_YEARS = 400
MAX_LIKERT_POINTS = 11
MAX_K = 1_000
MAX_ROUNDS = 20
MIN_K = 3
MIN_YEAR = 1900
MAX_YEAR = 2300
MAX_TEXT_ANSWER = 20_000  #: the largest max_length of a text question
DEFAULT_TEXT_ANSWER = 2_000

STUDY_KEY = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_STUDY_KEY = 64
#: item, question, scale, category and scenario keys
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")
QUANTILE_METHODS: tuple[str, ...] = tuple(f"type{i}" for i in range(1, 10))
