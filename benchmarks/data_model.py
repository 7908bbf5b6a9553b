"""Data-model benchmark: the dbt project over 10k, 100k and 1M job runs of real-sized payloads.

For each size, a fresh DuckDB warehouse gets its raw tables filled directly (the ingest path
has its own benchmark, benchmarks/ingest_load.py): GitHub deliveries as apoa.generator makes
them (a workflow_job delivery is 8-10 KB, a workflow_run one about 21 KB), Cloud Logging
entries for failed jobs only (at most 20 each) and one Cloud Monitoring point per job-minute
(CPU and memory). A base history of about 10,000 job runs is generated once; larger sizes
are copies of it under other repository names, ids, commits and runner names (an
organisation with many repositories, each on runners of its own), made in SQL by string
replacement. Then, each step in a process of its own (wall time and that process's peak
memory):

  floor        one `create table as select` per raw table, extracting every staged field
               with a single json_extract_string(payload, [paths...]) call (the paths are
               read from the staging models' `*_paths` blocks)
  dbt run      full build of the whole project (then `dbt test`, timed separately)
  incremental  `dbt run` after adding 1% more deliveries (the next copy's first messages)

and prints a table, with the disk used.

    .venv/bin/python -m benchmarks.data_model --sizes 10000 100000 1000000

A 1M warehouse takes some 20 minutes to fill: `--keep` leaves each size's warehouse in
--work-dir, and `--reuse` measures it again (the full run with --full-refresh, the
incremental step with the next copy) without filling it anew.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASE_SEED = 23
BASE_RUNS_PER_WORKFLOW = 736  # about 10,000 job runs
# Id offsets per copy: far above the generator's ids, so no copy's id is another's.
JOB_ID_STEP = 10**12
RUN_ID_STEP = 10**12
SUITE_ID_STEP = 10**12
REPO_ID_STEP = 10**10
NEVER = "\x01apoa-none\x01"  # replace(x, NEVER, ...) changes nothing
COPIES_PER_STATEMENT = 10

# The data model: staging, the linking models and the pipeline marts. The anomaly engine
# (scores, findings) has its own benchmark (benchmarks/detection.py); --whole-project adds it.
DATA_MODEL_SELECTION = (
    "path:models/staging path:models/intermediate/pipeline path:models/marts/pipeline"
)

RAW_TABLES = {
    "github-events": "raw_github_events",
    "pipeline-logs": "raw_pipeline_logs",
    "pipeline-metrics": "raw_pipeline_metrics",
}


# --------------------------------------------------------------------------- the floor


def staged_paths(model: str, names: tuple[str, ...]) -> list[str]:
    """The JSONPaths a staging model declares in its `{%- set <name> = {...} -%}` blocks."""
    sql = next(ROOT.glob(f"models/staging/*/{model}.sql")).read_text()
    paths: list[str] = []
    for name in names:
        match = re.search(r"\{%-?\s*set\s+" + name + r"\s*=\s*(\{.*?\})\s*-?%\}", sql, re.S)
        if match is None:
            raise ValueError(f"{model}: no {name} block")
        for path in ast.literal_eval(match.group(1)).values():
            if path not in paths:
                paths.append(path)
    return paths


def floor_paths() -> dict[str, list[str]]:
    return {
        "raw_github_events": staged_paths(
            "stg_github__actions_deliveries", ("job_paths", "run_paths")
        ),
        "raw_pipeline_logs": staged_paths("stg_gcp_logging__log_entries", ("entry_paths",)),
        "raw_pipeline_metrics": [
            *staged_paths("stg_gcp_monitoring__time_series_points", ("series_paths",)),
            "$.timeSeries",
        ],
    }


def run_floor(db_path: Path) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect(str(db_path), config={"memory_limit": MEMORY_LIMIT})
    con.execute("create schema if not exists floor")
    rows = {}
    started = time.perf_counter()
    for table, paths in floor_paths().items():
        listed = ", ".join(f"'{path}'" for path in paths)
        con.execute(
            f"create or replace table floor.{table} as "
            f"select message_id, load_seq, json_extract_string(payload, [{listed}]) as fields "
            f"from raw.{table}"
        )
        rows[table] = con.execute(f"select count(*) from floor.{table}").fetchone()[0]
    statements = time.perf_counter() - started
    con.execute("drop schema floor cascade")
    con.execute("checkpoint")
    con.close()
    return {"rows": rows, "statement_seconds": statements}


# --------------------------------------------------------------------------- dbt


# The project's `local` target with a memory limit: on a shared machine, DuckDB's default (80%
# of RAM) lets the kernel kill the run before DuckDB spills to disk.
BENCH_PROFILE = """
apoa:
  target: local
  outputs:
    local:
      type: duckdb
      path: "{db_path}"
      schema: main
      threads: 1
      settings:
        memory_limit: "{memory_limit}"
