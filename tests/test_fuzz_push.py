"""Coverage-guided fuzzing of the push decoder (tests/fuzz_push.py, atheris) inside make test:
a bounded number of inputs, and proof that the harness reports a failure when one exists."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HARNESS = Path(__file__).with_name("fuzz_push.py")
ROOT = HARNESS.parent.parent


def fuzz(runs: int, artifacts: Path, **env: str) -> str:
    """The harness's output (stdout and stderr); raises unless it exits as expected."""
    result = subprocess.run(
        [sys.executable, str(HARNESS), f"-runs={runs}", "-max_total_time=120",
         f"-artifact_prefix={artifacts}/"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
    )  # fmt: skip
    return f"exit {result.returncode}\n{result.stdout}"


def test_fifty_thousand_fuzzed_pushes_find_no_crash(tmp_path):
    output = fuzz(50_000, tmp_path)
    assert output.startswith("exit 0\n"), output[-3000:]
    assert "Done 50000 runs" in output
    assert not list(tmp_path.iterdir())  # no crashing input written


def test_the_harness_reports_a_planted_failure(tmp_path):
    output = fuzz(50_000, tmp_path, FUZZ_PLANTED_BUG="1")
    assert not output.startswith("exit 0\n")
    assert "Uncaught Python exception" in output
    assert list(tmp_path.glob("crash-*"))  # the input that failed, kept
