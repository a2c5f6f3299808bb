"""R22: the outbox under a killed worker. Many invitations are queued; the real worker
(`flask jobs worker` on Redis) sends them to a slowish SMTP server on loopback and is
SIGKILLed mid-mailing, then started again. Afterwards every email is `sent` or `unsure`,
no address got a message twice, and there are no more unsure emails than messages in flight
when the kills landed: at most one per worker thread per kill.

`make faults` runs the full version (tests/load/faults.py prints its row); the test suite
runs a small one (tests/reliability/test_mail_worker.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tests.mailbox import Mailbox, running_smtp_server

ROOT = Path(__file__).resolve().parents[2]
#: the Redis database the mail runs use (flushed before and after)
REDIS_URL = os.environ.get("MAIL_FAULTS_REDIS_URL", "redis://127.0.0.1:6379/7")
#: the claim a worker holds on an email it sends (JOB_LEASE_SECONDS of the worker's config)
LEASE = timedelta(seconds=60)


@dataclass
class SlowMailbox(Mailbox):
    """A mailbox whose server answers each message after `delay` seconds (the message is
    kept first: a worker killed while waiting for the answer leaves one that arrived)."""

    delay: float = 0.05

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message, then take a moment before acknowledging it."""
        answer = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(self.delay)
        return answer


@contextmanager
def slow_smtp_server(delay: float) -> Iterator[SlowMailbox]:
    """A running slow SMTP server on loopback."""
    with running_smtp_server(SlowMailbox(delay=delay)) as mailbox:
        assert isinstance(mailbox, SlowMailbox)
        yield mailbox


def flush_redis(url: str = REDIS_URL) -> None:
    """Empty the run's Redis database."""
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


def worker_environment(
    database: str, mailbox: Mailbox, redis_url: str = REDIS_URL
) -> dict[str, str]:
    """The environment of a worker process sending through `mailbox`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL"))}
    env.update(
        {
            "DELPHI_ENV": "testing",
            "DATABASE_URL": database,
            "JOB_QUEUE_URL": redis_url,
            "MAIL_BACKEND": "smtp",
            "SMTP_HOST": mailbox.host,
            "SMTP_PORT": str(mailbox.port),
            "MAIL_FROM": "Delphi <delphi@example.org>",
            "PUBLIC_BASE_URL": "http://127.0.0.1",
            "SECRET_KEY": "mail-fault-runs-only-" + "x" * 24,
        }
    )
    return env


class Worker:
    """`flask jobs worker` as a subprocess, its output in a log file."""

    def __init__(self, env: dict[str, str], log: Path, threads: int = 2) -> None:
        self.env, self.log, self.threads = env, log, threads
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the worker."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "flask", "--app", "wsgi", "jobs", "worker"),
                    *("--threads", str(self.threads)),
                ],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """SIGKILL the worker (no chance to finish anything)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop the worker if it runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def seed_outbox(app: Any, emails: int) -> list[str]:
    """A study with `emails` experts, each with a queued invitation; returns their addresses."""
    from app.definitions import load_definition
    from app.extensions import db
    from app.services import invitations, panel, studies
    from tests.load.harness import NOW, release_session

    with app.app_context():
        db.create_all()
        definition = load_definition(ROOT / "surveys" / "example.toml")
        study = studies.import_study(db.session, definition, actor=None, now=NOW)
        addresses = [f"expert{i:04d}@example.org" for i in range(emails)]
        members = [
            panel.add_expert(
                db.session,
                study,
                name=f"Expert {i}",
                email=a,
                group="",
                language="en",
                actor=None,
                now=NOW,
            ).participation
            for i, a in enumerate(addresses)
        ]
        invitations.queue_invitations(db.session, study, members, actor=None, now=NOW)
        db.session.commit()  # committed, not enqueued: the worker's sweep finds them
        release_session()
    return addresses


def outbox_counts(app: Any) -> Counter[str]:
    """How many emails are in each status."""
    from app.extensions import db
    from app.models import OutgoingEmail
    from tests.load.harness import release_session

    with app.app_context():
        rows = db.session.execute(
            select(OutgoingEmail.status, func.count()).group_by(OutgoingEmail.status)
        ).all()
        release_session()
    return Counter({str(status): int(n) for status, n in rows})


def _wait(condition: Any, timeout: float, step: float = 0.05) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