"""
MEMORY_LIMIT = "10GB"


def run_dbt_command(db_path: Path, command: list[str]) -> dict[str, Any]:
    from dbt.cli.main import dbtRunner

    os.environ["APOA_HOME"] = str(db_path.parent)
    os.environ["NO_GCE_CHECK"] = "true"
    target = db_path.parent / "target"
    profiles = db_path.parent / "profiles"
    profiles.mkdir(exist_ok=True)
    (profiles / "profiles.yml").write_text(
        BENCH_PROFILE.format(db_path=db_path, memory_limit=MEMORY_LIMIT)
    )
    outcome = dbtRunner().invoke(
        [
            *command,
            "--project-dir", str(ROOT),
            "--profiles-dir", str(profiles),
            "--target-path", str(target),
            "--log-path", str(target / "logs"),
            "--quiet",
        ]
    )  # fmt: skip
    timings: dict[str, float] = {}
    failures = []
    for result in getattr(outcome.result, "results", None) or []:
        timings[result.node.name] = float(result.execution_time or 0)
        if str(result.status) in ("error", "fail", "runtime error"):
            failures.append(f"{result.node.unique_id}: {result.message}")
    return {"success": bool(outcome.success), "failures": failures[:10], "timings": timings}


def phase(argv: list[str]) -> int:
    """`python -m benchmarks.data_model _phase NAME DB [dbt args...]`: one measured step."""
    name, db_path = argv[0], Path(argv[1])
    started = time.perf_counter()
    result = run_floor(db_path) if name == "floor" else run_dbt_command(db_path, argv[2:])
    result["seconds"] = time.perf_counter() - started
    result["peak_mib"] = peak_resident_mib()
    print("PHASE-RESULT " + json.dumps(result), flush=True)
    return 0 if result.get("success", True) else 1


def peak_resident_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike getrusage's ru_maxrss, it does not
    inherit the parent's peak across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measured(name: str, db_path: Path, *dbt_args: str) -> dict[str, Any]:
    process = subprocess.run(
        [sys.executable, "-m", "benchmarks.data_model", "_phase", name, str(db_path), *dbt_args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    lines = [line for line in process.stdout.splitlines() if line.startswith("PHASE-RESULT ")]
    if not lines:
        raise RuntimeError(f"{name} failed:\n{process.stdout[-3000:]}\n{process.stderr[-3000:]}")
    result = json.loads(lines[-1][len("PHASE-RESULT ") :])
    if not result.get("success", True):
        raise RuntimeError(f"{name} failed: {result['failures']}")
    return result


# --------------------------------------------------------------------------- data


@dataclass
class Base:
    """The generated history, one row per message, with what a copy must rename."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    job_runs: int = 0


