"""The whole loop through the real Pub/Sub emulator: publish -> push -> ingest -> DuckDB ->
dbt -> findings -> apoa-findings. No mock of Pub/Sub anywhere."""

from __future__ import annotations

import json
import time

import pytest

from apoa.demo import finding_entity
from apoa.emulator import pull_all
from apoa.generator import generate_history, write_jsonl
from tests.emulator_fixtures import Served, start_emulator, start_served, stop_served


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    emulator = start_emulator(tmp_path_factory.mktemp("emulator") / "emulator.log")
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def served(emulator, tmp_path_factory):
    served = start_served(tmp_path_factory.mktemp("served") / "home", emulator)
    yield served
    stop_served(served)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    history = generate_history(seed=11, runs_per_workflow=60)
    path = tmp_path_factory.mktemp("history") / "history.jsonl"
    write_jsonl(history, path)
    return history, path


@pytest.fixture(scope="module")
def first_pass(served: Served, history):
    """Replay the history once through the emulator, build and publish."""
    data, path = history
    served.apoa("replay", str(path), "--via", "emulator")
    landed = served.wait_for_rows("raw_github_events", len(data.messages))
    assert landed == len(data.messages)
    build = served.remote.build()
    assert build["success"], build["failures"]
    hashes = served.remote.mart_hashes()
    published = served.remote.publish()
    received = pull_all(served.findings_subscription, expect=len(published), timeout=60)
    return hashes, published, received


def test_injected_anomalies_arrive_on_apoa_findings(first_pass, history):
    _, published, received = first_pass
    data, _ = history
    bodies = [json.loads(message.data) for message in received]
    assert len(bodies) == len(published) > 0
    injected = {(a.kind, a.repository, a.workflow, a.job) for a in data.injected}
    found = {(b["kind"], *finding_entity(b)) for b in bodies}
    # Each injected anomaly is found (the regression on every branch it hit), nothing else.
    assert found == injected
    for message in received:
        body = json.loads(message.data)
        assert message.attributes["event_id"] == body["event_id"]
        assert message.attributes["kind"] == body["kind"]
        assert message.attributes["finding_id"] == body["finding_id"]
        assert body["summary"]


def test_second_replay_changes_no_mart_and_publishes_nothing(served, history, first_pass):
    hashes, _, _ = first_pass
    data, path = history
    # Through Pub/Sub again: every message gets a new message id, so raw holds each
    # delivery twice and staging must de-duplicate by GitHub's delivery id.
    served.apoa("replay", str(path), "--via", "emulator")
    landed = served.wait_for_rows("raw_github_events", 2 * len(data.messages))
    assert landed == 2 * len(data.messages)
    build = served.remote.build()
    assert build["success"], build["failures"]
    assert served.remote.mart_hashes() == hashes
    assert served.remote.publish() == []


def test_push_latency_counts_every_push_and_status_leaves_it_out(served, first_pass, history):
    data, _ = history
    summary = served.remote.push_latency()
    assert summary["count"] >= len(data.messages)  # redeliveries count too
    assert 0 < summary["p50_ms"] <= summary["p99_ms"]
    assert "push_latency" not in served.remote.status()  # polled often: kept cheap
    assert served.remote.push_latency(reset=True)["count"] == summary["count"]
    assert served.remote.push_latency()["count"] < summary["count"]  # a new window


def test_garbage_lines_are_dead_lettered_with_line_numbers(served, tmp_path):
    good = {"topic": "pipeline-logs", "attributes": {}, "data": {"textPayload": "hello"}}
    lines = [
        json.dumps(good),
        "this is not json",
        json.dumps({"topic": "nowhere", "data": {}}),
        json.dumps([1, 2, 3]),
        json.dumps({"topic": "pipeline-logs", "attributes": {"a": 1}, "data": {}}),
    ]
    path = tmp_path / "garbage.jsonl"
    path.write_text("\n".join(lines) + "\n")
    before = served.remote.status()["raw_counts"]["raw_pipeline_logs"]
    served.apoa("replay", str(path), "--via", "emulator")
    assert served.wait_for_rows("raw_pipeline_logs", before + 1) == before + 1
    letters = {
        letter["line_number"]: letter["reason"]
        for letter in served.remote.dead_letters()
        if letter["source"] == "replay"
    }
    assert set(letters) == {2, 3, 4, 5}
    assert letters[2].startswith("line is not JSON")
    assert "'topic' must be one of" in letters[3]
    assert letters[4] == "line is not a JSON object"
    assert letters[5] == "'attributes' must be an object of strings"


