"""The ingest functions called the way the platform calls them: through functions-framework."""

from __future__ import annotations

import base64
import json
import threading

import duckdb
import functions_framework
import pytest

from apoa.settings import PROJECT_DIR
from apoa.warehouse import LocalWarehouse
from ingest.handler import set_sink
from tests.conftest import fixture_path, load_json

SOURCE = str(PROJECT_DIR / "ingest" / "main.py")


@pytest.fixture
def warehouse(settings):
    with LocalWarehouse(settings) as owned:
        set_sink(owned.sink)
        yield owned
    set_sink(None)


@pytest.fixture
def push_client(warehouse):
    return functions_framework.create_app("ingest_push", SOURCE, "http").test_client()


@pytest.fixture
def cloudevent_client(warehouse):
    return functions_framework.create_app("ingest_cloudevent", SOURCE, "cloudevent").test_client()


def push_body(
    payload: dict | bytes,
    message_id: str = "m-1",
    publish_time: str = "2026-11-27T10:00:00Z",
    **attributes: str,
) -> bytes:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return json.dumps(
        {
            "subscription": "projects/apoa-local/subscriptions/github-events-ingest",
            "message": {
                "data": base64.b64encode(data).decode(),
                "messageId": message_id,
                "publishTime": publish_time,
                "attributes": attributes,
            },
        }
    ).encode()


def rows(warehouse, table: str) -> list[dict]:
    return warehouse.query(f"select * from raw.{table} order by load_seq")


def test_octokit_payload_lands_exactly_as_received(push_client, warehouse):
    path = fixture_path(
        "github-webhook-examples",
        "workflow_job",
        "completed.success.with-organization.payload.json",
    )
    raw = path.read_bytes()
    response = push_client.post(
        "/push/github-events", data=push_body(raw, github_event="workflow_job")
    )
    assert response.status_code == 204
    landed = rows(warehouse, "raw_github_events")
    assert len(landed) == 1
    assert landed[0]["payload"] == raw.decode()
    assert json.loads(landed[0]["attributes"]) == {"github_event": "workflow_job"}
    assert landed[0]["subscription"] == "projects/apoa-local/subscriptions/github-events-ingest"
    assert str(landed[0]["publish_time"]) == "2026-11-27 10:00:00"


def test_redelivery_of_the_same_message_id_lands_once(push_client, warehouse):
    for _ in range(3):
        assert push_client.post("/push/pipeline-logs", data=push_body({"a": 1})).status_code == 204
    assert len(rows(warehouse, "raw_pipeline_logs")) == 1


def test_a_reused_message_id_with_another_publish_time_is_a_new_message(push_client, warehouse):
    # The emulator numbers ids from 1 again after a restart: same id, later publish time.
    first = push_body({"run": 1}, message_id="1", publish_time="2026-11-27T10:00:00.123Z")
    second = push_body({"run": 2}, message_id="1", publish_time="2026-11-28T09:00:00.456Z")
    for body in (first, second, second, first):  # each one also redelivered
        assert push_client.post("/push/pipeline-logs", data=body).status_code == 204
    landed = rows(warehouse, "raw_pipeline_logs")
    assert [(r["message_id"], json.loads(r["payload"])) for r in landed] == [
        ("1", {"run": 1}),
        ("1@2026-11-28T09:00:00.456000", {"run": 2}),
    ]


def test_the_same_content_sent_again_later_under_its_id_lands_once(push_client, warehouse):
    # a second backfill: deterministic id and payload, envelope stamped when it is sent
    for publish_time in ("2026-11-27T10:00:00Z", "2026-11-28T10:00:00Z"):
        body = push_body({"run": 1}, message_id="backfill-1", publish_time=publish_time)
        assert push_client.post("/push/pipeline-logs", data=body).status_code == 204
    assert [r["message_id"] for r in rows(warehouse, "raw_pipeline_logs")] == ["backfill-1"]


def test_each_topic_has_its_own_table(push_client, warehouse):
    for index, topic in enumerate(["github-events", "pipeline-logs", "pipeline-metrics"]):
        body = push_body({"n": index}, message_id=f"id-{index}")
        assert push_client.post(f"/push/{topic}", data=body).status_code == 204
    counts = warehouse.status()["raw_counts"]
    assert counts["raw_github_events"] == counts["raw_pipeline_logs"] == 1
    assert counts["raw_pipeline_metrics"] == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (push_body(b"not json at all"), "message data is not JSON"),
        (push_body(b"\xff\xfe"), "message data is not UTF-8 text"),
        (json.dumps({"message": {"messageId": "x", "data": "%%%"}}).encode(),
         "message data is not valid base64"),
        (json.dumps({"message": {"messageId": "x", "data": ""}}).encode(), "message data is empty"),
    ],
)  # fmt: skip
def test_well_formed_envelope_with_bad_content_is_dead_lettered_and_acknowledged(
    push_client, warehouse, body, reason
):
    response = push_client.post("/push/github-events", data=body)
    # 204, not 4xx: Pub/Sub redelivers a 4xx push forever.
    assert response.status_code == 204
    letters = rows(warehouse, "raw_dead_letters")
    assert [letter["reason"] for letter in letters] == [reason]
    assert letters[0]["body"] == body.decode("utf-8", "backslashreplace")
    assert letters[0]["topic"] == "github-events"
    assert rows(warehouse, "raw_github_events") == []


def test_oversized_envelope_is_dead_lettered(settings):
    from ingest.config import IngestConfig

    with LocalWarehouse(settings, IngestConfig(max_payload_bytes=500)) as owned:
        set_sink(owned.sink, owned.config)
        client = functions_framework.create_app("ingest_push", SOURCE, "http").test_client()
        body = push_body({"big": "x" * 1000})
        assert client.post("/push/github-events", data=body).status_code == 204
        letters = owned.query("select reason from raw.raw_dead_letters")
        assert letters == [{"reason": "message data is larger than the 500-byte limit"}]
    set_sink(None)


