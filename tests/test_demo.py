"""`apoa demo`, as a new user runs it: emulator, server, history, build, findings, all stopped."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

from apoa.settings import Settings
from apoa.warehouse import read_owner
from tests.emulator_fixtures import require_emulator


def test_demo_prints_each_injected_anomaly_and_stops_what_it_started(tmp_path):
    require_emulator()
    home = tmp_path / "home"
    env = {**os.environ, "APOA_HOME": str(home)}
    env.pop("PUBSUB_EMULATOR_HOST", None)
    result = subprocess.run(
        [sys.executable, "-m", "apoa.cli", "demo", "--fresh", "--runs", "60"],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "findings received from apoa-findings" in result.stdout
    assert result.stdout.count(": found") >= 2
    assert "MISSING" not in result.stdout
    assert read_owner(Settings(home=home)) is None  # the server it started is gone
    host = re.search(r"Pub/Sub emulator on (127\.0\.0\.1:\d+)", result.stdout).group(1)
    with socket.socket() as sock:  # the emulator it started is gone too
        assert sock.connect_ex((host.split(":")[0], int(host.split(":")[1]))) != 0
