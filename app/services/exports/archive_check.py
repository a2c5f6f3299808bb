"""Checking what an archive's records mean, as a survey file is checked: an archive is untrusted.

The types were checked when the records were read (archive_schema). Here: every setting within
the platform's limits (k and k_comments at least the floor, k_comments at least k, the round
limit), no setting weaker than the survey definition the archive carries (anonymity, k and
k_comments may only be stricter, the round limit only lower), the rounds a study can have had,
every reference between parts, and frozen statistics that keep to the archive's own k. Every
problem is listed; nothing is imported while there is one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from analysis.errors import InputError
from analysis.expressions import parse_expression
from app.definitions.model import Anonymity, DefinitionError
from app.definitions.serialize import definition_from_dict
from app.definitions.vocabulary import (
    CONSENSUS_NAMES,
    CONSENSUS_PRESETS,
    IDENTIFIER,
    LANGUAGE_CODE,
    MAX_K,
    MAX_LANGUAGES,
    MAX_ROUNDS,
    MAX_YEAR,
    MIN_K,
    MIN_YEAR,
    PAGE_BY,
    QUANTILE_METHODS,
    STABILITY_NAMES,
    STUDY_KEY,
)
from app.models import RoundState, StudyStatus
from app.services.exports.archive_schema import ArchiveStudy, Problems, RoundRecord

#: anonymity modes from the weakest to the strictest
STRENGTH = {Anonymity.CONFIDENTIAL.value: 0, Anonymity.ANONYMOUS.value: 1}
#: the order round states follow within a study (closed rounds first, drafts last)
STATE_ORDER = {RoundState.CLOSED.value: 0, RoundState.OPEN.value: 1, RoundState.DRAFT.value: 2}


def parse_moment(value: str | None) -> datetime | None:
    """An ISO timestamp with a time zone, in UTC; ValueError if it is not one."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("no time zone")
    return moment.astimezone(UTC)


def parse_day(value: str | None) -> datetime | None:
    """A day (YYYY-MM-DD) as midnight UTC; ValueError if it is not one."""
    if value is None:
        return None
    found = date.fromisoformat(value)
    return datetime(found.year, found.month, found.day, tzinfo=UTC)


def _moment(problems: Problems, path: str, value: str | None) -> None:
    try:
        parse_moment(value)
    except (ValueError, OverflowError):
        problems.add(path, "expected an ISO 8601 timestamp with a time zone")


def _day(problems: Problems, path: str, value: str | None) -> None:
    try:
        parse_day(value)
    except (ValueError, OverflowError):
        problems.add(path, "expected a date (YYYY-MM-DD)")


def _between(problems: Problems, path: str, value: int, low: int, high: int, why: str) -> None:
    if not low <= value <= high:
        problems.add(path, f"must be from {low} to {high} ({why}), got {value}")


def _rule(problems: Problems, path: str, source: str, names: frozenset[str]) -> None:
    try:
        expression = parse_expression(source)
    except InputError as error:
        problems.add(path, f"not a valid rule: {error}")
        return
    unknown = sorted(expression.names - names)
    if unknown:
        problems.add(path, f"unknown statistics: {', '.join(unknown)}")


def check_archive(study: ArchiveStudy, problems: Problems) -> None:
    """Note every problem with what the archive's records mean."""
    _settings(study, problems)
    _definition(study, problems)
    items = _items(study, problems)
    pseudonyms = _panel(study, problems, items)
    _rounds(study, problems, items, pseudonyms)


