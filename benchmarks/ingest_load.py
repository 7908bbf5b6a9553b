"""Load benchmark: many messages through the real Pub/Sub emulator's push delivery.

Publishes N messages across the three topics, first to a no-op endpoint that answers
204 at once, then — same emulator, same messages — to `apoa serve` (the single
warehouse owner with group commit), once per `--push-processes` setting (a fresh
warehouse each time). Prints throughput, handling latency, CPU and peak memory (of the
owner and its push processes together), and checks that every message landed exactly
once in raw and staging has no duplicates.

    .venv/bin/python -m benchmarks.ingest_load --messages 100000
    .venv/bin/python -m benchmarks.ingest_load --messages 20000 --push-processes 0 1 2
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
import urllib.request
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
    """Answers 204 at once in a process of its own (as `apoa serve` has); counts the
    distinct message ids it saw (GET /count)."""

    def __init__(self) -> None:
        port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.ingest_load", "--serve-noop", str(port)],
            cwd=Path(__file__).resolve().parent.parent,
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                self.count()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.1)

    def count(self) -> int:
        with urllib.request.urlopen(f"{self.url}/count", timeout=10) as response:
            return int(response.read())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def serve_noop(port: int) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # as in apoa serve: no access log
    seen: set[str] = set()
    lock = threading.Lock()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/count":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [str(len(seen)).encode()]
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        message_id = json.loads(body)["message"]["messageId"]
        with lock:
            seen.add(message_id)
        start_response("204 No Content", [])
        return [b""]

    make_server("127.0.0.1", port, app, threaded=True).serve_forever()


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


def process_tree(pid: int) -> list[int]:
    """A process and its children (the owner and its push processes)."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            children += [int(c) for c in (task / "children").read_text().split()]
    return [pid, *children]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pids: list[int]) -> float:
    """The sum of each process's peak resident memory."""
    total = 0.0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total


def run(
    count: int, timeout: float = 3600, quiet: bool = False, push_processes: tuple[int, ...] = (2,)
) -> dict:
    messages = sample_messages(count)
    work = Path(tempfile.mkdtemp(prefix="apoa-load-"))
    emulator = PubSubEmulator(PROJECT, log=work / "emulator.log").start()
    ingests = []
    try:
        noop = NoOpEndpoint()
        point_subscriptions(noop.url, "noop")
        started = time.monotonic()
        publish_to_emulator(messages, PROJECT, show_progress=not quiet)
        seen, _ = wait_until(noop.count, count, timeout)
        noop_phase = Phase("no-op handler (204 at once)", count, time.monotonic() - started, seen)
        noop.stop()
        for processes in push_processes:
            ingests.append(_ingest_phase(messages, work / f"home-{processes}", processes, timeout,
                                         quiet))  # fmt: skip
    finally:
        emulator.stop()
    if all(result["loss"] == 0 and result["duplicates"] == 0 and result["build_ok"]
           for result in ingests):  # fmt: skip
        shutil.rmtree(work, ignore_errors=True)  # a 100k run leaves gigabytes
    else:
        print(f"kept for inspection: {work}", file=sys.stderr)
    return {"messages": count, "noop": noop_phase, "ingests": ingests}