def test_loki_negative_bodies_answer_400_only_when_not_an_envelope(push_client, warehouse):
    cases = load_json(fixture_path("gcp", "pubsub-push", "loki_negative_push_bodies.json"))["cases"]
    statuses = {}
    for name, case in cases.items():
        body = case.encode() if isinstance(case, str) else json.dumps(case).encode()
        statuses[name] = push_client.post("/push/github-events", data=body).status_code
    assert statuses == {
        "invalid JSON": 400,
        "empty": 400,
        "missing subscription": 204,
        "missing message ID": 204,
        "missing data": 204,
    }
    assert len(rows(warehouse, "raw_dead_letters")) == 3


def test_unrouted_path_is_404(push_client):
    assert push_client.post("/somewhere", data=push_body({"a": 1})).status_code == 404


def test_journal_failure_answers_503_so_pubsub_redelivers(push_client, warehouse):
    def disk_full() -> None:
        raise OSError(28, "No space left on device")

    warehouse.journal.fault_hook = disk_full
    response = push_client.post("/push/github-events", data=push_body({"a": 1}, message_id="x"))
    assert response.status_code == 503
    warehouse.journal.fault_hook = None
    assert push_client.post("/push/github-events", data=push_body({"b": 2})).status_code == 204
    # the torn write left nothing behind: only the acknowledged row lands
    assert [json.loads(r["payload"]) for r in rows(warehouse, "raw_github_events")] == [{"b": 2}]


def test_a_failing_warehouse_delays_rows_but_loses_none(push_client, warehouse):
    failures = {"left": 3}

    def fail() -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise duckdb.IOException("injected: DuckDB cannot write")

    warehouse.store.fault_hook = fail
    for n in range(5):  # acknowledged: the rows are in the journal
        body = push_body({"n": n}, message_id=f"w-{n}")
        assert push_client.post("/push/github-events", data=body).status_code == 204
    assert len(rows(warehouse, "raw_github_events")) == 5  # flushed once the loads succeed
    assert failures["left"] == 0 and warehouse.loader.failed_loads == 3
    assert list(warehouse.journal.directory.glob("*.jsonl")) == []  # loaded segments removed


def test_rows_journaled_but_not_loaded_land_on_the_next_start(settings):
    from ingest.envelope import RawMessage

    with LocalWarehouse(settings) as owned:
        owned.store.fault_hook = lambda: (_ for _ in ()).throw(duckdb.IOException("down"))
        message = RawMessage("pipeline-logs", "kept-1", None, {}, None, '{"k": 1}')
        owned.land([message], [])  # acknowledged, then every load fails until close
    with LocalWarehouse(settings) as owned:
        assert [r["message_id"] for r in rows(owned, "raw_pipeline_logs")] == ["kept-1"]
        assert list(owned.journal.directory.glob("*.jsonl")) == []


def test_concurrent_pushes_are_committed_in_groups(push_client, warehouse):
    def send(start: int) -> None:
        client = functions_framework.create_app("ingest_push", SOURCE, "http").test_client()
        for n in range(start, start + 50):
            body = push_body({"n": n}, message_id=f"c-{n}")
            assert client.post("/push/github-events", data=body).status_code == 204

    threads = [threading.Thread(target=send, args=(i * 50,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    landed = rows(warehouse, "raw_github_events")
    assert len(landed) == 400
    assert len({row["load_seq"] for row in landed}) == 400
    assert warehouse.writer.batches < 400  # several requests shared a commit


CONFORMANCE = ("gcp", "cloudevents-functions-framework", "conformance")


def test_structured_cloudevent_on_a_known_topic_lands(cloudevent_client, warehouse):
    event = load_json(fixture_path(*CONFORMANCE, "pubsub_text-cloudevent-input.json"))
    event["source"] = "//pubsub.googleapis.com/projects/p/topics/pipeline-metrics"
    event["data"]["message"]["data"] = base64.b64encode(b'{"metric": {"type": "x"}}').decode()
    response = cloudevent_client.post(
        "/", data=json.dumps(event), content_type="application/cloudevents+json"
    )
    assert response.status_code == 200
    landed = rows(warehouse, "raw_pipeline_metrics")
    assert [row["message_id"] for row in landed] == ["aaaaaa-1111-bbbb-2222-cccccccccccc"]


@pytest.mark.parametrize(
    "parts",
    [
        (*CONFORMANCE, "pubsub_text-cloudevent-input.json"),
        (*CONFORMANCE, "pubsub_binary-cloudevent-input.json"),
        (*CONFORMANCE, "legacy_pubsub-legacy-input.json"),
        ("gcp", "cloudevents-functions-framework", "ff-python", "pubsub_text-legacy-input.json"),
        ("gcp", "cloudevents-functions-framework", "ff-python",
         "test_convert_PUBSUB_CLOUD_EVENT.json"),
    ],
)  # fmt: skip
def test_real_cloudevents_and_legacy_events_are_kept(cloudevent_client, warehouse, parts):
    event = load_json(fixture_path(*parts))
    content_type = "application/cloudevents+json" if "specversion" in event else "application/json"
    response = cloudevent_client.post("/", data=json.dumps(event), content_type=content_type)
    assert response.status_code == 200
    letters = rows(warehouse, "raw_dead_letters")
    # Their topic (gcf-test) is not one of ours: kept with the reason, never lost.
    assert len(letters) == 1
    assert letters[0]["reason"].startswith("unknown topic 'gcf-test'")
    assert letters[0]["source"] == "cloudevent"
