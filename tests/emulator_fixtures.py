"""The real Pub/Sub emulator and a real `apoa serve`, started once and shared."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from apoa.demo import wait_for_server
from apoa.emulator import PubSubEmulator, create_pull_subscription, create_topology, free_port
from apoa.remote import RemoteWarehouse
from apoa.settings import FINDINGS_TOPIC

PROJECT = "apoa-test"


def require_emulator() -> None:
    """Skip where gcloud is absent, except where the emulator is required (CI)."""
    if not PubSubEmulator.available():
        if os.environ.get("APOA_REQUIRE_EMULATOR"):
            pytest.fail("gcloud (the Pub/Sub emulator) is required here but not installed")
        pytest.skip("gcloud is not installed: no Pub/Sub emulator")


def start_emulator(log: Path) -> PubSubEmulator:
    require_emulator()
    return PubSubEmulator(PROJECT, log=log).start()


@dataclass
class Served:
    home: Path
    url: str
    remote: RemoteWarehouse
    process: subprocess.Popen
    findings_subscription: str

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "APOA_HOME": str(self.home),
            "APOA_PUBSUB_PROJECT": PROJECT,
        }

    def apoa(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "apoa.cli", *args],
            env=self.env(), capture_output=True, text=True, check=check, timeout=600,
        )  # fmt: skip

    def wait_for_rows(self, table: str, count: int, timeout: float = 180) -> int:
        deadline = time.monotonic() + timeout
        landed = -1
        while time.monotonic() < deadline:
            landed = self.remote.status()["raw_counts"][table]
            if landed >= count:
                return landed
            time.sleep(0.3)
        return landed


def start_served(home: Path, emulator: PubSubEmulator) -> Served:
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # INFO whatever an earlier test of this worker left in os.environ: tests read the
    # "landed" lines (their trace fields) from serve.log
    env = {**os.environ, "APOA_HOME": str(home), "APOA_PUBSUB_PROJECT": PROJECT,
           "PUBSUB_EMULATOR_HOST": emulator.host, "APOA_LOG_LEVEL": "INFO"}  # fmt: skip
    log = open(home / "serve.log", "ab")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "apoa.cli", "serve", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    remote = wait_for_server(url, process)
    create_topology(PROJECT, url)
    subscription = create_pull_subscription(PROJECT, FINDINGS_TOPIC, f"findings-{port}")
    return Served(home, url, remote, process, subscription)


def stop_served(served: Served) -> None:
    served.process.terminate()
    try:
        served.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        served.process.kill()
