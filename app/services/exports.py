"""Data exports: tidy answers (CSV), tables (for XLSX), and the study archive (canonical JSON).

Anonymous by default. Answer exports carry an allow-list of columns: round, pseudonym, group,
item, version, question, part, value, "no answer" and free text; no names, emails, tokens,
addresses or times, and panel groups smaller than k are left blank. Names and emails are added only for a
confidential study, for an administrator, and every such export is audited.

Text cells that a spreadsheet would read as a formula (starting with = + - @, a tab or a carriage
return) get a leading apostrophe; numbers stay numbers.

The archive is the whole study as canonical JSON (sorted keys, no insignificant whitespace,
UTF-8), with a sha256 over its content: export -> import into an empty instance -> export gives
the same bytes. Database ids never appear in it (items, questions, experts and rounds are named
by their keys, pseudonyms and numbers), and expert-side timestamps are kept to the day.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.definitions.model import Anonymity, QuestionKind
from app.json_limits import UnsafeJsonError, load_json
from app.models import (
    Answer,
    Category,
    Expert,
    Item,
    ItemVersion,
    MemberRole,
    Participation,
    ParticipationStatus,
    PermissionDeniedError,
    Question,
    Round,
    RoundItem,
    RoundProgress,
    Scale,
    Scenario,
    Snapshot,
    Study,
    StudyMember,
    Suggestion,
    User,
    ValidationError,
)
from app.services import audit
from app.services.answers import Normalised
from app.services.snapshots import suppressed_groups
from app.services.tidy import part_value, question_parts

# ---------------------------------------------------------------------------------------------
# Answers, one row each

#: the only columns an anonymous answer export has, in order
ANONYMOUS_COLUMNS = (
    "round",
    "expert",
    "group",
    "item",
    "item_version",
    "question",
    "part",
    "value",
    "no_answer",
    "text",
    "synthetic",
)
#: added for an identified export (confidential studies, administrators only)
IDENTITY_COLUMNS = ("name", "email")
#: a text cell starting with one of these is read as a formula by spreadsheets
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: Any) -> Any:
    """A text cell made safe for spreadsheets ('=1+1' -> "'=1+1"); other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def may_export_identified(study: Study, user: User | None) -> bool:
    """Whether this user may export names with answers: confidential study and administrator."""
    return user is not None and user.is_admin and study.anonymity == Anonymity.CONFIDENTIAL


def answer_columns(identified: bool) -> tuple[str, ...]:
    """The columns of an answer export."""
    return ANONYMOUS_COLUMNS + (IDENTITY_COLUMNS if identified else ())


def authorize_export(
    session: Session,
    study: Study,
    *,
    actor: User | None,
    now: datetime,
    kind: str,
    identified: bool = False,
    reason: str | None = None,
) -> None:
    """Check an export is allowed and record it in the audit log (identified ones always)."""
    if identified:
        if study.anonymity != Anonymity.CONFIDENTIAL:
            raise PermissionDeniedError(
                "This study is anonymous: nobody can export names with answers."
            )
        if actor is None or not actor.is_admin:
            raise PermissionDeniedError("Only an administrator can export names with answers.")
        if not (reason or "").strip():
            raise ValidationError(
                "Say why the identified export is needed; it is recorded.",
                {"reason": ["Required."]},
            )
    audit.record(
        session,
        action="export.identified" if identified else "export",
        now=now,
        actor=actor,
        study=study,
        target=kind,
        reason=(reason or "").strip() or None,
        identified=identified,
    )


def answer_rows(
    session: Session, study: Study, *, identified: bool = False
) -> list[dict[str, Any]]:
    """The study's current answers, one row per number or text (anonymous unless identified).

    Identified rows need a confidential study; the caller checks the user (authorize_export).
    """
    if identified and study.anonymity != Anonymity.CONFIDENTIAL:
        raise PermissionDeniedError(
            "This study is anonymous: nobody can export names with answers."
        )
    query = (
        select(Answer, Participation, Round, Question, Item, ItemVersion.number, Expert)
        .join(Participation, Answer.participation_id == Participation.id)
        .join(Expert, Participation.expert_id == Expert.id)
        .join(Round, Answer.round_id == Round.id)
        .join(Question, Answer.question_id == Question.id)
        .join(Item, Question.item_id == Item.id)
        .join(ItemVersion, Answer.item_version_id == ItemVersion.id)
        .where(Round.study_id == study.id, Answer.is_current.is_(True))
        .order_by(Round.number, Item.position, Item.key, Participation.pseudonym, Question.position)
    )
    hidden = set() if identified else hidden_groups(session, study)
    rows: list[dict[str, Any]] = []
    for answer, participation, round_, question, item, version, expert in session.execute(query):
        base: dict[str, Any] = {
            "round": round_.number,
            "expert": participation.pseudonym,
            "group": "" if participation.group in hidden else participation.group,
            "item": item.key,
            "item_version": version,
            "question": question.key,
            "no_answer": bool(answer.no_answer),
            "synthetic": bool(answer.synthetic),
        }
        if identified:
            base.update({"name": participation.name, "email": expert.email})
        if question.kind == QuestionKind.TEXT:
            rows.append({**base, "part": "", "value": None, "text": answer.text or ""})
            continue
        for part in question_parts(question):
            rows.append({**base, "part": part.part, "value": part_value(answer, part), "text": ""})
    columns = answer_columns(identified)
    return [{c: row.get(c) for c in columns} for row in rows]