def _ingest_phase(
    messages: list[ReplayMessage], home: Path, push_processes: int, timeout: float, quiet: bool
) -> dict:
    count = len(messages)
    home.mkdir()
    port = free_port()
    env = {**os.environ, "APOA_HOME": str(home), "APOA_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "apoa.cli", "serve", "--port", str(port),
               "--push-processes", str(push_processes)]  # fmt: skip
    with open(home / "serve.log", "ab") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        remote = wait_for_server(f"http://127.0.0.1:{port}", server)
        point_subscriptions(f"http://127.0.0.1:{port}", f"ingest-{push_processes}")
        remote.push_latency(reset=True)
        processes = process_tree(server.pid)
        cpu_before = cpu_seconds(processes)
        started = time.monotonic()
        publish_to_emulator(messages, PROJECT, show_progress=not quiet)

        def landed_rows() -> int:
            counts = remote.status()["raw_counts"]  # waits for every acknowledged row's load
            return sum(v for k, v in counts.items() if k != "raw_dead_letters")

        # Poll the cheap counter while the load runs (status forces a load each time it is
        # asked, which a real owner is not), then wait until raw holds every message.
        wait_until(lambda: remote.ingest_progress()["acknowledged"], count, timeout)
        landed, _ = wait_until(landed_rows, count, timeout)
        phase = Phase(f"apoa serve, {push_processes} push processes", count,
                      time.monotonic() - started, landed)  # fmt: skip
        cpu_per_message = (cpu_seconds(processes) - cpu_before) / count
        time.sleep(2)  # let redeliveries in flight arrive, so duplicates would show
        latency = remote.push_latency()
        # Staging only: what "no duplicates downstream" is about (the steps view too, since
        # a relationships test joins it to the jobs).
        staging = [
            "stg_github__actions_deliveries",
            "stg_github__workflow_job_deliveries",
            "stg_github__workflow_jobs",
            "stg_github__workflow_job_steps",
        ]
        build = remote.build(select=" ".join(staging))
        integrity = remote.integrity()
        memory = peak_rss_mb(processes)
    finally:
        server.terminate()
        server.wait(timeout=60)

    raw = {k: v for k, v in integrity.items() if k.startswith("raw.") and "dead" not in k}
    return {
        "push_processes": push_processes,
        "phase": phase,
        "latency": latency,
        "peak_rss_mb": memory,
        "cpu_ms_per_message": cpu_per_message * 1000,
        "loss": count - sum(v["distinct_keys"] for v in raw.values()),
        "duplicates": sum(v["rows"] - v["distinct_keys"] for v in integrity.values()),
        "integrity": integrity,
        "build_ok": build["success"],
    }


def print_table(result: dict) -> None:
    noop = result["noop"]
    ingests = result["ingests"]
    header = ["measure", *(f"{r['push_processes']} push processes" for r in ingests)]

    def each(show) -> list[str]:
        return [show(r) for r in ingests]

    rows = [
        ["messages published", *each(lambda r: f"{result['messages']:,}")],
        ["no-op endpoint: messages/s", *each(lambda r: f"{noop.rate:,.0f}")],
        ["apoa serve ingest: messages/s", *each(lambda r: f"{r['phase'].rate:,.0f}")],
        ["no-op / ingest throughput", *each(lambda r: f"{noop.rate / r['phase'].rate:.2f}x")],
        ["ingest handling latency p50", *each(lambda r: f"{r['latency'].get('p50_ms', '-')} ms")],
        ["ingest handling latency p99", *each(lambda r: f"{r['latency'].get('p99_ms', '-')} ms")],
        ["CPU per message (all processes)", *each(lambda r: f"{r['cpu_ms_per_message']:.2f} ms")],
        ["peak memory (RSS, summed)", *each(lambda r: f"{r['peak_rss_mb']:.0f} MB")],
        ["lost messages", *each(lambda r: str(r["loss"]))],
        ["duplicate rows (raw + staging)", *each(lambda r: str(r["duplicates"]))],
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(f"{c:<{w}}" for c, w in zip(cells, widths, strict=True)) + " |"

    print(line(header))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--push-processes", type=int, nargs="+", default=[2], metavar="N",
                        help="apoa serve's --push-processes, one ingest phase each")  # fmt: skip
    parser.add_argument("--serve-noop", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_noop:
        serve_noop(args.serve_noop)
        return 0
    result = run(args.messages, push_processes=tuple(args.push_processes))
    print_table(result)
    ok = all(r["loss"] == 0 and r["duplicates"] == 0 for r in result["ingests"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