def build_base(seed: int, runs_per_workflow: int) -> Base:
    from apoa.generator import completed_jobs, generate_history, generate_side_data

    history = generate_history(seed=seed, runs_per_workflow=runs_per_workflow)
    side = generate_side_data(history, seed=seed)
    runs: dict[int, dict[str, Any]] = {}
    for message in history.messages:
        if "workflow_run" in message.data:
            runs[message.data["workflow_run"]["id"]] = message.data
    base = Base(job_runs=len(completed_jobs(history)))
    completed_order: dict[int, int] = {}
    for order, message in enumerate(history.messages):
        data = message.data
        if "workflow_job" in data:
            job = data["workflow_job"]
            run_id, job_id, sha = job["run_id"], job["id"], job["head_sha"]
            if job["status"] == "completed":
                completed_order[job_id] = order
        else:
            run = data["workflow_run"]
            run_id, job_id, sha = run["id"], None, run["head_sha"]
        repository = data["repository"]
        suite = runs.get(run_id, {}).get("workflow_run", {}).get("check_suite_id")
        base.rows.append(
            _row(message, order, run_id, job_id, suite, sha, repository["name"], repository["id"])
        )
    jobs = {job.job_id: job for job in completed_jobs(history)}
    by_run_and_name = {(job.run_id, job.run_attempt, job.name): job for job in jobs.values()}
    for message in side:
        data = message.data
        labels = data["labels"] if "insertId" in data else data["metric"]["labels"]
        task = data["resource"]["labels"].get("task_id")
        key = None
        if "insertId" in data:  # apoa-<run>-<attempt>-<job name>-<n>
            run_text, attempt_text, rest = data["insertId"][5:].split("-", 2)
            key = (int(run_text), int(attempt_text), rest.rsplit("-", 1)[0].replace("_", " "))
        elif labels.get("github_run_id"):
            key = (
                int(labels["github_run_id"]),
                int(labels["github_run_attempt"]),
                labels["github_job"],
            )
        elif task:
            run_text, attempt_text, name = task.split("/", 2)
            key = (int(run_text), int(attempt_text), name)
        job = by_run_and_name.get(key) if key else None
        if job is None:  # a metric series of a job with neither labels nor runner: find by time
            job = _job_of_unlabeled_series(data, jobs)
        repository = runs[job.run_id]["repository"]
        sha = runs[job.run_id]["workflow_run"]["head_sha"]
        order = completed_order[job.job_id]
        base.rows.append(
            _row(
                message,
                order,
                job.run_id,
                job.job_id,
                None,
                sha,
                repository["name"],
                repository["id"],
            )
        )
    return base


def _job_of_unlabeled_series(data: dict[str, Any], jobs: dict) -> Any:
    newest = data["points"][0]["interval"]["endTime"]
    from datetime import datetime

    at = datetime.fromisoformat(newest.replace("Z", "+00:00")).timestamp()
    return min(jobs.values(), key=lambda job: (abs(job.completed - at), job.job_id))


def _row(message, order, run_id, job_id, suite, sha, repo_name, repo_id) -> dict[str, Any]:
    return {
        "topic": message.topic,
        "send_order": order,
        "attributes": json.dumps(message.attributes, sort_keys=True),
        "payload": json.dumps(message.data, separators=(",", ":")),
        "run_id": str(run_id),
        "job_id": str(job_id) if job_id else NEVER,
        "suite_id": str(suite) if suite else NEVER,
        "sha": sha,
        "repo_name": repo_name,
        "repo_id": f'"id":{repo_id}',
    }


def load_base(con, base: Base) -> None:
    import pyarrow as pa

    columns = {key: [row[key] for row in base.rows] for key in base.rows[0]}
    base_rows = pa.table(columns)  # noqa: F841 - read by name below
    con.execute(
        "create or replace temp table base as select row_number() over () as idx, * from base_rows"
    )


def _copy_select(copy_expr: str, where: str) -> str:
    """Rows of `base` x copies, renamed: ids offset, commits and repositories renamed."""

    def offset(column: str, step: int) -> str:
        shifted = f"cast(cast({column} as hugeint) + {copy_expr} * {step} as varchar)"
        return f"case when {column} = '{NEVER}' then {column} else {shifted} end"

    runner_suffix = f"case when {copy_expr} = 0 then '' else 'c' || {copy_expr} || '-' end"
    renames = (
        ("run_id", offset("run_id", RUN_ID_STEP)),
        ("job_id", offset("job_id", JOB_ID_STEP)),
        ("suite_id", offset("suite_id", SUITE_ID_STEP)),
        (
            "sha",
            f"case when {copy_expr} = 0 then sha "
            f"else substr(sha256(sha || {copy_expr}), 1, 40) end",
        ),
        (
            "'/' || repo_name",
            f"'/' || repo_name || case when {copy_expr} = 0 then '' else '-c' || {copy_expr} end",
        ),
        # Each copy runs on runners of its own: a runner runs one job at a time, and twins
        # of every job on the same runner at the same second would make each batch's jobs
        # neighbours (for time-window linking) of every copy's.
        ("'GitHub Actions '", f"'GitHub Actions ' || {runner_suffix}"),
        ("'dp-runner-'", f"'dp-runner-' || {runner_suffix}"),
        (
            "repo_id",
            f"""'"id":' || cast(cast(substr(repo_id, 6) as bigint) """
            f"+ {copy_expr} * {REPO_ID_STEP} as varchar)",
        ),
    )

    def renamed(column: str) -> str:
        expr = column
        for old, new in renames:
            expr = f"replace({expr}, {old}, {new})"
        return expr

    return f"""
        select
            'bench-' || idx || '-' || {copy_expr} as message_id,
            position,
            copy_number,
            timestamp '2026-11-01' as publish_time,
            timestamp '2026-11-01' as ingested_at,
            'projects/apoa-bench/subscriptions/' || topic as subscription,
            replace({renamed("attributes")}, '"github_delivery": "',
                    '"github_delivery": "' || {copy_expr} || '-') as attributes,
            {renamed("payload")} as payload,
            topic
        from base
        {where}
    """


