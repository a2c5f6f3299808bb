"""The task queue: one Huey instance, its storage chosen by JOB_QUEUE_URL, and enqueue-on-commit.

- `immediate`: tasks run at once in the caller's process (the test suite);
- `sqlite:///jobs.sqlite`: a file next to the app's database; `make run` needs no other service;
- `redis://host:port/db`: production (`make serve`), shared by every web and worker process.

Huey was chosen because it is small, well kept, has both a SQLite and a Redis storage with the
same API, and brings its own scheduler (periodic tasks run inside the worker, no cron).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from flask import Flask, has_app_context
from huey import Huey
from huey.api import TaskWrapper
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage
from sqlalchemy import event
from sqlalchemy.orm import Session

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger(__name__)

#: every task is registered on this instance at import; `configure_queue` picks its storage
huey = Huey("delphi", results=False, utc=True, immediate=True, storage_class=MemoryStorage)

_PENDING = "jobs_after_commit"


class _Bound:
    """The app the worker's tasks run in (set by `configure_queue`)."""

    app: Flask | None = None


def configure_queue(app: Flask) -> None:
    """Point the queue at the storage JOB_QUEUE_URL names; tasks outside a request use `app`."""
    url = str(app.config["JOB_QUEUE_URL"])
    _Bound.app = app
    if url == "immediate":
        huey.immediate = True
        return
    huey.immediate = False
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_absolute():
            path = Path(app.instance_path) / path
        huey.storage = SqliteStorage(huey.name, filename=str(path))
    elif url.startswith(("redis://", "rediss://", "unix://")):
        huey.storage = RedisStorage(huey.name, url=url)
    else:
        raise ValueError(
            f"JOB_QUEUE_URL {url!r} is not understood: use 'immediate', "
            "'sqlite:///FILE' or 'redis://HOST:PORT/DB'"
        )


def queue_kind() -> str:
    """'immediate', 'sqlite' or 'redis': where tasks go (for pages and `flask jobs status`)."""
    if huey.immediate:
        return "immediate"
    return "redis" if isinstance(huey.storage, RedisStorage) else "sqlite"


def _in_app(function: Callable[P, R]) -> Callable[P, R]:
    """`function`, run inside the app's context (the caller's, else the worker's app)."""

    @functools.wraps(function)
    def in_app(*args: P.args, **kwargs: P.kwargs) -> R:
        if has_app_context() or _Bound.app is None:
            return function(*args, **kwargs)
        with _Bound.app.app_context():
            return function(*args, **kwargs)

    return in_app


def task(**options: Any) -> Callable[[Callable[P, R]], TaskWrapper]:
    """A Huey task that runs inside the app's context."""

    def decorate(function: Callable[P, R]) -> TaskWrapper:
        return huey.task(**options)(_in_app(function))

    return decorate


def periodic_task(when: Callable[..., bool]) -> Callable[[Callable[P, R]], TaskWrapper]:
    """A Huey periodic task (run by the worker's scheduler) inside the app's context."""

    def decorate(function: Callable[P, R]) -> TaskWrapper:
        return huey.periodic_task(when)(_in_app(function))

    return decorate


def enqueue_after_commit(session: Session, task_: TaskWrapper, *args: Any) -> None:
    """Enqueue `task_(*args)` once `session` commits; never if it rolls back.

    A message lost between the commit and the queue (a crash, the broker away) is found by
    the minute's sweep, because the rows it refers to are committed and say what is left to do.
    """
    session.info.setdefault(_PENDING, []).append((task_, args))


@event.listens_for(Session, "after_commit")
def _enqueue_pending(session: Session) -> None:
    """Hand the committed transaction's tasks to the queue (errors are logged, not raised)."""
    for task_, args in session.info.pop(_PENDING, []):
        try:
            task_(*args)
        except Exception:  # the commit stands; the sweep enqueues it again
            logger.exception("could not enqueue %s; the next sweep will", task_.name)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    """A rolled-back change causes no work."""
    session.info.pop(_PENDING, None)
