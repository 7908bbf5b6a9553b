"""The pipeline data model (staging, linking, marts) on DuckDB, end to end.

One module-scoped warehouse: generated GitHub history with its Cloud Logging entries and
Cloud Monitoring series (apoa.generator), every octokit webhook example and every GCP fixture
in ../shared/fixtures, all decoded by ingest's push decoder and landed by the real writer in a
SHUFFLED order, in three batches with an incremental `dbt build` after each; then a
`--full-refresh` build of the same data. Every expectation below is computed here, in Python,
from the payloads themselves, never read back from the models under test.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from apoa.dbt_build import run_dbt
from apoa.generator import (
    History,
    Message,
    completed_jobs,
    generate_history,
    generate_side_data,
)
from apoa.settings import Settings
from apoa.warehouse import LocalWarehouse
from ingest.envelope import RawMessage, decode_push
from tests.conftest import SHARED_FIXTURES

SEED = 11
RUNS_PER_WORKFLOW = 40
BATCHES = 3
OCTOKIT = SHARED_FIXTURES / "github-webhook-examples"
GCP = SHARED_FIXTURES / "gcp"
# The data model's own models: the scorer and findings are built and tested elsewhere.
SELECTION = "path:models/staging path:models/intermediate/pipeline path:models/marts/pipeline"
MARTS = (
    "fct_workflow_runs",
    "fct_job_runs",
    "fct_step_runs",
    "fct_job_run_resources",
    "fct_job_run_log_signals",
    "dim_repositories",
    "dim_workflows",
    "dim_jobs",
    "fct_pipeline_health_daily",
)
MODELS = (
    *MARTS,
    "stg_github__actions_deliveries",
    "stg_github__workflow_job_deliveries",
    "stg_github__workflow_jobs",
    "stg_github__workflow_job_steps",
    "stg_github__workflow_run_deliveries",
    "stg_github__workflow_runs",
    "stg_github__unhandled_events",
    "stg_gcp_logging__log_entries",
    "stg_gcp_monitoring__time_series_points",
    "stg_gcp_monitoring__alert_incidents",
    "int_log_entries_linked_to_job_runs",
    "int_metric_points_linked_to_job_runs",
)
SLACK_SECONDS = 5  # var apoa_link_window_slack_seconds
MAX_PAYLOAD = 9 * 1024 * 1024


# --------------------------------------------------------------------------- landing


def raw_message(topic: str, message_id: str, attributes: dict[str, str], data: str) -> RawMessage:
    """A message as ingest's push endpoint decodes it."""
    envelope = {
        "message": {
            "data": base64.b64encode(data.encode()).decode(),
            "attributes": attributes,
            "messageId": message_id,
            "publishTime": "2026-11-01T00:00:00Z",
        },
        "subscription": f"projects/apoa-local/subscriptions/{topic}-push",
    }
    decoded = decode_push(json.dumps(envelope).encode(), topic, MAX_PAYLOAD)
    assert isinstance(decoded, RawMessage), decoded
    return decoded


def generated_messages(messages: list[Message], prefix: str) -> list[RawMessage]:
    return [
        raw_message(m.topic, f"{prefix}-{i:06d}", m.attributes, json.dumps(m.data))
        for i, m in enumerate(messages)
    ]


def octokit_messages() -> list[RawMessage]:
    messages = []
    for path in sorted(OCTOKIT.glob("*/*.json")):
        event = path.parent.name
        delivery = str(uuid.uuid5(uuid.NAMESPACE_URL, f"octokit/{event}/{path.name}"))
        attributes = {"github_event": event, "github_delivery": delivery}
        messages.append(
            raw_message(
                "github-events", f"octokit/{event}/{path.name}", attributes, path.read_text()
            )
        )
    return messages


def time_series_bodies(document: Any) -> Iterator[dict[str, Any]]:
    """Each CreateTimeSeriesRequest (a body with a timeSeries array) in a fixture file."""
    if isinstance(document, dict):
        for key, value in document.items():
            if key in ("createTimeSeriesRequests", "createServiceTimeSeriesRequests"):
                yield from value
            else:
                yield from time_series_bodies(value)


# Log lines of runners at an hour when none of the generated jobs ran (the night before).
STRAY_RUNNERS = ("GitHub Actions 7", "dp-runner-02")


