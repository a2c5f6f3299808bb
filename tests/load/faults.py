"""Fault runs: answers survive killed workers, closing rounds, killed SQLite writers and a
restarted PostgreSQL (reliability checks R1, R3, R16, R17; R7 on the logs they leave); the
outbox survives a killed mail worker (R22, tests/load/mail_faults.py), and a report worker
SIGKILLed mid-build is taken up again (R23, tests/load/report_faults.py), and a whole gunicorn
instance of two SIGKILLed mid-load loses nothing acknowledged (R24, tests/load/instances.py).

`make faults` (python -m tests.load.faults) runs the full versions and prints their figures;
tests/reliability runs small versions of the same functions in `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from tests.load.harness import (
    ARTIFACTS,
    CANARY,
    Client,
    ExpertHandle,
    GunicornServer,
    ItemSpec,
    Ledger,
    LedgerCheck,
    Panel,
    Save,
    _plain,
    check_ledger,
    drop_database,
    enter_through_link,
    item_fields,
    item_path,
    log_leaks,
    migrate,
    new_key,
    recreate_database,
    release_session,
    run_async,
    seed_panel,
    seeding_app,
    server_environment,
    terminate_connections,
)

# -- saving under faults -----------------------------------------------------------------------


@dataclass
class SaveRun:
    """What the simulated experts did during one fault run."""

    ledger: Ledger = field(default_factory=Ledger)
    acknowledged_requests: int = 0
    refused_requests: int = 0
    echo_mismatches: int = 0  #: 409 answers that did not echo the payload back
    #: final statuses other than 200/409 (-1: a 200 that acknowledged another key or item)
    errors: Counter[int] = field(default_factory=Counter)
    retry_for: float = 60.0


async def _expert_saves(
    client: Client,
    expert: ExpertHandle,
    items: list[ItemSpec],
    run: SaveRun,
    rng: random.Random,
    stop: asyncio.Event,
    *,
    reasons: bool,
    pause: float = 0.0,
) -> None:
    """Save items one at a time, each with a new key, until told to stop.

    Every save changes the value (a save that changes nothing stores no revision), and about a
    third also send a reason carrying the canary, for the log checks.
    """
    avoid: dict[int, set[float]] = {}
    reasons_typed: dict[int, str] = {}  #: the reason field as it stands, per item
    while not stop.is_set():
        item = rng.choice(items)
        question = item.probability
        assert question is not None
        value = float(rng.choice([v for v in range(101) if v not in avoid.get(question.id, set())]))
        key = new_key()
        fields = {f"q{question.id}": _plain(value)}
        saves = [Save(expert.participation_id, item.id, question.id, value, None, key)]
        if reasons and item.reason is not None:
            # the page posts the whole item: an unchanged reason is sent again as it stands
            if rng.random() < 0.3:
                reason = f"{CANARY} because {key[:10]}"
                saves.append(
                    Save(expert.participation_id, item.id, item.reason.id, None, reason, key)
                )
                reasons_typed[item.id] = reason
            fields[f"q{item.reason.id}"] = reasons_typed.get(item.id, "")
        run.ledger.attempted.extend(saves)
        outcome = await client.save_item(expert, item.key, fields, key, retry_for=run.retry_for)
        if outcome.status == 200 and isinstance(outcome.body, dict):
            # the acknowledgement names the request it acknowledges
            if outcome.body.get("key") != key or outcome.body.get("item") != item.key:
                run.errors[-1] += 1
            run.ledger.acknowledged.extend(saves)
            run.acknowledged_requests += 1
            avoid[question.id] = {value}
        elif outcome.status == 409:
            run.ledger.rejected.extend(saves)
            run.refused_requests += 1
            payload = outcome.body.get("payload") if isinstance(outcome.body, dict) else None
            if payload != fields:
                run.echo_mismatches += 1
        else:
            run.errors[outcome.status] += 1
            avoid.setdefault(question.id, set()).add(value)  # it may or may not be stored
        if pause:
            await asyncio.sleep(pause)


def _start_savers(
    client: Client, panel: Panel, run: SaveRun, stop: asyncio.Event, seed: int, *, reasons: bool
) -> list[asyncio.Task[None]]:
    """One saving task per expert of the panel."""
    items = panel.probability_items
    return [
        asyncio.create_task(
            _expert_saves(
                client, expert, items, run, random.Random(seed + i), stop, reasons=reasons
            )
        )
        for i, expert in enumerate(panel.experts)
    ]


def _prepare_database(name: str, *, use_migrations: bool) -> str:
    """A fresh database with the schema (by `flask db upgrade`, or create_all when quick)."""
    url = recreate_database(name)
    if use_migrations:
        migrate(url)
    else:
        from app.extensions import db

        app = seeding_app(url)
        with app.app_context():
            db.create_all()
            db.engine.dispose()
    return url


@dataclass
class Stage:
    """A database with the schema, an in-process app on it, and gunicorn serving it."""

    name: str
    url: str
    app: Any
    server: GunicornServer

    @property
    def log(self) -> Path:
        """gunicorn's log file."""
        return self.server.log_path

    def dispose(self) -> None:
        """Close the in-process app's connections."""
        from app.extensions import db

        with self.app.app_context():
            release_session()
            db.engine.dispose()


