"""A round's current answers reduced to what its snapshot reads: per part, who answered (their
rank in pseudonym order) and what, as arrays; the panel's pseudonyms and groups.

The close reads a panel's answers through here: on PostgreSQL the server hands each (round,
question)'s answers over as packed binary columns, the numbers of structured answers taken out
of their JSON by the server, one (round, question) at a time, so the memory follows the answers
as numbers, not as rows or Python objects.
"""

from __future__ import annotations

import itertools
import operator
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.orm import Session

from app.definitions.model import QuestionKind
from app.models import Answer, Item, Participation, Question, Round, Study
from app.services.read_ahead import ReadAhead
from app.services.tidy import Part, question_parts


@dataclass(frozen=True)
class Numbers:
    """One part's numbers in one round: who gave them (their rank in pseudonym order, the
    order the statistics have always read them in) and the values, as arrays."""

    ranks: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]


#: no numbers at all
NO_NUMBERS = Numbers(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))


@dataclass
class RoundNumbers:
    """A round's current answers, reduced to what the snapshot reads."""

    #: (item key, question key, part) -> the part's numbers
    parts: dict[tuple[str, str, str], Numbers] = field(default_factory=dict)
    #: (item key, question key) -> ranks of those who said "no answer"
    no_answer: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    #: item key -> ranks of those who answered any of its numeric questions
    respondents: dict[str, set[int]] = field(default_factory=dict)

    @property
    def everyone(self) -> set[int]:
        """Ranks of those who answered anything numeric in the round."""
        return set().union(*self.respondents.values()) if self.respondents else set()


@dataclass(frozen=True)
class Panel:
    """The study's participations by rank (pseudonym order): pseudonyms and groups."""

    rank_of: dict[int, int]  #: participation id -> rank
    pseudonyms: tuple[str, ...]
    #: per rank, the index of its group in `group_names` (-1: in no group); a part's groups
    #: are counted with one bincount instead of a Python loop over its thousands of answers
    group_codes: npt.NDArray[np.int64]
    #: the groups' names, sorted
    group_names: tuple[str, ...]


def read_panel(session: Session, study: Study) -> Panel:
    """Every participation of the study, ranked by pseudonym (one query, three columns)."""
    rows = sorted(
        session.execute(
            select(Participation.pseudonym, Participation.id, Participation.group).where(
                Participation.study_id == study.id
            )
        ).tuples()
    )
    names = tuple(sorted({str(group) for _p, _i, group in rows if group is not None}))
    code_of = {name: code for code, name in enumerate(names)}
    codes = np.fromiter(
        (-1 if group is None else code_of[str(group)] for _p, _i, group in rows),
        dtype=np.int64,
        count=len(rows),
    )
    return Panel(
        rank_of={id_: rank for rank, (_pseudonym, id_, _group) in enumerate(rows)},
        pseudonyms=tuple(pseudonym for pseudonym, _id, _group in rows),
        group_codes=codes,
        group_names=names,
    )


def _json_parts(answers: npt.NDArray[np.object_], part: Part) -> npt.NDArray[np.float64]:
    """The number each structured answer holds for one part (NaN where absent), as
    `part_value` reads it, for a question's answers at once."""
    if part.kind == QuestionKind.CONDITIONAL:
        event, _, side = part.part.partition("|")
        found = [((d or {}).get(event) or {}).get(side) for d in answers]
    else:
        key = part.part
        found = [d.get(key) if d else None for d in answers]
    return np.asarray(found, dtype=np.float64)  # None becomes NaN


def _json_columns(answers: npt.NDArray[np.object_], keys: Sequence[str]) -> dict[str, Any]:
    """The numbers structured answers hold under each of these keys (NaN where absent), a
    column per key: what `_json_parts` gives part by part, read in one pass over the answers
    (a matrix question has a part per cell, and most answers hold every cell)."""
    if not keys:
        return {}
    if len(keys) == 1:
        key = keys[0]
        return {key: np.asarray([d.get(key) if d else None for d in answers], dtype=np.float64)}
    every = operator.itemgetter(*keys)
    try:
        # every answer holding every cell as a number (the common case): read in C, no tuple
        # or function call of ours per answer
        flat = np.fromiter(
            itertools.chain.from_iterable(map(every, answers)),
            dtype=np.float64,
            count=len(answers) * len(keys),
        )
    except (TypeError, KeyError, ValueError):
        pass
    else:
        table = flat.reshape(len(answers), len(keys))
        return {key: table[:, column] for column, key in enumerate(keys)}
    blank = (None,) * len(keys)

    def row(answer: Any) -> tuple[Any, ...]:
        if not answer:
            return blank
        try:
            found: tuple[Any, ...] = every(answer)
            return found
        except KeyError:
            return tuple(answer.get(key) for key in keys)

    table = np.asarray([row(d) for d in answers], dtype=np.float64).reshape(len(answers), -1)
    return {key: table[:, column] for column, key in enumerate(keys)}


