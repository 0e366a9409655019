# Baton: `make run` starts the portal, `make test` runs the whole suite. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app app
PORT   ?= 5000

.PHONY: run test lint format serve bench bench-quick clean help

help:
	@echo "make run    start the portal on http://127.0.0.1:$(PORT) (web + worker; Ctrl-C stops both)"
	@echo "make test   run the whole test suite (lint included)"
	@echo "make lint   ruff check and format check"
	@echo "make serve  production: gunicorn, RQ workers and the cron sweep (needs DATABASE_URL, REDIS_URL)"
	@echo "make bench  the web, workers, pdf and scale benchmarks (docs/benchmarks.md); make bench-quick: smoke run"
	@echo "make clean  remove .venv and caches (instance/ keeps your data)"

$(BIN)/python:
	@echo "Setting up $(VENV) (once; a minute or two)…"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	@echo "Installing Baton into $(VENV)…"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

# Quiet unless VERBOSE=1: warnings only, then one banner when the portal answers.
RUN_LOG_LEVEL := $(if $(VERBOSE),INFO,WARNING)

run: $(VENV)/.installed-run
	@BATON_LOG_LEVEL=$(RUN_LOG_LEVEL) $(FLASK) db upgrade
	@BATON_LOG_LEVEL=$(RUN_LOG_LEVEL) $(FLASK) baton load-schemas $(if $(VERBOSE),,--quiet) form_schemas
	@BATON_LOG_LEVEL=$(RUN_LOG_LEVEL) $(FLASK) baton seed-demo $(if $(VERBOSE),,--quiet)
	@echo "Starting Baton (web, workers, mailbox)…"
	@PORT=$(PORT) VERBOSE=$(VERBOSE) BATON_LOG_LEVEL=$(RUN_LOG_LEVEL) $(FLASK) baton dev

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Production processes in the foreground, against PostgreSQL and Redis (see README, "Serving").
serve: $(VENV)/.installed-run
	@test -n "$$DATABASE_URL" -a -n "$$REDIS_URL" || { \
	  echo "make serve needs DATABASE_URL and REDIS_URL, for example:"; \
	  echo "  DATABASE_URL=postgresql://postgres@127.0.0.1:5432/baton REDIS_URL=redis://127.0.0.1:6379/0 make serve"; \
	  exit 2; }
	$(FLASK) db upgrade
	$(FLASK) baton load-schemas form_schemas
	$(BIN)/python -m portal.processes.serve

# All benchmarks, writing docs/benchmarks.md; bench-quick is the smoke run. ARGS picks scripts.
# The first full run seeds a kept 1,000,000-submission database: a generated sample of 10,000
# copied by seed-demo --sample (minutes; docs/benchmarks.md, "Scale", says how long it took).
bench: $(VENV)/.installed-run
	$(BIN)/python -m bench $(ARGS)

bench-quick: $(VENV)/.installed-run
	$(BIN)/python -m bench --quick $(ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis test-artifacts