def _settings(study: ArchiveStudy, problems: Problems) -> None:
    """The study's settings, within the limits a survey file is held to."""
    p = "study"
    if not STUDY_KEY.fullmatch(study.key):
        problems.add(f"{p}.key", "use lowercase letters, digits and hyphens")
    _between(problems, f"{p}.horizon", study.horizon, MIN_YEAR, MAX_YEAR, "a year")
    if not 1 <= len(study.languages) <= MAX_LANGUAGES or len(set(study.languages)) != len(
        study.languages
    ):
        problems.add(f"{p}.languages", f"1 to {MAX_LANGUAGES} different language codes")
    for i, code in enumerate(study.languages):
        if not LANGUAGE_CODE.fullmatch(code):
            problems.add(f"{p}.languages[{i}]", "a language code such as en, fa or ru")
    if study.default_language not in study.languages:
        problems.add(f"{p}.default_language", "must be one of the study's languages")
    _between(problems, f"{p}.k", study.k, MIN_K, MAX_K, "the smallest group any figure shows")
    _between(
        problems,
        f"{p}.k_comments",
        study.k_comments,
        MIN_K,
        MAX_K,
        "answers needed before reasons are shown",
    )
    if study.k_comments < study.k:
        problems.add(f"{p}.k_comments", f"must be at least k ({study.k}), got {study.k_comments}")
    _between(problems, f"{p}.round_limit", study.round_limit, 1, MAX_ROUNDS, "rounds")
    if study.quantile_method not in QUANTILE_METHODS:
        problems.add(f"{p}.quantile_method", f"one of {', '.join(QUANTILE_METHODS)}")
    for i, preset in enumerate(study.compare_presets):
        if preset not in CONSENSUS_PRESETS:
            problems.add(f"{p}.compare_presets[{i}]", f"one of {', '.join(CONSENSUS_PRESETS)}")
    _rule(problems, f"{p}.consensus_rule", study.consensus_rule, CONSENSUS_NAMES)
    _rule(problems, f"{p}.stability_rule", study.stability_rule, STABILITY_NAMES)
    if study.page_by not in PAGE_BY:
        problems.add(f"{p}.page_by", f"one of {', '.join(PAGE_BY)}")
    cap = study.conditional_pairs_per_expert
    if cap is not None and cap < 1:
        problems.add(f"{p}.conditional_pairs_per_expert", "a whole number of at least 1, or null")
    if study.answers_withdrawn < 0 or study.answers_withdrawn > len(study.panel):
        problems.add(f"{p}.answers_withdrawn", "at most the panel's size")
    for name in ("created_at", "launched_at", "finished_at"):
        _moment(problems, f"{p}.{name}", getattr(study, name))
    for i, scale in enumerate(study.scales):
        if scale.consensus is not None:
            _rule(problems, f"{p}.scales[{i}].consensus", scale.consensus, CONSENSUS_NAMES)


def _definition(study: ArchiveStudy, problems: Problems) -> None:
    """The survey definition the archive carries, and settings no weaker than it."""
    p = "study.definition"
    try:
        definition = definition_from_dict(study.definition)
    except DefinitionError as error:
        for problem in error.problems:
            problems.add(f"{p}.{problem.field}" if problem.field else p, problem.message)
        return
    meta = definition.study
    if not MIN_K <= meta.k <= MAX_K:
        problems.add(f"{p}.study.k", f"must be from {MIN_K} to {MAX_K}, got {meta.k}")
    if not max(MIN_K, meta.k) <= meta.k_comments <= MAX_K:
        problems.add(f"{p}.study.k_comments", f"must be from k to {MAX_K}, got {meta.k_comments}")
    if not 1 <= meta.round_limit <= MAX_ROUNDS:
        problems.add(f"{p}.study.round_limit", f"must be from 1 to {MAX_ROUNDS}")
    if STRENGTH.get(study.anonymity, 0) < STRENGTH.get(meta.anonymity.value, 0):
        problems.add(
            "study.anonymity",
            f"the survey was {meta.anonymity.value}: anonymity can only become stricter",
        )
    if study.k < meta.k:
        problems.add("study.k", f"the survey set k = {meta.k}; it can only become larger")
    if study.k_comments < meta.k_comments:
        problems.add(
            "study.k_comments",
            f"the survey set k_comments = {meta.k_comments}; it can only become larger",
        )
    # the round limit may exceed the survey's: owners can raise it (an audited change), so a
    # study that used it must still import; the limit is bounded above and by its rounds