def test_a_second_owner_is_refused_with_the_owner_named(served):
    from apoa.settings import Settings
    from apoa.warehouse import LocalWarehouse, WarehouseBusy

    settings = Settings(home=served.home)
    with pytest.raises(WarehouseBusy, match=f"PID {served.process.pid}"):
        LocalWarehouse(settings)
    # The CLI sends its work to the running owner instead of failing.
    result = served.apoa("findings", "--status", "all", "--json")
    assert result.returncode == 0


def test_webhook_receiver_to_emulator_to_ingest_lands_the_body_byte_for_byte(
    served, monkeypatch, tmp_path
):
    import hashlib
    import hmac

    import functions_framework

    from apoa.emulator import create_pull_subscription
    from apoa.settings import PROJECT_DIR
    from tests.conftest import fixture_path
    from tests.emulator_fixtures import PROJECT

    secret = "e2e-secret"
    monkeypatch.setenv("APOA_GITHUB_WEBHOOK_SECRET", secret)
    monkeypatch.setenv("APOA_PUBSUB_PROJECT", PROJECT)
    tap = create_pull_subscription(PROJECT, "github-events", "github-events-tap")
    client = functions_framework.create_app(
        "github_webhook", str(PROJECT_DIR / "ingest" / "main.py"), "http"
    ).test_client()
    body = fixture_path(
        "github-webhook-examples", "workflow_run", "completed.with-pull-requests.payload.json"
    ).read_bytes()
    headers = {
        "X-GitHub-Event": "workflow_run",
        "X-GitHub-Delivery": "e2e-delivery-1",
        "X-GitHub-Hook-ID": "421337001",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    }
    last_seq = -1
    while page := served.remote.raw_rows("raw_github_events", last_seq):  # page to the end
        last_seq = page[-1]["load_seq"]

    # Unsigned and wrongly signed deliveries never reach Pub/Sub.
    assert client.post("/", data=body, headers=headers).status_code == 401
    bad = {**headers, "X-Hub-Signature-256": "sha256=" + "ab" * 32}
    assert client.post("/", data=body, headers=bad).status_code == 401
    assert pull_all(tap, expect=1, timeout=3) == []

    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    good = {**headers, "X-Hub-Signature-256": signature}
    assert client.post("/", data=body, headers=good).status_code == 200
    [tapped] = pull_all(tap, expect=1, timeout=30)
    assert tapped.data == body

    rows = []
    for _ in range(100):
        rows = [
            row
            for row in served.remote.raw_rows("raw_github_events", last_seq)
            if json.loads(row["attributes"]).get("github_delivery") == "e2e-delivery-1"
        ]
        if rows:
            break
        time.sleep(0.2)
    [row] = rows
    assert row["payload"].encode() == body
    attributes = json.loads(row["attributes"])
    assert {key: attributes[key] for key in
            ("github_event", "github_delivery", "github_hook_id", "repository")} == {
        "github_event": "workflow_run",
        "github_delivery": "e2e-delivery-1",
        "github_hook_id": "421337001",
        "repository": json.loads(body)["repository"]["full_name"],
    }  # fmt: skip
    assert attributes["traceparent"].split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"
    # The request thread logs after its row is journaled; the loader may put the row in raw
    # (where the loop above found it) before that thread writes the line: wait for it.
    trace = "projects/apoa-test/traces/4bf92f3577b34da6a3ce929d0e0e4736"
    deadline = time.monotonic() + 15
    while trace not in (served.home / "serve.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert trace in (served.home / "serve.log").read_text()
