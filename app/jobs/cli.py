"""`flask jobs worker|status|sweep`: the background worker and a look at the queue."""

from __future__ import annotations

import logging

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from app.extensions import db
from app.jobs.queue import huey, queue_kind
from app.models import EmailStatus, Job, JobStatus, OutgoingEmail

jobs_cli = AppGroup(
    "jobs", help="The background worker: reports, exports, imports, email, schedule."
)


@jobs_cli.command("worker")
@click.option("--threads", type=int, default=None, help="Worker threads (JOB_WORKERS).")
def worker_command(threads: int | None) -> None:
    """Run the worker and its scheduler until stopped (Ctrl-C or SIGTERM finish the job at hand)."""
    kind = queue_kind()
    if kind == "immediate":
        raise click.ClickException(
            "JOB_QUEUE_URL is 'immediate': jobs run where they are enqueued, there is no queue "
            "to work on. Set JOB_QUEUE_URL to sqlite:///FILE or redis://HOST:PORT/DB."
        )
    count = threads or int(current_app.config["JOB_WORKERS"])
    logging.getLogger("huey").setLevel(logging.INFO)
    click.echo(f"worker: {count} thread(s) on the {kind} queue, with the scheduler", err=True)
    consumer = huey.create_consumer(workers=count, worker_type="thread", periodic=True)
    consumer.run()


@jobs_cli.command("status")
def status_command() -> None:
    """How many jobs and emails are waiting, running, done or failed."""
    click.echo(f"queue: {queue_kind()}, {len(huey)} message(s) waiting")
    jobs = dict(
        db.session.execute(select(Job.status, func.count()).group_by(Job.status)).tuples().all()
    )
    click.echo("jobs: " + ", ".join(f"{jobs.get(s, 0)} {s}" for s in JobStatus))
    emails = dict(
        db.session.execute(
            select(OutgoingEmail.status, func.count()).group_by(OutgoingEmail.status)
        )
        .tuples()
        .all()
    )
    click.echo("emails: " + ", ".join(f"{emails.get(s, 0)} {s}" for s in EmailStatus))


@jobs_cli.command("sweep")
def sweep_command() -> None:
    """Run the minute's tick now: resume left jobs, send queued email, reminders, deadlines."""
    from app.jobs.runner import tick

    tick.call_local()
    click.echo("done: left jobs resumed; the outbox, reminders and deadlines looked at")
