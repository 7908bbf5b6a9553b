"""Faults: storage failing, the owner killed, a build killed. Nothing lost, nothing doubled.

Each guarantee has a switch (ingest/unsafe.py) that turns it off; the last tests run
the fault tests again with the switch on and check that they then fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from apoa.demo import wait_for_server
from apoa.emulator import free_port
from apoa.remote import RemoteWarehouse
from apoa.replay import publish_to_emulator
from apoa.server import RunningServer
from apoa.settings import Settings
from apoa.warehouse import LocalWarehouse
from benchmarks.ingest_load import point_subscriptions, sample_messages
from ingest import unsafe
from tests.emulator_fixtures import PROJECT, start_emulator
from tests.switched_off import run_switched_off

# How long a fault test waits for every message. The switched-off runs lose messages for
# good, so they set it short rather than wait out the full time.
LANDING_TIMEOUT = float(os.environ.get("APOA_FAULT_LANDING_TIMEOUT", 240))
# ... and they stop waiting once nothing landed for this long (longer than the loader's
# backoff through six failures); 0 = never, as in the fault tests themselves.
STALL_SECONDS = float(os.environ.get("APOA_FAULT_STALL_SECONDS", 0))


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    emulator = start_emulator(tmp_path_factory.mktemp("emulator") / "emulator.log")
    yield emulator
    emulator.stop()


def landed(remote: RemoteWarehouse) -> int:
    counts = remote.status()["raw_counts"]
    return sum(count for table, count in counts.items() if table != "raw_dead_letters")


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return predicate()


def wait_for_landing(remote: RemoteWarehouse, count: int) -> None:
    """Until every message landed or LANDING_TIMEOUT; in a switched-off run (which loses
    messages for good) also once none landed for STALL_SECONDS."""
    stall = STALL_SECONDS or float("inf")
    deadline = time.monotonic() + LANDING_TIMEOUT
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = landed(remote)
        if now >= count:
            return
        if now != last:
            last, last_change = now, time.monotonic()
        elif time.monotonic() - last_change > stall:
            return
        time.sleep(0.25)


def assert_exactly_once(remote: RemoteWarehouse, expected: int) -> None:
    raw = {k: v for k, v in remote.integrity().items() if k.startswith("raw.") and "dead" not in k}
    assert sum(v["rows"] for v in raw.values()) == expected
    assert sum(v["distinct_keys"] for v in raw.values()) == expected


def test_journal_failing_half_way_through_batches_loses_nothing(emulator, tmp_path):
    """An append torn half-way answers 503; the emulator redelivers; each row lands once."""
    _storage_fault_loses_nothing(tmp_path, lambda warehouse: warehouse.journal, OSError, 25)


def test_warehouse_failing_half_way_through_loads_loses_nothing(emulator, tmp_path):
    """A DuckDB load failing after its first table: acknowledged rows wait in the journal."""
    # Six in a row: the loader backs off 0.1 s, doubling, between attempts.
    _storage_fault_loses_nothing(tmp_path, lambda warehouse: warehouse.store, duckdb.IOException, 6)


def _storage_fault_loses_nothing(tmp_path, faulty_part, error, times: int) -> None:
    warehouse = LocalWarehouse(Settings(home=tmp_path / "home"))
    failures = {"left": times}

    def fail_half_way() -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise error("injected: the disk went away mid-batch")

    faulty_part(warehouse).fault_hook = fail_half_way
    server = RunningServer(warehouse, "127.0.0.1", free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        point_subscriptions(server.url, "storage-fault", PROJECT)
        remote = RemoteWarehouse(server.url)
        count = 600
        publish_to_emulator(sample_messages(count), PROJECT, show_progress=False)
        wait_for_landing(remote, count)
        time.sleep(1.0)  # anything redelivered late would show up as a duplicate
        assert failures["left"] == 0, "the fault never fired"
        assert_exactly_once(remote, count)
    finally:
        server.stop()
        thread.join(timeout=60)


def start_serve(home: Path, port: int, extra_env: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, "APOA_HOME": str(home), "APOA_LOG_LEVEL": "WARNING", **extra_env}
    with open(home / "serve.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "apoa.cli", "serve", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


def test_owner_killed_mid_load_and_restarted_loses_and_doubles_nothing(emulator, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    extra = {"PUBSUB_EMULATOR_HOST": emulator.host}
    process = start_serve(home, port, extra)
    remote = wait_for_server(url, process)
    point_subscriptions(url, "kill-fault", PROJECT)
    count = 1500
    publish_to_emulator(sample_messages(count), PROJECT, show_progress=False)
    assert wait_for(lambda: landed(remote) >= 300, 120)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    process = start_serve(home, port, extra)  # same port: the push subscriptions find it again
    try:
        remote = wait_for_server(url, process)
        wait_for_landing(remote, count)
        time.sleep(1.0)
        assert_exactly_once(remote, count)
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_build_killed_half_way_recovers_on_the_next_build(tmp_path):
    from apoa.generator import generate_history, write_jsonl

    history = tmp_path / "history.jsonl"
    write_jsonl(generate_history(seed=3, runs_per_workflow=30), history)

    def apoa(home: Path, *args: str) -> subprocess.Popen:
        env = {**os.environ, "APOA_HOME": str(home)}
        return subprocess.Popen(
            [sys.executable, "-m", "apoa.cli", *args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    home = tmp_path / "home"
    assert apoa(home, "replay", str(history)).wait(timeout=300) == 0

    build = apoa(home, "build")
    models_started = 0
    for line in build.stdout:  # kill it while dbt is writing its fifth model
        models_started += "START sql" in line
        if models_started == 5:
            build.send_signal(signal.SIGKILL)
            break
    build.wait(timeout=60)
    assert build.returncode == -signal.SIGKILL
    assert apoa(home, "build").wait(timeout=600) == 0  # no manual step in between

    def hashes() -> dict[str, str]:
        with LocalWarehouse(Settings(home=home)) as warehouse:
            return warehouse.mart_hashes()

    recovered = hashes()
    # The state the recovered build left equals a rebuild from scratch of the same raw rows.
    assert apoa(home, "build", "--full-refresh").wait(timeout=600) == 0
    assert recovered == hashes()
    assert recovered


@pytest.mark.parametrize(
    ("test_name", "switch"),
    [
        ("test_journal_failing_half_way_through_batches_loses_nothing",
         unsafe.ACK_ON_STORAGE_ERROR),
        ("test_warehouse_failing_half_way_through_loads_loses_nothing",
         unsafe.DROP_FAILED_LOAD),
        ("test_owner_killed_mid_load_and_restarted_loses_and_doubles_nothing",
         unsafe.ACK_BEFORE_COMMIT),
    ],
)  # fmt: skip
def test_fault_test_fails_when_its_guarantee_is_switched_off(test_name, switch):
    result = run_switched_off(
        f"tests/test_faults.py::{test_name}",
        {switch: "1", "APOA_FAULT_LANDING_TIMEOUT": "30", "APOA_FAULT_STALL_SECONDS": "8"},
    )
    assert result.returncode == 1, result.stdout[-2000:]
    assert "1 failed" in result.stdout
    assert "in assert_exactly_once" in result.stdout, result.stdout[-2000:]  # on the count
