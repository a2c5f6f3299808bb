"""The answers CSV written by PostgreSQL: each (round, item)'s lines built and ordered by the
server, so a panel of thousands streams at the speed of the database instead of a Python
function call per cell.

The bytes are those of `answers._csv_rows` through the csv module (a test compares them on
the demo): the cells that repeat (pseudonyms, groups, keys, parts, identities) are written
in Python once each and handed to the query as arrays; the server writes only the round,
version, value, flags and free text of each line. Whatever the server would not write as
Python does (numbers of 10^15 and more, NaN, a JSON value that is not a number) sends the
whole (round, item) back through the Python writer, so no byte depends on which wrote it.

The server's work is most of the export, so when the export's transaction has written nothing
(the web's download commits its audit entry first, and so does `flask report`) the (round,
item)s are read on `CONNECTIONS` connections of their own at once, in order; otherwise on the
transaction's own connection, which alone sees what it wrote.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from app.definitions.model import QuestionKind
from app.models import Item, Question, Study
from app.services.linkage import Disclosure
from app.services.tidy import question_parts

#: the server's sort memory while it writes the lines (the default 4 MB spills to disk)
SORT_MEMORY = "64MB"
#: connections writing (round, item)s at once when the export's transaction has written
#: nothing (what they read is then what it would read); the server's work is most of the CSV
CONNECTIONS = 2
#: the characters that make the csv module quote a cell (delimiter, quote, line ends)
_QUOTED = (",", '"', "\r", "\n")

#: one (round, item)'s lines: its current answers read once, joined to the people it may
#: show, each giving one line per part of its question (a text question one line). Python
#: hands over each person's line start ("round,pseudonym,group,item,") and end (identities,
#: line break) and each part's ",question,part": the server adds the version, the value, the
#: flags and the free text with as few concatenations as it can
_ITEM_LINES = text(
    """
    with people as (
        select * from unnest(
            cast(:people_ids as integer[]), cast(:people_ranks as integer[]),
            cast(:people_starts as text[]), cast(:people_ends as text[])
        ) as t(id, rank, start, finish)
    ),
    parts as (
        select * from unnest(
            cast(:part_questions as integer[]), cast(:part_positions as integer[]),
            cast(:part_numbers as integer[]), cast(:part_keys as text[]),
            cast(:part_sides as text[]), cast(:part_cells as text[]),
            cast(:part_texts as boolean[])
        ) as t(question_id, position, number, key, side, cells, is_text)
    ),
    -- each answer read once (by the partial index), however many parts it has
    mine as materialized (
        select participation_id, question_id, item_version_id, value, value_json, text,
            no_answer, kept, synthetic
        from answers
        where round_id = :round_id and is_current
            and question_id = any(cast(:question_ids as integer[]))
    ),
    found as (
        select
            pe.rank, x.position, x.question_id, x.number, x.cells, x.is_text, pe.start,
            pe.finish, iv.number as version, a.no_answer, a.kept, a.synthetic, a.text,
            a.value_json, x.key, x.side, j.found as part_json,
            case
                when a.no_answer or x.is_text then null
                when x.key is null then a.value
                when jsonb_typeof(j.found) = 'number' then cast(j.found as double precision)
            end as value
        from mine a
        join people pe on pe.id = a.participation_id
        join parts x on x.question_id = a.question_id
        join item_versions iv on iv.id = a.item_version_id
        cross join lateral (
            select case
                when x.side is null then a.value_json -> x.key
                else a.value_json -> x.key -> x.side
            end as found
        ) j
    ),
    lines as (
        select
            rank, position, question_id, number,
            -- what Python would write otherwise: the group goes through the Python writer
            not no_answer and not is_text and (
                (value is not null and not abs(value) < 1e15)
                or (key is not null and value_json is not null and (
                    jsonb_typeof(value_json) not in ('object', 'null')
                    or jsonb_typeof(part_json) not in ('number', 'null')
                    or (side is not null
                        and jsonb_typeof(value_json -> key) not in ('object', 'null'))
                ))
            ) as odd,
            start || version || cells || ','
            || case
                when value is null or not abs(value) < 1e15 then ''
                when value = trunc(value) then cast(cast(value as bigint) as text)
                else cast(value as text)
            end
            || case when no_answer then ',true,' else ',false,' end
            || case when is_text then (
                -- free text as the csv module writes it, after the formula escape
                select case
                    when strpos(t.cell, ',') > 0 or strpos(t.cell, '"') > 0
                        or strpos(t.cell, chr(13)) > 0 or strpos(t.cell, chr(10)) > 0
                    then '"' || replace(t.cell, '"', '""') || '"'
                    else t.cell
                end
                from (
                    select case
                        when left(coalesce(text, ''), 1)
                            in ('=', '+', '-', '@', chr(9), chr(13))
                        then '''' || coalesce(text, '')
                        else coalesce(text, '')
                    end as cell
                ) t
            ) else '' end
            || case
                when kept and synthetic then ',true,true'
                when kept then ',true,false'
                when synthetic then ',false,true'
                else ',false,false'
            end
            || finish as line
        from found
    )
    select
        string_agg(line, '' order by rank, position, question_id, number),
        coalesce(bool_or(odd), false)
    from lines
    """
)


def csv_field(value: str) -> str:
    """A text cell as the csv module writes it (minimal quoting, quotes doubled)."""
    if any(character in value for character in _QUOTED):
        return '"' + value.replace('"', '""') + '"'
    return value


@dataclass(frozen=True)
class _ItemParts:
    """One item's questions as the query's part arrays (one entry per CSV line an answer
    gives)."""

    item_id: int
    item_cell: str
    question_ids: list[int]
    columns: dict[str, list[Any]]


def _item_parts(
    session: Session, study: Study, text_cell: Callable[[str | None], str]
) -> list[_ItemParts]:
    """Every item of the study in the export's order (position, then key as the database
    sorts it), with its questions' parts written as cells."""
    items = session.execute(
        select(Item.id, Item.key).where(Item.study_id == study.id).order_by(Item.position, Item.key)
    ).all()
    questions: dict[int, list[Question]] = {}
    for question in session.scalars(
        select(Question).join(Item, Question.item_id == Item.id).where(Item.study_id == study.id)
    ):
        questions.setdefault(question.item_id, []).append(question)
    found: list[_ItemParts] = []
    for item_id, item_key in items:
        mine = questions.get(item_id, [])
        # per line an answer gives: question id, position, part number, JSON key, side,
        # ",question,part" cells, whether it is a text question
        entries: list[tuple[int, int, int, str | None, str | None, str, bool]] = []
        for question in mine:
            head = "," + csv_field(text_cell(question.key)) + ","
            if question.kind == QuestionKind.TEXT:
                entries.append((question.id, question.position, 0, None, None, head, True))
                continue
            for number, part in enumerate(question_parts(question)):
                key: str | None = part.part or None
                side: str | None = None
                if part.kind == QuestionKind.CONDITIONAL:
                    key, _, side = part.part.partition("|")
                cells = head + csv_field(text_cell(part.part))
                entries.append((question.id, question.position, number, key, side, cells, False))
        names = ("questions", "positions", "numbers", "keys", "sides", "cells", "texts")
        found.append(
            _ItemParts(
                item_id=item_id,
                item_cell=csv_field(text_cell(item_key)),
                question_ids=[q.id for q in mine],
                columns={
                    f"part_{name}": [entry[index] for entry in entries]
                    for index, name in enumerate(names)
                },
            )
        )
    return found


def server_lines(
    session: Session,
    study: Study,
    shown: Disclosure,
    people: Sequence[tuple[int, int, str, str]],
    text_cell: Callable[[str | None], str],
    python_lines: Callable[[int, Sequence[int]], Iterable[str]],
) -> Iterator[str]:
    """The CSV lines of the shown rounds' answers, a (round, item) at a time.

    `people` is every participation as (id, its rank in the database's order of pseudonyms,
    its cells "pseudonym,group", its tail ",name,email" or ""); `python_lines(round_id,
    question_ids)` writes a (round, item) the Python way, for what the server would write
    otherwise.
    """
    parts = _item_parts(session, study, text_cell)
    for (round_id, item), lines, odd in _item_results(session, _jobs(parts, shown, people)):
        if odd:
            yield from python_lines(round_id, item.question_ids)
        elif lines:
            yield lines


#: a (round, item), and its query's parameters
_Key = tuple[int, _ItemParts]
_Job = tuple[_Key, dict[str, Any]]


def _jobs(
    parts: Sequence[_ItemParts], shown: Disclosure, people: Sequence[tuple[int, int, str, str]]
) -> Iterator[_Job]:
    """Each (round, item) of the export in order, with its query's parameters."""
    for round_id, number in sorted(shown.rounds.items(), key=lambda entry: entry[1]):
        mine = [person for person in people if shown.keeps(person[0], round_id)]
        if not mine:
            continue
        ids = [person[0] for person in mine]
        ranks = [person[1] for person in mine]
        ends = [person[3] + "\r\n" for person in mine]
        for item in parts:
            if not item.question_ids:
                continue
            after = "," + item.item_cell + ","
            yield (
                (round_id, item),
                {
                    "round_id": round_id,
                    "question_ids": item.question_ids,
                    "people_ids": ids,
                    "people_ranks": ranks,
                    "people_starts": [f"{number},{person[2]}{after}" for person in mine],
                    "people_ends": ends,
                    **item.columns,
                },
            )


def _sort_in_memory(connection: Connection) -> None:
    """A (round, item)'s lines are sorted in memory (tens of MB for a panel of thousands)
    instead of through temporary files; for the connection's transaction only."""
    connection.execute(text(f"set local work_mem = '{SORT_MEMORY}'"))


def _item_results(
    session: Session, jobs: Iterable[_Job]
) -> Iterator[tuple[_Key, str | None, bool]]:
    """Each job's (round, item), lines and whether any is odd, in order. On `CONNECTIONS` connections of their own at once
    when the session's transaction has written nothing: then they read what it would (the
    export reads committed answers either way); otherwise on the session's, one at a time."""
    connection = session.connection()
    written = connection.execute(text("select txid_current_if_assigned() is not null")).scalar()
    if written or CONNECTIONS < 2:
        _sort_in_memory(connection)
        for key, params in jobs:
            lines, odd = connection.execute(_ITEM_LINES, params).one()
            yield key, lines, bool(odd)
        return
    engine = connection.engine
    opened: list[Connection] = []
    local = threading.local()
    lock = threading.Lock()

    def run(params: dict[str, Any]) -> tuple[str | None, bool]:
        """One job on this thread's own connection."""
        own: Connection | None = getattr(local, "connection", None)
        if own is None:
            own = local.connection = engine.connect()
            with lock:
                opened.append(own)
            _sort_in_memory(own)
        lines, odd = own.execute(_ITEM_LINES, params).one()
        return lines, bool(odd)

    pending: deque[tuple[_Key, Future[tuple[str | None, bool]]]] = deque()
    pool = ThreadPoolExecutor(max_workers=CONNECTIONS, thread_name_prefix="csv-lines")
    try:
        for key, params in jobs:
            pending.append((key, pool.submit(run, params)))
            # one more job queued than connections, so none waits for the next to be asked
            if len(pending) > CONNECTIONS:
                done, future = pending.popleft()
                yield (done, *future.result())
        while pending:
            done, future = pending.popleft()
            yield (done, *future.result())
    finally:
        for _done, future in pending:
            future.cancel()
        pool.shutdown(wait=True)
        for own in opened:
            own.close()
