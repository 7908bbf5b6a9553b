"""Shared test helpers: where the real fixtures are, and a warehouse in a temp APOA_HOME."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The real payloads nobody here wrote (octokit, Google's frameworks, ...), beside the clone.
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"


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