def hidden_groups(session: Session, study: Study) -> set[str]:
    """Panel groups an anonymous export leaves blank: those with fewer than k members (and
    the smallest others until the blank ones hold k together).

    Facilitators see who is in which group; a group of two next to two pseudonyms would tell
    them whose answers are whose. The answer dates are left out for the same reason.
    """
    counts = {
        str(group): int(n)
        for group, n in session.execute(
            select(Participation.group, func.count())
            .where(Participation.study_id == study.id)
            .group_by(Participation.group)
        )
    }
    return suppressed_groups(counts, study.k)


def _csv_cell(value: Any) -> Any:
    """A CSV cell: booleans as true/false, None as empty, text escaped against formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return escape_formula(value)


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Rows as CSV text with a header (RFC 4180 quoting, formula cells escaped)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row.get(c)) for c in columns])
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Tables (one XLSX sheet each)


@dataclass(frozen=True)
class Table:
    """A named table of rows with fixed columns."""

    name: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]

    def cells(self) -> list[list[Any]]:
        """Rows as lists in column order, text escaped against formulas."""
        return [[escape_formula(row.get(c)) for c in self.columns] for row in self.rows]


#: statistics reported per question part, in this order
STAT_COLUMNS = (
    "n",
    "mean",
    "median",
    "q1",
    "q3",
    "iqr",
    "sd",
    "pct_agree",
    "cv",
    "rwg",
    "awg",
    "tastle_wierman",
    "bimodality",
    "dip_p",
    "rand_disagreement",
    "dissensus",
)


def _number(value: Any) -> Any:
    """A JSON number as a cell: None for missing or not finite."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def snapshot_rows(
    snapshots: Sequence[tuple[int, Mapping[str, Any]]], presets: Sequence[str]
) -> list[dict[str, Any]]:
    """One row per round, item, question and part: statistics, consensus, pooling, stability."""
    rows: list[dict[str, Any]] = []
    for number, data in snapshots:
        for item_key, item in data.get("items", {}).items():
            for question_key, question in item.get("questions", {}).items():
                for part_key, part in question.get("parts", {}).items():
                    stats = part.get("stats") or {}
                    consensus = part.get("consensus") or {}
                    pooled = part.get("pooled") or {}
                    stability = part.get("stability") or {}
                    row: dict[str, Any] = {
                        "round": number,
                        "item": item_key,
                        "item_version": item.get("version"),
                        "question": question_key,
                        "part": part_key,
                        "suppressed": bool(part.get("suppressed")),
                    }
                    for column in STAT_COLUMNS:
                        row[column] = _number(stats.get(column)) if column != "n" else part.get("n")
                    row["consensus_rule"] = consensus.get("rule")
                    row["consensus"] = consensus.get("reached")
                    for preset in presets:
                        row[f"preset_{preset}"] = (consensus.get("presets") or {}).get(preset)
                    row["pooled_logodds"] = _number(pooled.get("logodds"))
                    row["pooled_linear"] = _number(pooled.get("linear"))
                    row["pooled_median"] = _number(pooled.get("median"))
                    row["changed_share"] = _number(stability.get("changed_share"))
                    row["wilcoxon_p"] = _number(stability.get("wilcoxon_p"))
                    row["mcnemar_p"] = _number(stability.get("mcnemar_p"))
                    rows.append(row)
    return rows


def statistics_columns(presets: Sequence[str]) -> tuple[str, ...]:
    """Columns of snapshot_rows."""
    return (
        *("round", "item", "item_version", "question", "part", "suppressed"),
        *STAT_COLUMNS,
        *("consensus_rule", "consensus"),
        *(f"preset_{p}" for p in presets),
        *("pooled_logodds", "pooled_linear", "pooled_median"),
        *("changed_share", "wilcoxon_p", "mcnemar_p"),
    )


GROUP_COLUMNS = (
    "round",
    "item",
    "question",
    "part",
    "group",
    "n",
    "median",
    "q1",
    "q3",
    "iqr",
    "pct_agree",
)


