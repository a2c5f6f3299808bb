"""The fixed vocabulary and limits of the survey file format, kept in one place.

The names rules may use come from `analysis/` itself: the statistics analysis.describe
computes per question, the paired round-to-round measures of analysis.stability, and the named
presets of analysis.consensus; a statistic analysis gains is usable in survey files at once.
"""

from __future__ import annotations

import re

from analysis.consensus import PRESETS
from analysis.describe import STAT_NAMES
from analysis.stability import STABILITY_NAMES as ANALYSIS_STABILITY_NAMES

#: The only format version this parser reads.
FORMAT_VERSION = 1

#: Statistics a consensus rule may use: those analysis.describe computes per question.
CONSENSUS_NAMES: frozenset[str] = frozenset(STAT_NAMES)

#: Statistics a stability (stopping) rule may use: analysis's paired round-to-round measures.
STABILITY_NAMES: frozenset[str] = frozenset(ANALYSIS_STABILITY_NAMES)

#: Named consensus rules reports can show next to the study's own (analysis's presets).
CONSENSUS_PRESETS: tuple[str, ...] = tuple(PRESETS)

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
#: the largest cap on conditional pairs per expert a file may set
MAX_PAIRS_PER_EXPERT = 10_000
MIN_YEAR = 1900
MAX_YEAR = 2300
MAX_TEXT_ANSWER = 20_000  #: the largest max_length of a text question
DEFAULT_TEXT_ANSWER = 2_000

STUDY_KEY = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_STUDY_KEY = 64
#: item, question, scale, category and scenario keys
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
#: the identifier rule in words, for messages
IDENTIFIER_RULE = "start with a letter, then letters, digits or _ (at most 32 characters)"
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")
QUANTILE_METHODS: tuple[str, ...] = tuple(f"type{i}" for i in range(1, 10))
#: how the expert's round is paged
PAGE_BY: tuple[str, ...] = ("item", "category")
