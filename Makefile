# Chatweb: `make run` serves the app on the embedded defaults, `make test` runs the suite.
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
# The suites that need more than this machine's Python: a browser, or nginx + PostgreSQL + Redis.
UNIT := -m "not e2e and not deploy and not long"
# The quick loop: without the tests that start real processes (marked slow in tests/).
QUICK := -m "not e2e and not deploy and not long and not slow"
PG_URL ?= postgres://postgres@127.0.0.1:5432/chatweb
REDIS ?= redis://127.0.0.1:6379/0

.PHONY: install install-dev lock run demo migrate test test-quick test-pg test-deploy test-long e2e lint format upstream clean messages openapi \
	bench bench-smoke

# Only the dependencies are installed, from the locks (requirements/app.lock, dev.lock: every
# package pinned with its hashes, `make lock` writes them from pyproject.toml): the app
# runs from this checkout. --require-hashes refuses a file whose hash is not in the lock;
# --no-deps installs exactly the lock (which holds every dependency), nothing resolved here.
# -qq keeps pip to its errors; --no-compile leaves bytecode to the first import of what is
# used (compiling every installed file took 10 of a fresh clone's 25 s of installing).
# When this Python's own pip can install into another environment (pip 22.3+: --python),
# the venv gets no copy of pip: ensurepip took 5 of a fresh clone's first 30 s. Otherwise
# (no pip, or an older one) the venv has its own, as usual.
OUTER_PIP := $(shell $(PYTHON) -m pip --python "$$(command -v $(PYTHON))" --version >/dev/null 2>&1 && echo 1)
ifeq ($(OUTER_PIP),1)
VENV_ARGS := --without-pip
PIP := PYTHONWARNINGS=ignore $(PYTHON) -m pip --python $(BIN)/python --disable-pip-version-check
else
VENV_ARGS :=
PIP := PYTHONWARNINGS=ignore $(BIN)/pip --disable-pip-version-check
endif
PIP_INSTALL := $(PIP) install -qq --no-compile --require-hashes --no-deps -r
APP_LOCK := requirements/app.lock
DEV_LOCK := requirements/dev.lock
.SILENT: $(BIN)/python $(VENV)/.installed $(VENV)/.installed-dev

$(BIN)/python:
	echo "Creating $(VENV) and installing Chatweb's dependencies (once; about half a minute)..."
	$(PYTHON) -m venv $(VENV_ARGS) $(VENV)

$(VENV)/.installed: $(APP_LOCK) | $(BIN)/python
	$(PIP_INSTALL) $(APP_LOCK)
	touch $@

