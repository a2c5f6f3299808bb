"""Reading a study archive back: an untrusted file, checked whole before anything is written.

`read_archive` checks the envelope (format, version, checksum), reads the study into typed
records (every field's type, with its path) and checks what they mean (`archive_check`: the
settings a survey file is held to, references between parts, frozen statistics within k).
Every problem is listed in one ArchiveError; `import_archive` then writes everything in one
savepoint, so a bad archive imports nothing. An anonymous study imports without expert-side
dates, languages, statuses or progress, whatever the file says (older archives carried them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.definitions.model import Anonymity
from app.models import (
    Answer,
    Category,
    Expert,
    Item,
    ItemVersion,
    MemberRole,
    PairAssignment,
    Participation,
    ParticipationStatus,
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
)
from app.services import audit
from app.services.answers import Normalised
from app.services.exports.archive_check import check_archive, parse_day, parse_moment
from app.services.exports.archive_schema import (
    ARCHIVE_FORMAT,
    MAX_ARCHIVE_BYTES,
    READABLE_VERSIONS,
    ArchiveError,
    ArchiveStudy,
    MemberRecord,
    Problems,
    RoundRecord,
    canonical_json,
    from_data,
)

#: nesting deeper than this is no archive the platform writes (snapshots nest about 10 deep)
MAX_DEPTH = 64


def _nothing(message: str) -> ArchiveError:
    """An error about the whole file."""
    return ArchiveError(f"{message} Nothing was imported.")


def _walk(value: Any, depth: int = 0) -> Iterator[tuple[Any, int]]:
    """Every value in parsed JSON, with its depth."""
    yield value, depth
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, depth + 1
            yield from _walk(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, depth + 1)


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity are not JSON; the platform never writes them."""
    raise ValueError(f"{name} is not a number an archive may hold")


def read_archive(raw: bytes) -> ArchiveStudy:
    """The archive's study, after checking its envelope, every field and what the fields mean."""
    if len(raw) > MAX_ARCHIVE_BYTES:
        raise _nothing(f"The archive is larger than {MAX_ARCHIVE_BYTES // (1024 * 1024)} MB.")
    try:
        envelope = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise _nothing(f"The archive is not valid JSON ({str(error)[:200]}).") from None
    except RecursionError:
        raise _nothing("The archive is nested too deeply to be a study archive.") from None
    for value, depth in _walk(envelope):
        if depth > MAX_DEPTH:
            raise _nothing("The archive is nested too deeply to be a study archive.")
        if isinstance(value, str) and "\x00" in value:
            raise _nothing("The archive contains a NUL character, which no study text holds.")
    if not isinstance(envelope, dict) or envelope.get("format") != ARCHIVE_FORMAT:
        raise _nothing("This file is not a study archive.")
    if envelope.get("version") not in READABLE_VERSIONS:
        raise _nothing(
            f"This archive has format version {str(envelope.get('version'))[:20]!r}; this "
            f"platform reads versions {', '.join(map(str, READABLE_VERSIONS))}."
        )
    payload = envelope.get("study")
    if not isinstance(payload, dict):
        raise _nothing("The archive has no study.")
    digest = hashlib.sha256(canonical_json(payload)).hexdigest()
    if digest != envelope.get("sha256"):
        raise _nothing(
            "The archive's checksum does not match its content: the file is damaged or was edited."
        )
    problems = Problems()
    study = from_data(ArchiveStudy, payload, "study", problems)
    if study is not None:
        check_archive(study, problems)
    if study is None or problems:
        raise problems.error("The archive cannot be imported.")
    return study


def import_archive(session: Session, raw: bytes, *, actor: User | None, now: datetime) -> Study:
    """Create a study from an archive, all or nothing (a damaged archive imports nothing)."""
    record = read_archive(raw)
    if session.scalar(select(Study.id).where(Study.key == record.key)) is not None:
        raise ArchiveError(
            f"A study with the key '{record.key}' exists already. Nothing was imported.",
            {"study.key": ["Already used by another study."]},
        )
    try:
        with session.begin_nested():
            study = _write_study(session, record, actor=actor)
            audit.record(
                session,
                action="study.import",
                now=now,
                actor=actor,
                study=study,
                target=f"study {study.key}",
                rounds=len(record.rounds),
                panel=len(record.panel),
            )
    except IntegrityError as error:
        raise ArchiveError(
            f"The archive contradicts itself ({str(error.orig)[:300]}). Nothing was imported."
        ) from None
    return study


