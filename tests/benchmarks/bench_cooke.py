"""Cooke's classical model on the TU Delft cases, against anduryl 1.2.2 timed the same way.

One pass = for each case, read the .dtt/.rls files and compute the global-weight and item-weight
decision makers with alpha optimised (experts' calibration, information and weights included).
Both implementations are timed in-process as the median of many passes; anduryl runs in its own
interpreter (.venv-anduryl, made by anduryl_env.sh in setup). The case fails if ours is slower.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from analysis.cooke import decision_maker, read_excalibur
from tests.benchmarks.harness import Case

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "analysis" / "data" / "cooke"
CASES_ON_DISK = ("Arkansas", "CoveringKids")
ANDURYL_PYTHON = ROOT / ".venv-anduryl" / "bin" / "python"
REPEAT = 30


def one_pass() -> None:
    """Load both cases and compute both optimised decision makers."""
    for case in CASES_ON_DISK:
        for weights in ("global", "item"):
            data = read_excalibur(DATA / f"{case}.dtt", DATA / f"{case}.rls")
            decision_maker(data, weights=weights)  # type: ignore[arg-type]


def setup() -> None:
    """Make anduryl's environment if it is missing (not timed)."""
    subprocess.run(["bash", str(ROOT / "tests" / "benchmarks" / "anduryl_env.sh")], check=True)


def run(_: Any) -> dict[str, str]:
    """Median pass time of ours and of anduryl; raise if ours is slower."""
    one_pass()  # warm up
    times = []
    for _pass in range(REPEAT):
        start = time.perf_counter()
        one_pass()
        times.append(time.perf_counter() - start)
    ours = statistics.median(times)
    proc = subprocess.run(
        [
            str(ANDURYL_PYTHON),
            str(ROOT / "tests" / "benchmarks" / "anduryl_timing.py"),
            str(REPEAT),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    theirs = float(json.loads(proc.stdout.strip().splitlines()[-1])["seconds"])
    ratio = ours / theirs
    if ratio > 1:
        raise RuntimeError(f"ours {ours:.4f}s is slower than anduryl {theirs:.4f}s")
    return {
        "ours_seconds_per_pass": f"{ours:.4f}",
        "anduryl_seconds_per_pass": f"{theirs:.4f}",
        "ratio_ours_over_anduryl": f"{ratio:.3f}",
    }


CASES = [
    Case(
        name="cooke: TU Delft cases vs anduryl (global + item DM, alpha optimised)",
        target_seconds=None,
        run=run,
        setup=setup,
        repeat=1,
        note="2 cases x 2 weightings per pass; ratio must be <= 1",
    )
]
