"""The answers CSV, and the workbook's answers sheet, written by PostgreSQL: each (round,
item)'s lines built and ordered by the server, so a panel of thousands streams at the speed of
the database instead of a Python function call per cell.

One query serves both, with a line format each (`CSV_FORMAT`, `XML_FORMAT`). The CSV's bytes
are those of `answers._csv_rows` through the csv module, the sheet's cells those of
`answers.answer_cells` (tests compare them on the demo): the cells that repeat (pseudonyms,
groups, keys, parts, identities) are written in Python once each and handed to the query as
arrays; the server writes only the version, value, flags and free text of each line.
Whatever the server would not write as Python does (numbers of 10^15 and more, NaN, a JSON
value that is not a number; for the sheet, text XML cannot hold or that reads as an escape)
sends that query's lines back through the Python writer, so nothing depends on which wrote it.
A query takes an item's people a slice at a time (`LINES_PER_QUERY`).

The server's work is most of the export, so when the export's transaction has written nothing
(the web's download commits its audit entry first, and so does `flask report`) the queries
run on `CONNECTIONS` connections of their own at once, in order; otherwise on the
transaction's own connection, which alone sees what it wrote.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, TextClause, select, text
from sqlalchemy.orm import Session

from app.definitions.model import QuestionKind
from app.models import Item, Question, Study
from app.services.exports.common import transaction_has_written
from app.services.exports.xlsx import row_cell
from app.services.linkage import Disclosure
from app.services.tidy import question_parts

#: the server's sort memory while it writes the lines (the default 4 MB spills to disk)
SORT_MEMORY = "64MB"
#: connections writing (round, item)s at once when the export's transaction has written
#: nothing (what they read is then what it would read); the server's work is most of the CSV
CONNECTIONS = 2
#: about how many lines one query writes (its people are sliced to fit)
LINES_PER_QUERY = 50_000
#: the characters that make the csv module quote a cell (delimiter, quote, line ends)
_QUOTED = (",", '"', "\r", "\n")

#: one (round, item)'s lines: its current answers read once, joined to the people it may
#: show, each giving one line per part of its question (a text question one line). Python
#: hands over each person's line start and end and each part's cells (question, part),
#: written for the format; the server adds the version, the value, the flags and the free
#: text (the format's `{line}`, and `{odd}` for what it leaves to Python) with as few
#: concatenations as it can
_ITEM_QUERY = """
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
            and participation_id = any(cast(:people_ids as integer[]))
    ),
    found as (
        select
            pe.rank, x.position, x.question_id, x.number, x.cells, x.is_text, pe.start,
            pe.finish, iv.number as version, a.no_answer, a.kept, a.synthetic,
            -- free text after the formula escape, as every format writes it
            case when x.is_text then (
                case
                    when left(coalesce(a.text, ''), 1) in ('=', '+', '-', '@', chr(9), chr(13))
                    then '''' || coalesce(a.text, '')
                    else coalesce(a.text, '')
                end
            ) end as text,
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
            (not no_answer and not is_text and (
                (value is not null and not abs(value) < 1e15)
                or (key is not null and value_json is not null and (
                    jsonb_typeof(value_json) not in ('object', 'null')
                    or jsonb_typeof(part_json) not in ('number', 'null')
                    or (side is not null
                        and jsonb_typeof(value_json -> key) not in ('object', 'null'))
                ))
            )) {odd} as odd,
            {line} as line
        from found
    )
    select
        string_agg(line, '' order by rank, position, question_id, number),
        coalesce(bool_or(odd), false),
        count(*)
    from lines
"""

#: a value as both formats write it (whole numbers without a decimal point)
_NUMBER = """case
                when value = trunc(value) then cast(cast(value as bigint) as text)
                else cast(value as text)
            end"""

#: a CSV line: "round,pseudonym,group,item," (the start), the version, ",question,part" (the
#: cells), the value, "no answer", the free text as the csv module quotes it, the flags, the
#: identities and the line break (the end)
_CSV_LINE = f"""start || version || cells || ','
            || case when value is null or not abs(value) < 1e15 then '' else {_NUMBER} end
            || case when no_answer then ',true,' else ',false,' end
            || case when is_text then (
                case
                    when strpos(text, ',') > 0 or strpos(text, '"') > 0
                        or strpos(text, chr(13)) > 0 or strpos(text, chr(10)) > 0
                    then '"' || replace(text, '"', '""') || '"'
                    else text
                end
            ) else '' end
            || case
                when kept and synthetic then ',true,true'
                when kept then ',true,false'
                when synthetic then ',false,true'
                else ',false,false'
            end
            || finish"""

#: a spreadsheet row as `xlsx.row_xml` writes one (no references, an empty cell as <c/>): the
#: start's cells, the version, the part's cells, the value, "no answer", the free text as an
#: inline string, the flags, and the end's cells with </row>
_XML_LINE = f"""start || '<c><v>' || version || '</v></c>' || cells
            || case
                when value is null or not abs(value) < 1e15 then '<c/>'
                else '<c><v>' || {_NUMBER} || '</v></c>'
            end
            || case when no_answer then '<c t="b"><v>1</v></c>' else '<c t="b"><v>0</v></c>' end
            || case when is_text and text <> '' then (
                '<c t="inlineStr"><is><t xml:space="preserve">'
                || replace(replace(replace(replace(text, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                    chr(13), '_x000D_')
                || '</t></is></c>'
            ) else '<c/>' end
            || case when kept then '<c t="b"><v>1</v></c>' else '<c t="b"><v>0</v></c>' end
            || case when synthetic then '<c t="b"><v>1</v></c>' else '<c t="b"><v>0</v></c>' end
            || finish"""

#: free text the server would not write as Python does (characters XML cannot hold, text that
#: reads as the writer's own escapes): its (round, item) goes through Python
_XML_ODD = (
    r"""or (is_text and text ~ '[\x01-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_')"""
)

#: the two formats' queries
CSV_LINES = text(_ITEM_QUERY.format(line=_CSV_LINE, odd=""))
XML_ROWS = text(_ITEM_QUERY.format(line=_XML_LINE, odd=_XML_ODD))


def csv_field(value: str) -> str:
    """A text cell as the csv module writes it (minimal quoting, quotes doubled)."""
    if any(character in value for character in _QUOTED):
        return '"' + value.replace('"', '""') + '"'
    return value


@dataclass(frozen=True)
class LineFormat:
    """How the lines of one format are written: the query, and the cells Python hands it.

    `text` writes a text cell (already escaped against formulas); `row_start(round, person)`
    and `row_end(identities)` the line's start and end around what the server writes;
    `item(person_start, item_cell)` adds the item to a person's start; `part(question, part)`
    the question's and part's cells.
    """

    query: TextClause
    text: Callable[[str], str]
    row_start: Callable[[int, Sequence[str]], str]
    row_end: Callable[[Sequence[str]], str]
    part: Callable[[str, str], str]


#: the answers CSV: cells separated by commas, lines ended by CRLF
CSV_FORMAT = LineFormat(
    query=CSV_LINES,
    text=csv_field,
    row_start=lambda number, cells: f"{number}," + ",".join(cells) + ",",
    row_end=lambda cells: "".join("," + cell for cell in cells) + "\r\n",
    part=lambda question, part: "," + question + "," + part,
)


#: the answers sheet of a workbook: rows of cells as `xlsx.row_xml` writes them
XML_FORMAT = LineFormat(
    query=XML_ROWS,
    text=row_cell,
    row_start=lambda number, cells: "<row>" + row_cell(number) + "".join(cells),
    row_end=lambda cells: "".join(cells) + "</row>",
    part=lambda question, part: question + part,
)


@dataclass(frozen=True)
class _ItemParts:
    """One item's questions as the query's part arrays (one entry per line an answer gives)."""

    item_id: int
    item_cell: str
    question_ids: list[int]
    columns: dict[str, list[Any]]


def _item_parts(
    session: Session, study: Study, text_cell: Callable[[str | None], str], line: LineFormat
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
        # question and part cells, whether it is a text question
        entries: list[tuple[int, int, int, str | None, str | None, str, bool]] = []
        for question in mine:
            head = line.text(text_cell(question.key))
            if question.kind == QuestionKind.TEXT:
                cells = line.part(head, line.text(""))
                entries.append((question.id, question.position, 0, None, None, cells, True))
                continue
            for number, part in enumerate(question_parts(question)):
                key: str | None = part.part or None
                side: str | None = None
                if part.kind == QuestionKind.CONDITIONAL:
                    key, _, side = part.part.partition("|")
                cells = line.part(head, line.text(text_cell(part.part)))
                entries.append((question.id, question.position, number, key, side, cells, False))
        names = ("questions", "positions", "numbers", "keys", "sides", "cells", "texts")
        found.append(
            _ItemParts(
                item_id=item_id,
                item_cell=line.text(text_cell(item_key)),
                question_ids=[q.id for q in mine],
                columns={
                    f"part_{name}": [entry[index] for entry in entries]
                    for index, name in enumerate(names)
                },
            )
        )
    return found


#: a person as the lines need them: participation id, rank in the database's order of
#: pseudonyms, the cells after the round (pseudonym, group), the cells at the end (identities)
Person = tuple[int, int, Sequence[str | None], Sequence[str | None]]


def server_lines(
    session: Session,
    study: Study,
    shown: Disclosure,
    people: Sequence[Person],
    text_cell: Callable[[str | None], str],
    python_lines: Callable[[int, Sequence[int], Sequence[int]], Iterable[tuple[str, int]]],
    line: LineFormat = CSV_FORMAT,
) -> Iterator[tuple[str, int]]:
    """The lines of the shown rounds' answers in this format, a (round, item) at a time, each
    piece with its number of lines.

    `people`' cells are raw text (written here by `text_cell` and the format);
    `python_lines(round_id, question_ids, participation_ids)` writes a (round, item)'s lines
    of these people the Python way, for what the server would write otherwise.
    """
    parts = _item_parts(session, study, text_cell, line)
    written = [
        (
            person[0],
            person[1],
            [line.text(text_cell(cell)) for cell in person[2]],
            line.row_end([line.text(text_cell(cell)) for cell in person[3]]),
        )
        for person in people
    ]
    jobs = _jobs(parts, shown, written, line)
    for (round_id, item, ids), lines, odd, count in _item_results(session, jobs, line.query):
        if odd:
            yield from python_lines(round_id, item.question_ids, ids)
        elif lines:
            yield lines, count


#: a (round, item) and the people of one query, and the query's parameters
_Key = tuple[int, _ItemParts, list[int]]
_Job = tuple[_Key, dict[str, Any]]


def _jobs(
    parts: Sequence[_ItemParts],
    shown: Disclosure,
    people: Sequence[tuple[int, int, list[str], str]],
    line: LineFormat,
) -> Iterator[_Job]:
    """Each (round, item) of the export in order, with its query's parameters."""
    for round_id, number in sorted(shown.rounds.items(), key=lambda entry: entry[1]):
        mine = [person for person in people if shown.keeps(person[0], round_id)]
        if not mine:
            continue
        for item in parts:
            if not item.question_ids:
                continue
            # a query's lines come back as one string: a slice of the people at a time, so
            # that an item of many parts (a matrix row) stays a few megabytes
            size = max(1, LINES_PER_QUERY // max(1, len(item.columns["part_cells"])))
            for start in range(0, len(mine), size):
                some = mine[start : start + size]
                ids = [person[0] for person in some]
                yield (
                    (round_id, item, ids),
                    {
                        "round_id": round_id,
                        "question_ids": item.question_ids,
                        "people_ids": ids,
                        "people_ranks": [person[1] for person in some],
                        "people_starts": [
                            line.row_start(number, [*person[2], item.item_cell]) for person in some
                        ],
                        "people_ends": [person[3] for person in some],
                        **item.columns,
                    },
                )


def _sort_in_memory(connection: Connection) -> None:
    """A (round, item)'s lines are sorted in memory (tens of MB for a panel of thousands)
    instead of through temporary files; for the connection's transaction only."""
    connection.execute(text(f"set local work_mem = '{SORT_MEMORY}'"))


_Result = tuple[str | None, bool, int]


def _item_results(
    session: Session, jobs: Iterable[_Job], query: TextClause
) -> Iterator[tuple[_Key, str | None, bool, int]]:
    """Each job's (round, item), lines, whether any is odd and how many, in order. On
    `CONNECTIONS` connections of their own at once when the session's transaction has written
    nothing: then they read what it would (the export reads committed answers either way);
    otherwise on the session's, one at a time."""
    connection = session.connection()
    if CONNECTIONS < 2 or transaction_has_written(connection):
        _sort_in_memory(connection)
        for key, params in jobs:
            lines, odd, count = connection.execute(query, params).one()
            yield key, lines, bool(odd), int(count)
        return
    engine = connection.engine
    opened: list[Connection] = []
    local = threading.local()
    lock = threading.Lock()

    def run(params: dict[str, Any]) -> _Result:
        """One job on this thread's own connection."""
        own: Connection | None = getattr(local, "connection", None)
        if own is None:
            own = local.connection = engine.connect()
            with lock:
                opened.append(own)
            _sort_in_memory(own)
        lines, odd, count = own.execute(query, params).one()
        return lines, bool(odd), int(count)

    pending: deque[tuple[_Key, Future[_Result]]] = deque()
    pool = ThreadPoolExecutor(max_workers=CONNECTIONS, thread_name_prefix="answer-lines")
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