def _moment(value: str | None) -> datetime | None:
    """A timestamp the checks have already accepted."""
    return parse_moment(value)


def _required(value: str) -> datetime:
    """A timestamp that is never missing."""
    moment = parse_moment(value)
    if moment is None:  # read_archive checked it; this keeps the types honest
        raise ArchiveError("A required timestamp is missing. Nothing was imported.")
    return moment


def _write_study(session: Session, data: ArchiveStudy, *, actor: User | None) -> Study:
    """Write every part of a checked archive."""
    study = Study(
        key=data.key,
        title=data.title,
        description=data.description,
        source=data.source,
        horizon=data.horizon,
        languages=list(data.languages),
        default_language=data.default_language,
        anonymity=data.anonymity,
        k=data.k,
        k_comments=data.k_comments,
        round_limit=data.round_limit,
        quantile_method=data.quantile_method,
        reason_outside_iqr=data.reason_outside_iqr,
        suggestions_enabled=data.suggestions_enabled,
        consensus_rule=data.consensus_rule,
        stability_rule=data.stability_rule,
        compare_presets=list(data.compare_presets),
        welcome=data.welcome,
        consent=data.consent,
        definition=data.definition,
        definition_hash=data.definition_hash,
        status=data.status,
        created_at=_required(data.created_at),
        launched_at=_moment(data.launched_at),
        finished_at=_moment(data.finished_at),
        conditional_pairs_per_expert=data.conditional_pairs_per_expert,
        page_by=data.page_by,
        answers_withdrawn=data.answers_withdrawn,
        created_by_id=actor.id if actor is not None else None,
    )
    session.add(study)
    if actor is not None:
        study.members.append(StudyMember(user_id=actor.id, role=MemberRole.OWNER))
    scales = {
        s.key: Scale(
            key=s.key,
            kind=s.kind,
            min=s.min,
            max=s.max,
            step=s.step,
            labels=s.labels,
            bipolar=s.bipolar,
            agree_region=s.agree_region,
            agree_within=s.agree_within,
            consensus=s.consensus,
            unit=s.unit,
        )
        for s in data.scales
    }
    study.scales.extend(scales.values())
    categories = {
        c.key: Category(key=c.key, label=c.label, position=c.position) for c in data.categories
    }
    study.categories.extend(categories.values())
    items: dict[str, Item] = {}
    versions: dict[tuple[str, int], ItemVersion] = {}
    questions: dict[tuple[str, str], Question] = {}
    for entry in data.items:
        item = Item(
            key=entry.key,
            kind=entry.kind,
            category=categories[entry.category] if entry.category else None,
            position=entry.position,
            source=entry.source,
            status=entry.status,
            retired_in_round=entry.retired_in_round,
            retired_reason=entry.retired_reason,
            true_value=entry.true_value,
            unit=entry.unit,
            baseline=entry.baseline,
            relative_impacts=entry.relative_impacts,
            origin=entry.origin,
        )
        for v in entry.versions:
            version = ItemVersion(
                number=v.number,
                title=v.title,
                text=v.text,
                change_note=v.change_note,
                introduced_in_round=v.introduced_in_round,
                created_at=_required(v.created_at),
            )
            item.versions.append(version)
            versions[(entry.key, v.number)] = version
        for q in entry.questions:
            question = Question(
                key=q.key,
                kind=q.kind,
                position=q.position,
                scale=scales[q.scale] if q.scale else None,
                prompt=q.prompt,
                help=q.help,
                required=q.required,
                allow_no_answer=q.allow_no_answer,
                config=q.config,
                from_round=q.from_round,
            )
            item.questions.append(question)
            questions[(entry.key, q.key)] = question
        study.items.append(item)
        items[entry.key] = item
    for s in data.scenarios:
        study.scenarios.append(
            Scenario(
                key=s.key,
                title=s.title,
                description=s.description,
                expression=s.expression,
                position=s.position,
            )
        )
    session.flush()
    for entry in data.items:
        if entry.merged_into:
            items[entry.key].merged_into_id = items[entry.merged_into].id
    participations = {
        member.pseudonym: _participation(session, study, member) for member in data.panel
    }
    session.flush()
    for member in data.panel:
        for item_key, question_key, given in member.pairs:
            session.add(
                PairAssignment(
                    participation_id=participations[member.pseudonym].id,
                    question_id=questions[(item_key, question_key)].id,
                    given_key=given,
                    created_at=study.created_at,
                )
            )
    rounds = {
        r.number: _write_round(session, study, r, items, versions, questions, participations)
        for r in data.rounds
    }
    for suggestion in data.suggestions:
        round_ = rounds[suggestion.round]
        session.add(
            Suggestion(
                study_id=study.id,
                round_id=round_.id,
                text=suggestion.text,
                language=suggestion.language,
                status=suggestion.status,
                item_id=items[suggestion.item].id if suggestion.item else None,
                created_at=parse_day(suggestion.date) or round_.opened_at or round_.created_at,
            )
        )
    session.flush()
    return study


