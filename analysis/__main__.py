"""`python -m analysis ...`: see analysis/cli.py and analysis/README.md."""

import sys

from analysis.cli import main

sys.exit(main())