def fill(con, copies: int, first_copy: int = 0, share: float = 1.0, seq_start: int = 0) -> int:
    """Land copies first_copy .. first_copy + copies - 1 of the base in the raw tables, each
    copy's first `share` of messages (in send order). load_seq continues from seq_start, in
    send order then copy: computed, not sorted (a sort would carry every payload)."""
    landed = 0
    for topic, table in RAW_TABLES.items():
        con.execute(
            "create or replace temp table positions as select idx, row_number() over "
            f"(order by send_order, idx) as position from base where topic = '{topic}'"
        )
        total = con.execute("select count(*) from positions").fetchone()[0]
        keep = total if share >= 1.0 else max(1, round(total * share))
        for first in range(0, copies, COPIES_PER_STATEMENT):
            count = min(COPIES_PER_STATEMENT, copies - first)
            copy_expr = f"(copy_number + {first_copy + first})"
            select = _copy_select(copy_expr, f"where position <= {keep}").replace(
                "from base",
                "from base inner join positions using (idx) "
                f"cross join range({count}) as copies(copy_number)",
            )
            con.execute(
                f"insert into raw.{table} select message_id, "
                f"{seq_start} + (position - 1) * {copies} + {first} + copy_number + 1, "
                f"publish_time, ingested_at, subscription, attributes, payload from ({select})"
            )
        added = con.execute(
            f"select count(*), max(load_seq) from raw.{table} where load_seq > {seq_start}"
        ).fetchone()
        landed += added[0]
        seq_start = added[1] or seq_start
    return landed


# --------------------------------------------------------------------------- the run