def _participation(session: Session, study: Study, member: MemberRecord) -> Participation:
    """A panel member of an imported study: a placeholder person (archives carry no identities)."""
    email = f"{member.pseudonym.lower()}.{study.key.lower()}@archive.invalid"[:254]
    expert = session.scalar(select(Expert).where(Expert.email == email))
    if expert is None:
        expert = Expert(email=email)
        session.add(expert)
    anonymous = study.anonymity == Anonymity.ANONYMOUS
    participation = Participation(
        study=study,
        expert=expert,
        name=f"Archived {member.pseudonym}",
        group=member.group,
        language=member.language or study.default_language,
        expertise=member.expertise,
        pseudonym=member.pseudonym,
        status=(member.status if not anonymous else None) or ParticipationStatus.INVITED,
        consent_at=None if anonymous else parse_day(member.consent),
        synthetic=member.synthetic,
    )
    if anonymous:
        participation.language = study.default_language
    session.add(participation)
    return participation


def _write_round(
    session: Session,
    study: Study,
    data: RoundRecord,
    items: Mapping[str, Item],
    versions: Mapping[tuple[str, int], ItemVersion],
    questions: Mapping[tuple[str, str], Question],
    participations: Mapping[str, Participation],
) -> Round:
    """One round with its items, progress, answers and snapshot."""
    anonymous = study.anonymity == Anonymity.ANONYMOUS
    round_ = Round(
        study_id=study.id,
        number=data.number,
        state=data.state,
        created_at=_required(data.created_at),
        opened_at=_moment(data.opened_at),
        deadline=_moment(data.deadline),
        closed_at=_moment(data.closed_at),
        message=data.message,
        synthetic=data.synthetic,
    )
    for entry in data.items:
        round_.items.append(
            RoundItem(
                item_id=items[entry.item].id,
                version=versions[(entry.item, entry.version)],
                position=entry.position,
            )
        )
    session.add(round_)
    session.flush()
    # an undated answer gets the round's own time: the same for everyone, so it tells nothing
    undated = round_.closed_at or round_.opened_at or round_.created_at
    for progress in [] if anonymous else data.progress:
        session.add(
            RoundProgress(
                participation_id=participations[progress.expert].id,
                round_id=round_.id,
                started_at=parse_day(progress.started) or undated,
                last_saved_at=parse_day(progress.last_saved),
                submitted_at=parse_day(progress.submitted),
                submit_count=progress.submit_count,
            )
        )
    for answer in data.answers:
        normalised = Normalised(answer.value, answer.value_json, answer.text, answer.no_answer)
        session.add(
            Answer(
                participation_id=participations[answer.expert].id,
                round_id=round_.id,
                item_version_id=versions[(answer.item, answer.version)].id,
                question_id=questions[(answer.item, answer.question)].id,
                value=answer.value,
                value_json=answer.value_json,
                text=answer.text,
                no_answer=answer.no_answer,
                revision=answer.revision,
                is_current=answer.is_current,
                payload_hash=normalised.digest(),
                synthetic=answer.synthetic,
                kept=answer.kept,
                created_at=(None if anonymous else parse_day(answer.date)) or undated,
            )
        )
    snapshot = data.snapshot
    if snapshot is not None:
        content: dict[str, Any] = json.loads(json.dumps(snapshot.data))
        for key, entry in content.get("items", {}).items():
            if isinstance(entry, dict) and key in items:
                entry["item_id"] = items[key].id
        session.add(
            Snapshot(
                round_id=round_.id,
                created_at=_required(snapshot.created_at),
                data=content,
                answer_count=snapshot.answer_count,
                answers_digest=snapshot.answers_digest,
            )
        )
    session.flush()
    return round_
