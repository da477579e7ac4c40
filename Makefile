# Two set-up commands (see README): `make run` (demo server) and `make test` (whole suite).
# The project is Python 3.11 (pyproject: >=3.11,<3.12): the venv is made with `python3.11`
# (or PYTHON=/path/to/a/python3.11), never with whatever `python3` happens to be.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# A venv made with another Python (or a broken one) is rebuilt.
VENV_PYTHON := $(shell $(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
ifneq ($(VENV_PYTHON),3.11)
REBUILD_VENV := rebuild-venv
endif

.PHONY: run test setup services lint typecheck unit bench clean rebuild-venv

setup: $(STAMP)

rebuild-venv:

$(STAMP): pyproject.toml $(REBUILD_VENV)
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found. Labelwright needs Python 3.11: install it (e.g. pyenv install 3.11, or apt-get install python3.11) or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "error: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'), not 3.11; run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(if $(REBUILD_VENV),@echo "rebuilding $(VENV): it was made with Python $(or $(VENV_PYTHON),?) (or is missing)"; rm -rf $(VENV))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,bench]"
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