def stray_messages() -> list[RawMessage]:
    messages = []
    for number, runner in enumerate(STRAY_RUNNERS):
        entry = {
            "logName": "projects/apoa-local/logs/apoa-ci",
            "resource": {"type": "generic_node", "labels": {"node_id": runner}},
            "labels": {"runner_name": runner},
            "severity": "ERROR",
            "timestamp": f"2026-08-31T02:0{number}:00Z",
            "insertId": f"stray-{number}",
            "jsonPayload": {"message": "disk full"},
        }
        messages.append(raw_message("pipeline-logs", f"stray-{number}", {}, json.dumps(entry)))
    return messages


# Payloads nobody promised: wrong types, missing and unknown fields. They must land, typed as
# far as they can be (null where a value does not convert), and break nothing downstream.
ODD_JOB = {
    "action": "in_progress",
    "workflow_job": {
        "id": 7001,
        "run_id": "not-a-number",
        "run_attempt": "first",
        "status": "in_progress",
        "name": "odd",
        "steps": {"not": "an array"},
        "labels": "ubuntu-latest",
        "created_at": "yesterday",
        "started_at": "2026-09-01T10:00:00+02:00",
        "field_from_2031": {"nested": [1, 2]},
    },
    "repository": {"full_name": "odd/payloads"},
}
ODD_RUN = {
    "action": "requested",
    "workflow_run": {"id": 7002, "run_attempt": None, "pull_requests": "none", "created_at": 1},
}
ODD_ENTRY = {"severity": 250, "textPayload": "no timestamp, no insertId, a numeric severity"}
ODD_SERIES = {"metric": {"type": "custom.googleapis.com/odd"}, "points": "not an array"}


def odd_messages() -> list[RawMessage]:
    return [
        raw_message(
            "github-events", "odd-job", {"github_event": "workflow_job"}, json.dumps(ODD_JOB)
        ),
        raw_message(
            "github-events", "odd-run", {"github_event": "workflow_run"}, json.dumps(ODD_RUN)
        ),
        raw_message("pipeline-logs", "odd-entry", {}, json.dumps(ODD_ENTRY)),
        raw_message("pipeline-metrics", "odd-series", {}, json.dumps(ODD_SERIES)),
    ]


def gcp_messages() -> list[RawMessage]:
    messages = []
    for path in sorted((GCP / "logging-logentry").glob("*.json")):
        document = json.loads(path.read_text())
        if "message" in document:  # a whole push body, as the log sink's subscription sends it
            decoded = decode_push(path.read_bytes(), "pipeline-logs", MAX_PAYLOAD)
            assert isinstance(decoded, RawMessage)
            messages.append(decoded)
        else:
            messages.append(raw_message("pipeline-logs", f"gcp/{path.name}", {}, path.read_text()))
    for path in sorted((GCP / "monitoring-timeseries").glob("*.json")):
        for index, body in enumerate(time_series_bodies(json.loads(path.read_text()))):
            messages.append(
                raw_message("pipeline-metrics", f"gcp/{path.name}/{index}", {}, json.dumps(body))
            )
    for path in sorted((GCP / "monitoring-alert-notification").glob("*.json")):
        messages.append(raw_message("pipeline-metrics", f"gcp/{path.name}", {}, path.read_text()))
    return messages


# --------------------------------------------------------------------------- building


def build(settings: Settings, full_refresh: bool = False) -> None:
    extra = ["--select", SELECTION, "--indirect-selection", "cautious"]
    if full_refresh:
        extra.append("--full-refresh")
    result = run_dbt(settings, "build", extra)
    assert result.success, result.failures


def table_digest(warehouse: LocalWarehouse, table: str) -> tuple[str, int]:
    [row] = warehouse.query(
        f"select md5(coalesce(string_agg(h, '' order by h), '')) as digest, count(*) as n "
        f"from (select md5(cast(t as varchar)) as h from main.{table} as t)"
    )
    return row["digest"], row["n"]


@dataclass
class Model:
    warehouse: LocalWarehouse
    history: History
    side: list[Message]
    landed: list[RawMessage]
    incremental: dict[str, tuple[str, int]]
    full_refresh: dict[str, tuple[str, int]]

    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        return self.warehouse.query(sql, params)


