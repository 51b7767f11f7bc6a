# The two set-up commands of the README: `make serve` and `make test`. Each installs what it needs
# into .venv first (again when pyproject.toml changes): serving installs the service alone; the
# tests, linters and benchmark add the test extra.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PORT ?= 8080

.PHONY: serve demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(BIN)/.serve: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(BIN)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(BIN)/.serve

serve: $(BIN)/.serve  ## run the embedded service on 127.0.0.1:$(PORT)
	$(BIN)/exchange serve --port $(PORT)

demo: $(BIN)/.serve  ## run the embedded service with the demo records loaded
	$(BIN)/exchange demo --port $(PORT)

test: $(BIN)/.test  ## run the whole test suite
	$(BIN)/python -m pytest

lint: $(BIN)/.test  ## ruff and mypy strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(BIN)/.test  ## the benchmark; writes bench/REPORT.md
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