# dev.lock holds app.lock's pins (it is compiled under them) and the dev tools.
$(VENV)/.installed-dev: $(DEV_LOCK) | $(BIN)/python
	$(PIP_INSTALL) $(DEV_LOCK)
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The locks, from pyproject.toml: each package at the newest release its ranges allow, for
# every platform and Python 3.11+ (--universal), with the hash of every file PyPI has for
# it. A package kept where it is stays put unless named: `make lock UPGRADE=httpx` moves
# one, `make lock UPGRADE=--all` all of them (README, "Dependencies"). tests/test_lock.py
# fails while a lock and pyproject.toml disagree.
UPGRADE ?=
UV_COMPILE := $(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock" \
	$(if $(filter --all,$(UPGRADE)),--upgrade,$(foreach p,$(UPGRADE),--upgrade-package $(p)))
lock: install-dev
	$(UV_COMPILE) --output-file $(APP_LOCK)
	$(UV_COMPILE) --extra dev --constraint $(APP_LOCK) --output-file $(DEV_LOCK)

migrate: install
	@$(BIN)/python manage.py migrate --noinput -v 0

# Quiet until it prints the address to open; warnings and errors still show.
# `make run LOG_LEVEL=INFO VERBOSITY=1` shows the server's log and access log.
VERBOSITY ?= 0
RUN_LOG_LEVEL := $(or $(LOG_LEVEL),WARNING)
# Bytecode is written on first import even where PYTHONDONTWRITEBYTECODE is set (as on this
# project's machines): packages are installed uncompiled (--no-compile above), so without
# it every start would compile ~900 modules again (3 s for prepare, 3 s for the server).
PY_RUN := PYTHONDONTWRITEBYTECODE= $(BIN)/python
run: install
	@$(PY_RUN) manage.py prepare -v 0
	@LOG_LEVEL=$(RUN_LOG_LEVEL) $(PY_RUN) -m streaming.server -v $(VERBOSITY) -b $(HOST) -p $(PORT) chatweb.asgi:application

# Try Chatweb without an API key: the fake model server (tests/upstream.py) and the app
# together; Ctrl-C stops both. Its answers show markdown, code, a table and math.
DEMO_UPSTREAM_PORT ?= 9000
demo: install-dev
	@$(PY_RUN) manage.py prepare -v 0
	@$(BIN)/python -m tests.upstream --quiet --showcase --port $(DEMO_UPSTREAM_PORT) > /dev/null & \
	  upstream=$$!; trap 'kill $$upstream 2>/dev/null' EXIT INT TERM; \
	  echo "Demo: the fake model server runs on 127.0.0.1:$(DEMO_UPSTREAM_PORT) (no API key needed)."; \
	  OPENAI_API_BASE_URL=http://127.0.0.1:$(DEMO_UPSTREAM_PORT)/v1 LOG_LEVEL=$(RUN_LOG_LEVEL) \
	  $(PY_RUN) -m streaming.server -v $(VERBOSITY) -b $(HOST) -p $(PORT) chatweb.asgi:application

# The fake OpenAI-compatible server alone (make demo runs it with the app):
#   make upstream   then   OPENAI_API_BASE_URL=http://127.0.0.1:9000/v1 make run
upstream: install-dev
	$(BIN)/python -m tests.upstream --port 9000

# Translations (locale/zh_Hans, locale/zh_Hant: every locale of LOCALES). After adding or changing a string shown to users:
# `make messages` (needs GNU gettext: apt-get install gettext) extracts every marked
# string into django.po / djangojs.po, you translate the new msgids, and `make messages`
# again compiles the .mo files, which are committed (running never needs gettext).
# tests/test_translations.py fails while a string is unmarked, unextracted or untranslated.
# Obsolete (#~) entries are translations kept for strings not in the code yet (the
# accounts app's): makemessages revives them when the string appears.
MESSAGES_IGNORE := -i ".venv/*" -i "tests/*" -i "bench/*" -i "staticfiles/*" -i "scripts/*"
LOCALES := zh_Hans zh_Hant
LOCALE_FLAGS := $(foreach l,$(LOCALES),-l $(l))
messages: install
	$(BIN)/python manage.py makemessages $(LOCALE_FLAGS) --no-location $(MESSAGES_IGNORE) -i "static/*"
	$(BIN)/python manage.py makemessages -d djangojs $(LOCALE_FLAGS) --no-location $(MESSAGES_IGNORE) -i "static/vendor/*"
	$(BIN)/python manage.py compilemessages $(LOCALE_FLAGS) -v 0

# docs/openapi.json: the conversation API's schema, written from the code (api/openapi.py).
# tests/api/test_openapi.py fails (so `make test` and CI do) while the committed file differs.
openapi: install
	$(BIN)/python manage.py openapi --write

test: install-dev
	$(BIN)/pytest $(UNIT)

# While editing: `make test` without the `slow` tests (daphne, manage.py and Python
# subprocesses). `make test` and CI run them; pass more with ARGS, e.g. ARGS=tests/streaming.
ARGS ?=
test-quick: install-dev
	$(BIN)/pytest $(QUICK) $(ARGS)

# The same suite on real PostgreSQL and Redis (channel layer + cache).
test-pg: install-dev
	DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS) $(BIN)/pytest $(UNIT)

test-deploy: install-dev
	$(BIN)/pytest -m deploy tests/deploy

# The tests that wait out outages by design (tests/streaming/test_outage.py: PostgreSQL or
# Redis stopped mid-answer for seconds, 1 and 5 minutes; a kill -9 mid-outage), idle
# meanwhile: apart from `make test`, so that stays quick, and run once, not in both
# configurations (they start their own servers). CI runs them in the background beside
# the other suites (.ci/run), as e2e below.
test-long: install-dev
	$(BIN)/pytest -m long -o faulthandler_timeout=600 $(ARGS)

# CI runs it in the background beside the other suites (.ci/run): ARGS gives it a pytest
# temporary folder of its own and no cache.
e2e: install-dev
	$(BIN)/pytest -m e2e tests/e2e $(ARGS)

# The benchmark (bench/README.md): both configurations, every scenario and the page
# timings, about 10 minutes; writes bench/results/latest.md. PROFILE=1 adds a py-spy flame
# graph per scenario.
# BENCH_PG / BENCH_REDIS: the PostgreSQL database (dropped and recreated) and Redis db
# (flushed) it may use. The smoke run (1 and 50 concurrent, embedded defaults) fails if a
# chat fails or is corrupted; CI runs it.
BENCH_PG ?= postgres://postgres@127.0.0.1:5432/chatweb_bench
BENCH_REDIS ?= redis://127.0.0.1:6379/1
BENCH_ARGS ?=
PROFILE ?=

bench: install-dev
	$(if $(PROFILE),$(PIP) install -q py-spy)
	ulimit -n $$(ulimit -Hn); $(BIN)/python -m bench --pg-url $(BENCH_PG) --redis-url $(BENCH_REDIS) \
		$(if $(PROFILE),--profile) $(BENCH_ARGS)

bench-smoke: install-dev
	ulimit -n $$(ulimit -Hn); $(BIN)/python -m bench --smoke $(BENCH_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .mypy_cache .ruff_cache
