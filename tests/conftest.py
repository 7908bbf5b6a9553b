"""Shared test helpers: where the real fixtures are, and a warehouse in a temp APOA_HOME."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The real payloads nobody here wrote (octokit, Google's frameworks, ...), beside the clone.
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"

# Under pytest-xdist every worker runs dbt in this project at once: each gets its own
# target and log directories (dbt reads these variables when no flag names a path), so
# one worker's parse or compile never overwrites the files another is reading.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER:
    os.environ.setdefault("DBT_TARGET_PATH", str(ROOT / "target" / f"pytest-{_WORKER}"))
    os.environ.setdefault("DBT_LOG_PATH", str(ROOT / "logs" / f"pytest-{_WORKER}"))


def fixture_path(*parts: str) -> Path:
    path = SHARED_FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared fixtures not found at {path}")
    return path


def load_json(path: Path):
    return json.loads(path.read_text())


@pytest.fixture
def settings(tmp_path, monkeypatch):
    from apoa.settings import Settings

    home = tmp_path / "home"
    monkeypatch.setenv("APOA_HOME", str(home))
    return Settings.from_env()
