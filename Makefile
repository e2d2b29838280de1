# Switchboard: the two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := $(CURDIR)/.tools/bin/uv
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup run test test-unit test-integration lint proto proto-check bench migrate event-docs clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Bytecode is compiled once here: where PYTHONDONTWRITEBYTECODE is set, every process would
# otherwise compile each module it imports again (about 3 s more for each service to start).
setup: $(UV) ## install everything into .venv from the committed lock file
	$(UV) sync --frozen --quiet --compile-bytecode
	$(PY) -m compileall -q -j 0 services/*/src src proto/python >/dev/null

run: setup ## run every service on this machine
	$(VENV)/bin/switchboard up

lint: setup ## ruff + mypy --strict on the library and services
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy services/*/src src/switchboard_cli

test-unit: setup
	$(VENV)/bin/pytest tests/unit -q $(PYTEST_ARGS)

test-integration: setup
	$(VENV)/bin/pytest tests/integration -q $(PYTEST_ARGS)

test: setup lint proto-check ## lint, then unit and integration tests (PostgreSQL + broker)
	$(VENV)/bin/pytest tests -q --durations=15 $(PYTEST_ARGS)

proto: setup ## regenerate Python code from proto/switchboard/**.proto (committed)
	$(PY) scripts/gen_protos.py

proto-check: setup
	$(PY) scripts/gen_protos.py --check

bench: setup ## every benchmark; prints `BENCH <name> <value> <unit>` lines
	@set -e; for script in scripts/bench/bench_*.py; do \
		echo "# $$script" >&2; $(PY) $$script; done

migrate: setup ## apply migrations (DATABASE_URL, or SQLite under .switchboard/)
	$(VENV)/bin/switchboard migrate

event-docs: setup ## regenerate docs/events (AsyncAPI + JSON Schemas)
	$(VENV)/bin/switchboard event-docs --out docs/events

clean:
	rm -rf .switchboard .pytest_cache .mypy_cache .ruff_cache test-artifacts
