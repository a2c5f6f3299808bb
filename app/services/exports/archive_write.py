"""Writing the study archive: the database as `ArchiveStudy` records, then canonical JSON.

What the archive of an anonymous study shows about each pseudonym is what the linkage model
allows (app.services.linkage): only closed rounds' answers, the group an export may show, no
participation pattern fewer than k pseudonyms share, and no expert-side date, language, status,
consent or progress. Confidential studies keep all of it, to the day.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    Answer,
    Item,
    ItemVersion,
    Participation,
    Question,
    Round,
    RoundProgress,
    Study,
    Suggestion,
)
from app.services import burden
from app.services.exports.archive_schema import (
    ARCHIVE_FORMAT,
    ARCHIVE_VERSION,
    AnswerRecord,
    ArchiveStudy,
    CategoryRecord,
    ItemRecord,
    MemberRecord,
    ProgressRecord,
    QuestionRecord,
    RoundItemRecord,
    RoundRecord,
    ScaleRecord,
    ScenarioRecord,
    SnapshotRecord,
    SuggestionRecord,
    VersionRecord,
    canonical_json,
    to_data,
)
from app.services.linkage import Disclosure, disclosure


def iso(moment: datetime | None) -> str | None:
    """A timestamp in ISO 8601 (UTC)."""
    return None if moment is None else moment.astimezone(UTC).isoformat()


def day(moment: datetime | None) -> str | None:
    """Only the day of an expert-side timestamp."""
    return None if moment is None else moment.astimezone(UTC).date().isoformat()


def _required_iso(moment: datetime) -> str:
    """A timestamp that is never missing."""
    return moment.astimezone(UTC).isoformat()


def _snapshot_out(data: Mapping[str, Any]) -> dict[str, Any]:
    """Snapshot data without database ids (items are named by their keys already)."""
    copy: dict[str, Any] = json.loads(json.dumps(data))
    for entry in copy.get("items", {}).values():
        if isinstance(entry, dict):
            entry.pop("item_id", None)
    return copy


def _item(item: Item, item_keys: Mapping[int, str], scale_keys: Mapping[int, str]) -> ItemRecord:
    """An item with its wordings and questions."""
    return ItemRecord(
        key=item.key,
        kind=item.kind,
        category=item.category.key if item.category else None,
        position=item.position,
        source=item.source,
        status=item.status,
        retired_in_round=item.retired_in_round,
        retired_reason=item.retired_reason,
        merged_into=item_keys.get(item.merged_into_id) if item.merged_into_id else None,
        true_value=item.true_value,
        unit=item.unit,
        baseline=item.baseline,
        relative_impacts=item.relative_impacts,
        origin=item.origin,
        versions=[
            VersionRecord(
                number=v.number,
                title=v.title,
                text=v.text,
                change_note=v.change_note,
                introduced_in_round=v.introduced_in_round,
                created_at=_required_iso(v.created_at),
            )
            for v in sorted(item.versions, key=lambda v: v.number)
        ],
        questions=[
            QuestionRecord(
                key=q.key,
                kind=q.kind,
                position=q.position,
                scale=scale_keys.get(q.scale_id) if q.scale_id else None,
                prompt=q.prompt,
                help=q.help,
                required=q.required,
                allow_no_answer=q.allow_no_answer,
                config=q.config,
                from_round=q.from_round,
            )
            for q in sorted(item.questions, key=lambda q: (q.position, q.key))
        ],
    )


def _member(
    participation: Participation, shown: Disclosure, pairs: list[tuple[str, str, str]]
) -> MemberRecord:
    """A panel member as the archive may show them.

    Their conditional pairs stay (the study needs them to go on after an import): pairs are
    given out in a random order, so they say nothing of who joined when.
    """
    protected = shown.protected
    return MemberRecord(
        pseudonym=participation.pseudonym,
        group=shown.group(participation.id),
        language=None if protected else participation.language,
        expertise=participation.expertise,
        status=None if protected else participation.status,
        consent=None if protected else day(participation.consent_at),
        synthetic=participation.synthetic,
        pairs=[list(pair) for pair in pairs],
    )


def archive_record(session: Session, study: Study) -> ArchiveStudy:
    """The whole study as archive records: definition, items and versions, panel (pseudonyms
    only), rounds with answers and snapshots, suggestions. No ids, names or emails."""
    shown = disclosure(session, study)
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
    pairs = burden.assigned_pairs(session, study)
    rounds = list(
        session.scalars(select(Round).where(Round.study_id == study.id).order_by(Round.number))
    )
    return ArchiveStudy(
        key=study.key,
        title=study.title,
        description=study.description,
        source=study.source,
        horizon=study.horizon,
        languages=list(study.languages),
        default_language=study.default_language,
        anonymity=study.anonymity,
        k=study.k,
        k_comments=study.k_comments,
        round_limit=study.round_limit,
        quantile_method=study.quantile_method,
        reason_outside_iqr=study.reason_outside_iqr,
        suggestions_enabled=study.suggestions_enabled,
        consensus_rule=study.consensus_rule,
        stability_rule=study.stability_rule,
        compare_presets=list(study.compare_presets),
        welcome=study.welcome,
        consent=study.consent,
        definition=study.definition,
        definition_hash=study.definition_hash,
        status=study.status,
        created_at=_required_iso(study.created_at),
        launched_at=iso(study.launched_at),
        finished_at=iso(study.finished_at),
        scales=[
            ScaleRecord(
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
            for s in sorted(study.scales, key=lambda s: s.key)
        ],
        categories=[
            CategoryRecord(key=c.key, label=c.label, position=c.position)
            for c in sorted(study.categories, key=lambda c: (c.position, c.key))
        ],
        items=[_item(item, item_keys, scale_keys) for item in items],
        scenarios=[
            ScenarioRecord(
                key=s.key,
                title=s.title,
                description=s.description,
                expression=s.expression,
                position=s.position,
            )
            for s in sorted(study.scenarios, key=lambda s: (s.position, s.key))
        ],
        panel=[_member(p, shown, pairs.get(p.id, [])) for p in participations],
        rounds=[_round(session, r, item_keys, pseudonyms, shown) for r in rounds],
        suggestions=_suggestions(session, study, item_keys, shown),
        conditional_pairs_per_expert=study.conditional_pairs_per_expert,
        page_by=study.page_by,
        answers_withdrawn=study.answers_withdrawn,
    )


def _suggestions(
    session: Session, study: Study, item_keys: Mapping[int, str], shown: Disclosure
) -> list[SuggestionRecord]:
    """Suggestions by round; undated (and ordered without dates) in anonymous studies."""
    found = [
        SuggestionRecord(
            round=number,
            text=s.text,
            language=s.language,
            status=s.status,
            item=item_keys.get(s.item_id) if s.item_id else None,
            date=None if shown.protected else day(s.created_at),
        )
        for s, number in session.execute(
            select(Suggestion, Round.number)
            .join(Round, Suggestion.round_id == Round.id)
            .where(Suggestion.study_id == study.id)
            .order_by(Round.number, Suggestion.created_at, Suggestion.text)
        ).tuples()
    ]
    if shown.protected:
        found.sort(key=lambda s: (s.round, s.text, s.language, s.status, s.item or ""))
    return found


def _round(
    session: Session,
    round_: Round,
    item_keys: Mapping[int, str],
    pseudonyms: Mapping[int, str],
    shown: Disclosure,
) -> RoundRecord:
    """One round of the archive, with the answers and progress the linkage model lets out."""
    answers = session.execute(
        select(Answer, Question.key, Item.key, ItemVersion.number)
        .join(Question, Answer.question_id == Question.id)
        .join(Item, Question.item_id == Item.id)
        .join(ItemVersion, Answer.item_version_id == ItemVersion.id)
        .where(Answer.round_id == round_.id)
    ).tuples()
    answer_list = sorted(
        (
            AnswerRecord(
                expert=pseudonyms[a.participation_id],
                item=item_key,
                question=question_key,
                version=version,
                value=a.value,
                value_json=a.value_json,
                text=a.text,
                no_answer=a.no_answer,
                revision=a.revision,
                is_current=a.is_current,
                synthetic=a.synthetic,
                date=None if shown.protected else day(a.created_at),
                kept=a.kept,
            )
            for a, question_key, item_key, version in answers
            if shown.keeps(a.participation_id, round_.id)
        ),
        key=lambda a: (a.expert, a.item, a.question, a.revision),
    )
    progress: list[ProgressRecord] = []
    if not shown.protected:
        progress = sorted(
            (
                ProgressRecord(
                    expert=pseudonyms[p.participation_id],
                    started=day(p.started_at) or "",
                    last_saved=day(p.last_saved_at),
                    submitted=day(p.submitted_at),
                    submit_count=p.submit_count,
                )
                for p in session.scalars(
                    select(RoundProgress).where(RoundProgress.round_id == round_.id)
                )
            ),
            key=lambda p: p.expert,
        )
    snapshot = round_.snapshot
    return RoundRecord(
        number=round_.number,
        state=round_.state,
        created_at=_required_iso(round_.created_at),
        opened_at=iso(round_.opened_at),
        deadline=iso(round_.deadline),
        closed_at=iso(round_.closed_at),
        message=round_.message,
        synthetic=round_.synthetic,
        items=[
            RoundItemRecord(
                item=item_keys[ri.item_id], version=ri.version.number, position=ri.position
            )
            for ri in sorted(round_.items, key=lambda ri: (ri.position, item_keys[ri.item_id]))
        ],
        progress=progress,
        answers=answer_list,
        snapshot=None
        if snapshot is None
        else SnapshotRecord(
            created_at=_required_iso(snapshot.created_at),
            data=_snapshot_out(snapshot.data),
            answer_count=snapshot.answer_count,
            answers_digest=snapshot.answers_digest,
        ),
    )


def export_archive(session: Session, study: Study) -> bytes:
    """The study archive: canonical JSON of {format, version, sha256, study}, ending in a newline."""
    payload = to_data(archive_record(session, study))
    digest = hashlib.sha256(canonical_json(payload)).hexdigest()
    envelope = {
        "format": ARCHIVE_FORMAT,
        "version": ARCHIVE_VERSION,
        "sha256": digest,
        "study": payload,
    }
    return canonical_json(envelope) + b"\n"
