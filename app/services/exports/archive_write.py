"""Writing the study archive: the database as `ArchiveStudy` records, then canonical JSON.

What the archive of an anonymous study shows about each pseudonym is what the linkage model
allows (app.services.linkage): only closed rounds' answers, the group an export may show, no
participation pattern fewer than k pseudonyms share, and no expert-side date, language, status,
consent or progress. Confidential studies keep all of it, to the day.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import tempfile
import uuid
from collections import deque
from collections.abc import Collection, Generator, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, BinaryIO

import orjson
from sqlalchemy import Connection, Engine, Select, Text, cast, select
from sqlalchemy.orm import Session

from app import jsoncodec
from app.collector import collections_paused, full_collections_held
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
from app.services.exports.common import transaction_has_written, write_chunks
from app.services.linkage import Disclosure, disclosure
from app.services.read_ahead import ReadAhead
from app.services.tidy import STREAM_ROWS

#: the archive's study is spooled in memory up to this size, then on disk
SPOOL_BYTES = 16 * 1024 * 1024
#: bytes handed on at a time when the archive is streamed
CHUNK_BYTES = 1024 * 1024
#: canonical JSON of one value (archive_schema.canonical_json's settings, as text)
_ENCODE = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
).encode


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


def archive_record(
    session: Session, study: Study, *, answers: bool = True, shown: Disclosure | None = None
) -> ArchiveStudy:
    """The whole study as archive records: definition, items and versions, panel (pseudonyms
    only), rounds with answers and snapshots, suggestions. No ids, names or emails.

    Without `answers` the rounds list none (a writer streams them: `archive_chunks`)."""
    if shown is None:
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
        rounds=[_round(session, r, item_keys, pseudonyms, shown, answers=answers) for r in rounds],
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


def _answer_query(
    round_id: int, *, in_order: bool, postgres: bool, json_text: bool = False
) -> Select[Any]:
    """Every revision of every answer of a round, as columns; `in_order` sorts them as the
    archive lists them (pseudonym, item, question, revision), by code point as Python does;
    `json_text` reads value_json as the stored text (for the caller to decode)."""
    query = (
        select(
            Answer.participation_id,
            Participation.pseudonym,
            Item.key,
            Question.key,
            ItemVersion.number,
            Answer.value,
            cast(Answer.value_json, Text) if json_text else Answer.value_json,
            Answer.text,
            Answer.no_answer,
            Answer.revision,
            Answer.is_current,
            Answer.synthetic,
            Answer.created_at,
            Answer.kept,
        )
        .join(Participation, Answer.participation_id == Participation.id)
        .join(Question, Answer.question_id == Question.id)
        .join(Item, Question.item_id == Item.id)
        .join(ItemVersion, Answer.item_version_id == ItemVersion.id)
        .where(Answer.round_id == round_id)
    )
    if not in_order:
        return query
    # PostgreSQL sorts text by the database's collation; "C" is code point order (SQLite's
    # default already is)
    keys: list[Any] = [Participation.pseudonym, Item.key, Question.key]
    if postgres:
        keys = [key.collate("C") for key in keys]
    return query.order_by(*keys, Answer.revision)


#: where `_answer_query`'s rows hold the answer's value_json and creation time
_VALUE_JSON, _CREATED = 6, 12


def _answer_record(row: Sequence[Any], date: str | None) -> dict[str, Any]:
    """A row of `_answer_query` as the archive's answer record (the fields of AnswerRecord,
    built directly: asdict() copies every value again)."""
    (
        _participation_id,
        pseudonym,
        item_key,
        question_key,
        version,
        value,
        value_json,
        text,
        no_answer,
        revision,
        is_current,
        synthetic,
        _created_at,
        kept,
    ) = row
    return {
        "expert": pseudonym,
        "item": item_key,
        "question": question_key,
        "version": version,
        "value": value,
        "value_json": value_json,
        "text": text,
        "no_answer": no_answer,
        "revision": revision,
        "is_current": is_current,
        "synthetic": synthetic,
        "date": date,
        "kept": kept,
    }


def _answers(
    session: Session, round_id: int, shown: Disclosure, *, in_order: bool
) -> Iterator[dict[str, Any]]:
    """A round's answers as the archive's records (`AnswerRecord` as data), read as they come."""
    postgres = session.get_bind().dialect.name == "postgresql"
    rows = session.execute(
        _answer_query(round_id, in_order=in_order, postgres=postgres),
        execution_options={"yield_per": STREAM_ROWS},
    ).tuples()
    for row in rows:
        if not shown.keeps(row[0], round_id):
            continue
        yield _answer_record(row, None if shown.protected else day(row[_CREATED]))


def _row_chunks(connection: Connection, query: Select[Any]) -> Iterator[Sequence[tuple[Any, ...]]]:
    """A query's rows as plain tuples, `STREAM_ROWS` at a time. On PostgreSQL straight from
    the driver's server-side cursor: a large archive reads millions of rows, and the result
    processing per row cost more than encoding it."""
    if connection.dialect.name != "postgresql":
        result = connection.execute(query, execution_options={"yield_per": STREAM_ROWS})
        yield from result.tuples().partitions()
        return
    compiled = query.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    driver: Any = connection.connection.driver_connection
    with driver.cursor(name=f"archive_{uuid.uuid4().hex}") as cursor:
        cursor.execute(str(compiled), compiled.params)
        while chunk := cursor.fetchmany(STREAM_ROWS):
            yield chunk


def _answer_chunks(
    connection: Connection, round_id: int, postgres: bool
) -> Iterator[list[tuple[Any, ...]]]:
    """`_answer_query`'s rows in the archive's order, a chunk at a time, their JSON values
    decoded in one call per chunk (exactly as the column's type decodes them one by one)."""
    query = _answer_query(round_id, in_order=True, postgres=postgres, json_text=True)
    for chunk in _row_chunks(connection, query):
        documents = jsoncodec.loads_all([row[_VALUE_JSON] for row in chunk])
        yield [
            (*row[:_VALUE_JSON], document, *row[_VALUE_JSON + 1 :])
            for row, document in zip(chunk, documents, strict=True)
        ]


#: rounds whose answers are read at once, each on a connection of its own, when the archive's
#: transaction has written nothing: the next round's query sorts on the server while this
#: round's answers are encoded
ROUNDS_AT_ONCE = 2
#: chunks a round's reader fetches ahead of the encoder
_CHUNKS_AHEAD = 4


def _round_reader(engine: Engine, round_id: int) -> ReadAhead[list[tuple[Any, ...]]]:
    """One round's answer chunks, read by a thread of their own on a connection of its own
    (started at once, so that the server sorts the round before it is asked for)."""

    def chunks() -> Iterator[list[tuple[Any, ...]]]:
        with engine.connect() as own:
            yield from _answer_chunks(own, round_id, postgres=True)

    return ReadAhead(chunks, depth=_CHUNKS_AHEAD, name="archive-round")


def _rounds_rows(
    session: Session, round_ids: Sequence[int], postgres: bool, shown: Collection[int]
) -> Generator[Iterator[tuple[Any, ...]], None, None]:
    """Each round's answer rows in the archive's order, round after round (each must be read
    to its end, or left, before the next is asked for); none for a round not `shown`. On
    PostgreSQL, when the archive's transaction has written nothing, `ROUNDS_AT_ONCE` shown
    rounds are read at once on connections of their own (they read what it would); otherwise
    on the session's, one at a time."""
    connection = session.connection()
    if not postgres or ROUNDS_AT_ONCE < 2 or transaction_has_written(connection):
        for round_id in round_ids:
            if round_id not in shown:
                yield iter(())
                continue
            yield (row for chunk in _answer_chunks(connection, round_id, postgres) for row in chunk)
        return
    engine = connection.engine
    waiting = iter([r for r in round_ids if r in shown])
    readers = deque(_round_reader(engine, r) for r in itertools.islice(waiting, ROUNDS_AT_ONCE))
    try:
        for round_id in round_ids:
            if round_id not in shown:
                yield iter(())
                continue
            yield (row for chunk in readers[0] for row in chunk)
            readers.popleft().close()
            following = next(waiting, None)
            if following is not None:
                readers.append(_round_reader(engine, following))
    finally:
        for reader in readers:
            reader.close()


def _encoded_answers(
    rows: Iterator[tuple[Any, ...]], round_id: int, shown: Disclosure
) -> Iterator[bytes]:
    """A round's answers in the archive's order as canonical JSON (`_ENCODE` of what
    `_answers` yields, byte for byte), a few thousand records at a time joined by commas.

    orjson encodes them; a record whose bytes could differ from the standard library's (a
    number under 10^-4, a NaN, an integer past 64 bits) is encoded by the standard library.
    """
    protected = shown.protected
    number = shown.rounds.get(round_id)
    if number is None:
        return
    # who may be shown in this round, looked up once per row as a set (None: everyone)
    allowed = (
        None
        if shown.kept is None
        else {who for who, rounds in shown.kept.items() if number in rounds}
    )
    dumps, sort_keys, isfinite = orjson.dumps, orjson.OPT_SORT_KEYS, math.isfinite
    batch: list[bytes] = []
    for row in rows:
        if allowed is not None and row[0] not in allowed:
            continue
        record = _answer_record(row, None if protected else _stored_day(row[_CREATED]))
        value = record["value"]
        try:
            encoded = dumps(record, option=sort_keys)
        except orjson.JSONEncodeError:
            encoded = b""
        # orjson writes numbers under 10^-4 without an exponent or with a shorter one, and
        # NaN as null where the standard library refuses it
        if (
            not encoded
            or b"e-" in encoded
            or b"0.0000" in encoded
            or (value is not None and not isfinite(value))
        ):
            encoded = _ENCODE(record).encode("utf-8")
        batch.append(encoded)
        if len(batch) >= STREAM_ROWS:
            yield b",".join(batch)
            batch = []
    if batch:
        yield b",".join(batch)


def _stored_day(moment: datetime) -> str:
    """`day` of a timestamp as the database returns it (naive UTC on PostgreSQL)."""
    return day(moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)) or ""