@dataclass
class MailKillResult:
    """R22's figures."""

    emails: int
    kills: int
    threads: int = 2  #: the worker's threads: each may be mid-send when it is killed
    statuses: Counter[str] = field(default_factory=Counter)
    received: int = 0
    twice: int = 0  #: addresses that got more than one message
    missing: int = 0  #: sent rows whose message the server never received
    finished: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """R22 passes."""
        settled = self.statuses["sent"] + self.statuses["unsure"] == self.emails
        return (
            self.finished
            and settled
            and self.twice == 0
            and self.missing == 0
            and self.statuses["unsure"] <= self.in_flight_bound
        )

    @property
    def in_flight_bound(self) -> int:
        """The most emails the kills can have caught mid-send."""
        return self.kills * self.threads

    def report(self) -> str:
        """The figures, one paragraph."""
        return (
            f"R22 outbox under killed workers: {self.emails} invitations, worker SIGKILLed "
            f"{self.kills} times mid-mailing; sent {self.statuses['sent']}, unsure "
            f"{self.statuses['unsure']} (at most {self.in_flight_bound}: {self.threads} threads x "
            f"{self.kills} kills), other "
            f"{self.emails - self.statuses['sent'] - self.statuses['unsure']}; messages "
            f"received {self.received}, addresses mailed twice {self.twice}, sent but never "
            f"received {self.missing}; {self.seconds:.1f} s -> " + ("PASS" if self.ok else "FAIL")
        )


def mail_kills(
    *,
    database: str | None = None,
    emails: int = 300,
    kills: int = 3,
    threads: int = 2,
    delay: float = 0.02,
    timeout: float = 240.0,
    log_dir: Path | None = None,
) -> MailKillResult:
    """R22: queue `emails` invitations, let the real worker send them, SIGKILL it `kills`
    times mid-mailing (restarting it each time), then check the outbox and the mailbox."""
    from app.services import outbox
    from tests.load.harness import release_session, seeding_app

    workdir = Path(tempfile.mkdtemp(prefix="delphi-r22-"))
    database = database or f"sqlite:///{workdir / 'r22.sqlite'}"
    app = seeding_app(database)
    seed_outbox(app, emails)
    started = time.monotonic()
    result = MailKillResult(emails=emails, kills=0, threads=threads)
    flush_redis()
    log = (log_dir or workdir) / "r18_worker.log"
    with slow_smtp_server(delay) as mailbox:
        worker = Worker(worker_environment(database, mailbox), log, threads=threads)
        last_kill: datetime | None = None
        try:
            for round_ in range(kills):
                worker.start()
                target = (round_ + 1) * emails // (kills + 2)
                if not _wait(lambda t=target: len(mailbox.messages) >= t, timeout / 2):
                    break
                worker.kill()
                from app.models import utcnow

                last_kill = utcnow()
                result.kills += 1
            worker.start()

            def drained() -> bool:
                counts = outbox_counts(app)
                return counts["pending"] == 0 and counts["sending"] <= result.in_flight_bound

            result.finished = _wait(drained, timeout, step=0.2)
            time.sleep(0.5)  # the last answers of the server reach the worker
            if last_kill is not None:
                # the minute's sweep as it runs once the dead worker's claims have passed;
                # claims the live worker took after the last kill end later and are spared
                with app.app_context():
                    from app.extensions import db

                    outbox.expire_claims(db.session, now=last_kill + LEASE)
                    db.session.commit()
                    release_session()
        finally:
            worker.stop()
            flush_redis()
        result.statuses = outbox_counts(app)
        received = Counter(r for m in mailbox.messages for r in m.recipients)
        result.received = sum(received.values())
        result.twice = sum(1 for n in received.values() if n > 1)
        result.missing = _sent_but_not_received(app, set(received))
    result.seconds = time.monotonic() - started
    with app.app_context():
        from app.extensions import db

        release_session()
        db.engine.dispose()
    return result


def _sent_but_not_received(app: Any, received: set[str]) -> int:
    """Rows recorded `sent` whose address the server has no message for."""
    from app.extensions import db
    from app.models import Expert, OutgoingEmail, Participation
    from tests.load.harness import release_session

    with app.app_context():
        sent = db.session.scalars(
            select(Expert.email)
            .join(Participation, Participation.expert_id == Expert.id)
            .join(OutgoingEmail, OutgoingEmail.participation_id == Participation.id)
            .where(OutgoingEmail.status == "sent")
        ).all()
        release_session()
    return sum(1 for address in sent if address not in received)