@contextlib.contextmanager
def stage(
    name: str = "delphi_faults",
    *,
    workers: int | None = None,
    use_migrations: bool = True,
    log_dir: Path = ARTIFACTS,
) -> Iterator[Stage]:
    """Create database `name`, serve it with gunicorn, and drop it all afterwards."""
    url = _prepare_database(name, use_migrations=use_migrations)
    log = log_dir / f"{name}_gunicorn.log"
    log.unlink(missing_ok=True)
    server = GunicornServer("wsgi:app", server_environment(url), log, workers=workers)
    current = Stage(name, url, seeding_app(url), server)
    try:
        server.start()
        yield current
    finally:
        server.stop()
        current.dispose()
        drop_database(name)


def _server_errors_ok(client: Client) -> tuple[int, int]:
    """(server errors that were not 503, bodies that showed a traceback)."""
    not_503 = sum(1 for status, _kind, _body in client.server_errors if status != 503)
    tracebacks = sum(1 for _s, _kind, body in client.server_errors if "Traceback" in body)
    return not_503, tracebacks


# -- R1: SIGKILL a worker every few seconds ----------------------------------------------------


@dataclass
class WorkerKillResult:
    """R1's figures."""

    seconds: float
    experts: int
    workers: int
    kills: int
    ledger: LedgerCheck
    acknowledged_requests: int
    gave_up: int
    other_errors: int
    statuses: dict[int, int]
    resent: int  #: requests the client sent again after their connection broke unanswered
    leaks: dict[str, int]
    log: Path

    @property
    def ok(self) -> bool:
        """R1 passes."""
        return (
            self.ledger.ok
            and self.gave_up == 0
            and self.other_errors == 0
            and not any(self.leaks.values())
        )

    def report(self) -> str:
        """The figures, one paragraph."""
        return (
            f"R1 worker SIGKILL: {self.experts} experts, {self.workers} gunicorn workers, "
            f"{self.kills} workers killed in {self.seconds:.1f} s; "
            f"acknowledged saves {self.acknowledged_requests} ({self.ledger.acknowledged} answers), "
            f"missing {self.ledger.missing}, duplicates {self.ledger.duplicates}, "
            f"wrong value {self.ledger.wrong_value}, unexpected rows {self.ledger.unexpected}, "
            f"requests missing from the server's ledger {self.ledger.unrecorded}; "
            f"gave up {self.gave_up}, other errors {self.other_errors}; "
            f"attempt statuses {self.statuses}, resent after a broken connection "
            f"{self.resent}; log leaks {self.leaks} -> " + ("PASS" if self.ok else "FAIL")
        )


def worker_kills(
    where: Stage,
    *,
    experts: int = 40,
    duration: float = 25.0,
    min_acknowledged: int = 1000,
    min_kills: int = 5,
    max_duration: float = 120.0,
    kill_every: tuple[float, float] = (2.0, 3.0),
    seed: int = 1,
) -> WorkerKillResult:
    """R1: experts save with idempotency keys and retries while a worker is SIGKILLed every
    2-3 s (once the server acknowledged a save per expert since the last kill); every
    acknowledged save must be stored exactly once.

    The run lasts at least `duration` seconds and until `min_acknowledged` saves and
    `min_kills` kills happened (a busy machine takes longer), but never over `max_duration`.
    """
    panel = seed_panel(where.app, experts=experts, study_key=f"r1-{uuid.uuid4().hex[:10]}")
    server = where.server
    rng = random.Random(seed)
    run = SaveRun()

    async def scenario() -> tuple[int, float, Client]:
        client = Client(server.base_url)
        for expert in panel.experts[:5]:  # a few real link entries, so the access log sees /t/...
            await enter_through_link(client, expert.link_token)
        stop = asyncio.Event()
        tasks = _start_savers(client, panel, run, stop, seed, reasons=True)
        started = time.monotonic()
        kills = 0
        acknowledged_at_kill = 0
        while True:
            await asyncio.sleep(rng.uniform(*kill_every))
            elapsed = time.monotonic() - started
            enough = run.acknowledged_requests >= min_acknowledged and kills >= min_kills
            if (elapsed >= duration and enough) or elapsed >= max_duration:
                break
            # on a busy machine a replacement worker may take longer to boot than the kill
            # interval: kill again only once the server got saves through since the last kill
            if run.acknowledged_requests - acknowledged_at_kill < experts:
                continue
            if server.kill_worker(rng) is not None:
                kills += 1
                acknowledged_at_kill = run.acknowledged_requests
        stop.set()
        await asyncio.gather(*tasks)
        seconds = time.monotonic() - started
        await client.close()
        return kills, seconds, client

    kills, seconds, client = run_async(scenario())
    server.wait_ready()  # the last victim's replacement, before anyone else uses the server
    return WorkerKillResult(
        seconds=seconds,
        experts=experts,
        workers=len(server.worker_pids()),
        kills=kills,
        ledger=check_ledger(where.app, run.ledger, panel.round_id),
        acknowledged_requests=run.acknowledged_requests,
        gave_up=run.errors.get(0, 0),
        other_errors=sum(n for status, n in run.errors.items() if status != 0),
        statuses=dict(sorted(client.statuses.items())),
        resent=client.http.resent,
        leaks=log_leaks([where.log], panel.secrets()),
        log=where.log,
    )


