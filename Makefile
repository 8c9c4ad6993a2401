# vigil: two commands on a fresh machine with Python 3.11+: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test check lint types imports test-deps pytest bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "vigil needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: install
	$(BIN)/vigil demo

# The one check command, which CI runs: the fast static checks first, then the suite.
test: lint types imports test-deps pytest

check: test

lint: install
	$(BIN)/ruff check src tests examples
	$(BIN)/ruff format --check src tests examples

types: install
	$(BIN)/mypy

imports: install
	$(BIN)/lint-imports --no-logo

# Chromium for the web page's tests: apt as root, or with sudo; else it says what to install
test-deps:
	@scripts/test-deps

pytest: install
	$(BIN)/pytest -q

bench: install
	$(BIN)/vigil bench --profile ingest --cameras 8 --seconds 30

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
