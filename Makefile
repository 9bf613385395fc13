# PureHealth Pipelines — the two commands users need are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)
export PUREHEALTH_WAREHOUSE_URL ?= postgresql://purehealth:purehealth@127.0.0.1:5432/purehealth
PYTEST_ARGS ?=

.PHONY: help install services tools dashboard-assets migrate demo demo-run ui api test test-unit lint bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/.installed: setup.py pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip check
	@touch $@

install: $(BIN)/.installed  ## create .venv and install the project (pinned)

services:  ## install if missing and start PostgreSQL+TimescaleDB and Mosquitto (idempotent)
	bash scripts/services.sh up

tools:  ## install npm and Debian's Chromium if missing (dashboard assets, browser tests)
	bash scripts/services.sh tools

dashboard-assets: install tools  ## bundle the dashboard's map geometry and JS libraries (nothing from a CDN)
	$(BIN)/python scripts/build_dashboard_assets.py

migrate: install services  ## apply warehouse migrations to PUREHEALTH_WAREHOUSE_URL
	$(BIN)/purehealth db migrate

demo: migrate dashboard-assets  ## set everything up, run the whole pipeline on offline demo sources, then serve
	$(BIN)/purehealth demo run
	@echo
	@echo "Warehouse:  psql postgresql://analyst:analyst@127.0.0.1:5432/purehealth   (read-only analyst role)"
	@if [ "$${DEMO_SERVE:-1}" = "1" ]; then \
		echo "Dagster UI: http://127.0.0.1:3000 with the live path and the dashboard beside it (starting now; Ctrl-C stops all)"; \
		$(BIN)/purehealth demo serve; \
	else \
		echo "Dagster UI: make ui  (http://127.0.0.1:3000; not started because DEMO_SERVE=0)"; \
	fi

api: migrate dashboard-assets  ## the read API and dashboard on http://127.0.0.1:8080 (docs at /docs)
	$(BIN)/purehealth api --host 127.0.0.1 --port 8080

ui: install  ## start the Dagster UI and daemon (dagster dev) on http://127.0.0.1:3000
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

test: install services dashboard-assets  ## set everything up and run the test suite against the real services
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: install  ## the tests that need no services (no PostgreSQL, no broker): seconds, not minutes
	$(BIN)/python -m pytest -m "not services" $(PYTEST_ARGS)

lint: install  ## ruff: lint rules and formatting
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: migrate  ## run the benchmarks (prints ratios against limits measured in the same run)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:  ## remove the virtual environment and local Dagster files
	rm -rf $(VENV) .dagster_home *.egg-info
