"""The dbt project end to end on DuckDB: raw rows in, staging, scores and findings out.

One module-scoped warehouse: a temp APOA_HOME with the raw tables, the generated history
(apoa.generator, seed 7, two injected anomalies) and the real octokit payloads inserted
directly, then dbt built in-process four times:

1. first build on most of the history (plus the octokit payloads and a job whose deliveries
   arrive in reverse order),
2. the same build again without new data (nothing may change),
3. an incremental build after appending the rest (plus a redelivery and a late in_progress),
4. a --full-refresh build on the same data (must equal 3).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from apoa.generator import History, InjectedAnomaly, Message, generate_history
from ingest.raw_tables import duckdb_ddl

ROOT = Path(__file__).resolve().parent.parent
PROFILES_DIR = ROOT / "dbt_project"
OCTOKIT = ROOT.parent / "shared" / "fixtures" / "github-webhook-examples"

SEED = 7
FIRST_BATCH_SHARE = 0.85
REVERSED_REPOSITORY = "aetherveil-twins/reverse-order"
# Columns of fct_job_runs that name the job itself rather than describe its run, and the
# incremental watermark (which delivery, landed when).
IDENTITY_COLUMNS = (
    "job_run_id",
    "job_id",
    "repository",
    "job_key",
    "html_url",
    "cicd_pipeline_task_run_id",
    "state_load_seq",
    "state_ingested_at",
)


# --------------------------------------------------------------------------- raw rows


@dataclass
class RawLoader:
    """Lands rows in raw.raw_github_events the way the ingest writer does (load_seq ascending)."""

    db_path: Path
    load_seq: int = 0
    clock: datetime = datetime(2026, 10, 1)
    message_ids: list[str] = field(default_factory=list)

    def create_tables(self) -> None:
        with duckdb.connect(str(self.db_path)) as con:
            for statement in duckdb_ddl():
                con.execute(statement)

    def insert(self, rows: list[tuple[str, dict[str, str], str]]) -> None:
        """rows: (message_id, attributes, payload text); connection closed before returning."""
        staging = self.db_path.parent / f"incoming-{self.load_seq}.jsonl"
        with staging.open("w", encoding="utf-8") as out:
            for message_id, attributes, payload in rows:
                self.load_seq += 1
                self.clock += timedelta(milliseconds=10)
                record = {
                    "message_id": message_id,
                    "load_seq": self.load_seq,
                    "publish_time": self.clock.isoformat(),
                    "ingested_at": self.clock.isoformat(),
                    "subscription": "projects/apoa-local/subscriptions/github-events-push",
                    "attributes": json.dumps(attributes),
                    "payload": payload,
                }
                out.write(json.dumps(record) + "\n")
                self.message_ids.append(message_id)
        with duckdb.connect(str(self.db_path)) as con:
            con.execute(
                "insert into raw.raw_github_events "
                "select * from read_json(?, format = 'newline_delimited', columns = {"
                "message_id: 'varchar', load_seq: 'bigint', publish_time: 'timestamp', "
                "ingested_at: 'timestamp', subscription: 'varchar', attributes: 'varchar', "
                "payload: 'varchar'})",
                [str(staging)],
            )
        staging.unlink()


def message_rows(messages: list[Message], prefix: str) -> list[tuple[str, dict[str, str], str]]:
    return [
        (f"{prefix}-{index:05d}", message.attributes, json.dumps(message.data))
        for index, message in enumerate(messages)
    ]


def octokit_rows() -> list[tuple[str, dict[str, str], str]]:
    rows = []
    for event in ("workflow_job", "workflow_run"):
        for path in sorted((OCTOKIT / event).glob("*.json")):
            delivery = str(uuid.uuid5(uuid.NAMESPACE_URL, f"octokit/{event}/{path.name}"))
            attributes = {"github_event": event, "github_delivery": delivery}
            rows.append((f"octokit/{event}/{path.name}", attributes, path.read_text()))
    return rows


def reversed_twin_rows(history: History) -> tuple[int, int, list[tuple[str, dict[str, str], str]]]:
    """A generated job's deliveries, copied under another id and repository, in reverse order.

    Returns (original job id, twin job id, rows). The twin lives in its own repository so it
    joins no generated series.
    """
    by_job: dict[int, list[Message]] = {}
    for message in history.messages:
        if message.attributes["github_event"] == "workflow_job":
            by_job.setdefault(message.data["workflow_job"]["id"], []).append(message)
    original_id, deliveries = next(
        (job_id, messages)
        for job_id, messages in by_job.items()
        if [m.data["action"] for m in messages] == ["queued", "in_progress", "completed"]
        and messages[-1].data["workflow_job"]["conclusion"] == "success"
    )
    twin_id = original_id + 10**12
    rows = []
    for message in reversed(deliveries):
        data = copy.deepcopy(message.data)
        data["workflow_job"]["id"] = twin_id
        data["repository"]["full_name"] = REVERSED_REPOSITORY
        attributes = dict(message.attributes, github_delivery=str(uuid.uuid4()))
        rows.append((f"twin-{data['action']}", attributes, json.dumps(data)))
    return original_id, twin_id, rows


def late_rows(history: History, already_landed: int) -> tuple[int, list[tuple[str, dict, str]]]:
    """A redelivery (same GitHub delivery, new message id) and a late in_progress, both for a
    job whose completed delivery landed in the first batch."""
    landed = history.messages[:already_landed]
    completed = next(
        m
        for m in landed
        if m.attributes["github_event"] == "workflow_job" and m.data["action"] == "completed"
    )
    job_id = completed.data["workflow_job"]["id"]
    in_progress = next(
        m
        for m in landed
        if m.attributes["github_event"] == "workflow_job"
        and m.data["action"] == "in_progress"
        and m.data["workflow_job"]["id"] == job_id
    )
    late = copy.deepcopy(in_progress.data)
    rows = [
        # Pub/Sub redelivers the completed event under a new message id
        ("redelivered-completed", dict(completed.attributes), json.dumps(completed.data)),
        # GitHub sends another in_progress for the job, long after it completed
        (
            "late-in-progress",
            dict(in_progress.attributes, github_delivery=str(uuid.uuid4())),
            json.dumps(late),
        ),
    ]
    return job_id, rows


# --------------------------------------------------------------------------- dbt


@dataclass(frozen=True)
class Build:
    success: bool
    seconds: float
    failures: list[str]


def run_dbt(args: list[str], home: Path, target_path: Path) -> Build:
    from dbt.cli.main import dbtRunner

    started = time.monotonic()
    saved = {key: os.environ.get(key) for key in ("APOA_HOME", "NO_GCE_CHECK")}
    os.environ["APOA_HOME"] = str(home)
    os.environ["NO_GCE_CHECK"] = "true"
    try:
        outcome = dbtRunner().invoke(
            [
                *args,
                "--project-dir",
                str(ROOT),
                "--profiles-dir",
                str(PROFILES_DIR),
                "--target-path",
                str(target_path),
                "--log-path",
                str(target_path / "logs"),
            ]
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    failures = []
    results = getattr(outcome.result, "results", None) or []
    for result in results:
        if str(result.status) in ("error", "fail", "runtime error"):
            failures.append(f"{result.node.unique_id}: {result.message}")
    if outcome.exception is not None:
        failures.append(repr(outcome.exception))
    return Build(bool(outcome.success), time.monotonic() - started, failures)


def table_rows(db_path: Path, table: str, exclude: tuple[str, ...] = ()) -> list[tuple]:
    with duckdb.connect(str(db_path)) as con:
        columns = [
            row[0]
            for row in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'main' and table_name = ? order by ordinal_position",
                [table],
            ).fetchall()
            if row[0] not in exclude
        ]
        select_list = ", ".join(f'"{column}"' for column in columns)
        return con.execute(f"select {select_list} from main.{table} order by all").fetchall()


def digest(rows: list[tuple]) -> str:
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def query(db_path: Path, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    with duckdb.connect(str(db_path)) as con:
        cursor = con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# --------------------------------------------------------------------------- the warehouse


@dataclass
class Warehouse:
    db_path: Path
    history: History
    builds: dict[str, Build]
    findings_after_first: list[tuple]
    findings_after_rebuild: list[tuple]
    incremental: dict[str, list[tuple]]
    full_refresh: dict[str, list[tuple]]
    reversed_pair: tuple[int, int]
    late_job_id: int
    late_job_row_before: list[dict[str, Any]]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    home = tmp_path_factory.mktemp("apoa_home")
    target_path = tmp_path_factory.mktemp("dbt_target")
    loader = RawLoader(home / "apoa.duckdb")
    loader.create_tables()

    history = generate_history(seed=SEED)
    first_count = int(len(history.messages) * FIRST_BATCH_SHARE)
    original_id, twin_id, twin_rows = reversed_twin_rows(history)

    loader.insert(message_rows(history.messages[:first_count], "gen"))
    if OCTOKIT.exists():
        loader.insert(octokit_rows())
    loader.insert(twin_rows)

    builds: dict[str, Build] = {}
    builds["first"] = run_dbt(["build"], home, target_path)
    assert builds["first"].success, builds["first"].failures
    findings_after_first = table_rows(loader.db_path, "fct_findings")
    late_job_id, extra_rows = late_rows(history, first_count)
    late_job_row_before = query(
        loader.db_path, "select * from main.fct_job_runs where job_run_id = ?", [late_job_id]
    )

    builds["rebuild"] = run_dbt(["build"], home, target_path)
    assert builds["rebuild"].success, builds["rebuild"].failures
    findings_after_rebuild = table_rows(loader.db_path, "fct_findings")

    loader.insert(message_rows(history.messages[first_count:], "gen-late"))
    loader.insert(extra_rows)
    compared = ("fct_job_runs", "fct_findings", "ml_job_run_scores", "stg_github__workflow_runs")

    builds["incremental"] = run_dbt(["build"], home, target_path)
    assert builds["incremental"].success, builds["incremental"].failures
    incremental = {table: table_rows(loader.db_path, table) for table in compared}

    builds["full_refresh"] = run_dbt(["build", "--full-refresh"], home, target_path)
    assert builds["full_refresh"].success, builds["full_refresh"].failures
    full_refresh = {table: table_rows(loader.db_path, table) for table in compared}

    yield Warehouse(
        db_path=loader.db_path,
        history=history,
        builds=builds,
        findings_after_first=findings_after_first,
        findings_after_rebuild=findings_after_rebuild,
        incremental=incremental,
        full_refresh=full_refresh,
        reversed_pair=(original_id, twin_id),
        late_job_id=late_job_id,
        late_job_row_before=late_job_row_before,
    )


# --------------------------------------------------------------------------- tests


@pytest.mark.skipif(not OCTOKIT.exists(), reason="shared octokit fixtures not found")
def test_every_octokit_fixture_reaches_staging_typed(warehouse: Warehouse) -> None:
    jobs = {
        row["message_id"]: row
        for row in query(
            warehouse.db_path,
            "select * from main.stg_github__workflow_job_deliveries "
            "where message_id like 'octokit/%'",
        )
    }
    runs = {
        row["message_id"]: row
        for row in query(
            warehouse.db_path,
            "select * from main.stg_github__workflow_run_deliveries "
            "where message_id like 'octokit/%'",
        )
    }
    for path in sorted((OCTOKIT / "workflow_job").glob("*.json")):
        payload = json.loads(path.read_text())
        row = jobs[f"octokit/workflow_job/{path.name}"]
        job = payload["workflow_job"]
        assert row["job_id"] == job["id"]
        assert row["run_id"] == job["run_id"]
        assert row["status"] == job["status"]
        assert row["conclusion"] == job["conclusion"]
        assert row["repository"] == payload["repository"]["full_name"]
        assert row["job_name"] == job["name"]
        assert row["workflow_name"] == job.get("workflow_name")
        assert isinstance(row["created_at"], datetime)
        assert row["created_at"] == datetime.fromisoformat(job["created_at"].replace("Z", ""))
        if job["completed_at"]:
            assert isinstance(row["completed_at"], datetime)
        assert json.loads(row["steps"]) == job["steps"]
        assert json.loads(row["runner_labels"]) == job["labels"]
        assert row["status_rank"] >= 1
    for path in sorted((OCTOKIT / "workflow_run").glob("*.json")):
        payload = json.loads(path.read_text())
        row = runs[f"octokit/workflow_run/{path.name}"]
        run = payload["workflow_run"]
        assert row["run_id"] == run["id"]
        assert row["run_number"] == run["run_number"]
        assert row["run_attempt"] == run["run_attempt"]
        assert row["status"] == run["status"]
        assert row["event"] == run["event"]
        assert row["workflow_name"] == (run["name"] or payload["workflow"]["name"])
        assert row["actor_login"] == run["actor"]["login"]
        assert row["pull_request_count"] == len(run["pull_requests"])
        assert isinstance(row["run_started_at"], datetime)
    with duckdb.connect(str(warehouse.db_path)) as con:
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_name = 'stg_github__workflow_job_deliveries'"
            ).fetchall()
        )
    assert types["job_id"] == "BIGINT"
    assert types["run_attempt"] == "BIGINT"
    assert types["created_at"] == "TIMESTAMP"
    assert types["completed_at"] == "TIMESTAMP"
    assert types["status_rank"] == "INTEGER"


def test_reverse_order_deliveries_give_the_same_job_run(warehouse: Warehouse) -> None:
    original_id, twin_id = warehouse.reversed_pair
    rows = {
        row["job_run_id"]: row
        for row in query(
            warehouse.db_path,
            "select * from main.fct_job_runs where job_run_id in (?, ?)",
            [original_id, twin_id],
        )
    }
    assert set(rows) == {original_id, twin_id}
    in_order = {k: v for k, v in rows[original_id].items() if k not in IDENTITY_COLUMNS}
    reversed_ = {k: v for k, v in rows[twin_id].items() if k not in IDENTITY_COLUMNS}
    assert reversed_ == in_order
    assert reversed_["conclusion"] == "success"
    assert reversed_["duration_seconds"] > 0


def test_late_in_progress_and_redelivery_change_nothing(warehouse: Warehouse) -> None:
    after = query(
        warehouse.db_path,
        "select * from main.fct_job_runs where job_run_id = ?",
        [warehouse.late_job_id],
    )
    assert after == warehouse.late_job_row_before
    [state] = query(
        warehouse.db_path,
        "select status, delivery_count from main.stg_github__workflow_jobs where job_id = ?",
        [warehouse.late_job_id],
    )
    # queued, in_progress, completed, the late in_progress; the redelivery is not counted
    assert state == {"status": "completed", "delivery_count": 4}


def _matches(finding: dict[str, Any], anomaly: InjectedAnomaly) -> bool:
    return (
        finding["kind"] == anomaly.kind
        and finding["repository"] == anomaly.repository
        and finding["workflow_name"] == anomaly.workflow
        and finding["job_name"] == anomaly.job
    )


def test_injected_anomalies_are_found_once_each(warehouse: Warehouse) -> None:
    findings = query(warehouse.db_path, "select * from main.fct_findings")
    assert {anomaly.kind for anomaly in warehouse.history.injected} == {
        "duration_regression",
        "failure_rate",
    }
    for anomaly in warehouse.history.injected:
        matching = [f for f in findings if _matches(f, anomaly)]
        on_default_branch = [f for f in matching if f["is_default_branch"]]
        # one episode per branch class at most: the default branch's is the one that counts
        assert len(on_default_branch) == 1, (anomaly, matching)
        assert len(matching) <= 2, (anomaly, matching)
        [finding] = on_default_branch
        assert (
            anomaly.first_run_number
            <= finding["first_run_number"]
            <= (anomaly.first_run_number + 5)
        ), finding
        assert finding["summary"]
        assert finding["step_name"]
        print(f"{finding['severity']:<8} {finding['status']:<8} {finding['summary']}")


def test_no_findings_on_other_jobs(warehouse: Warehouse) -> None:
    findings = query(warehouse.db_path, "select * from main.fct_findings")
    stray = [f for f in findings if not any(_matches(f, a) for a in warehouse.history.injected)]
    assert stray == []


def test_findings_name_the_injected_step(warehouse: Warehouse) -> None:
    findings = query(
        warehouse.db_path, "select kind, step_name from main.fct_findings where is_default_branch"
    )
    steps = {row["kind"]: row["step_name"] for row in findings}
    assert steps["duration_regression"] == "Run pip install -r requirements.txt"
    assert steps["failure_rate"] == "Run npx playwright test"


def test_incremental_build_equals_full_refresh(warehouse: Warehouse) -> None:
    for table, rows in warehouse.incremental.items():
        assert rows, table
        assert rows == warehouse.full_refresh[table], table


def test_rebuild_without_new_data_changes_no_finding(warehouse: Warehouse) -> None:
    assert warehouse.findings_after_first
    assert digest(warehouse.findings_after_rebuild) == digest(warehouse.findings_after_first)


def test_dbt_parses_for_bigquery(tmp_path: Path) -> None:
    build = run_dbt(["parse", "--target", "bigquery"], tmp_path, tmp_path / "target")
    assert build.success, build.failures
