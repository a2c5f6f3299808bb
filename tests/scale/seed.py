"""Seeding a large panel on the first study fast: the experts through the panel services, the
answers as the save service would write them, in bulk (COPY on PostgreSQL).

Each simulated answer is drawn by the demo's panel model and normalised by the save service's
own `normalise`; the rows written are exactly those `answers.save_items` writes for a first
save (revision 1, current, the round's item version, `kept` when equal to the previous round's
answer), with each expert's progress row (started, last saved, submitted). Rounds are created,
opened and closed by the round services, so round 1's snapshot is the real one.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from psycopg.types.json import Json
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.load.harness import FIRST_STUDY, NOW, _study_definition

#: the groups a seeded panel is split into, round robin (the demo's)
GROUPS = (("Iran", "fa"), ("Russia", "ru"), ("International", "en"))
#: the columns written per answer, in COPY order
_ANSWER_COLUMNS = (
    "participation_id",
    "round_id",
    "item_version_id",
    "question_id",
    "value",
    "value_json",
    "text",
    "no_answer",
    "revision",
    "is_current",
    "payload_hash",
    "synthetic",
    "kept",
    "created_at",
)


@dataclass(frozen=True)
class Seeded:
    """What the measurements need to find the seeded study again."""

    study_id: int
    study_key: str
    admin_id: int
    experts: int
    answers: int
    tokens: tuple[str, ...]  #: a few experts' private links (for the expert page)
    seconds: float


def _copy_answers(session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
    """Write answer rows with COPY (PostgreSQL) or executemany (elsewhere)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            columns = ", ".join(_ANSWER_COLUMNS)
            with cursor.copy(f"COPY answers ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    from app.models import Answer

    connection.execute(
        Answer.__table__.insert(), [dict(zip(_ANSWER_COLUMNS, row, strict=True)) for row in rows]
    )


def answer_round(
    session: Session,
    round_: Any,
    experts: Sequence[Any],
    model: Any,
    rng: random.Random,
    previous: dict[tuple[int, int], str],
) -> tuple[int, dict[tuple[int, int], str]]:
    """Every expert answers every item of the open round (bulk); returns how many answers were
    written and their digests by (participation id, question id)."""
    from app.models import RoundProgress
    from app.services import demo
    from app.services.answer_values import normalise

    moment = round_.opened_at or NOW
    digests: dict[tuple[int, int], str] = {}
    rows: list[tuple[Any, ...]] = []
    asked = [
        (ri.item, ri.item_version_id, ri.item.questions_in(round_.number)) for ri in round_.items
    ]
    for participation in experts:
        for item, version_id, questions in asked:
            payloads: dict[str, Any] = {}
            for question in questions:
                payload = demo._payload(question, item, participation, round_.number, model, rng)
                if payload is not None:
                    payloads[question.key] = payload
            demo._centre_conditionals(item, payloads, round_.number)
            for question in questions:
                if question.key not in payloads:
                    continue
                answer = normalise(question, payloads[question.key])
                if answer.is_empty:
                    continue
                digest = answer.digest()
                digests[(participation.id, question.id)] = digest
                rows.append(
                    (
                        participation.id,
                        round_.id,
                        version_id,
                        question.id,
                        answer.value,
                        Json(answer.value_json) if answer.value_json is not None else None,
                        answer.text,
                        answer.no_answer,
                        1,
                        True,
                        digest,
                        True,
                        previous.get((participation.id, question.id)) == digest,
                        moment,
                    )
                )
        if len(rows) > 50_000:
            _copy_answers(session, rows)
            rows.clear()
    _copy_answers(session, rows)
    session.add_all(
        RoundProgress(
            participation_id=p.id,
            round_id=round_.id,
            started_at=moment,
            last_saved_at=moment + timedelta(hours=1),
            submitted_at=moment + timedelta(hours=1),
            submit_count=1,
        )
        for p in experts
    )
    session.flush()
    return len(digests), digests


def seed(session: Session, experts: int, *, seed: int = 2024) -> Seeded:
    """The first study with `experts` experts who answered and submitted rounds 1 and 2;
    round 1 is closed (its snapshot built), round 2 is open. The caller commits."""
    from app.models import Role, User
    from app.services import accounts, demo, panel, rounds, studies

    started = time.perf_counter()
    rng = random.Random(seed)
    definition = _study_definition(FIRST_STUDY, None)
    admin = session.scalar(select(User).where(User.email == "scale@example.org"))
    if admin is None:
        admin = accounts.create_user(
            session,
            email="scale@example.org",
            name="Scale facilitator",
            password="Scale-run-only-" + "x" * 12 + "Aa1!",
            role=Role.ADMIN,
            now=NOW,
        )
    study = studies.import_study(session, definition, actor=admin, now=NOW)
    members = []
    for number in range(experts):
        group, language = GROUPS[number % len(GROUPS)]
        member = panel.add_expert(
            session,
            study,
            name=f"Scale expert {number}",
            email=f"scale-{number}@example.org",
            group=group,
            language=language,
            actor=admin,
            now=NOW,
            synthetic=True,
        )
        panel.record_consent(session, member.participation, language=language, now=NOW)
        members.append(member)
    participations = [m.participation for m in members]
    model = demo._Panel(rng, participations)
    written = 0
    previous: dict[tuple[int, int], str] = {}
    for number in (1, 2):
        moment = NOW - timedelta(days=14 * (3 - number))
        round_ = rounds.create_round(session, study, actor=admin, now=moment)
        round_.synthetic = True
        rounds.open_round(session, round_, actor=admin, now=moment)
        count, previous = answer_round(session, round_, participations, model, rng, previous)
        written += count
        if number == 1:
            rounds.close_round(session, round_, actor=admin, now=moment + timedelta(days=10))
    session.flush()
    return Seeded(
        study_id=study.id,
        study_key=study.key,
        admin_id=admin.id,
        experts=experts,
        answers=written,
        tokens=tuple(m.token for m in members[:3]),
        seconds=time.perf_counter() - started,
    )


def main(argv: list[str]) -> int:
    """`python -m tests.scale.seed N`: seed N experts on SCALE_DATABASE_URL (already migrated)
    and print the Seeded facts as one JSON line."""
    import dataclasses
    import json
    import os

    from app.extensions import db
    from tests.load.harness import release_session, seeding_app

    app = seeding_app(os.environ["SCALE_DATABASE_URL"])
    with app.app_context():
        seeded = seed(db.session, int(argv[0]))
        db.session.commit()
        # the planner's statistics, as autovacuum keeps them on a server in use (a server
        # with autovacuum off would otherwise plan for empty tables)
        with db.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        release_session()
    print(json.dumps(dataclasses.asdict(seeded)))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
