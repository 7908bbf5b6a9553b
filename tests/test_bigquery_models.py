"""Every dbt model on BigQuery's REST API (bqemulator) against the same models on DuckDB.

One generated history (apoa.generator, small) with its Cloud Logging entries and Cloud
Monitoring series, every octokit webhook example and every GCP fixture, decoded by ingest
and landed in bqemulator by the BigQuery raw store with the real google-cloud-bigquery
client. The same raw rows are copied into a DuckDB warehouse (numbered by load_seq in
arrival order, as the local writer would), and `dbt build` runs on both: the bqemulator
target and the local one, in parallel. Then every mart (models/marts/**) must match, every
column, row by row, joined on its key.

Then a second landing and an incremental `dbt run` (merge on BigQuery) on both, with one
raw row that becomes visible late on BigQuery: a streaming insert stamped `ingested_at` an
hour before the watermark the first build reached, inside apoa_bigquery_lookback_hours.
The marts, and every incremental model upstream of them, must match again, which they only
can if the lookback re-read that row.

Columns not compared: the load_seq columns (the local writer's sequence, null on BigQuery
by design). Floats are compared to 1e-9 relative (the engines round log/exp and sums in
different orders); quantiles are exact on both engines (macros/math/percentile.sql), so
no other tolerance is needed.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from apoa.generator import Message, generate_history, generate_side_data
from ingest.bigquery_storage import BigQueryRawStore
from ingest.envelope import RawMessage
from ingest.raw_tables import TOPIC_TABLES, duckdb_ddl
from tests.bigquery_emulator import PROJECT, BigQueryEmulator
from tests.conftest import fixture_path
from tests.test_data_model import gcp_messages, octokit_messages, raw_message

ROOT = Path(__file__).resolve().parent.parent
SEED = 5
RUNS_PER_WORKFLOW = 36
FIRST_SHARE = 0.8
DATASET = "pipeline_analytics"
RAW = "raw"
BATCH = 200  # ingest's group-commit limit: rows per streaming insert
# The local writer's sequence: null on BigQuery, where many instances write (by design).
NOT_COMPARED = {"state_load_seq", "link_load_seq", "load_seq", "last_load_seq"}
FLOAT_TOLERANCE = 1e-9
# Each emulator query waits on job polling more than on work: run several at once.
THREADS = ("--threads", "4")


# --------------------------------------------------------------------------- landing


def generated(messages: list[Message], prefix: str) -> list[RawMessage]:
    return [
        raw_message(m.topic, f"{prefix}-{index:05d}", m.attributes, json.dumps(m.data))
        for index, m in enumerate(messages)
    ]


def land(store: BigQueryRawStore, messages: list[RawMessage]) -> None:
    for start in range(0, len(messages), BATCH):
        store.write_batch(messages[start : start + BATCH], [])


def copy_raw_to_duckdb(client, db_path: Path, after: datetime | None, first_seq: int) -> int:
    """Copy raw rows landed on BigQuery into DuckDB's raw tables, numbered in arrival order
    (ingested_at, then message_id) from first_seq: the same rows the local writer would hold.
    Only rows landed after `after` (by landing order, not by their stamp) when given."""
    rows = []
    for table in TOPIC_TABLES.values():
        if table == "raw_finding_events":
            continue
        query = (
            f"select message_id, publish_time, ingested_at, subscription, attributes, payload "
            f"from `{PROJECT}.{RAW}.{table}`"
        )
        for row in client.query(query).result():
            rows.append((table, dict(row)))
    known: set[str] = set()
    if after is not None:
        with duckdb.connect(str(db_path)) as con:
            for table in {t for t, _ in rows}:
                landed = con.execute(f"select message_id from raw.{table}").fetchall()
                known |= {message_id for (message_id,) in landed}
    fresh = [(t, r) for t, r in rows if r["message_id"] not in known]
    fresh.sort(key=lambda item: (item[1]["ingested_at"], item[1]["message_id"]))
    with duckdb.connect(str(db_path)) as con:
        for statement in duckdb_ddl():
            con.execute(statement)
        for seq, (table, row) in enumerate(fresh, start=first_seq):
            con.execute(
                f"insert into raw.{table} values (?, ?, ?, ?, ?, ?, ?)",
                [row["message_id"], seq, naive_utc(row["publish_time"]),
                 naive_utc(row["ingested_at"]), row["subscription"], row["attributes"],
                 row["payload"]],
            )  # fmt: skip
    return first_seq + len(fresh)


def naive_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


# --------------------------------------------------------------------------- building


def dbt_build(command_name: str, target: str, env: dict[str, str], work: Path, *extra: str):
    command = [
        str(Path(sys.executable).parent / "dbt"), command_name,
        "--project-dir", str(ROOT), "--profiles-dir", str(ROOT / "dbt_project"),
        "--target", target, "--target-path", str(work / "target"),
        "--log-path", str(work / "logs"), *extra,
    ]  # fmt: skip
    work.mkdir(parents=True, exist_ok=True)
    log = open(work / "dbt.out", "wb")  # noqa: SIM115 - closed by the caller's wait
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env},
                               stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    return process, log, work


def wait(builds) -> None:
    failures = []
    for process, log, work in builds:
        process.wait()
        log.close()
        if process.returncode != 0:
            failures.append(f"{work.name}:\n{(work / 'dbt.out').read_text()[-6000:]}")
    assert not failures, "\n\n".join(failures)


# --------------------------------------------------------------------------- comparing


@dataclass(frozen=True)
class Mart:
    name: str
    key: str | None


def marts(manifest_path: Path, incremental_upstream: bool = False) -> list[Mart]:
    """Every enabled model under models/marts/, with the column its `unique` test names; or,
    with incremental_upstream, every incremental model outside the marts (staging, linking)."""
    manifest = json.loads(manifest_path.read_text())
    keys: dict[str, str] = {}
    for node in manifest["nodes"].values():
        metadata = node.get("test_metadata") or {}
        if node["resource_type"] == "test" and metadata.get("name") == "unique":
            keys.setdefault(node["attached_node"], node["column_name"])
    found = [
        Mart(node["name"], keys.get(unique_id))
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model"
        and (
            not node["original_file_path"].startswith("models/marts/")
            and node["config"]["materialized"] == "incremental"
            if incremental_upstream
            else node["original_file_path"].startswith("models/marts/")
            and node["config"]["materialized"] != "ephemeral"
        )
    ]
    return sorted(found, key=lambda mart: mart.name)


def normal(value: Any) -> Any:
    if isinstance(value, datetime):
        return naive_utc(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, list | tuple):
        return [normal(item) for item in value]
    if isinstance(value, dict):
        return {key: normal(item) for key, item in value.items()}
    return value


def same(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return math.isclose(left, right, rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if isinstance(left, date) and isinstance(right, date):
        return left == right
    return left == right


def bigquery_rows(client, name: str) -> list[dict[str, Any]]:
    query = f"select * from `{PROJECT}.{DATASET}.{name}`"
    return [{k: normal(v) for k, v in dict(row).items()} for row in client.query(query).result()]


def duckdb_rows(db_path: Path, name: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        cursor = con.execute(f"select * from main.{name}")
        columns = [d[0] for d in cursor.description]
        return [
            {c: normal(v) for c, v in zip(columns, row, strict=True)} for row in cursor.fetchall()
        ]


def differences(mart: Mart, bigquery: list[dict], local: list[dict]) -> list[str]:
    """What differs between the two builds of one mart (empty when they are equal)."""
    if not local and not bigquery:
        return []
    columns_bq = set(bigquery[0]) if bigquery else set()
    columns_local = set(local[0]) if local else set()
    if bigquery and local and columns_bq != columns_local:
        return [f"{mart.name}: columns differ: {sorted(columns_bq ^ columns_local)}"]
    columns = sorted((columns_bq | columns_local) - NOT_COMPARED)
    if len(bigquery) != len(local):
        return [f"{mart.name}: {len(bigquery)} rows on BigQuery, {len(local)} on DuckDB"]

    def row_key(row: dict[str, Any]) -> Any:
        if mart.key is None:  # no unique column: the whole row is its own key
            return json.dumps([row[c] for c in columns], default=str, sort_keys=True)
        return row[mart.key]

    by_key_bq = {row_key(row): row for row in bigquery}
    by_key_local = {row_key(row): row for row in local}
    if by_key_bq.keys() != by_key_local.keys():
        missing = sorted(map(str, by_key_local.keys() - by_key_bq.keys()))[:5]
        extra = sorted(map(str, by_key_bq.keys() - by_key_local.keys()))[:5]
        return [f"{mart.name}: keys differ; only on DuckDB {missing}, only on BigQuery {extra}"]
    found = []
    for key, local_row in by_key_local.items():
        for column in columns:
            left, right = by_key_bq[key][column], local_row[column]
            if not same(left, right):
                found.append(f"{mart.name}[{key}].{column}: BigQuery {left!r} != DuckDB {right!r}")
    return found


# --------------------------------------------------------------------------- the builds


@dataclass
class Warehouses:
    emulator: BigQueryEmulator
    client: Any
    db_path: Path
    marts: list[Mart]
    late_job_id: int
    first: dict[str, list[str]]
    incremental: dict[str, list[str]]
    upstream: dict[str, list[str]]


def compare_all(client, db_path: Path, mart_list: list[Mart]) -> dict[str, list[str]]:
    return {
        mart.name: differences(
            mart, bigquery_rows(client, mart.name), duckdb_rows(db_path, mart.name)
        )
        for mart in mart_list
    }


def late_completion(history_messages: list[Message]) -> int:
    """Index of the completed workflow_job delivery of a successful job in the second part:
    the message that will become visible late."""
    first_count = int(len(history_messages) * FIRST_SHARE)
    for index in range(len(history_messages) - 1, first_count, -1):
        data = history_messages[index].data
        job = data.get("workflow_job") or {}
        if data.get("action") == "completed" and job.get("conclusion") == "success":
            return index
    raise AssertionError("no completed job in the second part of the history")


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory) -> Iterator[Warehouses]:
    fixture_path("github-webhook-examples")
    work = tmp_path_factory.mktemp("bigquery-models")
    emulator = BigQueryEmulator(work / "bqemulator.log")
    try:
        client = emulator.client()
        store = BigQueryRawStore(client, RAW)
        store.ensure_tables()

        history = generate_history(seed=SEED, runs_per_workflow=RUNS_PER_WORKFLOW)
        side = generated(generate_side_data(history, seed=SEED), "side")
        github = generated(history.messages, "gen")
        late_index = late_completion(history.messages)
        late = github.pop(late_index)
        late_job_id = history.messages[late_index].data["workflow_job"]["id"]
        first_count = int(len(github) * FIRST_SHARE)
        side_first = int(len(side) * FIRST_SHARE)
        first = github[:first_count] + side[:side_first] + gcp_messages()
        second = github[first_count:] + side[side_first:]

        land(store, first)
        # octokit's examples repeat one job in states GitHub's clock cannot order: each lands
        # in an insert of its own, so that arrival order alone decides, as it does locally
        for message in octokit_messages():
            land(store, [message])
        db_path = work / "duckdb" / "apoa.duckdb"
        db_path.parent.mkdir()
        next_seq = copy_raw_to_duckdb(client, db_path, None, 1)

        bigquery_env = {"NO_GCE_CHECK": "true", "APOA_BQ_API_ENDPOINT": emulator.endpoint,
                        "APOA_BQ_PROJECT": PROJECT, "APOA_BQ_DATASET": DATASET}  # fmt: skip
        local_env = {"APOA_HOME": str(db_path.parent)}
        wait([
            # not_null tests (93 of 180, ~40 s on the emulator) are the same `is null` scan on
            # either engine; the DuckDB build runs them, and every other test runs on both
            dbt_build("build", "bqemulator", bigquery_env, work / "bigquery-1", *THREADS,
                      "--exclude", "test_name:not_null"),
            dbt_build("build", "local", local_env, work / "duckdb-1"),
        ])  # fmt: skip
        mart_list = marts(work / "bigquery-1" / "target" / "manifest.json")
        first_differences = compare_all(client, db_path, mart_list)

        # The second landing, and a row another ingest instance stamped before the first
        # build's watermark but whose insert became visible only now (inside the lookback).
        watermark = max(
            row["ingested_at"]
            for row in client.query(
                f"select max(ingested_at) as ingested_at from `{PROJECT}.{RAW}.raw_github_events`"
            ).result()
        )
        land(store, second)
        late_row = {
            "message_id": late.message_id, "load_seq": None,
            "publish_time": late.publish_time.isoformat() if late.publish_time else None,
            "ingested_at": (watermark - timedelta(hours=1)).isoformat(),
            "subscription": late.subscription,
            "attributes": json.dumps(late.attributes, sort_keys=True), "payload": late.payload,
        }  # fmt: skip
        errors = client.insert_rows_json(
            f"{PROJECT}.{RAW}.raw_github_events", [late_row], row_ids=[late.message_id]
        )
        assert not errors, errors
        copy_raw_to_duckdb(client, db_path, watermark, next_seq)
        wait([
            dbt_build("run", "bqemulator", bigquery_env, work / "bigquery-2", *THREADS),
            dbt_build("run", "local", local_env, work / "duckdb-2"),
        ])  # fmt: skip
        incremental_differences = compare_all(client, db_path, mart_list)
        upstream = marts(
            work / "bigquery-1" / "target" / "manifest.json", incremental_upstream=True
        )
        upstream_differences = compare_all(client, db_path, upstream)
        yield Warehouses(emulator, client, db_path, mart_list, late_job_id, first_differences,
                         incremental_differences, upstream_differences)  # fmt: skip
    finally:
        emulator.stop()


# --------------------------------------------------------------------------- tests


def test_every_mart_is_built_and_keyed(warehouses: Warehouses) -> None:
    names = {mart.name for mart in warehouses.marts}
    assert {"fct_job_runs", "fct_workflow_runs", "fct_findings", "dim_jobs"} <= names
    assert dict((m.name, m.key) for m in warehouses.marts)["fct_findings"] == "finding_id"
    # the comparison is not vacuous: the history produced runs and findings on both engines
    counts = {
        mart.name: len(bigquery_rows(warehouses.client, mart.name))
        for mart in warehouses.marts
        if mart.name in ("fct_job_runs", "fct_findings")
    }
    assert counts["fct_job_runs"] > 100
    assert counts["fct_findings"] > 0


def test_marts_equal_duckdb_after_the_first_build(warehouses: Warehouses) -> None:
    found = [line for lines in warehouses.first.values() for line in lines]
    assert not found, "\n".join(found[:40])


def test_marts_equal_duckdb_after_an_incremental_merge(warehouses: Warehouses) -> None:
    found = [line for lines in warehouses.incremental.values() for line in lines]
    assert not found, "\n".join(found[:40])


def test_incremental_staging_equals_duckdb_after_the_merge(warehouses: Warehouses) -> None:
    """The incremental models under the marts too (their merge re-reads the lookback window on
    BigQuery): deliveries, latest states with their delivery counts, steps, logs, metrics."""
    assert "stg_github__workflow_jobs" in warehouses.upstream
    found = [line for lines in warehouses.upstream.values() for line in lines]
    assert not found, "\n".join(found[:40])


def test_a_row_visible_late_inside_the_lookback_is_merged(warehouses: Warehouses) -> None:
    query = (
        f"select status, conclusion from `{PROJECT}.{DATASET}.stg_github__workflow_jobs` "
        f"where job_id = {warehouses.late_job_id}"
    )
    rows = [dict(row) for row in warehouses.client.query(query).result()]
    assert rows == [{"status": "completed", "conclusion": "success"}]
    query = (
        f"select count(*) as n from `{PROJECT}.{DATASET}.fct_job_runs` "
        f"where job_id = {warehouses.late_job_id}"
    )
    assert [row["n"] for row in warehouses.client.query(query).result()] == [1]
