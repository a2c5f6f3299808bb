"""Exports of a large panel: time and peak memory of `flask report` per format.

`python -m tests.benchmarks.bench_exports --database postgresql://... --experts 1000` loads the
demo study into that (empty) database, copies its simulated experts and their answers until the
panel holds `--experts`, then runs `flask report --format csv|json|xlsx` once each in its own
process and prints wall time, peak resident memory and file size against the targets.

`measure_exports(session, study)` is the measuring part alone, for a study already seeded.
The copy is a benchmark seed, not a simulation: each added expert answers as the demo expert
it copies did.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.models import Study

#: the issue's targets at 5,000 experts: seconds per format, and peak memory of any export
TARGET_SECONDS = {"csv": 10.0, "xlsx": 30.0, "json": 15.0}
TARGET_PEAK_MB = 500.0
#: the demo panel copied: three groups of this many experts, answered by the simulation
TEMPLATE_PER_GROUP = 20


@dataclass(frozen=True)
class Figure:
    """One export's measurement."""

    name: str
    seconds: float
    #: the export process's own CPU time (user + system): what a busy machine changes least
    cpu_seconds: float
    peak_mb: float
    size: int
    target_seconds: float | None
    target_mb: float

    @property
    def ok(self) -> bool:
        """Whether the export met its time and memory targets."""
        fast = self.target_seconds is None or self.seconds <= self.target_seconds
        return fast and self.peak_mb <= self.target_mb

    def line(self) -> str:
        """The figure as one printed line."""
        target = f"{self.target_seconds:.0f}s" if self.target_seconds is not None else "-"
        return (
            f"{self.name:14} {self.seconds:8.1f}s {self.cpu_seconds:8.1f}s {target:>6} "
            f"{self.peak_mb:8.0f} MB "
            f"{self.target_mb:5.0f} MB {self.size / 1e6:9.1f} MB  {'ok' if self.ok else 'MISSED'}"
        )


