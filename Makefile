# Baton: `make run` starts the portal, `make test` runs the whole suite. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app app
PORT   ?= 5000

.PHONY: run test lint format serve clean help

help:
	@echo "make run    start the portal on http://127.0.0.1:$(PORT) (web + worker; Ctrl-C stops both)"
	@echo "make test   run the whole test suite (lint included)"
	@echo "make lint   ruff check and format check"
	@echo "make clean  remove .venv and caches (instance/ keeps your data)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(FLASK) db upgrade
	$(FLASK) baton load-schemas form_schemas
	$(FLASK) baton seed-demo
	PORT=$(PORT) $(FLASK) baton dev

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis test-artifacts
