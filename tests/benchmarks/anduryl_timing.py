"""Time anduryl on the TU Delft Cooke cases, in-process; print one JSON line.

Run with anduryl's own interpreter (`bash tests/benchmarks/anduryl_env.sh` makes it):
    .venv-anduryl/bin/python tests/benchmarks/anduryl_timing.py [repeat]
It times what bench_cooke.py times for our implementation: load the .dtt/.rls files, then the
global-weight and the item-weight decision makers with alpha optimised (each computes the
experts' calibration, information and weights first). The figure is the median over `repeat`
runs of one pass over both cases.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")  # pydantic v1-style config warnings inside anduryl

from anduryl.core.main import Project  # noqa: E402 - after the warning filter

DATA = Path(__file__).resolve().parents[1] / "analysis" / "data" / "cooke"
CASES = ("Arkansas", "CoveringKids")


def one_pass() -> None:
    """Load both cases and compute both optimised decision makers."""
    for case in CASES:
        for weight_type in ("global", "item"):
            project = Project()
            project.io.load_excalibur(DATA / f"{case}.dtt", DATA / f"{case}.rls")
            project.calculate_decision_maker(
                weight_type=weight_type, overshoot=0.1, exp_id="DM", alpha=None, calpower=1.0
            )


def main() -> None:
    """Print {"seconds": median time of one pass, "repeat": n}."""
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    one_pass()  # warm up (imports, caches)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        one_pass()
        times.append(time.perf_counter() - start)
    print(json.dumps({"seconds": statistics.median(times), "repeat": repeat}))


if __name__ == "__main__":
    main()
