"""The vendored livekit-client is the published file its README names, so `make run` needs no npm."""

import hashlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "frontend" / "static" / "frontend" / "vendor"


def test_vendored_livekit_matches_its_readme():
    readme = (VENDOR / "README.md").read_text()
    library = (VENDOR / "livekit-client.esm.mjs").read_bytes()
    version = re.search(r"livekit-client@(\d+\.\d+\.\d+)", readme).group(1)
    checksum = re.search(r"sha256 `([0-9a-f]{64})`", readme).group(1)
    assert hashlib.sha256(library).hexdigest() == checksum
    assert f'version$1 = "{version}"'.encode() in library


def test_vendored_livekit_keeps_its_licence():
    assert "Apache License" in (VENDOR / "livekit-client.LICENSE").read_text()


def test_nothing_fetches_livekit_at_build_time():
    recipes = [line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith("\t")]
    assert not [line for line in recipes if re.search(r"\bnpm\b|fetch_livekit", line)]
    assert "vendor" not in (ROOT / ".gitignore").read_text()
