"""Micro-batch build time against history size: does a batch cost the new data or the history?

For each size: a generated history is landed and built in full, then three batches of ten
new deliveries are landed and run as `apoa watch` runs them (`dbt run` of the models
between the raw sources and fct_findings, on a manifest parsed once, before the first).
Prints the batch times and the slowest models of the last batch.

    .venv/bin/python -m benchmarks.micro_batch --runs-per-workflow 60 500 2000
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import tempfile
import time
from pathlib import Path

from apoa.generator import generate_history
from apoa.settings import Settings, dbt_target_dir
from apoa.warehouse import LocalWarehouse
from apoa.watch import MICRO_BATCH_SELECT
from ingest.envelope import RawMessage

BATCHES = 3
BATCH_DELIVERIES = 10


def land_history(warehouse: LocalWarehouse, runs_per_workflow: int) -> list[RawMessage]:
    """Land all but the last batches' deliveries; return those. The generated history is
    dropped here: at 8,000 runs per workflow it held ~10 GB of this process's memory, which
    DuckDB then lacked during the build."""
    history = generate_history(seed=7, runs_per_workflow=runs_per_workflow)
    messages = [
        RawMessage(m.topic, f"g-{n}", None, m.attributes, None, json.dumps(m.data))
        for n, m in enumerate(history.messages)
    ]
    del history
    cut = len(messages) - BATCHES * BATCH_DELIVERIES
    for start in range(0, cut, 1000):
        warehouse.land(messages[start : min(start + 1000, cut)], [])
    # a build flushes with a 2-minute limit, which ~130k journaled rows can pass on a busy machine
    warehouse.loader.flush(timeout=1800)
    return messages[cut:]


def _release_freed_memory() -> None:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # glibc only
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def measure(runs_per_workflow: int, keep: Path | None = None) -> dict:
    if keep:
        return _measure(runs_per_workflow, keep / str(runs_per_workflow))
    # removed after: a history of 100k job runs is ~10 GB
    with tempfile.TemporaryDirectory(prefix="apoa-micro-batch-") as work:
        return _measure(runs_per_workflow, Path(work) / "home")


def _measure(runs_per_workflow: int, home: Path) -> dict:
    with LocalWarehouse(Settings(home=home)) as warehouse:
        messages = land_history(warehouse, runs_per_workflow)
        _release_freed_memory()
        started = time.perf_counter()
        assert warehouse.build().success
        full_build = time.perf_counter() - started
        [row] = warehouse.query("select count(*) as n from main.fct_job_runs")
        warehouse.prepare_micro_batches()  # as `apoa watch` does before it listens
        batches = []
        for batch in range(BATCHES):
            first = batch * BATCH_DELIVERIES
            warehouse.land(messages[first : first + BATCH_DELIVERIES], [])
            started = time.perf_counter()
            assert warehouse.run_micro_batch(MICRO_BATCH_SELECT).success
            batches.append(time.perf_counter() - started)
    results = json.loads((dbt_target_dir() / "run_results.json").read_text())["results"]
    slowest = sorted(results, key=lambda r: -r["execution_time"])[:5]
    return {
        "job_runs": row["n"],
        "full_build": full_build,
        "batches": batches,
        "slowest": [(r["unique_id"].split(".")[-1], r["execution_time"]) for r in slowest],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-per-workflow", type=int, nargs="+", default=[60, 500])
    parser.add_argument("--keep", type=Path, help="keep each warehouse under this directory")
    args = parser.parse_args(argv)
    rows = [measure(size, args.keep) for size in args.runs_per_workflow]
    print("| history | full build | micro-batch runs | slowest models (last batch) |")
    print("|---:|---:|---:|---|")
    for row in rows:
        batches = " / ".join(f"{seconds:.1f} s" for seconds in row["batches"])
        slowest = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in row["slowest"])
        print(
            f"| {row['job_runs']:,} job runs | {row['full_build']:.0f} s | {batches} | {slowest} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
