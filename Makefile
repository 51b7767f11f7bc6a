# The two set-up commands of the README: `make serve` and `make test`. Each installs what it needs
# into .venv first (once, and again when pyproject.toml changes).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: serve test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

serve: $(BIN)/.installed  ## run the embedded service on 127.0.0.1:8080
	$(BIN)/exchange serve

test: $(BIN)/.installed  ## run the whole test suite
	$(BIN)/python -m pytest

lint: $(BIN)/.installed  ## ruff and mypy strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(BIN)/.installed  ## the benchmark; writes bench/REPORT.md
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
