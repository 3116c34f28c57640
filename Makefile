# The two commands of the README, plus helpers. Everything runs offline.
VENV ?= .venv
WORKSPACE ?= demo_workspace
PORT ?= 8866
export HF_HUB_OFFLINE := 1

.PHONY: env dashboard test lint bench zoo

env:
	scripts/bootstrap.sh

# Start the Voilà dashboard on the demo workspace (made on first run).
dashboard: env
	$(VENV)/bin/deepq serve --demo --workspace $(WORKSPACE) --port $(PORT) --ip 0.0.0.0

# Install what the tests need (Chromium included) and run the whole suite.
test: env
	scripts/ensure_chromium.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

lint: env
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check deepq_widgets

bench: env
	$(VENV)/bin/python -m benchmarks

zoo: env
	$(VENV)/bin/python scripts/build_zoo.py
