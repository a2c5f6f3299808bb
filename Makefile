# Two commands matter: `make run` (the platform on SQLite with the demo study) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := wsgi
# One BLAS thread per process: the test workers, gunicorn workers and benchmarks are the
# parallelism; threaded BLAS on busy cores stalls small matrix work by up to 10x.
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1
# The test server for the PostgreSQL run; `make test` uses it when it answers.
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/delphi_test
# One more test process than the CI machine's two cores: many tests wait on a browser, a
# worker process or the database, and a third process fills those waits (the whole `make test`
# took 17.3 min with three, about 20 with two).
PYTEST_WORKERS ?= 3

.PHONY: install analysis-dist run serve test test-sqlite test-postgres lint typecheck bench load faults scale translations e2e-deps clean

# The analysis distribution (analysis/pyproject.toml) goes in with the platform in one pip call,
# so that pip takes `delphi-analysis` from this repository and never from a registry.
$(STAMP): pyproject.toml analysis/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e './analysis[all]' -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) translations e2e-deps

# Compile the catalogs (.mo files are not committed). `make translations UPDATE=1` first
# extracts the texts again (babel.cfg) and merges them into the fa and ru catalogs.
BABEL_KEYWORDS := -k _ -k gettext -k ngettext:1,2 -k lazy_gettext -k _l -k N_
translations: $(STAMP)
	@if [ -n "$(UPDATE)" ]; then \
		$(BIN)/pybabel -q extract -F babel.cfg $(BABEL_KEYWORDS) --add-location=file --sort-output --no-wrap \
			--project delphi-platform --copyright-holder "Delphi platform contributors" \
			-o app/translations/messages.pot . && \
		$(BIN)/pybabel -q update -i app/translations/messages.pot -d app/translations --no-wrap --ignore-obsolete --no-fuzzy-matching; fi
	@if ls app/translations/*/LC_MESSAGES/messages.po >/dev/null 2>&1; then \
		$(BIN)/pybabel -q compile -d app/translations; fi

# What the browser tests need besides Python: Debian's chromium (apt, when missing and we are
# root) and axe-core (npm, into the git-ignored node_modules/). Never fails: without them the
# browser tests skip and say why.
AXE_VERSION := 4.14.1
AXE_JS := node_modules/axe-core/axe.min.js
e2e-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "== installing chromium for the browser tests (apt) =="; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium </dev/null >/dev/null 2>&1 \
			|| (apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium </dev/null >/dev/null 2>&1) \
			|| echo "warning: apt-get could not install chromium: the browser tests will be skipped"; \
		else echo "note: chromium is not installed (apt-get install chromium): the browser tests will be skipped"; fi; \
	fi
	@if [ ! -f $(AXE_JS) ]; then \
		if command -v npm >/dev/null 2>&1; then \
			tmp=$$(mktemp -d) && \
			(cd $$tmp && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null 2>&1) && \
			mkdir -p node_modules/axe-core && \
			tar -xzf $$tmp/axe-core-$(AXE_VERSION).tgz -C node_modules/axe-core --strip-components=1 package/axe.min.js package/LICENSE package/package.json \
			|| echo "warning: npm could not fetch axe-core: the accessibility checks will be skipped"; \
			rm -rf $$tmp; \
		else echo "note: npm is not installed: the accessibility checks in tests/e2e will be skipped"; fi; \
	fi

instance/.demo-loaded: $(STAMP)
	mkdir -p instance
	$(BIN)/flask db upgrade
	$(BIN)/flask demo load --if-empty
	touch instance/.demo-loaded

# The background worker (reports, exports, imports, email, reminders, deadlines) runs beside
# the web server and stops with it; under `make run` its queue is a SQLite file in instance/.
run: install
	mkdir -p instance
	$(BIN)/flask db upgrade
	$(BIN)/flask demo load --if-empty
	$(BIN)/flask jobs worker & worker=$$!; trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
		$(BIN)/flask run --host 127.0.0.1 --port 5000

# Production-style serving: gunicorn on PostgreSQL, and the worker on Redis (JOB_QUEUE_URL or
# REDIS_URL; see README, "Production"). A service manager would run the two as separate units.
serve: install
	DELPHI_ENV=$${DELPHI_ENV:-production} $(BIN)/flask db upgrade
	export DELPHI_ENV=$${DELPHI_ENV:-production}; \
		$(BIN)/flask jobs worker & worker=$$!; trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
		$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy analysis app wsgi.py

test: install lint typecheck analysis-dist test-sqlite test-postgres

# The analysis distribution on its own: its wheel is built from a copy of analysis/ (the build
# leaves nothing in the tree) and installed into a new virtual environment with nothing else
# (no system site-packages, no platform), then its examples run there from outside the
# repository. Its dependencies come as wheels from build/analysis-wheels, filled once from
# pip's cache or the registry at the versions the platform runs with; later runs are offline.
# `--no-compile` skips byte-compiling numpy, pandas and scipy (most of the install's time).
ANALYSIS_BUILD := build/analysis
ANALYSIS_WHEELS := build/analysis-wheels
ANALYSIS_VENV := $(ANALYSIS_BUILD)/venv
ANALYSIS_DEPS = $$($(BIN)/python -c "import importlib.metadata as m; print(' '.join(f'{n}=={m.version(n)}' for n in ('numpy', 'pandas', 'scipy', 'openpyxl', 'pyreadstat')))")
analysis-dist: $(STAMP)
	rm -rf $(ANALYSIS_BUILD)
	mkdir -p $(ANALYSIS_BUILD)/src $(ANALYSIS_WHEELS)
	tar -C . --exclude=__pycache__ --exclude=build --exclude='*.egg-info' -cf - analysis | tar -C $(ANALYSIS_BUILD)/src -xf -
	$(BIN)/pip wheel --quiet --no-deps --no-build-isolation -w $(ANALYSIS_BUILD)/dist $(ANALYSIS_BUILD)/src/analysis
	$(PYTHON) -m venv $(ANALYSIS_VENV)
	install="$(ANALYSIS_VENV)/bin/pip install --quiet --no-compile --no-index --find-links $(ANALYSIS_BUILD)/dist --find-links $(ANALYSIS_WHEELS) delphi-analysis[all] $(ANALYSIS_DEPS)"; \
		$$install 2>/dev/null || { $(BIN)/pip download --quiet --dest $(ANALYSIS_WHEELS) $(ANALYSIS_DEPS) && $$install; }
	cd $(ANALYSIS_VENV) && ./bin/python -c "import analysis, sys; assert '$(ANALYSIS_VENV)' in analysis.__file__; bad = [m for m in ('flask', 'sqlalchemy', 'statsmodels') if m in sys.modules]; assert not bad, bad" \
		&& ./bin/delphi-analysis --version \
		&& ./bin/python -m analysis.examples.worked_example --check \
		&& ./bin/python -m analysis.examples.check_exports
	@echo "== the analysis distribution installs alone and its examples run =="

test-sqlite: install
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

# The database-backed tests again, on PostgreSQL, when a server answers (CI starts one).
test-postgres: install
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(PG_TEST_URL)'.rsplit('/',1)[0] + '/postgres', connect_timeout=3).close()" 2>/dev/null; then \
		echo "== the database tests again, on PostgreSQL =="; \
		DATABASE_URL_TEST=$(PG_TEST_URL) $(BIN)/pytest -n $(PYTEST_WORKERS) -q -m "not browser and not once" tests/services tests/jobs tests/web tests/api tests/reports tests/reliability tests/test_migrations.py; \
	else echo "== PostgreSQL not reachable at $(PG_TEST_URL): skipping the PostgreSQL run =="; fi

bench: install
	$(BIN)/python -m tests.benchmarks

load: install
	$(BIN)/python -m tests.load.run

faults: install
	$(BIN)/python -m tests.load.faults

# How close, exports, the report and the pages grow with the panel (issue 18): seeds the first
# study with SIZES experts on PostgreSQL (SCALE_DATABASE_URL) and prints time and peak memory
# of each operation beside its target; the table goes to tests/scale/artifacts/scale.md.
SIZES ?= 200,1000,5000
scale: install
	$(BIN)/python -m tests.scale --sizes $(SIZES)

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