# -- R3: closing a round while experts save ------------------------------------------------------


@dataclass
class CloseRaceResult:
    """R3's figures over all repetitions."""

    repetitions: int
    acknowledged: int
    refused: int
    echo_mismatches: int
    ledger_problems: int  #: missing + duplicates + wrong + unexpected, summed
    snapshot_mismatches: int  #: repetitions where the snapshot's set differs from the ledger's
    errors: int
    details: list[str]

    @property
    def ok(self) -> bool:
        """R3 passes."""
        return (
            not (
                self.echo_mismatches
                or self.ledger_problems
                or self.snapshot_mismatches
                or self.errors
            )
            and self.refused > 0
        )

    def report(self) -> str:
        """The figures, one paragraph."""
        return (
            f"R3 close races: {self.repetitions} closes; acknowledged saves {self.acknowledged}, "
            f"refused with 409 {self.refused} (payload not echoed: {self.echo_mismatches}); "
            f"ledger problems {self.ledger_problems}; snapshot != acknowledged set in "
            f"{self.snapshot_mismatches} of {self.repetitions}; errors {self.errors} -> "
            + ("PASS" if self.ok else "FAIL")
        )


def _expected_snapshot(app: Any, ledger: Ledger, round_id: int) -> tuple[int, str]:
    """The (count, digest) a snapshot must have if it holds exactly the last acknowledged
    answer of every expert and question."""
    from app.extensions import db
    from app.models import Answer

    last: dict[tuple[int, int], Save] = {}
    for save in ledger.acknowledged:  # in the order the server acknowledged them, per expert
        last[(save.participation_id, save.question_id)] = save
    with app.app_context():
        rows = {
            (pid, key): (answer_id, revision)
            for answer_id, revision, pid, key in db.session.execute(
                select(
                    Answer.id, Answer.revision, Answer.participation_id, Answer.idempotency_key
                ).where(Answer.round_id == round_id)
            )
        }
        release_session()
    pairs = sorted(
        rows[(s.participation_id, s.answer_key)]
        for s in last.values()
        if (s.participation_id, s.answer_key) in rows
    )
    digest = hashlib.sha256(",".join(f"{i}:{r}" for i, r in pairs).encode()).hexdigest()
    return len(pairs), digest