def open_warehouse(home: Path) -> tuple[Settings, LocalWarehouse]:
    settings = Settings(home=home)
    return settings, LocalWarehouse(settings)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Model]:
    if not OCTOKIT.exists() or not GCP.exists():
        pytest.skip("shared fixtures not found")
    home = tmp_path_factory.mktemp("model_home")
    with pytest.MonkeyPatch.context() as env:
        # dbt's profile reads APOA_HOME: set for this module only
        env.setenv("NO_GCE_CHECK", "true")
        env.setenv("APOA_HOME", str(home))
        settings, warehouse = open_warehouse(home)
        try:
            history = generate_history(seed=SEED, runs_per_workflow=RUNS_PER_WORKFLOW)
            side = generate_side_data(history, seed=SEED)
            landed = (
                generated_messages(history.messages, "gen")
                + generated_messages(side, "side")
                + octokit_messages()
                + gcp_messages()
                + stray_messages()
                + odd_messages()
            )
            shuffled = list(landed)
            random.Random(SEED).shuffle(shuffled)
            size = -(-len(shuffled) // BATCHES)
            for first in range(0, len(shuffled), size):
                warehouse.land(shuffled[first : first + size], [])
                warehouse.flush()  # every acknowledged row loaded from the journal
                build(settings)
            incremental = {table: table_digest(warehouse, table) for table in MODELS}
            build(settings, full_refresh=True)
            full_refresh = {table: table_digest(warehouse, table) for table in MODELS}
            yield Model(warehouse, history, side, landed, incremental, full_refresh)
        finally:
            warehouse.close()


# --------------------------------------------------------------------------- helpers


def _at(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], fraction: float) -> float:
    """numpy's default (linear) percentile."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * fraction
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def final_states(history: History) -> tuple[dict[int, dict], dict[tuple[int, int], dict]]:
    """The completed workflow_job and workflow_run payloads: (job id -> job, (run, attempt) -> run
    payload). The generator completes every job and run attempt it starts."""
    jobs: dict[int, dict] = {}
    runs: dict[tuple[int, int], dict] = {}
    for message in history.messages:
        data = message.data
        if "workflow_job" in data and data["workflow_job"]["status"] == "completed":
            jobs[data["workflow_job"]["id"]] = data
        if "workflow_run" in data and data["workflow_run"]["status"] == "completed":
            run = data["workflow_run"]
            runs[(run["id"], run["run_attempt"])] = data
    return jobs, runs


def close(actual: Any, expected: Any) -> bool:
    if expected is None or actual is None:
        return actual is None and expected is None
    if isinstance(expected, float) or isinstance(actual, float):
        return abs(float(actual) - float(expected)) <= 1e-6 * max(1.0, abs(float(expected)))
    return actual == expected


# --------------------------------------------------------------------------- tests


def test_incremental_build_of_a_shuffled_history_equals_a_full_refresh(model: Model) -> None:
    seq = {
        row["message_id"]: row["load_seq"]
        for row in model.query("select message_id, load_seq from raw.raw_github_events")
    }
    # the shuffle put completed deliveries before their job's queued one: out of order for real
    first_seen: dict[int, tuple[int, str]] = {}
    out_of_order = 0
    for message in model.landed:
        data = json.loads(message.payload)
        if (
            message.topic == "github-events"
            and "workflow_job" in data
            and message.message_id[:4] == "gen-"
        ):
            job = data["workflow_job"]["id"]
            landed_at = seq[message.message_id]
            if job in first_seen and (first_seen[job][1] == "completed") != (
                landed_at > first_seen[job][0]
            ):
                out_of_order += 1
            first_seen.setdefault(job, (landed_at, data["action"]))
    assert out_of_order > 100
    for table in MODELS:
        digest, rows = model.incremental[table]
        assert rows > 0, table
        assert (digest, rows) == model.full_refresh[table], table


def test_every_octokit_example_lands_and_workflow_events_reach_staging_typed(model: Model) -> None:
    landed = {
        row["message_id"] for row in model.query("select message_id from raw.raw_github_events")
    }
    jobs = {
        r["message_id"]: r
        for r in model.query("select * from main.stg_github__workflow_job_deliveries")
    }
    runs = {
        r["message_id"]: r
        for r in model.query("select * from main.stg_github__workflow_run_deliveries")
    }
    unhandled = {
        r["message_id"]: r for r in model.query("select * from main.stg_github__unhandled_events")
    }
    examples = sorted(OCTOKIT.glob("*/*.json"))
    assert len(examples) >= 30
    for path in examples:
        event, message_id = path.parent.name, f"octokit/{path.parent.name}/{path.name}"
        payload = json.loads(path.read_text())
        assert message_id in landed, path
        if event == "workflow_job":
            row, job = jobs[message_id], payload["workflow_job"]
            assert row["job_id"] == job["id"]
            assert row["run_id"] == job["run_id"]
            assert row["run_attempt"] == job.get("run_attempt", 1)
            assert row["status"] == job["status"]
            assert row["conclusion"] == job["conclusion"]
            assert row["job_name"] == job["name"]
            assert row["head_sha"] == job["head_sha"]
            assert row["runner_name"] == job["runner_name"]
            assert row["runner_group_name"] == job.get("runner_group_name")
            assert row["runner_id"] == job.get("runner_id")
            assert row["created_at"] == _at(job["created_at"])
            assert row["completed_at"] == _at(job["completed_at"])
            assert json.loads(row["steps"]) == job["steps"]
            assert json.loads(row["runner_labels"]) == job["labels"]
            assert row["is_backfill"] is False
        elif event == "workflow_run":
            row, run = runs[message_id], payload["workflow_run"]
            assert row["run_id"] == run["id"]
            assert row["run_attempt"] == run["run_attempt"]
            assert row["event"] == run["event"]
            assert row["head_branch"] == run["head_branch"]
            assert row["actor_login"] == run["actor"]["login"]
            assert row["triggering_actor_login"] == run["triggering_actor"]["login"]
            assert row["workflow_path"] == run["path"]
            assert row["pull_request_count"] == len(run["pull_requests"])
            assert json.loads(row["pull_requests"]) == run["pull_requests"]
            assert row["run_started_at"] == _at(run["run_started_at"])
        else:
            assert unhandled[message_id]["github_event"] == event
            assert unhandled[message_id]["reason"] == "event_not_modeled"
    types = {
        (r["table_name"], r["column_name"]): r["data_type"]
        for r in model.query(
            "select table_name, column_name, data_type from information_schema.columns"
        )
    }
    assert types[("stg_github__workflow_job_deliveries", "job_id")] == "BIGINT"
    assert types[("stg_github__workflow_job_deliveries", "started_at")] == "TIMESTAMP"
    assert types[("stg_github__workflow_run_deliveries", "run_number")] == "BIGINT"
    assert types[("stg_github__workflow_run_deliveries", "updated_at")] == "TIMESTAMP"


def test_every_gcp_fixture_lands_in_staging_typed(model: Model) -> None:
    entries = {
        r["insert_id"]: r for r in model.query("select * from main.stg_gcp_logging__log_entries")
    }
    for path in sorted((GCP / "logging-logentry").glob("*.json")):
        document = json.loads(path.read_text())
        if "message" in document:
            document = json.loads(base64.b64decode(document["message"]["data"]))
        row = entries[document["insertId"]]
        assert row["log_name"] == document["logName"]
        assert row["logged_at"] == _at(document["timestamp"])
        assert row["severity"] == document.get("severity", "DEFAULT")
        assert row["resource_type"] == document["resource"]["type"]
        assert json.loads(row["resource_labels"]) == document["resource"]["labels"]
        expected_type = next(
            (kind for kind in ("text", "json", "proto") if f"{kind}Payload" in document), None
        )
        assert row["payload_type"] == expected_type
        assert row["trace"] == document.get("trace")
        assert row["http_status"] == document.get("httpRequest", {}).get("status")
    # none of them names a GitHub run or runner: they stay queryable, unlinked, with the reason
    unlinked = model.query(
        "select links.unlinked_reason from main.int_log_entries_linked_to_job_runs as links "
        "inner join main.stg_gcp_logging__log_entries as entries using (log_entry_id) "
        "where entries.message_id not like 'side-%' and entries.message_id not like 'stray-%' "
        "and entries.message_id not like 'odd-%'"
    )
    fixtures = list((GCP / "logging-logentry").glob("*.json"))
    assert [r["unlinked_reason"] for r in unlinked] == ["no_link_labels"] * len(fixtures)

    # points: one per distinct (metric type + labels, resource type + labels, interval end), the
    # first copy landed kept; each row checked against the very message it came from
    bodies: dict[str, dict[str, Any]] = {}
    distinct: set[tuple] = set()
    for path in sorted((GCP / "monitoring-timeseries").glob("*.json")):
        for index, body in enumerate(time_series_bodies(json.loads(path.read_text()))):
            bodies[f"gcp/{path.name}/{index}"] = body
            for series in body["timeSeries"]:
                for point in series["points"]:
                    distinct.add(fixture_point_key(series, point["interval"]["endTime"]))
    rows = model.query(
        "select * from main.stg_gcp_monitoring__time_series_points where message_id like 'gcp/%'"
    )
    assert len(rows) == len(distinct) > 100
    kinds = set()
    for row in rows:
        [(series, point)] = [
            (series, point)
            for series in bodies[row["message_id"]]["timeSeries"]
            for point in series["points"]
            if fixture_point_key(series, point["interval"]["endTime"])
            == (
                row["metric_type"],
                row["metric_labels"],
                row["resource_type"],
                row["resource_labels"],
                point["interval"]["endTime"],
            )
        ]
        value = point["value"]
        assert row["metric_kind"] == series["metricKind"]
        assert row["value_type"] == series["valueType"]
        assert row["end_at"] == _at(point["interval"]["endTime"])
        if "int64Value" in value:
            assert row["int64_value"] == int(value["int64Value"])
            assert row["point_value"] == float(value["int64Value"])
            kinds.add("int64")
        elif "doubleValue" in value:
            assert close(row["double_value"], float(value["doubleValue"]))
            assert close(row["point_value"], float(value["doubleValue"]))
            kinds.add("double")
        elif "distributionValue" in value:
            distribution = value["distributionValue"]
            assert close(row["distribution_mean"], distribution.get("mean"))
            if "count" in distribution:
                assert row["distribution_count"] == int(distribution["count"])
            kinds.add("distribution")
    assert kinds == {"int64", "double", "distribution"}

    incidents = {
        r["state"]: r for r in model.query("select * from main.stg_gcp_monitoring__alert_incidents")
    }
    for path in sorted((GCP / "monitoring-alert-notification").glob("*.json")):
        incident = json.loads(path.read_text())["incident"]
        row = incidents[incident["state"]]
        assert row["incident_id"] == incident["incident_id"]
        assert row["policy_name"] == incident["policy_name"]
        assert row["started_at"] == datetime.fromtimestamp(incident["started_at"], UTC).replace(
            tzinfo=None
        )
        assert row["observed_value"] == incident["observed_value"]
        try:
            assert row["observed_number"] == float(incident["observed_value"])
        except ValueError:
            assert row["observed_number"] is None  # the closed incident's sentence
    assert set(incidents) == {"open", "closed"}


def fixture_point_key(series: dict[str, Any], end_time: str) -> tuple:
    """A fixture point's identity, as staging de-duplicates points (labels as minified JSON)."""

    def text(value: Any) -> str | None:
        return None if value is None else json.dumps(value, separators=(",", ":"))

    return (
        series["metric"]["type"],
        text(series["metric"].get("labels")),
        series["resource"]["type"],
        text(series["resource"].get("labels")),
        end_time,
    )


