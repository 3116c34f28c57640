#!/usr/bin/env bash
# Debian's Chromium for the browser tests. Playwright drives it; it never downloads a browser.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update && apt-get install -y chromium
  exit 0
fi
if [ "${CI:-}" = "true" ]; then
  echo "ensure_chromium: chromium is missing and cannot be installed (not root); the browser tests need it" >&2
  exit 1
fi
echo "ensure_chromium: chromium not installed; browser tests will be skipped" >&2
