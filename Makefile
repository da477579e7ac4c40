# Two set-up commands (see README): `make run` (demo server) and `make test` (whole suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test setup services lint typecheck unit bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

run: setup
	$(BIN)/labelwright demo

services:
	scripts/ensure-services
	scripts/ensure-browser

lint: setup
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy

# Browser tests run on their own: Playwright's sync API keeps an event loop running in its
# worker for the whole session, which the asyncio-based realtime tests can't share.
test: setup services lint typecheck
	$(BIN)/pytest -q -n 2 --dist loadgroup -p no:cacheprovider -m "not browser"
	$(BIN)/pytest -q -n 2 --dist loadgroup -p no:cacheprovider -m browser

unit: setup
	$(BIN)/pytest -q tests/unit

bench: setup services
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) labelwright-data .pytest_cache .mypy_cache .ruff_cache