def point_key(series: dict[str, Any], end_time: str) -> tuple[str, str, str, str]:
    """A generated point's identity, as staging de-duplicates points."""
    return (
        series["metric"]["type"],
        json.dumps(series["metric"]["labels"], separators=(",", ":")),
        json.dumps(series["resource"]["labels"], separators=(",", ":")),
        end_time,
    )


def _expected_links(model: Model) -> dict[str, tuple[int | None, str | None, str | None]]:
    """Item (log entry insertId or point key) -> (job id, method, unlinked reason), by the rules
    in docs/data-model.md, from the generator's jobs and the octokit examples."""
    jobs = completed_jobs(model.history)
    windows: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for job in jobs:
        if job.runner_name:
            windows[job.runner_name].append((job.started, job.completed, job.job_id))
    for path in sorted((OCTOKIT / "workflow_job").glob("completed*.json")):
        job = json.loads(path.read_text())["workflow_job"]
        windows[job["runner_name"]].append(
            (_seconds(job["started_at"]), _seconds(job["completed_at"]), job["id"])
        )
    for runner in windows:
        windows[runner] = sorted(set(windows[runner]))

    def by_runner(runner: str, at: float) -> tuple[int | None, str | None]:
        earlier = [w for w in windows.get(runner, []) if w[0] <= at]
        covering = [w for w in earlier if at <= w[1] + SLACK_SECONDS]
        if not covering:
            return None, "no_job_on_runner_in_window"
        latest_start = max(w[0] for w in earlier)
        latest = [w for w in earlier if w[0] == latest_start]
        if len(covering) == 1 and len(latest) == 1 and covering[0] == latest[0]:
            return covering[0][2], None
        return None, "ambiguous_runner_window"

    expected = {}
    by_id = {job.job_id: job for job in jobs}
    for message in model.side:
        data = message.data
        labels = data["labels"] if "insertId" in data else data["metric"]["labels"]
        task = data["resource"]["labels"].get("task_id")
        run_id = labels.get("github_run_id") or (task.split("/")[0] if task else None)
        keys = (
            [data["insertId"]]
            if "insertId" in data
            else [point_key(data, p["interval"]["endTime"]) for p in data["points"]]
        )
        for key in keys:
            at = _seconds(data["timestamp"] if "insertId" in data else key[-1])
            if run_id:
                method = "labels" if labels.get("github_run_id") else "execution_id"
                attempt, name = (
                    (int(labels["github_run_attempt"]), labels["github_job"])
                    if method == "labels"
                    else (int(task.split("/")[1]), task.split("/", 2)[2])
                )
                match = [
                    j
                    for j in by_id.values()
                    if j.run_id == int(run_id) and j.run_attempt == attempt and j.name == name
                ]
                assert len(match) == 1
                expected[key] = (match[0].job_id, method, None)
            elif labels.get("runner_name"):
                job_run_id, reason = by_runner(labels["runner_name"], at)
                expected[key] = (job_run_id, "runner_window", reason)
            else:
                expected[key] = (None, None, "no_link_labels")
    return expected


