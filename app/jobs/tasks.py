"""Every module that registers tasks, handlers or ticks, imported once by the factory."""

from __future__ import annotations

import importlib

#: modules whose import registers Huey tasks, job handlers (`@handler`) or ticks (`@on_tick`)
TASK_MODULES = (
    "app.jobs.runner",
    "app.jobs.mail",
    "app.jobs.schedule",
    "app.jobs.reports",
    "app.jobs.imports",
)


def register_tasks() -> None:
    """Import the task modules (idempotent: Python imports each once)."""
    for name in TASK_MODULES:
        importlib.import_module(name)
