# The two commands of the README, plus helpers. Everything runs offline.
VENV ?= .venv
WORKSPACE ?= demo_workspace
PORT ?= 8866
IP ?= 127.0.0.1
export HF_HUB_OFFLINE := 1

.PHONY: env dashboard test test-fast lint bench zoo

env:
	scripts/bootstrap.sh

# Start the Voilà dashboard on the demo workspace (made on first run). This machine only by default;
# `make dashboard IP=0.0.0.0` serves the network and prints the address with its token.
dashboard: env
	$(VENV)/bin/deepq serve --demo --workspace $(WORKSPACE) --port $(PORT) --ip $(IP)

# Install what the tests need (Chromium included) and run the whole suite.
test: env
	scripts/ensure_chromium.sh
	scripts/ensure_orthanc.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest --durations=25

# The edit loop: everything but the `slow` tests (real training runs, notebooks, the browser).
test-fast: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -m "not slow" --durations=10

lint: env
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check deepq_widgets

bench: env
	$(VENV)/bin/python -m benchmarks

zoo: env
	$(VENV)/bin/python scripts/build_zoo.py