def _items(study: ArchiveStudy, problems: Problems) -> dict[str, tuple[set[int], set[str]]]:
    """Items, their versions and questions; returns item key -> (versions, questions)."""
    scales = {s.key for s in study.scales}
    categories = {c.key for c in study.categories}
    items: dict[str, tuple[set[int], set[str]]] = {}
    for i, item in enumerate(study.items):
        q = f"study.items[{i}]"
        if item.key in items:
            problems.add(f"{q}.key", "a key used once")
        if not IDENTIFIER.fullmatch(item.key):
            problems.add(f"{q}.key", "letters, digits and underscores, starting with a letter")
        if item.category is not None and item.category not in categories:
            problems.add(f"{q}.category", "one of the archive's categories")
        if not item.versions:
            problems.add(f"{q}.versions", "at least one version")
        versions = {v.number for v in item.versions}
        if len(versions) != len(item.versions):
            problems.add(f"{q}.versions", "version numbers used once")
        for j, version in enumerate(item.versions):
            _moment(problems, f"{q}.versions[{j}].created_at", version.created_at)
        questions = {question.key for question in item.questions}
        if len(questions) != len(item.questions):
            problems.add(f"{q}.questions", "question keys used once")
        for j, question in enumerate(item.questions):
            if question.scale is not None and question.scale not in scales:
                problems.add(f"{q}.questions[{j}].scale", "one of the archive's scales")
            _between(
                problems,
                f"{q}.questions[{j}].from_round",
                question.from_round,
                1,
                study.round_limit,
                "study.round_limit",
            )
        items[item.key] = (versions, questions)
    for i, item in enumerate(study.items):
        if item.merged_into is not None and item.merged_into not in items:
            problems.add(f"study.items[{i}].merged_into", "one of the archive's items")
    return items


def _panel(
    study: ArchiveStudy, problems: Problems, items: Mapping[str, tuple[set[int], set[str]]]
) -> set[str]:
    """Pseudonyms used once, languages of the study, expertise 1 to 5, pairs of real items."""
    pseudonyms: set[str] = set()
    for i, member in enumerate(study.panel):
        q = f"study.panel[{i}]"
        if not member.pseudonym or member.pseudonym in pseudonyms:
            problems.add(f"{q}.pseudonym", "a pseudonym used once")
        pseudonyms.add(member.pseudonym)
        if member.language is not None and member.language not in study.languages:
            problems.add(f"{q}.language", "one of the study's languages")
        if member.expertise is not None and not 1 <= member.expertise <= 5:
            problems.add(f"{q}.expertise", "from 1 to 5")
        _day(problems, f"{q}.consent", member.consent)
        for j, pair in enumerate(member.pairs):
            if not (len(pair) == 3 and pair[0] in items and pair[1] in items[pair[0]][1]):
                problems.add(f"{q}.pairs[{j}]", "[item, question, event] of the archive's items")
    return pseudonyms


def _rounds(
    study: ArchiveStudy,
    problems: Problems,
    items: Mapping[str, tuple[set[int], set[str]]],
    pseudonyms: set[str],
) -> None:
    """Rounds 1..n within the limit, in the order of their states, referring to what exists."""
    numbers = [r.number for r in study.rounds]
    if numbers != list(range(1, len(numbers) + 1)):
        problems.add("study.rounds", "rounds numbered 1, 2, 3 ... in order")
    if len(numbers) > study.round_limit:
        problems.add("study.rounds", f"{len(numbers)} rounds; the study allows {study.round_limit}")
    states = [STATE_ORDER[r.state] for r in study.rounds]
    if states != sorted(states) or states.count(STATE_ORDER[RoundState.OPEN.value]) > 1:
        problems.add("study.rounds", "closed rounds first, then at most one open, then drafts")
    if (
        numbers
        and study.status == StudyStatus.DRAFT
        and any(r.state != RoundState.DRAFT for r in study.rounds)
    ):
        problems.add("study.status", "a study with an opened round is not a draft")
    for i, round_ in enumerate(study.rounds):
        _round(study, problems, f"study.rounds[{i}]", round_, items, pseudonyms)
    for i, suggestion in enumerate(study.suggestions):
        q = f"study.suggestions[{i}]"
        if suggestion.round not in numbers:
            problems.add(f"{q}.round", "one of the archive's rounds")
        if suggestion.item is not None and suggestion.item not in items:
            problems.add(f"{q}.item", "one of the archive's items or null")
        _day(problems, f"{q}.date", suggestion.date)


