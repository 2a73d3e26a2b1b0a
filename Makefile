# spendlens developer entry points. Everything installs into ./.venv and keeps state in ./.spendlens.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed
# Keep every tool's state inside the project and never phone home.
export SPENDLENS_STATE_DIR ?= $(CURDIR)/.spendlens
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export BENTOML_DO_NOT_TRACK := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export MPLCONFIGDIR := $(SPENDLENS_STATE_DIR)/mpl
export PREFECT_HOME ?= $(SPENDLENS_STATE_DIR)/prefect
export PREFECT_SERVER_UI_STATIC_DIRECTORY ?= $(SPENDLENS_STATE_DIR)/prefect/ui
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION := false

.PHONY: up down status servers install bootstrap test lint typecheck unit bench clean

up: install bootstrap servers ## install, state, migrate, demo data, train + promote, start servers
	@# A first monitoring run, so the dashboard has a run to show before the hourly schedule.
	@PREFECT_API_URL=http://127.0.0.1:4200/api $(BIN)/prefect deployment run monitor/hourly \
		>/dev/null && echo "first monitoring run started (Prefect dashboard -> Runs)"
	@echo
	@echo "spendlens is ready. State: $(SPENDLENS_STATE_DIR)"
	@echo "  API (BentoML)      http://127.0.0.1:3000   (POST /categorize, /categorize_batch, /feedback; docs at /)"
	@echo "  MLflow UI          http://127.0.0.1:5000   (experiments spendlens/<tenant>/<taxonomy>, registry)"
	@echo "  Prefect dashboard  http://127.0.0.1:4200   (deployments: monitor hourly, retrain nightly, backfill ...)"
	@echo "Demo API key (tenant default, scope admin; a new one on every run):"
	@$(BIN)/spendlens keys create demo --scope admin | grep -E '^sl_' | sed 's/^/  /'
	@echo "Try:  $(BIN)/spendlens transactions list --limit 10"
	@echo "Stop the servers with: make down"

servers: install ## start the API, MLflow and Prefect in the background (idempotent)
	@ops/servers.sh start

down: ## stop the servers started by make up
	@ops/servers.sh stop

status:
	@ops/servers.sh status

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@# Progress goes to stderr so that targets printing data (make bench) keep stdout clean.
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "spendlens needs Python 3.11+")'
	@echo "installing into $(VENV) from requirements.lock" >&2
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) >&2
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION) >&2
	@$(BIN)/uv pip sync --python $(BIN)/python requirements.lock >&2
	@$(BIN)/uv pip install --python $(BIN)/python --no-deps -e . >&2
	@touch $(STAMP)

bootstrap: install
	$(BIN)/spendlens init
	$(BIN)/spendlens rules import --starter
	$(BIN)/spendlens demo
	@# Cold start: the default model, trained on the generated demo labels, promoted through
	@# the gate (the first champion has nothing to beat). Skipped when a champion exists.
	$(BIN)/spendlens train --if-no-champion --promote

test: install lint typecheck unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -n 2 -q

bench: install
	@$(BIN)/python -m benchmarks

lock: ## re-resolve requirements.lock after changing pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
