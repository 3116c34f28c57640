#!/usr/bin/env bash
# Debian's Orthanc and its DICOMweb plugin for the PACS tests (tests/pacs/): a real PACS, started by the test
# fixture on a loopback port with its own configuration (the packaged service is never started or used).
set -euo pipefail
if command -v Orthanc >/dev/null 2>&1 && ls /usr/share/orthanc/plugins/libOrthancDicomWeb.so >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  # the package would start its own service (all interfaces, port 8042): a policy-rc.d forbids it for the install
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1; fi
  status=0
  apt-get update && apt-get install -y orthanc orthanc-dicomweb || status=$?
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
  exit $status
fi
if [ "${CI:-}" = "true" ]; then
  echo "ensure_orthanc: Orthanc is missing and cannot be installed (not root); the PACS tests need it" >&2
  exit 1
fi
echo "ensure_orthanc: Orthanc not installed; the PACS tests will be skipped" >&2
