#!/usr/bin/env bash
# pip-audit of the lock file. Fails on a known vulnerability; only warns when the advisory data
# cannot be reached (a machine without PyPI's JSON API or OSV must not fail CI on the network).
set -uo pipefail
# Usage: scripts/audit.sh PIP_AUDIT LOCK_FILE
pip_audit="${1:-.venv/bin/pip-audit}"
lock="${2:-requirements.lock}"
out=$(mktemp)
"$pip_audit" --disable-pip --require-hashes -r "$lock" --progress-spinner off >"$out" 2>&1
status=$?
if grep -q "^Found [0-9]* known vulnerabilit" "$out"; then
  cat "$out"
  exit 1
fi
audited=$(grep -c "could not be audited" "$out")
if [ "$status" -ne 0 ] || [ "$audited" -gt 0 ]; then
  echo "pip-audit: WARNING: the audit is incomplete (advisory data not reachable for $audited packages); see below"
  tail -5 "$out"
else
  echo "pip-audit: no known vulnerabilities"
fi
exit 0
