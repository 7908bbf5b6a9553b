"""Micro-batch build time against history size: does a batch cost the new data or the history?

For each size: a generated history is landed and built in full, then three batches of ten
new deliveries (GitHub's, and each job's logs and metrics after its completion, unless
`--no-side-data`) are landed and run as `apoa watch` runs them (`dbt run` of the models
between the raw sources and fct_findings, on a manifest parsed once, before the first).
Prints the batch times and the slowest models of the last batch.

With `--home`, a warehouse that already holds a built history (e.g. the 1M-job-run one that
`benchmarks/data_model.py --keep --whole-project` leaves) gets the new deliveries instead:
a generated history of its own repositories that starts after the home's last job run
(new work is newer than history: a stream back-dated into the history would re-number the
runner pools from there). Its first part is landed and run once, untimed; the batches
follow. The home keeps what they landed.

    .venv/bin/python -m benchmarks.micro_batch --runs-per-workflow 60 500 2000
    .venv/bin/python -m benchmarks.micro_batch --home /tmp/apoa-data-model-bench/1000000
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apoa.generator import DEFAULT_START, generate_history, with_side_data
from apoa.settings import Settings
from apoa.warehouse import LocalWarehouse
from apoa.watch import MICRO_BATCH_SELECT
from ingest.envelope import RawMessage

BATCHES = 3
BATCH_DELIVERIES = 10


def land_history(
    warehouse: LocalWarehouse,
    runs_per_workflow: int,
    start: datetime = DEFAULT_START,
    owner: str = "aetherveil",
    side_data: bool = True,
    batch_deliveries: int = BATCH_DELIVERIES,
) -> list[RawMessage]:
    """Land all but the last batches' deliveries; return those. With `side_data` each job's
    logs and metrics follow its completion. The generated history is dropped here: at 8,000
    runs per workflow it held ~10 GB of this process's memory, which DuckDB then lacked
    during the build."""
    history = generate_history(seed=7, runs_per_workflow=runs_per_workflow, start=start)
    sent = with_side_data(history, seed=7) if side_data else history.messages
    prefix = f"{start:%Y%m%d%H%M}-" if start != DEFAULT_START else ""
    messages = [
        RawMessage(
            m.topic,
            f"g-{prefix}{n}",
            None,
            m.attributes,
            None,
            json.dumps(m.data).replace("aetherveil/", f"{owner}/"),
        )
        for n, m in enumerate(sent)
    ]
    del history, sent
    cut = len(messages) - BATCHES * batch_deliveries
    for start in range(0, cut, 1000):
        warehouse.land(messages[start : min(start + 1000, cut)], [])
    # a build flushes with a 2-minute limit, which ~130k journaled rows can pass on a busy machine
    warehouse.loader.flush(timeout=1800)
    return messages[cut:]


def _release_freed_memory() -> None:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # glibc only
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def measure(runs_per_workflow: int, keep: Path | None = None, side_data: bool = True) -> dict:
    if keep:
        return _measure(runs_per_workflow, keep / str(runs_per_workflow), side_data=side_data)
    # removed after: a history of 100k job runs is ~10 GB
    with tempfile.TemporaryDirectory(prefix="apoa-micro-batch-") as work:
        return _measure(runs_per_workflow, Path(work) / "home", side_data=side_data)


def history_end(home: Path) -> datetime:
    """The home's last job run: a fresh stream starts after it."""
    import duckdb

    with duckdb.connect(str(Settings(home=home).db_path), read_only=True) as con:
        [(last,)] = con.execute("select max(created_at) from main.fct_job_runs").fetchall()
    return (last + timedelta(days=1)).replace(tzinfo=UTC, microsecond=0)


def _measure(
    runs_per_workflow: int,
    home: Path,
    existing: bool = False,
    side_data: bool = True,
    batch_deliveries: int = BATCH_DELIVERIES,
) -> dict:
    start = history_end(home) if existing else DEFAULT_START
    owner = f"aetherveil-mb{start:%Y%m%d%H%M}" if existing else "aetherveil"
    with LocalWarehouse(Settings(home=home)) as warehouse:
        messages = land_history(
            warehouse, runs_per_workflow, start, owner, side_data, batch_deliveries
        )
        _release_freed_memory()
        started = time.perf_counter()
        # a new home is built whole (tests included); a kept one runs what the batches run
        if existing:
            assert warehouse.run_micro_batch(MICRO_BATCH_SELECT).success
        else:
            assert warehouse.build().success
        full_build = time.perf_counter() - started
        [row] = warehouse.query("select count(*) as n from main.fct_job_runs")
        warehouse.prepare_micro_batches()  # as `apoa watch` does before it listens
        batches = []
        for batch in range(BATCHES):
            first = batch * batch_deliveries
            warehouse.land(messages[first : first + batch_deliveries], [])
            started = time.perf_counter()
            result = warehouse.run_micro_batch(MICRO_BATCH_SELECT)
            batches.append(time.perf_counter() - started)
            assert result.success
    return {
        "job_runs": row["n"],
        "full_build": full_build,
        "batches": batches,
        "slowest": result.timings[:8],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-per-workflow", type=int, nargs="+", default=[60, 500])
    parser.add_argument("--keep", type=Path, help="keep each warehouse under this directory")
    parser.add_argument("--home", type=Path, help="a warehouse with a built history (see above)")
    parser.add_argument(
        "--no-side-data",
        action="store_true",
        help="GitHub deliveries only (default: each job's logs and metrics follow it)",
    )
    parser.add_argument(
        "--batch-deliveries",
        type=int,
        default=BATCH_DELIVERIES,
        help=f"deliveries per batch (default {BATCH_DELIVERIES}; a 20/s stream lands ~130 "
        "during a 6 s build)",
    )
    args = parser.parse_args(argv)
    side_data = not args.no_side_data
    if args.home:
        rows = [
            _measure(size, args.home, True, side_data, args.batch_deliveries)
            for size in args.runs_per_workflow
        ]
    else:
        rows = [measure(size, args.keep, side_data) for size in args.runs_per_workflow]
    first = "run of the first part" if args.home else "full build"
    print(f"| history | {first} | micro-batch runs | slowest models (last batch) |")
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