def close_races(
    where: Stage,
    *,
    repetitions: int = 6,
    experts: int = 20,
    before_close: tuple[float, float] = (0.8, 1.5),
    after_close: float = 0.8,
    seed: int = 3,
) -> CloseRaceResult:
    """R3: experts save while the facilitator closes the round; the snapshot must hold exactly
    the acknowledged answers, and every refused save gets 409 with its payload back."""
    from app.extensions import db
    from app.models import Round, Snapshot, utcnow
    from app.services import rounds

    app = where.app
    rng = random.Random(seed)
    totals = Counter[str]()
    details: list[str] = []
    errors = 0

    def close(round_id: int) -> None:
        with app.app_context():
            round_ = db.session.get(Round, round_id)
            assert round_ is not None
            rounds.close_round(db.session, round_, actor=None, now=utcnow())
            db.session.commit()
            release_session()

    async def one(panel: Panel, index: int) -> tuple[SaveRun, float]:
        run = SaveRun()
        client = Client(where.server.base_url)
        stop = asyncio.Event()
        tasks = _start_savers(client, panel, run, stop, seed + 1000 * index, reasons=False)
        await asyncio.sleep(rng.uniform(*before_close))
        closing = time.monotonic()
        await asyncio.to_thread(close, panel.round_id)
        took = time.monotonic() - closing
        await asyncio.sleep(after_close)
        stop.set()
        await asyncio.gather(*tasks)
        await client.close()
        return run, took

    for index in range(repetitions):
        panel = seed_panel(app, experts=experts, study_key=f"r3-{uuid.uuid4().hex[:10]}")
        run, took = run_async(one(panel, index))
        check = check_ledger(app, run.ledger, panel.round_id)
        count, digest = _expected_snapshot(app, run.ledger, panel.round_id)
        with app.app_context():
            snapshot = db.session.scalars(
                select(Snapshot).where(Snapshot.round_id == panel.round_id)
            ).one()
            matches = (snapshot.answer_count, snapshot.answers_digest) == (count, digest)
            release_session()
        totals["acknowledged"] += run.acknowledged_requests
        totals["refused"] += run.refused_requests
        totals["echo"] += run.echo_mismatches
        totals["ledger"] += (
            check.missing + check.duplicates + check.wrong_value + check.unexpected
        ) + check.unrecorded
        totals["snapshot"] += 0 if matches else 1
        errors += sum(run.errors.values())
        details.append(
            f"close {index + 1} (took {took:.1f} s amid the saves): acknowledged "
            f"{run.acknowledged_requests}, refused {run.refused_requests}, snapshot answers "
            f"{count}, snapshot matches: {matches}"
        )
    return CloseRaceResult(
        repetitions=repetitions,
        acknowledged=totals["acknowledged"],
        refused=totals["refused"],
        echo_mismatches=totals["echo"],
        ledger_problems=totals["ledger"],
        snapshot_mismatches=totals["snapshot"],
        errors=errors,
        details=details,
    )


# -- R2: the same save sent many times at once -----------------------------------------------------


@dataclass
class ReplayResult:
    """R2's figures."""

    copies: int
    save_statuses: dict[int, int]
    save_replays: int  #: of the identical saves, how many were answered as replays
    save_rows: int  #: rows stored under the save's key (must be 1)
    changed_body_status: int  #: the answer to the same key with a different value (409/422)
    rows_after_change: int  #: rows under the key after that (still 1, unchanged)
    form_statuses: dict[int, int]  #: the same plain-form page post (Save, Next), many times
    form_rows_per_question: set[int]  #: rows per question under the form's key (only 1)
    submit_statuses: dict[int, int]
    rows_changed_by_submits: int  #: answer rows added or changed by the submits (0)
    submitted: bool  #: the round is submitted for the expert afterwards

    @property
    def ok(self) -> bool:
        """R2 passes."""
        return (
            set(self.save_statuses) == {200}
            and self.save_replays == self.copies - 1
            and self.save_rows == 1
            and self.changed_body_status in (409, 422)
            and self.rows_after_change == 1
            and set(self.form_statuses) == {303}
            and self.form_rows_per_question == {1}
            and set(self.submit_statuses) == {303}
            and self.rows_changed_by_submits == 0
            and self.submitted
        )

    def report(self) -> str:
        """The figures, one line."""
        return (
            f"R2 replays: {self.copies} identical saves at once -> {self.save_statuses} "
            f"({self.save_replays} replays), rows {self.save_rows}; same key, new value -> "
            f"{self.changed_body_status}, rows {self.rows_after_change}; {self.copies} identical "
            f"plain-form posts of an item page -> {self.form_statuses}, rows per question "
            f"{sorted(self.form_rows_per_question)}; {self.copies} identical submits at once -> "
            f"{self.submit_statuses}, answer rows changed {self.rows_changed_by_submits}, "
            f"submitted {self.submitted} -> " + ("PASS" if self.ok else "FAIL")
        )