def disk_gib(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 2**30


def bench_size(
    job_runs: int, base: Base, work: Path, selection: list[str], reuse: bool = False
) -> dict[str, Any]:
    import duckdb

    from ingest.raw_tables import duckdb_ddl

    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    directory = work / str(job_runs)
    db_path = directory / "apoa.duckdb"
    copies = max(1, round(job_runs / base.job_runs))
    started = time.perf_counter()
    if reuse and db_path.exists():
        # a kept warehouse (--keep) measured again: its raw rows as they are, the next copy
        # for the incremental step after the ones it already holds
        con = duckdb.connect(str(db_path), config={"memory_limit": MEMORY_LIMIT})
        last_copy = con.execute(
            "select max(cast(split_part(message_id, '-', 3) as integer)) "
            "from raw.raw_github_events where message_id like 'bench-%'"
        ).fetchone()[0]
        copies = last_copy + 1
        rows = sum(
            con.execute(f"select count(*) from raw.{table}").fetchone()[0]
            for table in RAW_TABLES.values()
        )
    else:
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        con = duckdb.connect(str(db_path), config={"memory_limit": MEMORY_LIMIT})
        for statement in duckdb_ddl():
            con.execute(statement)
        load_base(con, base)
        rows = fill(con, copies)
    sizes = dict(
        con.execute(
            "select json_extract_string(attributes, '$.github_event'), "
            "cast(avg(length(payload)) as bigint) from raw.raw_github_events group by all"
        ).fetchall()
    )
    con.execute("checkpoint")
    con.close()
    generate_seconds = time.perf_counter() - started
    raw_gib = None if reuse else disk_gib(directory)  # a kept warehouse holds built tables too
    print(f"[{job_runs}] {rows} raw rows in {generate_seconds:.0f}s", flush=True)

    floor = measured("floor", db_path)
    print(f"[{job_runs}] floor {floor['seconds']:.1f}s", flush=True)
    full = measured("run", db_path, "run", "--full-refresh", *selection)
    print(f"[{job_runs}] dbt run {full['seconds']:.1f}s", flush=True)
    built_job_runs = job_runs_in(db_path) if reuse else base.job_runs * copies
    test = measured("test", db_path, "test", *selection)
    print(f"[{job_runs}] dbt test {test['seconds']:.1f}s", flush=True)

    con = duckdb.connect(str(db_path), config={"memory_limit": MEMORY_LIMIT})
    load_base(con, base)
    seq = con.execute(
        "select max(s) from (select max(load_seq) as s from raw.raw_github_events union all "
        "select max(load_seq) from raw.raw_pipeline_logs union all "
        "select max(load_seq) from raw.raw_pipeline_metrics)"
    ).fetchone()[0]
    # 1% more: the first deliveries of one more copy (new repositories' history beginning)
    added = fill(con, 1, first_copy=copies, share=0.01 * copies, seq_start=seq)
    con.execute("checkpoint")
    con.close()
    incremental = measured("incremental", db_path, "run", *selection)
    print(
        f"[{job_runs}] incremental dbt run {incremental['seconds']:.1f}s (+{added} rows)",
        flush=True,
    )
    return {
        "job_runs": built_job_runs,
        "raw_rows": rows,
        "added_rows": added,
        "payload_bytes": sizes,
        "generate_seconds": generate_seconds,
        "raw_gib": raw_gib,
        "disk_gib": disk_gib(directory),
        "floor": floor,
        "run": full,
        "test": test,
        "incremental": incremental,
        "load_before": load_before,
        "load_after": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def job_runs_in(db_path: Path) -> int:
    """Job runs in the built data model of a kept warehouse, before its incremental step."""
    import duckdb

    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute("select count(*) from main.fct_job_runs").fetchone()[0]
    finally:
        con.close()


def report(results: list[dict[str, Any]]) -> None:
    header = (
        "| job runs | raw rows | disk: raw / total | floor | dbt run | run / floor | dbt test "
        "| +1% rows | incremental dbt run |"
    )
    print()
    print(header)
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        floor, run, test, inc = r["floor"], r["run"], r["test"], r["incremental"]
        cells = [
            f"{r['job_runs']:,}",
            f"{r['raw_rows']:,}",
            f"{'–' if r['raw_gib'] is None else round(r['raw_gib'], 1)} / {r['disk_gib']:.1f} GiB",
            f"{floor['statement_seconds']:.1f} s, {floor['peak_mib']:,.0f} MiB",
            f"{run['seconds']:.1f} s, {run['peak_mib']:,.0f} MiB",
            f"{run['seconds'] / floor['statement_seconds']:.2f}",
            f"{test['seconds']:.1f} s, {test['peak_mib']:,.0f} MiB",
            f"{r['added_rows']:,}",
            f"{inc['seconds']:.1f} s, {inc['peak_mib']:,.0f} MiB",
        ]
        print("| " + " | ".join(cells) + " |")
    print()
    print("floor: the extraction statements' time; dbt run, dbt test, incremental: the whole dbt")
    print(
        "process (start, parse, every model). Peak memory: each step's process peak resident set."
    )
    for r in results:
        slowest = sorted(r["run"]["timings"].items(), key=lambda item: -item[1])[:5]
        models = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in slowest)
        print(f"{r['job_runs']:,} job runs, slowest models of the full run: {models}")
        print(f"  load average before / after: {r['load_before']} / {r['load_after']}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_phase":
        return phase(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/apoa-data-model-bench"))
    parser.add_argument("--keep", action="store_true", help="keep each size's warehouse")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure a size's kept warehouse again (after --keep) instead of filling a new one",
    )
    parser.add_argument(
        "--whole-project",
        action="store_true",
        help="run every model, the anomaly engine's too (default: the data model's models)",
    )
    args = parser.parse_args(argv)
    selection = (
        []
        if args.whole_project
        else ["--select", DATA_MODEL_SELECTION, "--indirect-selection", "cautious"]
    )

    started = time.perf_counter()
    base = build_base(BASE_SEED, BASE_RUNS_PER_WORKFLOW)
    print(f"base history: {base.job_runs} job runs, {len(base.rows)} messages, "
          f"{time.perf_counter() - started:.0f}s", flush=True)  # fmt: skip
    results = []
    for size in args.sizes:
        results.append(bench_size(size, base, args.work_dir, selection, args.reuse))
        if not args.keep:
            shutil.rmtree(args.work_dir / str(size), ignore_errors=True)
        report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
