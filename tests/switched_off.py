"""Run one test again in a fresh pytest with a guarantee switched off (its env var set).

The fault tests call this to prove they can fail: the caller asserts how the run failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_switched_off(
    node_id: str, env: dict[str, str], timeout: float = 900
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--tb=short",
         node_id],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "APOA_LOG_LEVEL": "ERROR", **env},
    )  # fmt: skip