def concurrent_replays(where: Stage, *, copies: int = 20, seed: int = 2) -> ReplayResult:
    """R2: a double click times twenty: the same autosave, the same plain-form post of an
    item page, then (every item saved) the same submit, all at once."""
    from app.extensions import db
    from app.models import Answer, RoundProgress

    panel = seed_panel(where.app, experts=2, study_key=f"r2-{uuid.uuid4().hex[:10]}")
    saver, submitter = panel.experts
    item = panel.probability_items[0]
    assert item.probability is not None
    question = item.probability
    key, form_key = new_key(), new_key()
    rng = random.Random(seed)
    typed = {each.key: item_fields(each, rng) for each in panel.items}
    # the plain form of the submitter's first item page: its fields, the page's key, Next
    form = {**typed[item.key], "idempotency_key": form_key, "action": "next"}

    def answer_rows() -> list[tuple[int, int, bool]]:
        with where.app.app_context():
            found = db.session.execute(
                select(Answer.id, Answer.revision, Answer.is_current).where(
                    Answer.participation_id == submitter.participation_id
                )
            )
            rows = sorted(found.tuples().all())
            release_session()
        return rows

    async def scenario() -> tuple[list[Any], Any, list[Any], list[Any], list[Any]]:
        client = Client(where.server.base_url)
        fields = {f"q{question.id}": "42"}
        saves = await asyncio.gather(
            *(client.save_item(saver, item.key, fields, key, retry_for=0) for _ in range(copies))
        )
        changed = await client.save_item(
            saver, item.key, {f"q{question.id}": "43"}, key, retry_for=0
        )
        forms = await asyncio.gather(
            *(
                client.request(
                    "POST",
                    item_path(item.key),
                    submitter,
                    data={**form, "csrf_token": submitter.csrf},
                )
                for _ in range(copies)
            )
        )
        for each in panel.items:  # the other items, one by one, before the submit
            if each.key != item.key:
                saved = await client.save_item(submitter, each.key, typed[each.key], new_key())
                assert saved.status == 200, saved.body
        before = answer_rows()
        submits = await asyncio.gather(
            *(
                client.request(
                    "POST", "/e/round/submit", submitter, data={"csrf_token": submitter.csrf}
                )
                for _ in range(copies)
            )
        )
        await client.close()
        return list(saves), changed, list(forms), before, list(submits)

    def rows(participation_id: int, request_key: str) -> Counter[int]:
        """Answer rows per question stored by the request filed under this key."""
        with where.app.app_context():
            found = Counter(
                db.session.scalars(
                    select(Answer.question_id).where(
                        Answer.participation_id == participation_id,
                        Answer.idempotency_key.like(f"{request_key}:%"),
                    )
                )
            )
            release_session()
        return found

    saves, changed, forms, before, submits = run_async(scenario())
    save_rows = rows(saver.participation_id, key)[question.id]
    with where.app.app_context():
        progress = db.session.get(RoundProgress, (submitter.participation_id, panel.round_id))
        submitted = progress is not None and progress.submitted_at is not None
        release_session()
    after = answer_rows()
    return ReplayResult(
        copies=copies,
        save_statuses=dict(Counter(o.status for o in saves)),
        save_replays=sum(
            1 for o in saves if isinstance(o.body, dict) and o.body.get("replay") is True
        ),
        save_rows=save_rows,
        changed_body_status=changed.status,
        rows_after_change=rows(saver.participation_id, key)[question.id],
        form_statuses=dict(Counter(o.status for o in forms)),
        # a plain form's key names the page's post; its item is filed as <key>-<item id>
        form_rows_per_question=set(
            rows(submitter.participation_id, f"{form_key}-{item.id}").values()
        ),
        submit_statuses=dict(Counter(o.status for o in submits)),
        rows_changed_by_submits=len(set(after) ^ set(before)),
        submitted=submitted,
    )


# -- R17: PostgreSQL restarted (or its connections terminated) mid-load -------------------------------


@dataclass
class DatabaseOutageResult:
    """R17's figures."""

    mode: str
    seconds: float
    outage: float  #: first failed attempt to the first success after the last failure (0 if none)
    back_after: float  #: from the fault to the first success after the last failure
    failed_attempts: int
    statuses: dict[int, int]
    non_503: int
    tracebacks: int
    ledger: LedgerCheck
    gave_up: int
    other_errors: int
    leaks: dict[str, int]

    @property
    def ok(self) -> bool:
        """R17 passes."""
        return (
            self.ledger.ok
            and self.back_after <= 10.0
            and self.non_503 == 0
            and self.tracebacks == 0
            and self.gave_up == 0
            and self.other_errors == 0
            and not any(self.leaks.values())
        )

    def report(self) -> str:
        """The figures, one paragraph."""
        return (
            f"R17 PostgreSQL {self.mode}: back after {self.back_after:.2f} s (outage seen by "
            f"clients {self.outage:.2f} s), {self.failed_attempts} failed attempts retried, "
            f"server errors other than 503: {self.non_503}, tracebacks shown: {self.tracebacks}; "
            f"acknowledged answers {self.ledger.acknowledged}, missing {self.ledger.missing}, "
            f"duplicates {self.ledger.duplicates}, wrong {self.ledger.wrong_value}, "
            f"unexpected {self.ledger.unexpected}, not in the server's ledger "
            f"{self.ledger.unrecorded}; gave up {self.gave_up}, other errors "
            f"{self.other_errors}; attempt statuses {self.statuses}; log leaks {self.leaks} -> "
            + ("PASS" if self.ok else "FAIL")
        )


