"""Job kinds that exist only in the tests: they record what they did in the job's result."""

from __future__ import annotations

import time
from typing import Any

from app.jobs.runner import JobError, JobRun, handler

#: how many times each test handler ran in this process
CALLS: dict[str, int] = {}


@handler("test.echo")
def echo(run: JobRun) -> dict[str, Any]:
    """Report progress once and return the arguments."""
    CALLS["echo"] = CALLS.get("echo", 0) + 1
    run.progress(50, "halfway")
    return {"echo": run.args.get("value")}


@handler("test.fails")
def fails(run: JobRun) -> dict[str, Any]:
    """Fail with a text that must never reach the job's record (it stands for data)."""
    CALLS["fails"] = CALLS.get("fails", 0) + 1
    raise ValueError("the text of an answer")


@handler("test.explains")
def explains(run: JobRun) -> dict[str, Any]:
    """Fail with a message meant for the facilitator."""
    raise JobError("The survey file has 3 problems.")


@handler("test.slow")
def slow(run: JobRun) -> dict[str, Any]:
    """Take `seconds`, reporting progress each tenth, then write nothing but the result."""
    seconds = float(run.args.get("seconds", 3))
    for step in range(10):
        run.progress(step * 10, f"step {step + 1} of 10")
        time.sleep(seconds / 10)
    return {"steps": 10, "attempt": run.job.attempts}
