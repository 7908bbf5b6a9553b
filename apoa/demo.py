"""`apoa demo`: the whole observer on one machine, on the real Pub/Sub emulator.

emulator -> push subscriptions -> `apoa serve` (ingest, DuckDB, dbt, publisher)
-> apoa-findings -> a pull subscription here, printed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from apoa.emulator import (
    PubSubEmulator,
    create_pull_subscription,
    create_topology,
    free_port,
    pull_all,
)
from apoa.generator import generate_history
from apoa.progress import Progress
from apoa.remote import OwnerUnreachable, RemoteWarehouse
from apoa.replay import deliver_http, parse_lines, publish_to_emulator, url_poster
from apoa.settings import FINDINGS_TOPIC, Settings
from apoa.warehouse import WarehouseBusy, read_owner


def say(text: str) -> None:
    print(text, flush=True)


def start_server(settings: Settings, port: int, env: dict[str, str]) -> subprocess.Popen:
    log = open(settings.home / "serve.log", "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(
        [sys.executable, "-m", "apoa.cli", "serve", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def wait_for_server(url: str, process: subprocess.Popen, timeout: float = 60) -> RemoteWarehouse:
    remote = RemoteWarehouse(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"apoa serve exited with {process.returncode}; see serve.log")
        try:
            remote.status()
            return remote
        except OwnerUnreachable:
            time.sleep(0.2)
    raise RuntimeError(f"apoa serve did not answer on {url} within {timeout}s")


def wait_for_landing(remote: RemoteWarehouse, table: str, target: int, timeout: float) -> int:
    progress = Progress("landing", target)
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count = remote.status()["raw_counts"][table]
        progress.done = 0
        progress.advance(min(count, target))
        if count >= target:
            break
        time.sleep(0.5)
    progress.finish()
    return count


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def run_demo(settings: Settings, fresh: bool, seed: int, runs: int) -> int:
    settings.home.mkdir(parents=True, exist_ok=True)
    if read_owner(settings) is not None:
        raise WarehouseBusy(f"apoa serve is already running on {settings.home}; stop it first")
    if fresh:
        for suffix in ("", ".wal"):
            Path(str(settings.db_path) + suffix).unlink(missing_ok=True)

    history = generate_history(seed=seed, runs_per_workflow=runs)
    lines = [message.to_json_line() for message in history.messages]
    (settings.home / "demo-history.jsonl").write_text("\n".join(lines) + "\n")
    messages, _ = parse_lines(lines)
    say(f"1/5 generated {len(messages)} GitHub deliveries (seed {seed}), with injected anomalies:")
    for anomaly in history.injected:
        say(f"      - {anomaly.kind}: {anomaly.description}")

    emulator = PubSubEmulator(settings.pubsub_project, log=settings.home / "emulator.log")
    use_emulator = emulator.available()
    server = None
    try:
        if use_emulator:
            emulator.start()
            say(f"2/5 started the Pub/Sub emulator on {emulator.host}, then apoa serve")
        else:
            say("2/5 gcloud is not installed: no Pub/Sub emulator. Delivering the same push "
                "envelopes to apoa serve directly, and skipping publishing.")  # fmt: skip
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(settings, port, {**os.environ, "APOA_HOME": str(settings.home)})
        remote = wait_for_server(url, server)
        before = remote.status()["raw_counts"]["raw_github_events"]

        say(
            f"3/5 sending {len(messages)} deliveries through "
            + ("Pub/Sub push subscriptions" if use_emulator else "HTTP push envelopes")
        )
        if use_emulator:
            create_topology(settings.pubsub_project, url)
            findings_sub = create_pull_subscription(
                settings.pubsub_project, FINDINGS_TOPIC, "apoa-findings-demo"
            )
            publish_to_emulator(messages, settings.pubsub_project)
        else:
            deliver_http(messages, url_poster(url))
        landed = wait_for_landing(remote, "raw_github_events", before + len(messages), 600)
        if landed < before + len(messages):
            say(f"only {landed - before} of {len(messages)} deliveries landed; see serve.log")
            return 1

        say("4/5 dbt build (staging, marts, scorer, findings)")
        started = time.monotonic()
        result = remote.build()
        if not result["success"]:
            say("dbt build failed:\n  " + "\n  ".join(result["failures"]))
            return 1
        say(f"      {result['nodes']} nodes built and tested in {time.monotonic() - started:.0f}s")

        if use_emulator:
            published = remote.publish()
            received = pull_all(findings_sub, expect=len(published), timeout=60)
            say(f"5/5 {len(received)} findings received from apoa-findings:")
            import json

            bodies = [json.loads(message.data) for message in received]
        else:
            bodies = remote.findings("all")
            say(f"5/5 {len(bodies)} findings (not published: no Pub/Sub here):")
        if not bodies:
            say(
                "      (none new: every finding was already published by an earlier demo; "
                "run `apoa findings --status all` to list them, or `apoa demo --fresh`)"
            )
            bodies = remote.findings("all")
        for body in bodies:
            say(f"    [{body['severity']}] {body['kind']} {body['status']}: {body['summary']}")
        outcome = _check_injected(history.injected, bodies)
        say(f"next: `apoa report` draws it all in {settings.home / 'report.html'} (offline), "
            "`apoa findings` lists the findings, `apoa explain ID` shows one")  # fmt: skip
        return outcome
    finally:
        if server is not None:
            stop_server(server)
        emulator.stop()


def finding_entity(body: dict) -> tuple[str, str, str]:
    """(repository, workflow, job) of a published finding, or of a fct_findings row."""
    entity = body.get("entity")
    if isinstance(entity, dict):
        return entity.get("repository"), entity.get("workflow"), entity.get("job")
    return body.get("repository"), body.get("workflow_name"), body.get("job_name")


def _check_injected(injected, bodies: list[dict]) -> int:
    missing = []
    for anomaly in injected:
        found = any(
            (body["kind"], *finding_entity(body))
            == (anomaly.kind, anomaly.repository, anomaly.workflow, anomaly.job)
            for body in bodies
        )
        mark = "found" if found else "MISSING"
        say(f"    injected {anomaly.kind} on {anomaly.repository} / {anomaly.job}: {mark}")
        if not found:
            missing.append(anomaly)
    return 1 if missing else 0
