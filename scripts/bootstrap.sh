#!/usr/bin/env bash
# Create the virtual environment with everything the dashboard and the tests need.
# Idempotent: a second run only reinstalls when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
stamp="$VENV/.deepq-installed"

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VENV/bin/pip" install -q --upgrade pip
  # torch first, pinned to wheels known to work with PyPI's torchvision on this kind of machine.
  case "$(uname -m)" in
    aarch64|arm64) "$VENV/bin/pip" install -q torch==2.9.1 torchvision==0.24.1 ;;
    *) "$VENV/bin/pip" install -q torch==2.14.1 torchvision==0.29.1 ;;
  esac
  "$VENV/bin/pip" install -q -e ".[test]"
  "$VENV/bin/python" -c "import deepq_widgets, torch, torchvision, fastai, timm, voila, pydicom, pylibjpeg" \
    || { echo "bootstrap: the environment is incomplete" >&2; exit 1; }
  touch "$stamp"
fi