def measure_exports(
    session: Session, study: Study, formats: Sequence[str] = ("csv", "json", "xlsx")
) -> list[Figure]:
    """Run `flask report` for each format in a process of its own: time and peak memory.

    The spreadsheet is built again (`--rebuild`): a kept one would be copied, not built.
    """
    url = session.get_bind().engine.url.render_as_string(hide_password=False)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-exports-") as folder:
        for fmt in formats:
            out = Path(folder) / f"export.{fmt}"
            command = [sys.executable, "-m", "flask", "--app", "wsgi", "report", study.key]
            command += ["--format", fmt, "--out", str(out)]
            command += ["--rebuild"] if fmt == "xlsx" else []
            started = time.perf_counter()
            process = subprocess.Popen(
                command,
                env={**os.environ, "DATABASE_URL": url},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            # wait4 gives this child's own peak memory (RUSAGE_CHILDREN would be every child's)
            _pid, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - started
            errors = process.stderr.read().decode() if process.stderr else ""
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError(f"flask report --format {fmt} failed:\n{errors[-2000:]}")
            figures.append(
                Figure(
                    name=f"export {fmt}",
                    seconds=seconds,
                    cpu_seconds=usage.ru_utime + usage.ru_stime,
                    peak_mb=usage.ru_maxrss / 1024,
                    size=out.stat().st_size,
                    target_seconds=TARGET_SECONDS.get(fmt),
                    target_mb=TARGET_PEAK_MB,
                )
            )
    return figures


def seed_panel(session: Session, study: Study, experts: int) -> int:
    """Copy the study's experts, with their participations and answers, until it has
    `experts` (PostgreSQL: a few INSERT ... SELECT). Returns the number added."""
    templates, copied = session.execute(
        text(
            "select count(*) filter (where pseudonym not like 'Z%'),"
            " count(*) filter (where pseudonym like 'Z%')"
            " from participations where study_id = :s"
        ),
        {"s": study.id},
    ).one()
    extra = experts - templates - copied
    if extra <= 0:
        return 0
    # the copies, numbered on from earlier ones, each after template (number mod templates)
    statements = [
        "create temporary table bench_templates on commit drop as"
        " select row_number() over (order by id) - 1 as k, * from participations"
        " where study_id = :s and pseudonym not like 'Z%'",
        "insert into experts (email, created_at)"
        " select 'bench-' || :s || '-' || g || '@example.org', now()"
        " from generate_series(cast(:first as integer), cast(:last as integer)) g",
        'insert into participations (study_id, expert_id, name, "group", language, expertise,'
        " pseudonym, status, consent_at, reminder_count, synthetic, created_at)"
        " select t.study_id, e.id, 'Bench expert ' || g, t.\"group\", t.language, t.expertise,"
        " 'Z' || lpad(g::text, 7, '0'), t.status, t.consent_at, 0, true, now()"
        " from generate_series(cast(:first as integer), cast(:last as integer)) g"
        " join experts e on e.email = 'bench-' || :s || '-' || g || '@example.org'"
        " join bench_templates t on t.k = g % :templates",
        "insert into answers (participation_id, round_id, item_version_id, question_id, value,"
        " value_json, text, no_answer, revision, is_current, payload_hash, synthetic, kept,"
        " created_at)"
        " select p.id, a.round_id, a.item_version_id, a.question_id, a.value, a.value_json,"
        " a.text, a.no_answer, a.revision, a.is_current, a.payload_hash, a.synthetic, a.kept,"
        " a.created_at"
        " from participations p"
        " join bench_templates t on t.k = substr(p.pseudonym, 2)::int % :templates"
        " join answers a on a.participation_id = t.id"
        " where p.study_id = :s and p.pseudonym like 'Z%'"
        " and substr(p.pseudonym, 2)::int >= :first",
    ]
    values = {"s": study.id, "first": copied + 1, "last": copied + extra, "templates": templates}
    for statement in statements:
        session.execute(text(statement), values)
    session.flush()
    return extra


def main(argv: list[str]) -> int:
    """Seed a panel in the given database and print the figures; 1 if any target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="An empty PostgreSQL database's URL.")
    parser.add_argument("--experts", type=int, default=1000)
    parser.add_argument("--formats", default="csv,json,xlsx")
    args = parser.parse_args(argv)
    os.environ["DATABASE_URL"] = args.database

    from sqlalchemy import select

    from app import create_app
    from app.cli import DEMO_ADMIN_EMAIL, FIRST_STUDY
    from app.definitions import load_definition
    from app.extensions import db
    from app.models import Role, User, utcnow
    from app.services import accounts, demo

    app = create_app()
    with app.app_context():
        db.create_all()
        study = db.session.scalar(select(Study).where(Study.key == "iran-russia-us"))
        if study is None:
            admin = db.session.scalar(select(User).where(User.email == DEMO_ADMIN_EMAIL))
            if admin is None:
                admin = accounts.create_user(
                    db.session,
                    email=DEMO_ADMIN_EMAIL,
                    name="Demo facilitator",
                    password="benchmark password 1",
                    role=Role.ADMIN,
                    now=utcnow(),
                )
            groups = tuple((g, lang, TEMPLATE_PER_GROUP) for g, lang, _n in demo.DEMO_GROUPS)
            links = demo.load_demo(
                db.session, load_definition(FIRST_STUDY), admin=admin, now=utcnow(), groups=groups
            )
            study = links.study
        added = seed_panel(db.session, study, args.experts)
        db.session.commit()
        answers = db.session.scalar(
            text(
                "select count(*) from answers a join rounds r on r.id = a.round_id"
                " where r.study_id = :s and a.is_current"
            ),
            {"s": study.id},
        )
        print(f"{args.experts:,} experts ({added:,} added), {answers:,} current answers")
        figures = measure_exports(db.session, study, args.formats.split(","))
    print(
        f"{'figure':14} {'time':>9} {'cpu':>9} {'target':>6} {'peak':>11} {'target':>8} "
        f"{'size':>12}"
    )
    for figure in figures:
        print(figure.line())
    return 0 if all(f.ok for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
