#!/usr/bin/env bash
# Vendor the livekit-client ES module the HeyGen transport imports (no bundler, no node_modules).
# Idempotent: does nothing when the file is already there (FORCE=1 fetches again).
set -euo pipefail

VERSION="${LIVEKIT_CLIENT_VERSION:-2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST_DIR="$ROOT/frontend/static/frontend/vendor"
DEST="$DEST_DIR/livekit-client.esm.mjs"

if [[ -s "$DEST" && -z "${FORCE:-}" ]]; then
  echo "livekit-client already vendored at ${DEST#"$ROOT"/}"
  exit 0
fi

command -v npm >/dev/null || { echo "npm is required to fetch livekit-client" >&2; exit 1; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

(cd "$TMP" && npm pack --silent "livekit-client@$VERSION" >/dev/null)
tar -xzf "$TMP"/livekit-client-*.tgz -C "$TMP"

SRC="$TMP/package/dist/livekit-client.esm.mjs"
[[ -f "$SRC" ]] || { echo "no dist/livekit-client.esm.mjs in the livekit-client package" >&2; exit 1; }

mkdir -p "$DEST_DIR"
cp "$SRC" "$DEST.tmp"
mv "$DEST.tmp" "$DEST"
echo "vendored livekit-client $(node -p "require('$TMP/package/package.json').version" 2>/dev/null || echo "$VERSION") → ${DEST#"$ROOT"/}"
