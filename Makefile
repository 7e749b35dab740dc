# One command per job. `make check` is what CI runs: install, format check, lint, types, tests.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install serve demo test lint format typecheck check bench bench-reports clean

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@echo ">> installing the service and its dev tools into $(VENV)"
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(VENV)/bin/wallet-service serve

demo: $(STAMP)
	$(VENV)/bin/wallet-service demo --serve

format: $(STAMP)
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

lint: $(STAMP)
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/ruff check src tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: $(STAMP)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

check: lint typecheck test

bench: $(STAMP)
	$(PY) bench/debit_load.py

bench-reports: $(STAMP)
	$(PY) bench/report_load.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
