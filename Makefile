# cpis: `make run` serves it, `make test` proves it. Both work on a fresh machine
# with only Python 3.11+: the venv, the packages and an embedded PostgreSQL are set up here.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck format check migrate demo-data clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/cpis serve --demo-data

migrate: $(STAMP)
	$(BIN)/cpis migrate

demo-data: $(STAMP)
	$(BIN)/cpis demo-data

test: $(STAMP)
	$(BIN)/ruff check app tests migrations
	$(BIN)/ruff format --check app tests migrations
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check app tests migrations
	$(BIN)/ruff format --check app tests migrations

typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix app tests migrations
	$(BIN)/ruff format app tests migrations

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Benchmarks (not CI; see docs/benchmarks.md). Installs wrk with apt-get if it is missing.
.PHONY: bench bench-smoke
bench: $(STAMP)
	$(BIN)/python -m bench full

bench-smoke: $(STAMP)
	$(BIN)/python -m bench smoke
