"""Real-time latency benchmark: from a completed job's delivery to its finding on apoa-findings.

A warehouse with history already built (by default a generated one; `--home` takes any
warehouse, e.g. the 1M-run one `benchmarks/data_model.py --keep` leaves behind) gets a new
stream of GitHub deliveries with an injected duration regression in it:

  1. prepare   the stream's history up to a few runs before the regression lands in raw
               and is built (`dbt run`); findings already in the warehouse are recorded as
               published, so only what the stream causes is measured
  2. watch     `apoa watch` (a subprocess: the warehouse owner with triggered micro-batch
               builds and publishing) on the real Pub/Sub emulator
  3. stream    the rest of the stream's deliveries published to `github-events` at a steady
               rate; a streaming pull on `apoa-findings` stamps each finding's arrival

For each finding event that opens a finding, latency = its arrival minus the publish time
of the completed delivery of the run that completed its evidence (`evidence.last_bad_run`):
the time between the last delivery a finding needed and the finding. (A resolution comes
after the good runs that follow the last bad one, so it is listed but not timed.) Prints
p50 / p95 / max of it and the micro-batch build times `apoa watch` logged.

    .venv/bin/python -m benchmarks.watch_latency
    .venv/bin/python -m benchmarks.watch_latency --home /tmp/apoa-data-model-bench/1000000
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "apoa-latency"
# The stream's repositories get their own owner, so its series never mix with a base history
# made by the same generator.
STREAM_OWNER = "aetherveil-live"
# Live runs of the regressing workflow after its first bad one. The duration series counts
# successful default-branch runs only (about 60% of a workflow's runs), and the persistence
# window is 8 of those (dbt var apoa_duration_persistence_runs): 20 runs hold it with a margin.
TAIL_RUNS = 20


@dataclass
class Stream:
    before: list  # landed and built before watching
    live: list  # published at the rate while watching
    stamp: str = ""  # of its start, when not the generator's default: ids unique per stream


@dataclass
class Results:
    published: int = 0
    publish_seconds: float = 0.0
    completed_at: dict[int, float] = field(default_factory=dict)  # job id -> publish time
    arrivals: list[tuple[float, dict]] = field(default_factory=list)


def make_stream(
    seed: int,
    runs: int,
    lead_runs: int,
    streams: int,
    start: datetime | None = None,
    side_data: bool = True,
) -> Stream:
    """`streams` generated histories (seeds seed, seed + 1, ...), each under an owner of its
    own and each with one injected regression; their live parts interleave in send order.
    `start`: when the histories begin (the generator's default without it). `side_data`: each
    job's Cloud Logging entries and Monitoring series follow its completion, as they arrive
    from a runner that reports them."""
    befores, lives = [], []
    stamp = f"-{start:%Y%m%d%H%M}" if start else ""
    for index in range(streams):
        owner = f"{STREAM_OWNER}{stamp}-{index}"
        before, live = _one_stream(seed + index, runs, lead_runs, owner, start, side_data)
        befores.extend(before)
        lives.append(live)
    interleaved = [m for group in itertools.zip_longest(*lives) for m in group if m is not None]
    return Stream(befores, interleaved, stamp)


def _one_stream(
    seed: int, runs: int, lead_runs: int, owner: str, start: datetime | None, side_data: bool
) -> tuple[list, list]:
    from apoa.generator import DEFAULT_START, generate_history, with_side_data
    from apoa.replay import parse_lines

    history = generate_history(seed=seed, runs_per_workflow=runs, start=start or DEFAULT_START)
    [regression] = [a for a in history.injected if a.kind == "duration_regression"]
    sent = with_side_data(history, seed) if side_data else history.messages
    lines = [message.to_json_line().replace("aetherveil/", f"{owner}/") for message in sent]
    messages, _ = parse_lines(lines)
    repository = regression.repository.replace("aetherveil/", f"{owner}/")
    # Cut where the regressing workflow's run (first bad - lead_runs) is first mentioned.
    cut_run = regression.first_run_number - lead_runs
    cut = next(
        index
        for index, message in enumerate(messages)
        if (_run_of(message, repository, regression.workflow) or 0) >= cut_run
    )
    # ... and stop once the regression has run long enough to be named (k runs and a margin).
    end_run = regression.first_run_number + TAIL_RUNS
    end = next(
        (
            index
            for index, message in enumerate(messages)
            if (_run_of(message, repository, regression.workflow) or 0) > end_run
        ),
        len(messages),
    )
    return messages[:cut], messages[cut:end]


def _run_of(message, repository: str, workflow: str) -> int | None:
    """The run number of a workflow_run delivery of `workflow` in `repository` (a run's first
    mention). Every repository has a workflow named CI: matching the name alone once cut a
    stream where another repository's run numbers passed, before its regression began."""
    body = json.loads(message.payload)
    run = body.get("workflow_run") or {}
    if (body.get("repository") or {}).get("full_name") != repository:
        return None
    return run.get("run_number") if run.get("name") == workflow else None


def prepare(home: Path, stream: Stream) -> dict:
    """Land the stream's first part next to whatever history the home holds, and build."""
    from apoa.dbt_build import run_dbt
    from apoa.settings import Settings
    from apoa.warehouse import LocalWarehouse
    from ingest.envelope import RawMessage

    os.environ["APOA_HOME"] = str(home)
    settings = Settings.from_env()
    now = datetime.now(UTC).replace(tzinfo=None)
    with LocalWarehouse(settings) as warehouse:
        rows = [
            RawMessage(
                topic=m.topic,
                message_id=f"latency-before-{stream.stamp}{index}",
                publish_time=now,
                attributes=m.attributes,
                subscription=None,
                payload=m.payload,
            )
            for index, m in enumerate(stream.before)
        ]
        for start in range(0, len(rows), 1000):
            warehouse.store.write_batch(rows[start : start + 1000], [])
        started = time.perf_counter()
        result = run_dbt(settings, "run", [])
        build_seconds = time.perf_counter() - started
        if not result.success:
            raise SystemExit(f"the preparing dbt run failed: {result.failures}")
        # What the warehouse already knew is announced before the stream starts.
        announced = warehouse.publish(lambda event: "announced-before-the-benchmark")
        job_runs = warehouse.query("select count(*) as n from main.fct_job_runs")[0]["n"]
    return {"build_seconds": build_seconds, "announced": len(announced), "job_runs": job_runs}


def start_watch(home: Path, emulator_host: str, log_path: Path) -> tuple[subprocess.Popen, str]:
    from apoa.emulator import free_port

    port = free_port()
    env = {
        **os.environ,
        "APOA_HOME": str(home),
        "APOA_PUBSUB_PROJECT": PROJECT,
        "PUBSUB_EMULATOR_HOST": emulator_host,
        "NO_GCE_CHECK": "true",
    }
    log = open(log_path, "ab")  # noqa: SIM115 - the child writes to it until it stops
    process = subprocess.Popen(
        [sys.executable, "-m", "apoa.cli", "watch", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        if "push subscriptions point here" in line:
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process, f"http://127.0.0.1:{port}"
    raise SystemExit(f"apoa watch stopped before listening; see {log_path}")


def listen(subscription: str, results: Results) -> object:
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()

    def received(message) -> None:
        results.arrivals.append((time.time(), json.loads(message.data)))
        message.ack()

    return subscriber.subscribe(subscription, callback=received)


def publish_live(messages: list, rate: float, results: Results) -> None:
    from google.cloud import pubsub_v1

    client = pubsub_v1.PublisherClient(
        batch_settings=pubsub_v1.types.BatchSettings(max_messages=1, max_latency=0.001)
    )
    started = time.monotonic()
    for index, message in enumerate(messages):
        delay = started + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        topic = client.topic_path(PROJECT, message.topic)
        future = client.publish(topic, message.payload.encode(), **message.attributes)
        future.result(timeout=60)
        body = json.loads(message.payload)
        if body.get("action") == "completed" and "workflow_job" in body:
            results.completed_at[body["workflow_job"]["id"]] = time.time()
        results.published += 1
    results.publish_seconds = time.monotonic() - started


@dataclass
class Build:
    seconds: float
    slowest: list[tuple[str, float]]  # the batch's slowest models, as `apoa watch` logs them


def builds_logged(log_path: Path) -> list[Build]:
    builds = []
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("message") == "micro-batch built":
            pairs = [item.rsplit(" ", 1) for item in entry.get("slowest", [])]
            slowest = [(name, float(seconds.rstrip("s"))) for name, seconds in pairs]
            builds.append(Build(float(entry["seconds"]), slowest))
    return builds


def slowest_models(builds: list[Build], shown: int = 5) -> list[str]:
    """The models that were among a batch's slowest most often, with their median time."""
    times: dict[str, list[float]] = {}
    for build in builds:
        for name, seconds in build.slowest:
            times.setdefault(name, []).append(seconds)
    ranked = sorted(times.items(), key=lambda item: -sum(item[1]))[:shown]
    return [
        f"{name} {statistics.median(values):.2f} s (in {len(values)} of {len(builds)})"
        for name, values in ranked
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency_of(results: Results, arrived: float, body: dict) -> float | None:
    """Seconds from the completed delivery of the finding's last bad run to the event, for an
    event that opens a finding about a run the stream published; None otherwise. A
    resolution comes after the good runs that follow the last bad one, by design, so the time
    since the last bad run is not a delay."""
    job_run_id = ((body.get("evidence") or {}).get("last_bad_run") or {}).get("job_run_id")
    sent = results.completed_at.get(job_run_id)
    if body.get("status") != "open" or sent is None:
        return None
    return arrived - sent


def report(prep: dict, results: Results, logged: list[Build], rate: float) -> str:
    builds = [build.seconds for build in logged]
    timed = [(body, latency_of(results, arrived, body)) for arrived, body in results.arrivals]
    latencies = [latency for _, latency in timed if latency is not None]
    resolutions = sum(1 for body, _ in timed if body.get("status") != "open")
    unmatched = len(timed) - len(latencies) - resolutions
    lines = [
        f"history: {prep['job_runs']:,} job runs built "
        f"(preparing dbt run {prep['build_seconds']:.0f} s; {prep['announced']} findings "
        "already announced)",
        f"stream: {results.published} deliveries at {rate:g}/s over "
        f"{results.publish_seconds:.0f} s; {len(results.arrivals)} finding events arrived "
        f"({unmatched} about runs outside the stream, {resolutions} resolutions)",
        "",
        f"{'measure':<44} {'n':>4} {'p50':>7} {'p95':>7} {'max':>7}",
    ]

    def row(name: str, values: list[float]) -> None:
        if values:
            lines.append(
                f"{name:<44} {len(values):>4} {percentile(values, 0.5):>6.1f}s "
                f"{percentile(values, 0.95):>6.1f}s {max(values):>6.1f}s"
            )
        else:
            lines.append(f"{name:<44} {0:>4} {'-':>7} {'-':>7} {'-':>7}")

    row("delivery published -> finding received", latencies)
    row(
        "  of which duration_regression",
        [
            latency
            for body, latency in timed
            if latency is not None and body.get("kind") == "duration_regression"
        ],
    )
    row("micro-batch build (dbt run, in process)", builds)
    if builds:
        lines.append(f"builds: {len(builds)}, mean {statistics.fmean(builds):.1f} s")
        lines.append("slowest models per build (median): " + "; ".join(slowest_models(logged)))
    lines.append("")
    lines.append(
        "finding events (latency, '-' if a resolution or not streamed; kind, status, entity):"
    )
    for body, latency in timed:
        entity = (body.get("entity") or {}).get("display")
        shown = f"{latency:6.1f}s" if latency is not None else f"{'-':>7}"
        lines.append(
            f"  {shown} {body.get('kind')} {body.get('status')} r{body.get('revision')} {entity}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a warehouse with history (default: fresh)")
    parser.add_argument("--seed", type=int, default=41)
    # The regression starts at two thirds of the runs; the duration scorer needs 30 earlier
    # successful default-branch runs (apoa_duration_min_history), about 50 workflow runs.
    parser.add_argument("--runs", type=int, default=120, help="the stream's runs per workflow")
    parser.add_argument("--streams", type=int, default=4, help="histories, one regression each")
    parser.add_argument("--lead-runs", type=int, default=3, help="live runs before the change")
    parser.add_argument("--rate", type=float, default=20.0, help="deliveries per second")
    parser.add_argument("--settle", type=float, default=120.0, help="seconds to wait at the end")
    parser.add_argument(
        "--no-side-data",
        action="store_true",
        help="GitHub deliveries only (default: each job's logs and metrics follow it)",
    )
    args = parser.parse_args()

    from apoa.emulator import PubSubEmulator, create_pull_subscription
    from apoa.settings import Settings
    from benchmarks.micro_batch import history_end

    os.environ["NO_GCE_CHECK"] = "true"
    work = Path(tempfile.mkdtemp(prefix="apoa-latency-"))
    home = args.home or work / "home"
    home.mkdir(parents=True, exist_ok=True)
    # New work is newer than the history it joins: a stream back-dated into a kept home's
    # history would sit in the middle of its runner pools' series.
    start = None
    if args.home and Settings(home=home).db_path.exists():
        start = history_end(home)
    stream = make_stream(
        args.seed, args.runs, args.lead_runs, args.streams, start, not args.no_side_data
    )
    print(f"stream: {len(stream.before)} deliveries before, {len(stream.live)} live", flush=True)
    # In a process of its own: the dbt adapter keeps the DuckDB file open until its process
    # ends, and `apoa watch` must become the warehouse's only owner.
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        prep = pool.submit(prepare, home, stream).result()
    print(f"prepared: {prep}", flush=True)

    emulator = PubSubEmulator(PROJECT, log=work / "emulator.log").start()
    results = Results()
    watch = None
    try:
        watch, _ = start_watch(home, emulator.host, work / "watch.log")
        subscription = create_pull_subscription(PROJECT, "apoa-findings", "latency-findings")
        streaming = listen(subscription, results)
        publish_live(stream.live, args.rate, results)
        deadline = time.monotonic() + args.settle
        seen = -1
        # until findings stop arriving for 15 s plus two builds: on a large history one build
        # takes ~11 s, and a 15 s quiet spell once ended the run before the last one published
        while time.monotonic() < deadline:
            builds = [build.seconds for build in builds_logged(work / "watch.log")]
            time.sleep(15 + 2 * (statistics.fmean(builds) if builds else 0.0))
            if len(results.arrivals) == seen:
                break
            seen = len(results.arrivals)
        streaming.cancel()
    finally:
        if watch is not None:
            watch.terminate()
            watch.wait(timeout=120)
        emulator.stop()
    print()
    print(report(prep, results, builds_logged(work / "watch.log"), args.rate))
    if args.home is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
