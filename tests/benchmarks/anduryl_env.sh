#!/usr/bin/env bash
# Make .venv-anduryl in the repository root: anduryl 1.2.2 (TU Delft's Cooke's classical model),
# the reference for the Cooke benchmark and for tests/analysis/fixtures/make_cooke_fixtures.py.
# anduryl needs numpy<2 and pydantic, so it gets its own virtual environment (not committed).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! .venv-anduryl/bin/python -c "import anduryl" 2>/dev/null; then
    python3 -m venv .venv-anduryl
    .venv-anduryl/bin/pip install --quiet 'numpy<2' pydantic 'anduryl==1.2.2'
fi
.venv-anduryl/bin/python -c "import anduryl, sys; sys.stdout.write('anduryl ready\n')"