def test_logs_and_metrics_link_to_their_job_runs(model: Model) -> None:
    expected = _expected_links(model)
    actual = {}
    for row in model.query(
        "select entries.insert_id, links.job_run_id, links.link_method, links.unlinked_reason "
        "from main.int_log_entries_linked_to_job_runs as links "
        "inner join main.stg_gcp_logging__log_entries as entries using (log_entry_id) "
        "where entries.message_id like 'side-%'"
    ):
        actual[row["insert_id"]] = (row["job_run_id"], row["link_method"], row["unlinked_reason"])
    for row in model.query(
        "select points.metric_type, points.metric_labels, points.resource_labels, points.end_at, "
        "links.job_run_id, links.link_method, links.unlinked_reason "
        "from main.int_metric_points_linked_to_job_runs as links "
        "inner join main.stg_gcp_monitoring__time_series_points as points using (point_id) "
        "where points.message_id like 'side-%'"
    ):
        end = row["end_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        key = (row["metric_type"], row["metric_labels"], row["resource_labels"], end)
        actual[key] = (
            row["job_run_id"],
            row["link_method"],
            row["unlinked_reason"],
        )
    assert actual.keys() == expected.keys()
    mismatches = {
        key: (actual[key], expected[key]) for key in expected if actual[key] != expected[key]
    }
    assert mismatches == {}
    outcomes = defaultdict(int)
    for _job, method, reason in expected.values():
        outcomes[(method, reason)] += 1
    # every path of the linking rules is exercised, the time window one included
    assert outcomes[("labels", None)] > 100
    assert outcomes[("execution_id", None)] > 10
    assert outcomes[("runner_window", None)] > 10
    assert outcomes[(None, "no_link_labels")] > 0
    # and an entry from a runner at a time none of its jobs ran stays unlinked, with the reason
    strays = model.query(
        "select links.unlinked_reason, links.link_method "
        "from main.int_log_entries_linked_to_job_runs as links "
        "inner join main.stg_gcp_logging__log_entries as entries using (log_entry_id) "
        "where entries.message_id like 'stray-%'"
    )
    assert strays == [
        {"unlinked_reason": "no_job_on_runner_in_window", "link_method": "runner_window"}
    ] * len(STRAY_RUNNERS)


def test_pipeline_health_daily_matches_an_independent_computation(model: Model) -> None:
    jobs, runs = final_states(model.history)
    days: dict[tuple[str, str, date], dict[str, Any]] = defaultdict(
        lambda: {"runs": [], "jobs": []}
    )
    flaky_commits: dict[tuple, set[str]] = defaultdict(set)
    for data in jobs.values():
        job = data["workflow_job"]
        key = (data["repository"]["full_name"], job["workflow_name"], job["name"], job["head_sha"])
        flaky_commits[key].add(job["conclusion"])
    for data in jobs.values():
        job = data["workflow_job"]
        repository, workflow = data["repository"]["full_name"], job["workflow_name"]
        verdicts = flaky_commits[(repository, workflow, job["name"], job["head_sha"])]
        flaky = bool(verdicts & {"failure", "timed_out"}) and "success" in verdicts
        queue = _seconds(job["started_at"]) - _seconds(job["created_at"])
        day = _at(job["completed_at"]).date()
        days[(repository, workflow, day)]["jobs"].append((queue, flaky))
    red: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for (run_id, attempt), data in runs.items():
        run = data["workflow_run"]
        repository = data["repository"]["full_name"]
        completed = _at(run["updated_at"])
        duration = _seconds(run["updated_at"]) - _seconds(run["run_started_at"])
        days[(repository, run["name"], completed.date())]["runs"].append(
            (run["conclusion"], attempt > 1, duration)
        )
        if run["head_branch"] == data["repository"]["default_branch"] and run["conclusion"] in (
            "success",
            "failure",
            "timed_out",
        ):
            red[(repository, run["name"])].append(
                (completed, f"{run_id}-{attempt}", run["conclusion"] == "success")
            )
    restores: dict[tuple[str, str, date], list[float]] = defaultdict(list)
    for (repository, workflow), verdicts in red.items():
        streak_start, previous = None, None
        for completed, _, success in sorted(verdicts):
            if not success and previous in (None, True):
                streak_start = completed
            if success and previous is False:
                restores[(repository, workflow, completed.date())].append(
                    (completed - streak_start).total_seconds()
                )
            previous = success

    rows = {
        (r["repository"], r["workflow_name"], r["day"]): r
        for r in model.query(
            "select * from main.fct_pipeline_health_daily where repository like 'aetherveil/%'"
        )
    }
    assert rows.keys() == days.keys()
    totals = defaultdict(float)
    for key, figures in days.items():
        run_list, job_list = figures["runs"], figures["jobs"]
        failed = sum(1 for c, _, _ in run_list if c in ("failure", "timed_out"))
        reruns = sum(1 for _, rerun, _ in run_list if rerun)
        flaky = sum(1 for _, f in job_list if f)
        durations = [d for _, _, d in run_list]
        queues = [q for q, _ in job_list]
        expected = {
            "runs": len(run_list),
            "failed_runs": failed,
            "cancelled_runs": sum(1 for c, _, _ in run_list if c == "cancelled"),
            "failure_rate": failed / len(run_list) if run_list else None,
            "reruns": reruns,
            "rerun_rate": reruns / len(run_list) if run_list else None,
            "duration_p50_seconds": percentile(durations, 0.5) if durations else None,
            "duration_p95_seconds": percentile(durations, 0.95) if durations else None,
            "job_runs": len(job_list),
            "queue_p50_seconds": percentile(queues, 0.5) if queues else None,
            "queue_p95_seconds": percentile(queues, 0.95) if queues else None,
            "flaky_job_runs": flaky,
            "flaky_rate": flaky / len(job_list) if job_list else None,
            "restores": len(restores.get(key, [])),
            "mean_time_to_restore_seconds": (
                sum(restores[key]) / len(restores[key]) if restores.get(key) else None
            ),
        }
        row = rows[key]
        for column, value in expected.items():
            assert close(row[column], value), (key, column, row[column], value)
        totals["reruns"] += reruns
        totals["flaky"] += flaky
        totals["restores"] += expected["restores"]
    # the generated history exercises every figure
    assert totals["reruns"] > 5 and totals["flaky"] > 5 and totals["restores"] > 5


def test_flaky_is_one_definition_on_job_runs(model: Model) -> None:
    jobs, _ = final_states(model.history)
    verdicts: dict[tuple, set[str]] = defaultdict(set)
    for data in jobs.values():
        job = data["workflow_job"]
        verdicts[
            (data["repository"]["full_name"], job["workflow_name"], job["name"], job["head_sha"])
        ].add(job["conclusion"])
    rows = {
        r["job_run_id"]: r
        for r in model.query(
            "select job_run_id, is_flaky_attempt, is_flaky_failure, is_failure "
            "from main.fct_job_runs where repository like 'aetherveil/%'"
        )
    }
    assert rows.keys() == jobs.keys()
    flaky_jobs = 0
    for job_id, data in jobs.items():
        job = data["workflow_job"]
        seen = verdicts[
            (data["repository"]["full_name"], job["workflow_name"], job["name"], job["head_sha"])
        ]
        flaky = bool(seen & {"failure", "timed_out"}) and "success" in seen
        assert rows[job_id]["is_flaky_attempt"] == flaky, job_id
        assert rows[job_id]["is_flaky_failure"] == (
            flaky and job["conclusion"] in ("failure", "timed_out")
        )
        flaky_jobs += flaky
    assert flaky_jobs > 5


def test_resources_and_log_signals_summarize_what_is_linked(model: Model) -> None:
    expected = _expected_links(model)
    cpu: dict[int, list[float]] = defaultdict(list)
    memory: dict[int, list[float]] = defaultdict(list)
    errors: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for message in model.side:
        data = message.data
        if "insertId" in data:
            job_run_id = expected[data["insertId"]][0]
            if job_run_id is not None and data["severity"] == "ERROR":
                errors[job_run_id].append((data["timestamp"], data["jsonPayload"]["message"]))
            continue
        for point in data["points"]:
            job_run_id = expected[point_key(data, point["interval"]["endTime"])][0]
            if job_run_id is None:
                continue
            if data["metric"]["type"].endswith("cpu_utilization"):
                cpu[job_run_id].append(point["value"]["doubleValue"])
            else:
                memory[job_run_id].append(float(point["value"]["int64Value"]))
    resources = {
        r["job_run_id"]: r
        for r in model.query(
            "select * from main.fct_job_run_resources where repository like 'aetherveil/%'"
        )
    }
    assert len(cpu) > 100
    for job_run_id, row in resources.items():
        values = cpu.get(job_run_id)
        assert row["cpu_point_count"] == len(values or [])
        if values:
            assert abs(row["cpu_utilization_avg"] - sum(values) / len(values)) < 1e-6
            assert close(row["cpu_utilization_peak"], max(values))
            assert close(row["memory_used_bytes_peak"], max(memory[job_run_id]))
        else:
            assert row["cpu_utilization_avg"] is None
    signals = {
        r["job_run_id"]: r
        for r in model.query(
            "select * from main.fct_job_run_log_signals where repository like 'aetherveil/%'"
        )
    }
    assert len(errors) > 20
    for job_run_id, row in signals.items():
        lines = sorted(errors.get(job_run_id, []))
        assert row["error_count"] == len(lines)
        assert row["first_error_line"] == (lines[0][1] if lines else None)
        if lines and row["is_failure"]:
            assert row["failure_signature"] and "<" in row["failure_signature"]
            assert (
                row["failure_signature_id"]
                == hashlib.md5(row["failure_signature"].encode()).hexdigest()
            )
    # the same failure on different runs shares a signature
    shared = model.query(
        "select failure_signature, count(*) as n from main.fct_job_run_log_signals "
        "where failure_signature is not null group by all having count(*) > 1"
    )
    assert shared


def test_odd_payloads_land_typed_as_far_as_they_go(model: Model) -> None:
    [job] = model.query(
        "select * from main.stg_github__workflow_job_deliveries where message_id = 'odd-job'"
    )
    assert job["job_id"] == 7001 and job["job_name"] == "odd"
    assert job["run_id"] is None and job["run_attempt"] == 1  # no attempt: the first
    assert job["created_at"] is None  # "yesterday" is no timestamp
    assert job["started_at"] == datetime(2026, 9, 1, 8, 0)  # the offset applied
    assert job["steps"] is None and job["runner_labels"] is None  # not arrays: no value
    steps = model.query("select * from main.stg_github__workflow_job_steps where job_id = 7001")
    assert steps == []
    [run] = model.query(
        "select * from main.stg_github__workflow_run_deliveries where message_id = 'odd-run'"
    )
    assert run["run_id"] == 7002 and run["run_attempt"] == 1
    assert run["repository"] is None and run["workflow_name"] is None
    [entry] = model.query(
        "select * from main.stg_gcp_logging__log_entries where message_id = 'odd-entry'"
    )
    assert entry["severity_number"] == 250 and entry["logged_at"] is None
    assert entry["log_message"] == ODD_ENTRY["textPayload"]
    assert (
        model.query(
            "select * from main.stg_gcp_monitoring__time_series_points "
            "where message_id = 'odd-series'"
        )
        == []
    )