@dataclass(frozen=True, slots=True)
class _Batch:
    """One (round, question)'s current answers as arrays, in one (any) order: who, the plain
    value (NaN where none), each structured part's number (NaN where absent), and whether
    they said "no answer"."""

    round_id: int
    question_id: int
    pids: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    parts: dict[str, npt.NDArray[np.float64]]
    refused: npt.NDArray[np.bool_]


def _batch_of_rows(
    round_id: int,
    question_id: int,
    rows: Sequence[tuple[Any, ...]],
    parts: Sequence[Part],
) -> _Batch:
    """A batch from rows of (participation id, value, value_json, no_answer), the JSON
    decoded (the reading where the server cannot extract the parts itself)."""
    pids, values, structured, refused = zip(*rows, strict=True)
    jsons = np.empty(len(structured), dtype=object)
    jsons[:] = structured
    numbered = [p for p in parts if p.part]
    columns = _json_columns(jsons, [p.part for p in numbered if p.kind != QuestionKind.CONDITIONAL])
    for part in numbered:
        if part.kind == QuestionKind.CONDITIONAL:
            columns[part.part] = _json_parts(jsons, part)
    return _Batch(
        round_id,
        question_id,
        np.asarray(pids, dtype=np.int64),
        np.asarray(values, dtype=np.float64),  # None becomes NaN
        columns,
        np.asarray(refused, dtype=bool),
    )


#: rounds whose answers the close reads at once, each on a connection of its own sharing the
#: close's snapshot of the database (PostgreSQL, when the close's transaction has written no
#: answers); 1 reads them one after the other on the close's own connection
ROUNDS_AT_ONCE = 2


def _answer_batches(
    session: Session, round_ids: Sequence[int], questions: dict[int, list[Part]]
) -> Iterator[_Batch]:
    """The rounds' current answers to these questions (by id, with their parts), one (round,
    question) at a time, each round's in question id order.

    On PostgreSQL the server reads each (round, question)'s answers and hands over its
    columns as packed binary numbers, a part's numbers taken out of the JSON by the server:
    a close reads a million answers, and a Python object for each (a row, a decoded JSON
    document, a float) cost more than everything else the close does with them. The rounds
    are read at once, a round per connection, when the transaction has written no answers
    (`_shared_snapshot_batches`).
    """
    table = Answer.__table__.c
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        if ROUNDS_AT_ONCE > 1 and len(round_ids) > 1 and not answers_written_here(connection):
            yield from _shared_snapshot_batches(connection, round_ids, questions)
        else:
            yield from _server_batches(connection, round_ids, questions)
        return
    query = select(
        table.round_id,
        table.question_id,
        table.participation_id,
        table.value,
        table.value_json,
        table.no_answer,
    ).where(
        table.round_id.in_(list(round_ids)),
        table.is_current.is_(True),
        table.question_id.in_(list(questions)),
    )
    grouped: dict[tuple[int, int], list[tuple[Any, ...]]] = defaultdict(list)
    for row in connection.execute(query):
        grouped[(row[0], row[1])].append(tuple(row[2:]))
    for (round_id, question_id), rows in sorted(grouped.items()):
        yield _batch_of_rows(round_id, question_id, rows, questions[question_id])


def answers_written_here(connection: Connection) -> bool:
    """Whether this PostgreSQL transaction has written to the answers table (its own counts of
    rows inserted, updated and deleted there; without those counts, assume it has): another
    connection would not see what it wrote.

    The counts err one way only: PostgreSQL 15 adds the connection's earlier transactions'
    writes until it flushes them to its statistics (at most once a second), so a connection
    that saved answers just before can read as having written and take the slower path of
    one connection; never the other way round."""
    counted, written = connection.execute(
        text(
            "select current_setting('track_counts')::boolean,"
            " coalesce((select n_tup_ins + n_tup_upd + n_tup_del from pg_stat_xact_user_tables"
            " where relid = cast(:table as regclass)), 0)"
        ),
        {"table": Answer.__tablename__},
    ).one()
    return not counted or bool(written)


