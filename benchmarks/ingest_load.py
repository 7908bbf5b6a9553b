"""Load benchmark: many messages through the real Pub/Sub emulator's push delivery.

Publishes N messages across the three topics, first to a no-op endpoint that answers
204 at once, then — same emulator, same messages — to `apoa serve` (the single
warehouse owner with group commit). Prints throughput, handling latency, peak memory,
and checks that every message landed exactly once in raw and staging has no duplicates.

    .venv/bin/python -m benchmarks.ingest_load --messages 100000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from werkzeug.serving import make_server

from apoa.demo import wait_for_server
from apoa.emulator import PubSubEmulator, free_port
from apoa.generator import generate_history
from apoa.replay import ReplayMessage, publish_to_emulator
from apoa.settings import TOPICS

PROJECT = "apoa-bench"


def sample_messages(count: int, seed: int = 3) -> list[ReplayMessage]:
    """Real-sized messages: GitHub deliveries (~8-20 KB), log entries and metric points."""
    history = generate_history(seed=seed, runs_per_workflow=60)
    github = [m for m in history.messages]
    rng = random.Random(seed)
    messages = []
    for index in range(count):
        topic = TOPICS[index % 3]
        if topic == "github-events":
            source = github[(index // 3) % len(github)]
            data = {**source.data, "bench_copy": index}  # distinct payload per message
            attributes = {**source.attributes, "github_delivery": f"bench-{index}"}
        elif topic == "pipeline-logs":
            data = {
                "insertId": f"log-{index}",
                "logName": "projects/p/logs/ci",
                "timestamp": "2026-09-01T10:00:00Z",
                "severity": rng.choice(["INFO", "WARNING", "ERROR"]),
                "textPayload": "step output " + "x" * rng.randint(100, 1500),
                "labels": {"github_run_id": str(1000 + index // 50), "github_job": "test"},
            }
            attributes = {}
        else:
            data = {
                "metric": {"type": "custom.googleapis.com/ci/cpu", "labels": {"job": "t"}},
                "resource": {"type": "generic_task", "labels": {"task_id": str(index)}},
                "metricKind": "GAUGE",
                "valueType": "DOUBLE",
                "points": [{"interval": {"endTime": "2026-09-01T10:00:00Z"},
                            "value": {"doubleValue": rng.random()}}],
            }  # fmt: skip
            attributes = {}
        payload = json.dumps(data, separators=(",", ":"))
        messages.append(ReplayMessage(index, topic, attributes, payload, f"m{index}"))
    return messages


class NoOpEndpoint:
    """Answers 204 at once; counts the distinct message ids it saw."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # as in apoa serve: no access log
        self.seen: set[str] = set()
        self._lock = threading.Lock()
        self.server = make_server("127.0.0.1", free_port(), self._app, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def _app(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        message_id = json.loads(body)["message"]["messageId"]
        with self._lock:
            self.seen.add(message_id)
        start_response("204 No Content", [])
        return [b""]


def point_subscriptions(base_url: str, name: str, project: str = PROJECT) -> None:
    """Fresh push subscriptions for this phase (old ones removed so nothing is shared)."""
    from google.api_core.exceptions import AlreadyExists, NotFound
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    for topic in TOPICS:
        with contextlib.suppress(AlreadyExists):  # the second phase reuses the topics
            publisher.create_topic(name=publisher.topic_path(project, topic))
        for old in publisher.list_topic_subscriptions(topic=publisher.topic_path(project, topic)):
            with contextlib.suppress(NotFound):
                subscriber.delete_subscription(subscription=old)
        subscriber.create_subscription(
            name=subscriber.subscription_path(project, f"{topic}-{name}"),
            topic=publisher.topic_path(project, topic),
            push_config={"push_endpoint": f"{base_url}/push/{topic}"},
            ack_deadline_seconds=60,
        )
    subscriber.close()


@dataclass
class Phase:
    name: str
    messages: int
    seconds: float
    delivered: int

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0


def wait_until(count_fn, target: int, timeout: float) -> tuple[int, float]:
    started = time.monotonic()
    count = 0
    while time.monotonic() - started < timeout:
        count = count_fn()
        if count >= target:
            break
        time.sleep(0.2)
    return count, time.monotonic() - started


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(count: int, timeout: float = 3600, quiet: bool = False) -> dict:
    messages = sample_messages(count)
    work = Path(tempfile.mkdtemp(prefix="apoa-load-"))
    emulator = PubSubEmulator(PROJECT, log=work / "emulator.log").start()
    server = None
    try:
        noop = NoOpEndpoint()
        point_subscriptions(noop.url, "noop")
        started = time.monotonic()
        publish_to_emulator(messages, PROJECT, show_progress=not quiet)
        seen, _ = wait_until(lambda: len(noop.seen), count, timeout)
        noop_phase = Phase("no-op handler (204 at once)", count, time.monotonic() - started, seen)
        noop.server.shutdown()

        home = work / "home"
        home.mkdir()
        port = free_port()
        env = {**os.environ, "APOA_HOME": str(home), "APOA_LOG_LEVEL": "WARNING"}
        with open(work / "serve.log", "ab") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "apoa.cli", "serve", "--port", str(port)],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        remote = wait_for_server(f"http://127.0.0.1:{port}", server)
        point_subscriptions(f"http://127.0.0.1:{port}", "ingest")
        remote.push_latency(reset=True)
        cpu_before = cpu_seconds(server.pid)
        started = time.monotonic()
        publish_to_emulator(messages, PROJECT, show_progress=not quiet)

        def landed_rows() -> int:
            counts = remote.status()["raw_counts"]  # waits for every acknowledged row's load
            return sum(v for k, v in counts.items() if k != "raw_dead_letters")

        # Poll the cheap counter while the load runs (status forces a load each time it is
        # asked, which a real owner is not), then wait until raw holds every message.
        wait_until(lambda: remote.ingest_progress()["acknowledged"], count, timeout)
        landed, _ = wait_until(landed_rows, count, timeout)
        ingest_phase = Phase("apoa serve ingest", count, time.monotonic() - started, landed)
        cpu_per_message = (cpu_seconds(server.pid) - cpu_before) / count
        time.sleep(2)  # let redeliveries in flight arrive, so duplicates would show
        latency = remote.push_latency()
        writer = remote.status()["writer"]
        # Staging only: what "no duplicates downstream" is about (the steps view too, since
        # a relationships test joins it to the jobs).
        staging = [
            "stg_github__workflow_job_deliveries",
            "stg_github__workflow_jobs",
            "stg_github__workflow_job_steps",
        ]
        build = remote.build(select=" ".join(staging))
        integrity = remote.integrity()
        memory = peak_rss_mb(server.pid)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
        emulator.stop()

    raw = {k: v for k, v in integrity.items() if k.startswith("raw.") and "dead" not in k}
    loss = count - sum(v["distinct_keys"] for v in raw.values())
    duplicates = sum(v["rows"] - v["distinct_keys"] for v in integrity.values())
    if loss == 0 and duplicates == 0 and build["success"]:
        shutil.rmtree(work, ignore_errors=True)  # a 100k run leaves gigabytes
    else:
        print(f"kept for inspection: {work}", file=sys.stderr)
    return {
        "messages": count,
        "noop": noop_phase,
        "ingest": ingest_phase,
        "latency": latency,
        "writer": writer,
        "peak_rss_mb": memory,
        "cpu_ms_per_message": cpu_per_message * 1000,
        "loss": loss,
        "duplicates": duplicates,
        "integrity": integrity,
        "build_ok": build["success"],
    }


def print_table(result: dict) -> None:
    noop, ingest = result["noop"], result["ingest"]
    rows = [
        ("messages published", f"{result['messages']:,}"),
        ("no-op endpoint: messages/s", f"{noop.rate:,.0f}"),
        ("apoa serve ingest: messages/s", f"{ingest.rate:,.0f}"),
        ("no-op / ingest throughput", f"{noop.rate / ingest.rate:.2f}x" if ingest.rate else "-"),
        ("ingest handling latency p50", f"{result['latency'].get('p50_ms', '-')} ms"),
        ("ingest handling latency p99", f"{result['latency'].get('p99_ms', '-')} ms"),
        ("rows per commit (mean)",
         f"{result['writer']['rows'] / max(result['writer']['batches'], 1):.1f}"),
        ("apoa serve CPU per message", f"{result['cpu_ms_per_message']:.2f} ms"),
        ("apoa serve peak memory (RSS)", f"{result['peak_rss_mb']:.0f} MB"),
        ("lost messages", str(result["loss"])),
        ("duplicate rows (raw + staging)", str(result["duplicates"])),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    print(f"| {'measure':<{width}} | value |")
    print(f"| {'-' * width} | ----- |")
    for name, value in rows:
        print(f"| {name:<{width}} | {value} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args(argv)
    result = run(args.messages)
    print_table(result)
    return 0 if result["loss"] == 0 and result["duplicates"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
