"""The real worker (`flask jobs worker` on Redis) sends the outbox to an SMTP server on
loopback; SIGKILLed mid-mailing and started again, it sends no email twice and loses none
(a quick R22; `make faults` runs it at full size)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.load import mail_faults

pytestmark = pytest.mark.slow


def _redis_available() -> bool:
    try:
        mail_faults.flush_redis()
    except Exception:
        return False
    return True


@pytest.fixture
def redis_queue() -> Iterator[str]:
    """The Redis database of these runs, empty before and after."""
    if not _redis_available():
        pytest.skip(f"Redis does not answer at {mail_faults.REDIS_URL}")
    yield mail_faults.REDIS_URL
    mail_faults.flush_redis()


def test_the_worker_sends_mail_enqueued_by_the_web_process(
    redis_queue: str, tmp_path: Path
) -> None:
    from app import create_app
    from app.extensions import db
    from app.jobs.mail import send_outbox
    from app.jobs.queue import configure_queue, huey
    from app.models import OutgoingEmail
    from tests.load.harness import release_session, seeding_app

    database = f"sqlite:///{tmp_path / 'worker.sqlite'}"
    seeding: Flask = seeding_app(database)
    addresses = mail_faults.seed_outbox(seeding, 5)
    web = create_app(
        {
            "ENV_NAME": "testing",
            "SQLALCHEMY_DATABASE_URI": database,
            "JOB_QUEUE_URL": redis_queue,
        }
    )
    with mail_faults.slow_smtp_server(0.0) as mailbox:
        worker = mail_faults.Worker(
            mail_faults.worker_environment(database, mailbox), tmp_path / "worker.log"
        )
        try:
            configure_queue(web)  # this process enqueues on Redis, as a web process does
            with web.app_context():
                ids = list(db.session.scalars(db.select(OutgoingEmail.id)))
                release_session()
                send_outbox(ids)
            assert len(huey) >= 1  # waiting on Redis for the worker
            worker.start()
            assert mail_faults._wait(lambda: len(mailbox.messages) >= 5, 60)
            assert mail_faults._wait(lambda: mail_faults.outbox_counts(seeding)["sent"] == 5, 30)
        finally:
            worker.stop()
            huey.immediate = True  # the suite's other tests run the queue in-process
    assert sorted(r for m in mailbox.messages for r in m.recipients) == addresses
    assert all("/t/" in m.body() for m in mailbox.messages)


def test_R18_a_worker_killed_mid_mailing_sends_nothing_twice_and_loses_nothing(
    redis_queue: str, tmp_path: Path
) -> None:
    result = mail_faults.mail_kills(emails=60, kills=1, delay=0.02, timeout=120, log_dir=tmp_path)
    assert result.kills == 1, result.report()
    assert result.finished, result.report()
    assert result.twice == 0 and result.missing == 0, result.report()
    assert result.statuses["sent"] + result.statuses["unsure"] == 60, result.report()
    assert result.statuses["unsure"] <= result.in_flight_bound, result.report()