def export_snapshot(connection: Connection) -> str:
    """This PostgreSQL transaction's view of the database, named for other connections to
    import (`importing`) while the transaction lasts."""
    return str(connection.execute(text("select pg_export_snapshot()")).scalar_one())


@contextmanager
def importing(engine: Engine, snapshot: str) -> Iterator[Connection]:
    """A connection of its own whose transaction sees exactly what the exporting transaction
    saw when it exported `snapshot` (committed data; not what it wrote itself)."""
    with engine.connect() as own:
        own = own.execution_options(isolation_level="REPEATABLE READ")
        with own.begin():
            # the first statement of its transaction, as PostgreSQL requires
            own.execute(text(f"set transaction snapshot '{snapshot}'"))
            yield own


def _server_batches(
    connection: Connection, round_ids: Sequence[int], questions: dict[int, list[Part]]
) -> Iterator[_Batch]:
    """The rounds' batches read by the server, in (round id, question id) order, fetched on a
    thread a batch ahead: the server reads the next (round, question) while Python reduces
    this one; the caller leaves the connection alone until the last batch or until it closes
    this generator."""
    with ReadAhead(
        lambda: _cursor_batches(connection, round_ids, questions), name="snapshot-read-ahead"
    ) as ahead:
        yield from ahead


#: a part's number in a JSON answer, as the server packs it, read as `float()` reads what the
#: JSON decoder gives: a number, a boolean (1, 0) or a numeric string; NaN where absent or null
_PACKED_NUMBER = (
    "string_agg(float8send(case jsonb_typeof({cell}) when 'number' then ({cell})::float8"
    " when 'boolean' then ({cell})::boolean::int::float8"
    " when 'string' then ({cell} #>> '{{}}')::float8 else 'NaN'::float8 end), ''::bytea)"
)


#: the packed columns every (round, question) reads: participation ids, plain values, refusals
_PACKED_COLUMNS = (
    "string_agg(int4send(participation_id), ''::bytea)",
    "string_agg(float8send(coalesce(value, 'NaN'::float8)), ''::bytea)",
    "string_agg(case when no_answer then '\\x01'::bytea else '\\x00'::bytea end, ''::bytea)",
)
#: the rows one statement reads: one (round, question)'s current answers
_ANSWERS_OF_ONE_QUESTION = "from answers where round_id = %s and question_id = %s and is_current"


def _packed_query(parts: Sequence[Part]) -> tuple[str, list[str]]:
    """The statement that reads one (round, question)'s answers as packed big-endian columns:
    participation ids, values, "no answer" flags, then each structured part's numbers (its
    keys bound as parameters after the round and question ids)."""
    cells: list[str] = []
    keys: list[str] = []
    for part in parts:
        if not part.part:
            continue
        if part.kind == QuestionKind.CONDITIONAL:
            event, _, side = part.part.partition("|")
            cells.append("value_json -> %s -> %s")
            keys += [event, side]
        else:
            cells.append("value_json -> %s")
            keys.append(part.part)
    named = [f"{cell} as c{index}" for index, cell in enumerate(cells)]
    packed = [_PACKED_NUMBER.format(cell=f"c{index}") for index in range(len(cells))]
    # only fixed fragments and column numbers go into the text; the keys are bound parameters
    selected = ", ".join([*_PACKED_COLUMNS, *packed])
    read = ", ".join(["participation_id", "value", "no_answer", *named])
    statement = f"select {selected} from (select {read} {_ANSWERS_OF_ONE_QUESTION}) as found"  # noqa: S608  # nosec B608 - fixed fragments, keys bound
    return statement, keys


def _cursor_batches(
    connection: Connection, round_ids: Sequence[int], questions: dict[int, list[Part]]
) -> Iterator[_Batch]:
    """The rounds' batches read by the server, in (round id, question id) order, on this
    connection as they come: one statement per (round, question), its columns packed."""
    driver: Any = connection.connection.driver_connection
    statements = {question_id: _packed_query(parts) for question_id, parts in questions.items()}
    with driver.cursor() as cursor:
        for round_id in sorted(round_ids):
            for question_id in sorted(questions):
                statement, keys = statements[question_id]
                cursor.execute(statement, [*keys, round_id, question_id])
                row = cursor.fetchone()
                if row is None or row[0] is None:
                    continue  # nobody answered it in this round
                pids, values, refused, *packed = row
                numbered = [p.part for p in questions[question_id] if p.part]
                yield _Batch(
                    round_id,
                    question_id,
                    np.frombuffer(pids, dtype=">i4").astype(np.int64),
                    np.frombuffer(values, dtype=">f8").astype(np.float64),
                    {
                        part: np.frombuffer(column, dtype=">f8").astype(np.float64)
                        for part, column in zip(numbered, packed, strict=True)
                    },
                    np.frombuffer(refused, dtype=np.uint8).astype(bool),
                )


