"""Sending the outbox: each queued email claimed, sent once, and its outcome recorded.

The request that asks for a mailing commits `pending` rows and enqueues `send_outbox` with
their ids after the commit. Per row: a short transaction claims it and issues its link
(`outbox.prepare`), the message goes to the mail server outside any transaction, and a short
transaction records the outcome. The minute's tick sends what a lost message left pending
and turns rows a dead worker left `sending` into `unsure` (they may have arrived, so the
system never sends them again on its own; the facilitators see them and decide).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.orm import Session

from app.emails import base_url, mailer, render_mail, sender
from app.extensions import db
from app.jobs.queue import enqueue_after_commit, huey, task
from app.jobs.runner import job_session, lease, on_tick
from app.models import EmailStatus, utcnow
from app.services import outbox
from app.services.mail import Mailer, MailError

logger = logging.getLogger(__name__)

#: how many rows one task sends (the sweep splits a long backlog into tasks of this size)
BATCH = 50


def deliver(email_id: int, through: Mailer) -> EmailStatus | None:
    """Send one outbox row if it is pending; returns its new status (None: not ours)."""
    with job_session() as session:
        prepared = outbox.prepare(
            session,
            email_id,
            render=render_mail,
            base_url=base_url(),
            sender=sender(),
            now=utcnow(),
            lease=lease(),
        )
        session.commit()
    if prepared is None:
        return None
    try:
        through.send(prepared.message)
    except MailError as error:
        with job_session() as session:
            status = outbox.record_failure(
                session,
                prepared,
                str(error),
                temporary=error.temporary,
                unsure=error.unsure,
                now=utcnow(),
            )
            session.commit()
        logger.warning("email %s not sent (%s): %s", email_id, status, error)
        return status
    with job_session() as session:
        outbox.record_sent(session, email_id, now=utcnow())
        session.commit()
    return EmailStatus.SENT


@task()
def send_outbox(email_ids: Sequence[int]) -> None:
    """Send the given outbox rows (those still pending; the others are left alone)."""
    through = mailer()
    for email_id in email_ids:
        deliver(email_id, through)
    if huey.immediate:
        # run at the commit of the caller's session (the tests): that session keeps its
        # objects across commits, so let it read what the sending wrote (invited_at, ...)
        db.session.expire_all()


def send_after_commit(session: Session, email_ids: Sequence[int]) -> None:
    """Send the rows `email_ids` once `session` commits (never if it rolls back)."""
    for start in range(0, len(email_ids), BATCH):
        enqueue_after_commit(session, send_outbox, list(email_ids[start : start + BATCH]))


def enqueue_ids(email_ids: Sequence[int]) -> None:
    """Enqueue `send_outbox` for `email_ids` now, in tasks of BATCH rows."""
    for start in range(0, len(email_ids), BATCH):
        send_outbox(list(email_ids[start : start + BATCH]))


@on_tick
def sweep_outbox() -> None:
    """Every minute: expired claims become `unsure`; pending rows (a lost message, a retry
    after a temporary failure) are enqueued."""
    with job_session() as session:
        unsure = outbox.expire_claims(session, now=utcnow())
        ids = outbox.pending_ids(session)
        session.commit()
    if unsure:
        logger.warning("%d emails were left sending by a stopped worker: now unsure", unsure)
    enqueue_ids(ids)