def _round(
    study: ArchiveStudy,
    problems: Problems,
    q: str,
    round_: RoundRecord,
    items: Mapping[str, tuple[set[int], set[str]]],
    pseudonyms: set[str],
) -> None:
    """One round: dates, items, progress, answers (one current revision each), snapshot."""
    for name in ("created_at", "opened_at", "deadline", "closed_at"):
        _moment(problems, f"{q}.{name}", getattr(round_, name))
    asked = [entry.item for entry in round_.items]
    if len(set(asked)) != len(asked):
        problems.add(f"{q}.items", "each item asked once")
    for j, entry in enumerate(round_.items):
        if entry.item not in items:
            problems.add(f"{q}.items[{j}].item", "one of the archive's items")
        elif entry.version not in items[entry.item][0]:
            problems.add(f"{q}.items[{j}].version", "one of the item's versions")
    for j, progress in enumerate(round_.progress):
        if progress.expert not in pseudonyms:
            problems.add(f"{q}.progress[{j}].expert", "one of the panel's pseudonyms")
        for name in ("started", "last_saved", "submitted"):
            _day(problems, f"{q}.progress[{j}].{name}", getattr(progress, name))
    current: Counter[tuple[str, str, str]] = Counter()
    revisions: Counter[tuple[str, str, str, int]] = Counter()
    for j, answer in enumerate(round_.answers):
        r = f"{q}.answers[{j}]"
        if answer.expert not in pseudonyms:
            problems.add(f"{r}.expert", "one of the panel's pseudonyms")
        if answer.item not in items:
            problems.add(f"{r}.item", "one of the archive's items")
        else:
            if answer.question not in items[answer.item][1]:
                problems.add(f"{r}.question", "one of the item's questions")
            if answer.version not in items[answer.item][0]:
                problems.add(f"{r}.version", "one of the item's versions")
        if answer.revision < 1:
            problems.add(f"{r}.revision", "1 or more")
        _day(problems, f"{r}.date", answer.date)
        where = (answer.expert, answer.item, answer.question)
        current[where] += answer.is_current
        revisions[(*where, answer.revision)] += 1
    if any(n > 1 for n in current.values()) or any(n > 1 for n in revisions.values()):
        problems.add(f"{q}.answers", "one current answer and distinct revisions per question")
    snapshot = round_.snapshot
    if snapshot is not None and round_.state != RoundState.CLOSED:
        problems.add(f"{q}.snapshot", "only a closed round has a snapshot")
    if snapshot is not None:
        _moment(problems, f"{q}.snapshot.created_at", snapshot.created_at)
        _snapshot(study, problems, f"{q}.snapshot.data", snapshot.data)


def _snapshot(study: ArchiveStudy, problems: Problems, q: str, data: Mapping[str, Any]) -> None:
    """Frozen statistics that show nothing the archive's own k and k_comments would hide."""
    for name, floor in (("k", study.k), ("k_comments", study.k_comments)):
        if not _at_least(data.get(name), floor):
            problems.add(f"{q}.{name}", f"must be at least the study's {name} ({floor})")
    entries = data.get("items")
    if not isinstance(entries, dict):
        problems.add(f"{q}.items", "expected an object")
        return
    for key, entry in entries.items():
        e = f"{q}.items.{key}"
        if not isinstance(entry, dict):
            problems.add(e, "expected an object")
            continue
        respondents = entry.get("respondents")
        if entry.get("reasons") and not _at_least(respondents, study.k_comments):
            problems.add(f"{e}.reasons", f"reasons need at least k_comments ({study.k_comments})")
        if respondents is not None and not _at_least(respondents, study.k):
            problems.add(f"{e}.respondents", f"null or at least k ({study.k})")
        questions = entry.get("questions")
        for question_key, question in (questions if isinstance(questions, dict) else {}).items():
            parts = question.get("parts") if isinstance(question, dict) else None
            for part_key, part in (parts if isinstance(parts, dict) else {}).items():
                p = f"{e}.questions.{question_key}.parts.{part_key}"
                _cell(study, problems, p, part)
                groups = part.get("groups") if isinstance(part, dict) else None
                for group, cell in (groups if isinstance(groups, dict) else {}).items():
                    _cell(study, problems, f"{p}.groups.{group}", cell)


def _at_least(value: Any, floor: int) -> bool:
    """Whether a value is a whole number of at least `floor`."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= floor


def _cell(study: ArchiveStudy, problems: Problems, path: str, cell: Any) -> None:
    """A statistic is either suppressed or computed from at least k answers."""
    if not isinstance(cell, dict):
        problems.add(path, "expected an object")
        return
    if cell.get("suppressed", True) is not True and not _at_least(cell.get("n"), study.k):
        problems.add(f"{path}.n", f"a figure shown from fewer than k ({study.k}) answers")
