"""Run a benchmark worker in a fresh Python process (separate memory peak, clean TensorFlow state)."""
from __future__ import annotations

import json
import subprocess
import sys


def run_worker(script: str, args: list[str]) -> dict:
    """Run ``script`` with ``args``; return the JSON object on its last stdout line (stderr shown on failure)."""
    res = subprocess.run([sys.executable, script, *args], capture_output=True, text=True)
    if res.returncode:
        sys.stderr.write(res.stderr[-3000:])
        raise SystemExit(res.returncode)
    return json.loads(res.stdout.strip().splitlines()[-1])
