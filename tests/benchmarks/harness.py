"""A small benchmark harness: each case runs in a fresh process, timed and measured for peak memory.

A benchmark module `tests/benchmarks/bench_<topic>.py` defines `CASES`, a list of `Case`.
`python -m tests.benchmarks [substring ...]` runs them all (or those whose name contains a
substring) and prints one line per figure next to its target.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PEAK_MEMORY_LIMIT_MB = 2048


@dataclass(frozen=True)
class Case:
    """One benchmark figure: `run(setup())` is timed; `setup` is not."""

    name: str
    target_seconds: float | None
    run: Callable[[Any], Any]
    setup: Callable[[], Any] = lambda: None
    repeat: int = 3
    #: a free-form note printed after the figure (e.g. the size of the problem)
    note: str = ""
    #: extra figures a case may return from run() as {label: value}, printed as they are
    extra: dict[str, str] = field(default_factory=dict)


def run_case_in_this_process(module_name: str, case_name: str) -> dict[str, Any]:
    """Run one case `repeat` times here and return timings, peak memory and extras."""
    module = importlib.import_module(module_name)
    case = next(c for c in module.CASES if c.name == case_name)
    data = case.setup()
    times: list[float] = []
    extras: dict[str, Any] = {}
    for _ in range(case.repeat):
        start = time.perf_counter()
        result = case.run(data)
        times.append(time.perf_counter() - start)
        if isinstance(result, dict):
            extras = {str(k): v for k, v in result.items()}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"times": times, "peak_mb": peak_mb, "extras": extras}


def discover() -> list[tuple[str, Case]]:
    """Every (module name, case) under tests/benchmarks, in module then file order."""
    import tests.benchmarks as package

    found: list[tuple[str, Case]] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("bench_"):
            name = f"{package.__name__}.{info.name}"
            module = importlib.import_module(name)
            found.extend((name, case) for case in getattr(module, "CASES", []))
    return found


def main(argv: list[str]) -> int:
    """Run the selected cases, each in its own process; exit 1 if any misses its target."""
    if argv[:1] == ["--one"]:
        print(json.dumps(run_case_in_this_process(argv[1], argv[2])))
        return 0
    selected = [(m, c) for m, c in discover() if not argv or any(s in c.name for s in argv)]
    missed = 0
    print(f"{'figure':58} {'median':>9} {'min':>9} {'target':>9} {'peak MB':>8}  verdict")
    for module_name, case in selected:
        proc = subprocess.run(
            [sys.executable, "-m", "tests.benchmarks", "--one", module_name, case.name],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            missed += 1
            print(f"{case.name:58} FAILED\n{proc.stderr[-2000:]}")
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        median = statistics.median(result["times"])
        ok_time = case.target_seconds is None or median <= case.target_seconds
        ok_memory = result["peak_mb"] < PEAK_MEMORY_LIMIT_MB
        verdict = "ok" if ok_time and ok_memory else "MISSED"
        missed += verdict != "ok"
        target = f"{case.target_seconds:.2f}s" if case.target_seconds is not None else "-"
        print(
            f"{case.name:58} {median:8.3f}s {min(result['times']):8.3f}s {target:>9} "
            f"{result['peak_mb']:8.0f}  {verdict}" + (f"  ({case.note})" if case.note else "")
        )
        for label, value in result["extras"].items():
            print(f"    {label}: {value}")
    return 1 if missed else 0