def group_rows(snapshots: Sequence[tuple[int, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Per-group statistics as the snapshots hold them (groups under k stay suppressed)."""
    rows: list[dict[str, Any]] = []
    for number, data in snapshots:
        for item_key, item in data.get("items", {}).items():
            for question_key, question in item.get("questions", {}).items():
                for part_key, part in question.get("parts", {}).items():
                    for group, entry in sorted((part.get("groups") or {}).items()):
                        stats = entry.get("stats") or {}
                        suppressed = bool(entry.get("suppressed"))
                        rows.append(
                            {
                                "round": number,
                                "item": item_key,
                                "question": question_key,
                                "part": part_key,
                                "group": group,
                                "n": "suppressed (fewer than k)" if suppressed else entry.get("n"),
                                **{
                                    c: None if suppressed else _number(stats.get(c))
                                    for c in ("median", "q1", "q3", "iqr", "pct_agree")
                                },
                            }
                        )
    return rows


def item_rows(study: Study) -> list[dict[str, Any]]:
    """Items with every version's wording in every language of the study."""
    rows: list[dict[str, Any]] = []
    for item in study.items:
        for version in item.versions:
            row: dict[str, Any] = {
                "item": item.key,
                "kind": item.kind,
                "category": item.category.key if item.category else "",
                "status": item.status,
                "version": version.number,
                "from_round": version.introduced_in_round,
            }
            for language in study.languages:
                row[f"title_{language}"] = version.title.get(language, "")
                row[f"text_{language}"] = version.text.get(language, "")
            row["change_note"] = version.change_note.get(study.default_language, "")
            rows.append(row)
    return rows


def item_columns(study: Study) -> tuple[str, ...]:
    """Columns of item_rows."""
    texts = tuple(
        f"{kind}_{language}" for language in study.languages for kind in ("title", "text")
    )
    return ("item", "kind", "category", "status", "version", "from_round", *texts, "change_note")


# ---------------------------------------------------------------------------------------------
# The study archive (canonical JSON)

ARCHIVE_FORMAT = "delphi-study-archive"
ARCHIVE_VERSION = 1
MAX_ARCHIVE_BYTES = 64 * 1024 * 1024


class ArchiveError(ValidationError):
    """The archive cannot be imported; nothing was imported."""


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no insignificant whitespace, UTF-8, no NaN: the same value gives the same bytes."""
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def _iso(moment: datetime | None) -> str | None:
    """A timestamp in ISO 8601 (UTC)."""
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _day(moment: datetime | None) -> str | None:
    """Only the day of an expert-side timestamp."""
    return None if moment is None else moment.astimezone(UTC).date().isoformat()


def _snapshot_out(data: Mapping[str, Any]) -> dict[str, Any]:
    """Snapshot data without database ids (items are named by their keys already)."""
    copy = json.loads(json.dumps(data))
    for entry in copy.get("items", {}).values():
        if isinstance(entry, dict):
            entry.pop("item_id", None)
    return copy


def archive_payload(session: Session, study: Study) -> dict[str, Any]:
    """The whole study as plain data: definition, items and versions, panel (pseudonyms only),
    rounds with answers, progress and snapshots, suggestions. No ids, names or emails."""
    items = sorted(study.items, key=lambda i: (i.position, i.key))
    item_keys = {item.id: item.key for item in items}
    scale_keys = {scale.id: scale.key for scale in study.scales}
    participations = list(
        session.scalars(
            select(Participation)
            .where(Participation.study_id == study.id)
            .order_by(Participation.pseudonym)
        )
    )
    pseudonyms = {p.id: p.pseudonym for p in participations}
    rounds = list(
        session.scalars(select(Round).where(Round.study_id == study.id).order_by(Round.number))
    )
    return {
        "key": study.key,
        "title": study.title,
        "description": study.description,
        "source": study.source,
        "horizon": study.horizon,
        "languages": list(study.languages),
        "default_language": study.default_language,
        "anonymity": study.anonymity,
        "k": study.k,
        "k_comments": study.k_comments,
        "round_limit": study.round_limit,
        "quantile_method": study.quantile_method,
        "reason_outside_iqr": study.reason_outside_iqr,
        "suggestions_enabled": study.suggestions_enabled,
        "consensus_rule": study.consensus_rule,
        "stability_rule": study.stability_rule,
        "compare_presets": list(study.compare_presets),
        "welcome": study.welcome,
        "consent": study.consent,
        "definition": study.definition,
        "definition_hash": study.definition_hash,
        "status": study.status,
        "created_at": _iso(study.created_at),
        "launched_at": _iso(study.launched_at),
        "finished_at": _iso(study.finished_at),
        "scales": [
            {
                "key": s.key,
                "kind": s.kind,
                "min": s.min,
                "max": s.max,
                "step": s.step,
                "labels": s.labels,
                "bipolar": s.bipolar,
                "agree_region": s.agree_region,
                "agree_within": s.agree_within,
                "consensus": s.consensus,
                "unit": s.unit,
            }
            for s in sorted(study.scales, key=lambda s: s.key)
        ],
        "categories": [
            {"key": c.key, "label": c.label, "position": c.position}
            for c in sorted(study.categories, key=lambda c: (c.position, c.key))
        ],
        "items": [
            {
                "key": item.key,
                "kind": item.kind,
                "category": item.category.key if item.category else None,
                "position": item.position,
                "source": item.source,
                "status": item.status,
                "retired_in_round": item.retired_in_round,
                "retired_reason": item.retired_reason,
                "merged_into": item_keys.get(item.merged_into_id) if item.merged_into_id else None,
                "true_value": item.true_value,
                "unit": item.unit,
                "baseline": item.baseline,
                "relative_impacts": item.relative_impacts,
                "origin": item.origin,
                "versions": [
                    {
                        "number": v.number,
                        "title": v.title,
                        "text": v.text,
                        "change_note": v.change_note,
                        "introduced_in_round": v.introduced_in_round,
                        "created_at": _iso(v.created_at),
                    }
                    for v in sorted(item.versions, key=lambda v: v.number)
                ],
                "questions": [
                    {
                        "key": q.key,
                        "kind": q.kind,
                        "position": q.position,
                        "scale": scale_keys.get(q.scale_id) if q.scale_id else None,
                        "prompt": q.prompt,
                        "help": q.help,
                        "required": q.required,
                        "allow_no_answer": q.allow_no_answer,
                        "config": q.config,
                        "from_round": q.from_round,
                    }
                    for q in sorted(item.questions, key=lambda q: (q.position, q.key))
                ],
            }
            for item in items
        ],
        "scenarios": [
            {
                "key": s.key,
                "title": s.title,
                "description": s.description,
                "expression": s.expression,
                "position": s.position,
            }
            for s in sorted(study.scenarios, key=lambda s: (s.position, s.key))
        ],
        "panel": [
            {
                "pseudonym": p.pseudonym,
                "group": p.group,
                "language": p.language,
                "expertise": p.expertise,
                "status": p.status,
                "consent": _day(p.consent_at),
                "synthetic": p.synthetic,
            }
            for p in participations
        ],
        "rounds": [_round_out(session, r, item_keys, pseudonyms) for r in rounds],
        "suggestions": [
            {
                "round": number,
                "text": s.text,
                "language": s.language,
                "status": s.status,
                "item": item_keys.get(s.item_id) if s.item_id else None,
                "date": _day(s.created_at),
            }
            for s, number in session.execute(
                select(Suggestion, Round.number)
                .join(Round, Suggestion.round_id == Round.id)
                .where(Suggestion.study_id == study.id)
                .order_by(Round.number, Suggestion.created_at, Suggestion.text)
            ).tuples()
        ],
    }


def _round_out(
    session: Session, round_: Round, item_keys: Mapping[int, str], pseudonyms: Mapping[int, str]
) -> dict[str, Any]:
    """One round of the archive."""
    answers = session.execute(
        select(Answer, Question.key, Item.key, ItemVersion.number)
        .join(Question, Answer.question_id == Question.id)
        .join(Item, Question.item_id == Item.id)
        .join(ItemVersion, Answer.item_version_id == ItemVersion.id)
        .where(Answer.round_id == round_.id)
    ).tuples()
    answer_list = sorted(
        (
            {
                "expert": pseudonyms[a.participation_id],
                "item": item_key,
                "question": question_key,
                "version": version,
                "value": a.value,
                "value_json": a.value_json,
                "text": a.text,
                "no_answer": a.no_answer,
                "revision": a.revision,
                "is_current": a.is_current,
                "synthetic": a.synthetic,
                "date": _day(a.created_at),
            }
            for a, question_key, item_key, version in answers
        ),
        key=lambda a: (a["expert"], a["item"], a["question"], a["revision"]),
    )
    progress = session.scalars(select(RoundProgress).where(RoundProgress.round_id == round_.id))
    snapshot = round_.snapshot
    return {
        "number": round_.number,
        "state": round_.state,
        "created_at": _iso(round_.created_at),
        "opened_at": _iso(round_.opened_at),
        "deadline": _iso(round_.deadline),
        "closed_at": _iso(round_.closed_at),
        "message": round_.message,
        "synthetic": round_.synthetic,
        "items": [
            {"item": item_keys[ri.item_id], "version": ri.version.number, "position": ri.position}
            for ri in sorted(round_.items, key=lambda ri: (ri.position, item_keys[ri.item_id]))
        ],
        "progress": sorted(
            (
                {
                    "expert": pseudonyms[p.participation_id],
                    "started": _day(p.started_at),
                    "last_saved": _day(p.last_saved_at),
                    "submitted": _day(p.submitted_at),
                    "submit_count": p.submit_count,
                }
                for p in progress
            ),
            key=lambda p: str(p["expert"]),
        ),
        "answers": answer_list,
        "snapshot": None
        if snapshot is None
        else {
            "created_at": _iso(snapshot.created_at),
            "data": _snapshot_out(snapshot.data),
            "answer_count": snapshot.answer_count,
            "answers_digest": snapshot.answers_digest,
        },
    }


def export_archive(session: Session, study: Study) -> bytes:
    """The study archive: canonical JSON of {format, version, sha256, study}, ending in a newline."""
    payload = archive_payload(session, study)
    digest = hashlib.sha256(canonical_json(payload)).hexdigest()
    envelope = {
        "format": ARCHIVE_FORMAT,
        "version": ARCHIVE_VERSION,
        "sha256": digest,
        "study": payload,
    }
    return canonical_json(envelope) + b"\n"


# --- reading an archive back: check everything first, then write everything


class _Checker:
    """Type checks with the path of the offending field in the message."""

    def fail(self, path: str, wanted: str) -> ArchiveError:
        """The error for a field that is not what it must be."""
        return ArchiveError(
            f"The archive is damaged or not a study archive: {path} should be {wanted}. "
            "Nothing was imported.",
            {path: [f"Expected {wanted}."]},
        )

    def get(
        self,
        data: Mapping[str, Any],
        key: str,
        path: str,
        check: Callable[[Any], bool],
        wanted: str,
    ) -> Any:
        """data[key], checked."""
        if not isinstance(data, Mapping) or key not in data:
            raise self.fail(f"{path}.{key}", wanted)
        value = data[key]
        if not check(value):
            raise self.fail(f"{path}.{key}", wanted)
        return value


def _is_text(v: Any) -> bool:
    return isinstance(v, str)


def _is_text_or_none(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_int_or_none(v: Any) -> bool:
    return v is None or _is_int(v)


def _is_number_or_none(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_dict(v: Any) -> bool:
    return isinstance(v, dict)


def _is_dict_or_none(v: Any) -> bool:
    return v is None or isinstance(v, dict)


def _is_list(v: Any) -> bool:
    return isinstance(v, list)


def _is_list_or_none(v: Any) -> bool:
    return v is None or isinstance(v, list)


def _is_texts(v: Any) -> bool:
    return isinstance(v, dict) and all(
        isinstance(k, str) and isinstance(t, str) for k, t in v.items()
    )


def _member_of(values: Collection[Any]) -> Callable[[Any], bool]:
    """A check that a value is one of these."""
    return lambda v: v in values


def _parse_moment(value: str | None, path: str) -> datetime | None:
    """An ISO timestamp from the archive (UTC)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _Checker().fail(path, "an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise _Checker().fail(path, "a timestamp with a time zone")
    return moment.astimezone(UTC)


def _parse_day(value: str | None, path: str) -> datetime | None:
    """A day from the archive, as midnight UTC."""
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise _Checker().fail(path, "a date (YYYY-MM-DD)") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


#: deepest nesting an archive may have (its snapshots nest about ten levels)
ARCHIVE_MAX_DEPTH = 64


def read_archive(raw: bytes) -> dict[str, Any]:
    """The archive's study payload, after checking its format, version and checksum."""
    if len(raw) > MAX_ARCHIVE_BYTES:
        raise ArchiveError(
            f"The archive is larger than {MAX_ARCHIVE_BYTES // (1024 * 1024)} MB. Nothing was imported."
        )
    try:
        # with limits: a deep or huge-number archive is refused, not a RecursionError
        envelope, _text = load_json(raw.decode("utf-8"), max_depth=ARCHIVE_MAX_DEPTH)
    except (UnicodeDecodeError, UnsafeJsonError) as error:
        raise ArchiveError(
            f"The archive is not valid JSON ({error}). Nothing was imported."
        ) from None
    if not isinstance(envelope, dict) or envelope.get("format") != ARCHIVE_FORMAT:
        raise ArchiveError("This file is not a study archive. Nothing was imported.")
    if envelope.get("version") != ARCHIVE_VERSION:
        raise ArchiveError(
            f"This archive has format version {envelope.get('version')!r}; this platform reads "
            f"version {ARCHIVE_VERSION}. Nothing was imported."
        )
    payload = envelope.get("study")
    if not isinstance(payload, dict):
        raise ArchiveError("The archive has no study. Nothing was imported.")
    digest = hashlib.sha256(canonical_json(payload)).hexdigest()
    if digest != envelope.get("sha256"):
        raise ArchiveError(
            "The archive's checksum does not match its content: the file is damaged or was "
            "edited. Nothing was imported."
        )
    _check_payload(payload)
    return payload


def _check_payload(study: Mapping[str, Any]) -> None:
    """Every field the import reads, with its type, and every reference between parts."""
    c = _Checker()
    p = "study"
    for key in (
        "key",
        "source",
        "default_language",
        "anonymity",
        "quantile_method",
        "consensus_rule",
        "stability_rule",
        "definition_hash",
        "status",
    ):
        c.get(study, key, p, _is_text, "text")
    for key in ("title", "description", "welcome", "consent"):
        c.get(study, key, p, _is_texts, "texts by language")
    for key in ("horizon", "k", "k_comments", "round_limit"):
        c.get(study, key, p, _is_int, "a whole number")
    for key in ("reason_outside_iqr", "suggestions_enabled"):
        c.get(study, key, p, _is_bool, "true or false")
    c.get(
        study,
        "languages",
        p,
        lambda v: isinstance(v, list) and all(map(_is_text, v)),
        "a list of language codes",
    )
    c.get(
        study,
        "compare_presets",
        p,
        lambda v: isinstance(v, list) and all(map(_is_text, v)),
        "a list of names",
    )
    c.get(study, "definition", p, _is_dict, "an object")
    if study["anonymity"] not in {a.value for a in Anonymity}:
        raise c.fail(f"{p}.anonymity", "anonymous or confidential")
    for key in ("created_at", "launched_at", "finished_at"):
        _parse_moment(c.get(study, key, p, _is_text_or_none, "a timestamp or null"), f"{p}.{key}")
    scales = set()
    for i, scale in enumerate(c.get(study, "scales", p, _is_list, "a list")):
        q = f"{p}.scales[{i}]"
        scales.add(c.get(scale, "key", q, _is_text, "text"))
        c.get(scale, "kind", q, _is_text, "text")
        for key in ("min", "max", "agree_within"):
            c.get(scale, key, q, _is_number_or_none, "a number or null")
        c.get(scale, "step", q, lambda v: _is_number_or_none(v) and v is not None, "a number")
        c.get(scale, "labels", q, _is_dict, "an object")
        c.get(scale, "unit", q, _is_texts, "texts by language")
        c.get(scale, "bipolar", q, _is_bool, "true or false")
        c.get(scale, "agree_region", q, _is_list_or_none, "a list or null")
        c.get(scale, "consensus", q, _is_text_or_none, "text or null")
    categories = set()
    for i, category in enumerate(c.get(study, "categories", p, _is_list, "a list")):
        q = f"{p}.categories[{i}]"
        categories.add(c.get(category, "key", q, _is_text, "text"))
        c.get(category, "label", q, _is_texts, "texts by language")
        c.get(category, "position", q, _is_int, "a whole number")
    items: dict[str, tuple[set[int], set[str]]] = {}
    for i, item in enumerate(c.get(study, "items", p, _is_list, "a list")):
        q = f"{p}.items[{i}]"
        key = c.get(item, "key", q, _is_text, "text")
        if key in items:
            raise c.fail(f"{q}.key", "a key used once")
        for name in ("kind", "source", "status", "origin"):
            c.get(item, name, q, _is_text, "text")
        if c.get(item, "category", q, _is_text_or_none, "text or null") not in categories | {None}:
            raise c.fail(f"{q}.category", "one of the archive's categories")
        c.get(item, "position", q, _is_int, "a whole number")
        c.get(item, "retired_in_round", q, _is_int_or_none, "a whole number or null")
        c.get(item, "retired_reason", q, _is_text_or_none, "text or null")
        c.get(item, "merged_into", q, _is_text_or_none, "text or null")
        c.get(item, "true_value", q, _is_number_or_none, "a number or null")
        c.get(item, "unit", q, _is_texts, "texts by language")
        c.get(item, "baseline", q, _is_dict, "an object")
        c.get(item, "relative_impacts", q, _is_bool, "true or false")
        versions: set[int] = set()
        for j, version in enumerate(
            c.get(
                item,
                "versions",
                q,
                lambda v: isinstance(v, list) and len(v) > 0,
                "a non-empty list",
            )
        ):
            r = f"{q}.versions[{j}]"
            versions.add(c.get(version, "number", r, _is_int, "a whole number"))
            for name in ("title", "text", "change_note"):
                c.get(version, name, r, _is_texts, "texts by language")
            c.get(version, "introduced_in_round", r, _is_int, "a whole number")
            _parse_moment(
                c.get(version, "created_at", r, _is_text_or_none, "a timestamp"), f"{r}.created_at"
            )
        questions: set[str] = set()
        for j, question in enumerate(c.get(item, "questions", q, _is_list, "a list")):
            r = f"{q}.questions[{j}]"
            questions.add(c.get(question, "key", r, _is_text, "text"))
            c.get(
                question,
                "kind",
                r,
                lambda v: v in {k.value for k in QuestionKind},
                "a question kind",
            )
            c.get(question, "position", r, _is_int, "a whole number")
            if c.get(question, "scale", r, _is_text_or_none, "text or null") not in scales | {None}:
                raise c.fail(f"{r}.scale", "one of the archive's scales")
            for name in ("prompt", "help"):
                c.get(question, name, r, _is_texts, "texts by language")
            for name in ("required", "allow_no_answer"):
                c.get(question, name, r, _is_bool, "true or false")
            c.get(question, "config", r, _is_dict, "an object")
            c.get(question, "from_round", r, _is_int, "a whole number")
        items[key] = (versions, questions)
    for i, item in enumerate(study["items"]):
        if item["merged_into"] is not None and item["merged_into"] not in items:
            raise c.fail(f"{p}.items[{i}].merged_into", "one of the archive's items")
    for i, scenario in enumerate(c.get(study, "scenarios", p, _is_list, "a list")):
        q = f"{p}.scenarios[{i}]"
        c.get(scenario, "key", q, _is_text, "text")
        c.get(scenario, "expression", q, _is_text, "text")
        c.get(scenario, "title", q, _is_texts, "texts by language")
        c.get(scenario, "description", q, _is_texts, "texts by language")
        c.get(scenario, "position", q, _is_int, "a whole number")
    pseudonyms: set[str] = set()
    for i, member in enumerate(c.get(study, "panel", p, _is_list, "a list")):
        q = f"{p}.panel[{i}]"
        pseudonym = c.get(
            member, "pseudonym", q, lambda v: _is_text(v) and 0 < len(v) <= 16, "a pseudonym"
        )
        if pseudonym in pseudonyms:
            raise c.fail(f"{q}.pseudonym", "a pseudonym used once")
        pseudonyms.add(pseudonym)
        for name in ("group", "language", "status"):
            c.get(member, name, q, _is_text, "text")
        c.get(member, "expertise", q, _is_int_or_none, "a whole number or null")
        c.get(member, "synthetic", q, _is_bool, "true or false")
        _parse_day(c.get(member, "consent", q, _is_text_or_none, "a date or null"), f"{q}.consent")
    numbers: set[int] = set()
    for i, round_ in enumerate(c.get(study, "rounds", p, _is_list, "a list")):
        q = f"{p}.rounds[{i}]"
        number = c.get(round_, "number", q, _is_int, "a whole number")
        if number in numbers:
            raise c.fail(f"{q}.number", "a round number used once")
        numbers.add(number)
        c.get(
            round_, "state", q, lambda v: v in {"draft", "open", "closed"}, "draft, open or closed"
        )
        for name in ("created_at", "opened_at", "deadline", "closed_at"):
            _parse_moment(
                c.get(round_, name, q, _is_text_or_none, "a timestamp or null"), f"{q}.{name}"
            )
        c.get(round_, "message", q, _is_texts, "texts by language")
        c.get(round_, "synthetic", q, _is_bool, "true or false")
        for j, entry in enumerate(c.get(round_, "items", q, _is_list, "a list")):
            r = f"{q}.items[{j}]"
            key = c.get(entry, "item", r, lambda v: v in items, "one of the archive's items")
            c.get(
                entry,
                "version",
                r,
                _member_of(items[key][0]),
                "one of the item's versions",
            )
            c.get(entry, "position", r, _is_int, "a whole number")
        for j, entry in enumerate(c.get(round_, "progress", q, _is_list, "a list")):
            r = f"{q}.progress[{j}]"
            c.get(entry, "expert", r, lambda v: v in pseudonyms, "one of the panel's pseudonyms")
            c.get(entry, "submit_count", r, _is_int, "a whole number")
            for name in ("started", "last_saved", "submitted"):
                _parse_day(c.get(entry, name, r, _is_text_or_none, "a date or null"), f"{r}.{name}")
            if entry["started"] is None:
                raise c.fail(f"{r}.started", "a date")
        for j, answer in enumerate(c.get(round_, "answers", q, _is_list, "a list")):
            r = f"{q}.answers[{j}]"
            c.get(answer, "expert", r, lambda v: v in pseudonyms, "one of the panel's pseudonyms")
            key = c.get(answer, "item", r, lambda v: v in items, "one of the archive's items")
            c.get(
                answer,
                "question",
                r,
                _member_of(items[key][1]),
                "one of the item's questions",
            )
            c.get(
                answer,
                "version",
                r,
                _member_of(items[key][0]),
                "one of the item's versions",
            )
            c.get(answer, "value", r, _is_number_or_none, "a number or null")
            c.get(answer, "value_json", r, _is_dict_or_none, "an object or null")
            c.get(answer, "text", r, _is_text_or_none, "text or null")
            for name in ("no_answer", "is_current", "synthetic"):
                c.get(answer, name, r, _is_bool, "true or false")
            c.get(answer, "revision", r, _is_int, "a whole number")
            _parse_day(c.get(answer, "date", r, _is_text, "a date"), f"{r}.date")
        snapshot = c.get(round_, "snapshot", q, _is_dict_or_none, "an object or null")
        if snapshot is not None:
            r = f"{q}.snapshot"
            _parse_moment(
                c.get(snapshot, "created_at", r, _is_text, "a timestamp"), f"{r}.created_at"
            )
            data = c.get(snapshot, "data", r, _is_dict, "an object")
            c.get(data, "items", f"{r}.data", _is_dict, "an object")
            c.get(snapshot, "answer_count", r, _is_int, "a whole number")
            c.get(snapshot, "answers_digest", r, _is_text, "text")
    for i, suggestion in enumerate(c.get(study, "suggestions", p, _is_list, "a list")):
        q = f"{p}.suggestions[{i}]"
        c.get(suggestion, "round", q, lambda v: v in numbers, "one of the archive's rounds")
        for name in ("text", "language", "status"):
            c.get(suggestion, name, q, _is_text, "text")
        c.get(
            suggestion,
            "item",
            q,
            lambda v: v is None or v in items,
            "one of the archive's items or null",
        )
        _parse_day(c.get(suggestion, "date", q, _is_text, "a date"), f"{q}.date")


def import_archive(session: Session, raw: bytes, *, actor: User | None, now: datetime) -> Study:
    """Create a study from an archive, all or nothing (a damaged archive imports nothing)."""
    payload = read_archive(raw)
    if session.scalar(select(Study.id).where(Study.key == payload["key"])) is not None:
        raise ArchiveError(
            f"A study with the key '{payload['key']}' exists already. Nothing was imported.",
            {"study.key": ["Already used by another study."]},
        )
    try:
        with session.begin_nested():
            study = _write_study(session, payload, actor=actor)
            audit.record(
                session,
                action="study.import",
                now=now,
                actor=actor,
                study=study,
                target=f"study {study.key}",
                rounds=len(payload["rounds"]),
                panel=len(payload["panel"]),
            )
    except IntegrityError as error:
        raise ArchiveError(
            f"The archive contradicts itself ({error.orig}). Nothing was imported."
        ) from None
    return study


def _write_study(session: Session, data: Mapping[str, Any], *, actor: User | None) -> Study:
    """Write every part of a checked archive payload."""
    study = Study(
        key=data["key"],
        title=data["title"],
        description=data["description"],
        source=data["source"],
        horizon=data["horizon"],
        languages=list(data["languages"]),
        default_language=data["default_language"],
        anonymity=data["anonymity"],
        k=data["k"],
        k_comments=data["k_comments"],
        round_limit=data["round_limit"],
        quantile_method=data["quantile_method"],
        reason_outside_iqr=data["reason_outside_iqr"],
        suggestions_enabled=data["suggestions_enabled"],
        consensus_rule=data["consensus_rule"],
        stability_rule=data["stability_rule"],
        compare_presets=list(data["compare_presets"]),
        welcome=data["welcome"],
        consent=data["consent"],
        definition=data["definition"],
        definition_hash=data["definition_hash"],
        status=data["status"],
        created_at=_parse_moment(data["created_at"], "created_at"),
        launched_at=_parse_moment(data["launched_at"], "launched_at"),
        finished_at=_parse_moment(data["finished_at"], "finished_at"),
        created_by_id=actor.id if actor is not None else None,
    )
    session.add(study)
    if actor is not None:
        study.members.append(StudyMember(user_id=actor.id, role=MemberRole.OWNER))
    scales = {
        s["key"]: Scale(
            key=s["key"],
            kind=s["kind"],
            min=s["min"],
            max=s["max"],
            step=s["step"],
            labels=s["labels"],
            bipolar=s["bipolar"],
            agree_region=s["agree_region"],
            agree_within=s["agree_within"],
            consensus=s["consensus"],
            unit=s["unit"],
        )
        for s in data["scales"]
    }
    study.scales.extend(scales.values())
    categories = {
        c["key"]: Category(key=c["key"], label=c["label"], position=c["position"])
        for c in data["categories"]
    }
    study.categories.extend(categories.values())
    items: dict[str, Item] = {}
    versions: dict[tuple[str, int], ItemVersion] = {}
    questions: dict[tuple[str, str], Question] = {}
    for entry in data["items"]:
        item = Item(
            key=entry["key"],
            kind=entry["kind"],
            category=categories[entry["category"]] if entry["category"] else None,
            position=entry["position"],
            source=entry["source"],
            status=entry["status"],
            retired_in_round=entry["retired_in_round"],
            retired_reason=entry["retired_reason"],
            true_value=entry["true_value"],
            unit=entry["unit"],
            baseline=entry["baseline"],
            relative_impacts=entry["relative_impacts"],
            origin=entry["origin"],
        )
        for v in entry["versions"]:
            version = ItemVersion(
                number=v["number"],
                title=v["title"],
                text=v["text"],
                change_note=v["change_note"],
                introduced_in_round=v["introduced_in_round"],
                created_at=_parse_moment(v["created_at"], "created_at"),
            )
            item.versions.append(version)
            versions[(entry["key"], v["number"])] = version
        for q in entry["questions"]:
            question = Question(
                key=q["key"],
                kind=q["kind"],
                position=q["position"],
                scale=scales[q["scale"]] if q["scale"] else None,
                prompt=q["prompt"],
                help=q["help"],
                required=q["required"],
                allow_no_answer=q["allow_no_answer"],
                config=q["config"],
                from_round=q["from_round"],
            )
            item.questions.append(question)
            questions[(entry["key"], q["key"])] = question
        study.items.append(item)
        items[entry["key"]] = item
    for s in data["scenarios"]:
        study.scenarios.append(
            Scenario(
                key=s["key"],
                title=s["title"],
                description=s["description"],
                expression=s["expression"],
                position=s["position"],
            )
        )
    session.flush()
    for entry in data["items"]:
        if entry["merged_into"]:
            items[entry["key"]].merged_into_id = items[entry["merged_into"]].id
    participations = {
        member["pseudonym"]: _participation(session, study, member) for member in data["panel"]
    }
    session.flush()
    for r in data["rounds"]:
        _write_round(session, study, r, items, versions, questions, participations)
    rounds = {r.number: r for r in session.scalars(select(Round).where(Round.study_id == study.id))}
    for s in data["suggestions"]:
        session.add(
            Suggestion(
                study_id=study.id,
                round_id=rounds[s["round"]].id,
                text=s["text"],
                language=s["language"],
                status=s["status"],
                item_id=items[s["item"]].id if s["item"] else None,
                created_at=_parse_day(s["date"], "date"),
            )
        )
    session.flush()
    return study


def _participation(session: Session, study: Study, member: Mapping[str, Any]) -> Participation:
    """A panel member of an imported study: a placeholder person (archives carry no identities)."""
    email = f"{member['pseudonym'].lower()}.{study.key.lower()}@archive.invalid"[:254]
    expert = session.scalar(select(Expert).where(Expert.email == email))
    if expert is None:
        expert = Expert(email=email)
        session.add(expert)
    participation = Participation(
        study=study,
        expert=expert,
        name=f"Archived {member['pseudonym']}",
        group=member["group"],
        language=member["language"],
        expertise=member["expertise"],
        pseudonym=member["pseudonym"],
        status=member["status"],
        consent_at=_parse_day(member["consent"], "consent"),
        synthetic=member["synthetic"],
    )
    session.add(participation)
    return participation


def _write_round(
    session: Session,
    study: Study,
    data: Mapping[str, Any],
    items: Mapping[str, Item],
    versions: Mapping[tuple[str, int], ItemVersion],
    questions: Mapping[tuple[str, str], Question],
    participations: Mapping[str, Participation],
) -> None:
    """One round with its items, progress, answers and snapshot."""
    round_ = Round(
        study_id=study.id,
        number=data["number"],
        state=data["state"],
        created_at=_parse_moment(data["created_at"], "created_at"),
        opened_at=_parse_moment(data["opened_at"], "opened_at"),
        deadline=_parse_moment(data["deadline"], "deadline"),
        closed_at=_parse_moment(data["closed_at"], "closed_at"),
        message=data["message"],
        synthetic=data["synthetic"],
    )
    for entry in data["items"]:
        round_.items.append(
            RoundItem(
                item_id=items[entry["item"]].id,
                version=versions[(entry["item"], entry["version"])],
                position=entry["position"],
            )
        )
    session.add(round_)
    session.flush()
    for entry in data["progress"]:
        session.add(
            RoundProgress(
                participation_id=participations[entry["expert"]].id,
                round_id=round_.id,
                started_at=_parse_day(entry["started"], "started"),
                last_saved_at=_parse_day(entry["last_saved"], "last_saved"),
                submitted_at=_parse_day(entry["submitted"], "submitted"),
                submit_count=entry["submit_count"],
            )
        )
    for entry in data["answers"]:
        normalised = Normalised(
            entry["value"], entry["value_json"], entry["text"], entry["no_answer"]
        )
        session.add(
            Answer(
                participation_id=participations[entry["expert"]].id,
                round_id=round_.id,
                item_version_id=versions[(entry["item"], entry["version"])].id,
                question_id=questions[(entry["item"], entry["question"])].id,
                value=entry["value"],
                value_json=entry["value_json"],
                text=entry["text"],
                no_answer=entry["no_answer"],
                revision=entry["revision"],
                is_current=entry["is_current"],
                payload_hash=normalised.digest(),
                synthetic=entry["synthetic"],
                created_at=_parse_day(entry["date"], "date"),
            )
        )
    snapshot = data["snapshot"]
    if snapshot is not None:
        content = json.loads(json.dumps(snapshot["data"]))
        for key, entry in content.get("items", {}).items():
            if isinstance(entry, dict) and key in items:
                entry["item_id"] = items[key].id
        session.add(
            Snapshot(
                round_id=round_.id,
                created_at=_parse_moment(snapshot["created_at"], "created_at"),
                data=content,
                answer_count=snapshot["answer_count"],
                answers_digest=snapshot["answers_digest"],
            )
        )
    session.flush()


def panel_counts(session: Session, study: Study) -> dict[str, dict[str, int]]:
    """Panel members per group and status (counts only)."""
    counts: dict[str, dict[str, int]] = {}
    rows = session.execute(
        select(Participation.group, Participation.status, func.count())
        .where(Participation.study_id == study.id)
        .group_by(Participation.group, Participation.status)
    ).tuples()
    for group, status, count in rows:
        counts.setdefault(group or "", {s.value: 0 for s in ParticipationStatus})[status] = count
    return dict(sorted(counts.items()))
