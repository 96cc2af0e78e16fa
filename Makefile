# Dhanman Jobs — the two commands: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# Find a Python >= 3.12 that runs: one on PATH first, else pyenv's.
PYTHON ?= $(shell ./scripts/find-python)

.PHONY: help venv venv-dev run test lint typecheck drills bench bench-quick clean

help:
	@echo "make run    - app + one worker on the embedded SQLite default (http://127.0.0.1:8000/admin/)"
	@echo "make test   - lint + typecheck + the whole pytest suite on PostgreSQL (+ the SQLite-marked tests)"
	@echo "make lint   - ruff check and ruff format --check"
	@echo "make typecheck - mypy (django-stubs) over the engine, jobs/"
	@echo "make drills - reliability drills at full size"
	@echo "make bench  - benchmarks against django-q2's stock ORM broker and procrastinate (bench/RESULTS.md)"

$(VENV)/.runtime: requirements.txt
	@test -n "$(PYTHON)" || { echo "No Python >= 3.12 found. Install python3.12 (or pyenv install 3.12) and retry." >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements-dev.txt requirements.txt $(VENV)/.runtime
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.runtime
venv-dev: $(VENV)/.dev

# ensure_admin comes last: its banner (URL, user, password) is what stays on screen. The Procfile
# runs through dhanman/procfile.py, honcho with a kill wait that covers the job server's stop.
run: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_recurring_jobs
	@if $(PY) manage.py help seed_demo >/dev/null 2>&1; then $(PY) manage.py seed_demo; fi
	$(PY) manage.py ensure_admin
	@# The events consumer (and outbox relay) only when RabbitMQ answers; without it the app
	@# runs all the same and published events wait in the outbox (docs/events.md).
	@if $(PY) manage.py consume_events --ping; then \
	  echo "Events ON: consuming $${EVENTS_QUEUE:-dhanman-jobs.events} and relaying the outbox (events:)."; \
	  $(PY) -m dhanman.procfile Procfile.dev; \
	else \
	  echo "Events OFF: RabbitMQ does not answer at AMQP_URL. Nothing is consumed; published events wait in the outbox until make run finds RabbitMQ."; \
	  $(PY) -m dhanman.procfile Procfile.dev web worker; \
	fi

lint: venv-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The django-stubs plugin reads the settings; DATABASE_URL is not needed (no query runs).
typecheck: venv-dev
	$(VENV)/bin/mypy

test: venv-dev lint typecheck
	@./scripts/test-services
	@# axe-core for the accessibility browser tests (pinned; a no-op when already there).
	@./scripts/fetch-axe-core
	@set -a; source var/test.env; set +a; \
	  $(PY) manage.py makemigrations --check --dry-run >/dev/null && \
	  $(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS) && \
	  DATABASE_URL=sqlite:///var/test-sqlite.db $(PY) -m pytest -p no:cacheprovider -m sqlite $(PYTEST_ARGS)

drills: venv-dev
	@./scripts/test-services
	@# Every drill at full size: the ones `make test` runs small, and those marked `drill`.
	@set -a; source var/test.env; set +a; DRILL_SIZE=full $(PY) -m pytest -p no:cacheprovider tests/reliability tests/events/test_crash_drill.py \
	  -m "not sqlite" --timeout=1800 -s $(PYTEST_ARGS)

bench: venv-dev
	@./scripts/test-services
	@set -a; source var/test.env; set +a; $(PY) -m bench

bench-quick: venv-dev
	@./scripts/test-services
	@set -a; source var/test.env; set +a; $(PY) -m bench --quick

clean:
	rm -rf $(VENV) var/*.db var/pg