def postgres_cluster() -> tuple[str, str] | None:
    """(version, name) of the local cluster on port 5432, if pg_ctlcluster can restart it."""
    if shutil.which("pg_lsclusters") is None or shutil.which("pg_ctlcluster") is None:
        return None
    if os.geteuid() != 0:
        return None
    listing = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=False)
    for line in listing.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "5432" and parts[3] == "online":
            return parts[0], parts[1]
    return None


def _restart_postgres(cluster: tuple[str, str]) -> None:
    """Restart the local PostgreSQL cluster (fast shutdown: open transactions are aborted)."""
    version, name = cluster
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart", "-m", "fast"],
        check=True,
        capture_output=True,
        timeout=60,
    )


def database_outage(
    where: Stage,
    *,
    mode: str = "restart",
    experts: int = 20,
    before: float = 3.0,
    after: float = 4.0,
    terminations: int = 3,
    seed: int = 5,
) -> DatabaseOutageResult:
    """R17: restart PostgreSQL (mode "restart") or terminate the app's connections (mode
    "terminate") while experts save; the service must answer 503 meanwhile and come back."""
    cluster = postgres_cluster() if mode == "restart" else None
    if mode == "restart" and cluster is None:
        raise RuntimeError("pg_ctlcluster cannot restart the local PostgreSQL here")
    panel = seed_panel(where.app, experts=experts, study_key=f"r17-{uuid.uuid4().hex[:10]}")
    where.dispose()  # no idle connection of ours to lose in the fault
    run = SaveRun()

    async def scenario() -> tuple[float, float, Client]:
        client = Client(where.server.base_url)
        stop = asyncio.Event()
        tasks = _start_savers(client, panel, run, stop, seed, reasons=True)
        started = time.monotonic()
        await asyncio.sleep(before)
        fault_at = time.monotonic()
        if mode == "restart":
            assert cluster is not None
            await asyncio.to_thread(_restart_postgres, cluster)
        else:
            for _ in range(terminations):
                await asyncio.to_thread(terminate_connections, where.name)
                await asyncio.sleep(0.7)
        await asyncio.sleep(after)
        stop.set()
        await asyncio.gather(*tasks)
        await client.close()
        return fault_at, time.monotonic() - started, client

    fault_at, seconds, client = run_async(scenario())
    failures = [t for t, status in client.timeline if status != 200 and t >= fault_at]
    if failures:
        last_failure = max(failures)
        recovered = min(
            (t for t, status in client.timeline if status == 200 and t > last_failure),
            default=float("inf"),
        )
        outage = recovered - min(failures)
        back_after = recovered - fault_at
    else:
        outage = back_after = 0.0
    non_503, tracebacks = _server_errors_ok(client)
    return DatabaseOutageResult(
        mode=mode,
        seconds=seconds,
        outage=outage,
        back_after=back_after,
        failed_attempts=len(failures),
        statuses=dict(sorted(client.statuses.items())),
        non_503=non_503,
        tracebacks=tracebacks,
        ledger=check_ledger(where.app, run.ledger, panel.round_id),
        gave_up=run.errors.get(0, 0),
        other_errors=sum(n for status, n in run.errors.items() if status != 0),
        leaks=log_leaks([where.log], panel.secrets()),
    )


# -- R16: SQLite, several processes writing, one SIGKILLed ----------------------------------------


@dataclass
class SqliteResult:
    """R16's figures."""

    processes: int
    saves_each: int
    killed_after: int  #: acknowledged saves of the killed process before it died
    acknowledged: int
    user_errors: int  #: responses other than 200 (a "database is locked" would be one)
    locked_messages: int
    integrity: str
    ledger: LedgerCheck
    seconds: float

    @property
    def ok(self) -> bool:
        """R16 passes."""
        return (
            self.user_errors == 0
            and self.locked_messages == 0
            and self.integrity == "ok"
            and self.ledger.ok
        )

    def report(self) -> str:
        """The figures, one paragraph."""
        return (
            f"R16 SQLite: {self.processes} processes x {self.saves_each} read-then-write saves, "
            f"one SIGKILLed after {self.killed_after} saves; acknowledged {self.acknowledged}, "
            f"errors reaching users {self.user_errors} ('database is locked': "
            f"{self.locked_messages}), integrity_check {self.integrity!r}, missing "
            f"{self.ledger.missing}, duplicates {self.ledger.duplicates}, wrong "
            f"{self.ledger.wrong_value}, unexpected {self.ledger.unexpected}; "
            f"{self.seconds:.1f} s -> " + ("PASS" if self.ok else "FAIL")
        )


