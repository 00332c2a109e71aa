"""The engine imports and builds its app in a Python where Django is never loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
import engine.config, engine.did_streams, engine.server, engine.deepgram_listen, engine.groq_chat
loaded = sorted(m for m in sys.modules if m.split('.')[0] in {'django', 'streaming', 'config'})
print('LOADED', loaded)
"""


def test_engine_imports_without_django():
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout
