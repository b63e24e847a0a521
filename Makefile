# Everything a newcomer needs: `make run` (service + demo data on SQLite) and `make test` (the whole suite).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=
LOAD_ARGS ?=
BENCH_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install install-dev run migrate seed fold test test-pg lint format bench load screenshots clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required; run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements.txt dev-requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r dev-requirements.txt
	@touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime  ## Create .venv with the runtime dependencies

install-dev: $(VENV)/.dev  ## Create .venv with runtime + test/lint dependencies

migrate: install  ## Apply database migrations (DATABASE_URL, default SQLite db.sqlite3)
	DEBUG=true $(BIN)/python manage.py migrate --noinput

seed: migrate  ## Load the deterministic demo data set unless the database already has views, then fold it
	DEBUG=true $(BIN)/python manage.py seed_data --if-empty
	DEBUG=true $(BIN)/python manage.py precalculate_stats

run: seed  ## Start the service with demo data on http://$(HOST):$(PORT)/ (SQLite + local-memory cache)
	@echo ""
	@echo "  Dashboard:   http://$(HOST):$(PORT)/dashboard/"
	@echo "  Swagger UI:  http://$(HOST):$(PORT)/swagger/"
	@echo "  ReDoc:       http://$(HOST):$(PORT)/redoc/"
	@echo "  Health:      http://$(HOST):$(PORT)/healthz"
	@echo ""
	DEBUG=true $(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install-dev  ## Run the whole test suite (SQLite by default; honours DATABASE_URL and REDIS_URL)
	$(BIN)/pytest $(PYTEST_ARGS)

test-pg: install-dev  ## Run the suite against PostgreSQL and Redis on 127.0.0.1
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ideeza} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/15} $(BIN)/pytest $(PYTEST_ARGS)

lint: install-dev  ## ruff (lint + format check), mypy and Django's system checks
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	DEBUG=true $(BIN)/python manage.py check --fail-level WARNING

format: install-dev  ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

fold: install  ## Fold new and changed days into the summaries (precalculate_stats)
	DEBUG=true $(BIN)/python manage.py precalculate_stats

bench: install-dev  ## Benchmark harness: 1M views on PostgreSQL, every endpoint over HTTP (BENCH_ARGS="--profile platform")
	$(BIN)/python -m bench.run $(BENCH_ARGS)

load: install-dev  ## Load test with wrk: gunicorn + PostgreSQL + Redis on 127.0.0.1 (docs/benchmarks.md, "Load")
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get install -y wrk; } || \
		{ echo "wrk is missing: sudo apt-get install -y wrk"; exit 1; }
	$(BIN)/python -m bench.load $(LOAD_ARGS)

screenshots: install-dev  ## Photograph the dashboard on the demo data: docs/dashboard-desktop.png, docs/dashboard-phone.png
	$(BIN)/python -m analytics.web.screenshots

clean:  ## Remove the virtualenv, caches and the SQLite demo database
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis db.sqlite3