def _shared_snapshot_batches(
    connection: Connection, round_ids: Sequence[int], questions: dict[int, list[Part]]
) -> Iterator[_Batch]:
    """The rounds' batches, `ROUNDS_AT_ONCE` rounds read at once, each on a connection of its
    own, the rounds' batches taken in turn (each round's in order).

    Each reading connection imports this transaction's snapshot (`pg_export_snapshot`, as
    `pg_dump --jobs` does), so it sees exactly the answers this transaction sees now: the
    close holds the round's lock, so no save can come between. A round's answers lie one to
    a heap page in the order they were saved, so the server spends about as long finding
    them as Python spends on them; two rounds at once use a second core for it."""
    snapshot = export_snapshot(connection)
    engine = connection.engine

    def reader(round_id: int) -> ReadAhead[_Batch]:
        def produce() -> Iterator[_Batch]:
            with importing(engine, snapshot) as own:
                yield from _cursor_batches(own, [round_id], questions)

        return ReadAhead(produce, name="snapshot-round")

    waiting = iter(round_ids)
    readers = [reader(r) for r in itertools.islice(waiting, ROUNDS_AT_ONCE)]
    turns = [iter(r) for r in readers]
    try:
        while turns:
            for turn in list(turns):
                batch = next(turn, None)
                if batch is not None:
                    yield batch
                    continue
                turns.remove(turn)
                following = next(waiting, None)
                if following is not None:
                    readers.append(reader(following))
                    turns.append(iter(readers[-1]))
    finally:
        for each in readers:
            each.close()


def round_numbers(
    session: Session, study: Study, rounds: Sequence[Round], panel: Panel
) -> dict[int, RoundNumbers]:
    """The rounds' current numeric answers by part, read one (round, question) at a time and
    reduced to numpy arrays in pseudonym order: memory in proportion to the answers as
    numbers, not to ORM objects or a table of Python objects."""
    found = {r.id: RoundNumbers() for r in rounds}
    # every numeric question of the study (an answer may be to a question no longer asked)
    questions: dict[int, tuple[str, str, list[Part]]] = {}
    for question, item_key in session.execute(
        select(Question, Item.key)
        .join(Item, Question.item_id == Item.id)
        .where(Item.study_id == study.id)
    ).tuples():
        parts = question_parts(question)
        if parts:
            questions[question.id] = (item_key, question.key, parts)
    if not questions or not rounds or not panel.rank_of:
        return found
    # participation id -> rank, one look-up table over the study's ids (from its smallest)
    ids = np.fromiter(panel.rank_of, dtype=np.int64, count=len(panel.rank_of))
    first_id = int(ids.min())
    rank_by_id = np.full(int(ids.max()) - first_id + 1, -1, dtype=np.int64)
    rank_by_id[ids - first_id] = np.fromiter(panel.rank_of.values(), dtype=np.int64)
    parts_of = {question_id: parts for question_id, (_i, _q, parts) in questions.items()}
    for batch in _answer_batches(session, [r.id for r in rounds], parts_of):
        numbers = found[batch.round_id]
        item_key, question_key, parts = questions[batch.question_id]
        ranks = rank_by_id[batch.pids - first_id]
        # pseudonym order, the order the statistics have always read the answers in
        order = np.argsort(ranks, kind="stable")
        who = ranks[order]
        refused = batch.refused[order]
        numbers.respondents.setdefault(item_key, set()).update(who.tolist())
        numbers.no_answer.setdefault((item_key, question_key), set()).update(who[refused].tolist())
        for part in parts:
            said = (batch.parts[part.part] if part.part else batch.values)[order]
            said[refused] = np.nan
            kept = ~np.isnan(said)
            key = (item_key, question_key, part.part)
            earlier = numbers.parts.get(key, NO_NUMBERS)
            # a second question row under the same keys (rare) follows the first, as before
            numbers.parts[key] = Numbers(
                np.concatenate((earlier.ranks, who[kept])),
                np.concatenate((earlier.values, said[kept])),
            )
    return found
