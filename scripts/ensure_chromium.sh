#!/usr/bin/env bash
# Debian's Chromium for the browser tests (and iproute2). Playwright drives Chromium; it never downloads a browser.
set -euo pipefail
# iproute2 too: the browser "on another host" runs in a network namespace of its own (tests/e2e/conftest.py).
if command -v chromium >/dev/null 2>&1 && command -v ip >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update && apt-get install -y chromium iproute2
  exit 0
fi
if [ "${CI:-}" = "true" ]; then
  echo "ensure_chromium: chromium is missing and cannot be installed (not root); the browser tests need it" >&2
  exit 1
fi
echo "ensure_chromium: chromium not installed; browser tests will be skipped" >&2