def sqlite_writer(database: str, spec_path: str, out_path: str, saves: int, seed: int) -> None:
    """One writer process of R16: saves through the app (in-process), one line per event.

    Lines: `try <json save>` before sending, `ack <json save>` after a 200, `err <status>
    <body>` otherwise. Each line is written and flushed at once, so a SIGKILL loses nothing
    already acknowledged.
    """
    from app import create_app

    spec = json.loads(Path(spec_path).read_text())
    app = create_app(
        {
            "ENV_NAME": "testing",
            "SECRET_KEY": spec["secret"],
            "SQLALCHEMY_DATABASE_URI": database,
            "PUBLIC_BASE_URL": "http://127.0.0.1",
        }
    )
    rng = random.Random(seed)
    experts = spec["experts"]
    clients = {}
    for expert in experts:  # one browser per expert
        clients[expert["participation_id"]] = client = app.test_client()
        client.set_cookie(spec["cookie_name"], expert["cookie"])
    items = spec["items"]
    last: dict[tuple[int, int], int] = {}
    with Path(out_path).open("a", buffering=1) as out:
        for _ in range(saves):
            expert = rng.choice(experts)
            item = rng.choice(items)
            pid, qid = expert["participation_id"], item["question_id"]
            value = rng.choice([v for v in range(101) if v != last.get((pid, qid))])
            key = new_key()
            save = {"p": pid, "i": item["item_id"], "q": qid, "v": value, "k": key}
            out.write("try " + json.dumps(save) + "\n")
            response = clients[pid].post(
                item_path(item["item_key"]),
                data={f"q{qid}": str(value)},
                headers={
                    "Idempotency-Key": key,
                    "Accept": "application/json",
                    "X-CSRFToken": expert["csrf"],
                },
            )
            if response.status_code == 200:
                out.write("ack " + json.dumps(save) + "\n")
                last[(pid, qid)] = value
            else:
                body = response.get_data(as_text=True).replace("\n", " ")[:300]
                out.write(f"err {response.status_code} {body}\n")
                last[(pid, qid)] = value


def _read_writer_lines(path: Path) -> tuple[list[Save], list[Save], list[str]]:
    """(attempted, acknowledged, errors) from a writer's output file."""
    attempted: list[Save] = []
    acknowledged: list[Save] = []
    errors: list[str] = []
    for line in path.read_text().splitlines():
        kind, _sep, rest = line.partition(" ")
        if kind in ("try", "ack"):
            try:
                data = json.loads(rest)
            except json.JSONDecodeError:
                continue  # the process died half-way through writing this line
            save = Save(data["p"], data["i"], data["q"], float(data["v"]), None, data["k"])
            (attempted if kind == "try" else acknowledged).append(save)
        elif kind == "err":
            errors.append(rest)
    return attempted, acknowledged, errors


def sqlite_processes(
    *, processes: int = 4, saves: int = 500, kill_after: int = 100, seed: int = 7
) -> SqliteResult:
    """R16: several processes save through the app into one SQLite file; one is SIGKILLed
    while writing. No user sees an error, the file stays intact, nothing acknowledged is lost."""
    from app.extensions import db
    from tests.load.harness import SECRET_KEY, SESSION_COOKIE

    workdir = Path(tempfile.mkdtemp(prefix="delphi-r16-"))
    database = f"sqlite:///{workdir / 'r16.sqlite'}"
    app = seeding_app(database)
    with app.app_context():
        db.create_all()
    panel = seed_panel(app, experts=4 * processes)
    items = [
        {"item_id": item.id, "item_key": item.key, "question_id": item.probability.id}
        for item in panel.probability_items
        if item.probability is not None
    ]
    outputs = [workdir / f"writer-{i}.log" for i in range(processes)]
    started = time.monotonic()
    children: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(processes):
            mine = panel.experts[index::processes]
            spec = {
                "secret": SECRET_KEY,
                "cookie_name": SESSION_COOKIE,
                "experts": [
                    {"participation_id": e.participation_id, "cookie": e.cookie, "csrf": e.csrf}
                    for e in mine
                ],
                "items": items,
            }
            path = workdir / f"spec-{index}.json"
            path.write_text(json.dumps(spec))
            children.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "tests.load.faults",
                        "sqlite-writer",
                        database,
                        str(path),
                        str(outputs[index]),
                        str(saves),
                        str(seed + index),
                    ],
                    cwd=Path(__file__).resolve().parents[2],
                )
            )
        victim = children[0]
        deadline = time.monotonic() + 120
        killed_after = 0
        while time.monotonic() < deadline:
            acks = outputs[0].read_text().count("\nack ") if outputs[0].exists() else 0
            if acks >= kill_after or victim.poll() is not None:
                # wait for a moment when it is between `try` and `ack`: mid-write
                victim.send_signal(signal.SIGKILL)
                killed_after = acks
                break
            time.sleep(0.005)
        for child in children:
            child.wait(timeout=300)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    seconds = time.monotonic() - started
    ledger = Ledger()
    errors: list[str] = []
    for output in outputs:
        attempted, acknowledged, failed = _read_writer_lines(output)
        ledger.attempted.extend(attempted)
        ledger.acknowledged.extend(acknowledged)
        errors.extend(failed)
    check = check_ledger(app, ledger, panel.round_id)
    with app.app_context():
        integrity = str(db.session.execute(text("PRAGMA integrity_check")).scalar_one())
        release_session()
        db.engine.dispose()
    shutil.rmtree(workdir, ignore_errors=True)
    return SqliteResult(
        processes=processes,
        saves_each=saves,
        killed_after=killed_after,
        acknowledged=len(ledger.acknowledged),
        user_errors=len(errors),
        locked_messages=sum(1 for e in errors if "locked" in e.lower()),
        integrity=integrity,
        ledger=check,
        seconds=seconds,
    )


