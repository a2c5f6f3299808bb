"""`python -m tests.benchmarks [substring ...]`: run the benchmarks (see harness.py)."""

import sys

from tests.benchmarks.harness import main

raise SystemExit(main(sys.argv[1:]))