def _round(
    session: Session,
    round_: Round,
    item_keys: Mapping[int, str],
    pseudonyms: Mapping[int, str],
    shown: Disclosure,
    *,
    answers: bool = True,
) -> RoundRecord:
    """One round of the archive, with the answers and progress the linkage model lets out
    (without the answers: `answers` False, for a writer that streams them)."""
    answer_list = (
        sorted(
            (
                AnswerRecord(**record)
                for record in _answers(session, round_.id, shown, in_order=False)
            ),
            key=lambda a: (a.expert, a.item, a.question, a.revision),
        )
        if answers
        else []
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
    return b"".join(archive_chunks(session, study))


def write_archive(session: Session, study: Study, target: BinaryIO) -> int:
    """Write the study archive to a file piece by piece; the number of bytes written."""
    return write_chunks(target, archive_chunks(session, study))


def archive_chunks(session: Session, study: Study) -> Iterator[bytes]:
    """The bytes of the study archive, piece by piece, in constant memory.

    The same bytes as the canonical JSON of the whole record: the study without its answers is
    encoded once, with a marker where each round's answers go; the answers are read in the
    archive's order and encoded one by one into the gaps. The study's digest comes before it
    in the envelope, so the study is first spooled (to disk past `SPOOL_BYTES`) while hashed.
    """
    shown = disclosure(session, study)
    # the record of a panel of thousands: no full collection walks it again and again
    with full_collections_held():
        record = archive_record(session, study, answers=False, shown=shown)
        payload = to_data(record)
    marker = f"answers-{uuid.uuid4().hex}"
    round_ids = list(
        session.scalars(select(Round.id).where(Round.study_id == study.id).order_by(Round.number))
    )
    for index, entry in enumerate(payload["rounds"]):
        entry["answers"] = f"{marker}-{index}"
    rest = canonical_json(payload)
    digest = hashlib.sha256()
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:

        def out(piece: bytes) -> None:
            digest.update(piece)
            spool.write(piece)

        postgres = session.get_bind().dialect.name == "postgresql"
        rounds_rows = _rounds_rows(session, round_ids, postgres, shown.rounds)
        # millions of records, none in a cycle, are made and dropped: no collection meanwhile
        # (app/collector.py; the collector's passes were an eighth of the archive's time)
        with collections_paused(), contextlib.closing(rounds_rows):
            for index, (round_id, rows) in enumerate(zip(round_ids, rounds_rows, strict=True)):
                before, rest = rest.split(canonical_json(f"{marker}-{index}"), 1)
                out(before)
                out(b"[")
                first = True
                for answers in _encoded_answers(rows, round_id, shown):
                    out(answers if first else b"," + answers)
                    first = False
                out(b"]")
        # (closing: the readers' threads and connections are let go however this ends)
        out(rest)
        envelope = canonical_json(
            {
                "format": ARCHIVE_FORMAT,
                "version": ARCHIVE_VERSION,
                "sha256": digest.hexdigest(),
                "study": marker,
            }
        )
        head, tail = envelope.split(canonical_json(marker), 1)
        yield head
        spool.seek(0)
        while chunk := spool.read(CHUNK_BYTES):
            yield chunk
        yield tail + b"\n"
