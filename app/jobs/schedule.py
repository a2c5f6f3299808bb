"""The minute's schedule: reminders that fell due, and rounds that close at their deadline.

Each round is handled in a short transaction of its own, so one round's trouble does not
hold up the others; the queued reminders are enqueued once their transaction commits.
"""

from __future__ import annotations

import logging
from datetime import datetime

from app.jobs.mail import send_after_commit
from app.jobs.runner import job_session, on_tick
from app.models import utcnow
from app.services import schedule

logger = logging.getLogger(__name__)


def remind_due(now: datetime) -> int:
    """Queue every reminder that is due now and has not run; returns how many emails."""
    with job_session(write=False) as session:
        rounds = schedule.open_rounds_with_deadline(session)
        session.rollback()
    queued = 0
    for _study_id, round_id in rounds:
        try:
            with job_session() as session:
                ids = schedule.remind_due(session, round_id, now=now)
                send_after_commit(session, ids)
                session.commit()
                queued += len(ids)
        except Exception:
            logger.exception("the reminders of round %s failed; tried again next minute", round_id)
    return queued


def close_due(now: datetime) -> int:
    """Close every round past its deadline that may close itself; returns how many closed."""
    with job_session(write=False) as session:
        rounds = schedule.rounds_past_deadline(session, now=now)
        session.rollback()
    closed = 0
    for round_id in rounds:
        try:
            with job_session() as session:
                outcome = schedule.close_due(session, round_id, now=now)
                session.commit()
                closed += outcome.closed
        except Exception:
            logger.exception("closing round %s at its deadline failed; tried again", round_id)
    return closed


@on_tick
def schedule_tick() -> None:
    """Every minute: due reminders, then deadlines."""
    now = utcnow()
    remind_due(now)
    close_due(now)