# -- make faults ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run every fault check at full size and print its figures; exit 1 if any fails."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "sqlite-writer":
        database, spec, out, saves, seed = argv[1:6]
        sqlite_writer(database, spec, out, int(saves), int(seed))
        return 0
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--only",
        nargs="*",
        choices=["r1", "r3", "r16", "r17", "r22", "r23", "r24"],
        help="run only these checks",
    )
    parser.add_argument(
        "--no-restart",
        action="store_true",
        help="R17 terminates the app's connections instead of restarting PostgreSQL",
    )
    args = parser.parse_args(argv)
    chosen = set(args.only or ["r1", "r3", "r16", "r17", "r22", "r23", "r24"])
    from tests.load.harness import postgres_available, server_url

    reports: list[tuple[str, bool]] = []
    started = time.monotonic()
    needs_postgres = chosen & {"r1", "r3", "r17", "r23", "r24"}
    if needs_postgres and not postgres_available():
        print(f"PostgreSQL does not answer at {server_url()}: R1, R3, R17, R23, R24 cannot run.")
        return 1
    if "r16" in chosen:
        result16 = sqlite_processes()
        reports.append((result16.report(), result16.ok))
        print(reports[-1][0], flush=True)
    if "r1" in chosen:
        with stage("delphi_faults_r1") as where:
            result1 = worker_kills(where)
        reports.append((result1.report(), result1.ok))
        print(reports[-1][0], flush=True)
    if "r3" in chosen:
        with stage("delphi_faults_r3") as where:
            result3 = close_races(where)
        for line in result3.details:
            print("   ", line)
        reports.append((result3.report(), result3.ok))
        print(reports[-1][0], flush=True)
    if "r17" in chosen:
        mode = "terminate" if args.no_restart or postgres_cluster() is None else "restart"
        with stage("delphi_faults_r17") as where:
            result17 = database_outage(where, mode=mode)
        reports.append((result17.report(), result17.ok))
        print(reports[-1][0], flush=True)
    if "r22" in chosen:
        from tests.load.mail_faults import mail_kills

        if postgres_available():  # as in production; SQLite otherwise
            url22 = recreate_database("delphi_faults_r22")
            try:
                result22 = mail_kills(database=url22)
            finally:
                drop_database("delphi_faults_r22")
        else:
            result22 = mail_kills()
        reports.append((result22.report(), result22.ok))
        print(reports[-1][0], flush=True)
    if "r23" in chosen:
        from tests.load.report_faults import report_worker_kill

        url = _prepare_database("delphi_faults_r23", use_migrations=True)
        try:
            result23 = report_worker_kill(url, which="demo", log_dir=ARTIFACTS, create_schema=False)
        finally:
            drop_database("delphi_faults_r23")
        reports.append((result23.report(), result23.ok))
        print(reports[-1][0], flush=True)
    if "r24" in chosen:
        from tests.load.instances import instance_faults

        result24 = instance_faults()
        reports.append((result24.report(), result24.ok))
        print(reports[-1][0], flush=True)
    print(f"\n{len(reports)} fault checks in {time.monotonic() - started:.0f} s:")
    for line, ok in reports:
        print(("  PASS  " if ok else "  FAIL  ") + line.split(":")[0])
    return 0 if all(ok for _line, ok in reports) else 1


if __name__ == "__main__":
    raise SystemExit(main())
