"""Ingest on the BigQuery path: the real google-cloud-bigquery client against bqemulator."""

from __future__ import annotations

import base64
import json

import functions_framework
import pytest

from apoa.settings import PROJECT_DIR
from ingest.bigquery_storage import BigQueryRawStore
from ingest.handler import set_sink
from tests.bigquery_emulator import BigQueryEmulator
from tests.conftest import SHARED_FIXTURES, fixture_path

SOURCE = str(PROJECT_DIR / "ingest" / "main.py")


@pytest.fixture(scope="module")
def bigquery(tmp_path_factory):
    emulator = BigQueryEmulator(tmp_path_factory.mktemp("bq") / "bqemulator.log")
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def store(bigquery):
    store = BigQueryRawStore(bigquery.client(), "pipeline_analytics")
    store.ensure_tables()
    return store


def real_payloads() -> list[tuple[str, str, bytes]]:
    """(topic, name, bytes) for every real payload in the shared fixtures."""
    fixture_path("github-webhook-examples")
    payloads = []
    for path in sorted((SHARED_FIXTURES / "github-webhook-examples").glob("*/*.json")):
        payloads.append(("github-events", f"{path.parent.name}/{path.name}", path.read_bytes()))
    for path in sorted((SHARED_FIXTURES / "gcp" / "logging-logentry").glob("*.json")):
        payloads.append(("pipeline-logs", path.name, path.read_bytes()))
    for path in sorted((SHARED_FIXTURES / "gcp" / "monitoring-timeseries").glob("*.json")):
        for request in json.loads(path.read_bytes()).get("createTimeSeriesRequests", []):
            for index, series in enumerate(request.get("timeSeries", [])):
                body = json.dumps(series).encode()
                payloads.append(("pipeline-metrics", f"{path.name}#{index}", body))
    return payloads


def test_every_real_fixture_lands_through_the_push_handler(store, bigquery):
    set_sink(store.write_batch)
    try:
        client = functions_framework.create_app("ingest_push", SOURCE, "http").test_client()
        sent = {}
        for index, (topic, name, payload) in enumerate(real_payloads()):
            message_id = f"bq-{index}"
            body = json.dumps({"message": {"data": base64.b64encode(payload).decode(),
                                           "messageId": message_id,
                                           "attributes": {"fixture": name}}}).encode()  # fmt: skip
            assert client.post(f"/push/{topic}", data=body).status_code == 204, name
            sent[message_id] = payload
    finally:
        set_sink(None)
    rows = {}
    for table in ("raw_github_events", "raw_pipeline_logs", "raw_pipeline_metrics"):
        query = f"select message_id, payload, attributes from pipeline_analytics.{table}"
        for row in bigquery.client().query(query).result():
            rows[row["message_id"]] = row
    assert set(rows) >= set(sent)
    for message_id, payload in sent.items():
        assert rows[message_id]["payload"].encode() == payload
        assert "fixture" in json.loads(rows[message_id]["attributes"])


def test_dead_letters_land_in_bigquery(store, bigquery):
    set_sink(store.write_batch)
    try:
        client = functions_framework.create_app("ingest_push", SOURCE, "http").test_client()
        body = json.dumps({"message": {"data": base64.b64encode(b"not json").decode(),
                                       "messageId": "bq-dead-1"}}).encode()  # fmt: skip
        assert client.post("/push/pipeline-logs", data=body).status_code == 204
    finally:
        set_sink(None)
    query = "select reason from pipeline_analytics.raw_dead_letters where message_id = 'bq-dead-1'"
    assert [row["reason"] for row in bigquery.client().query(query).result()] == [
        "message data is not JSON"
    ]


def test_bigquery_failure_answers_503(bigquery):
    broken = BigQueryRawStore(bigquery.client(), "no_such_dataset_here")
    set_sink(broken.write_batch)
    try:
        client = functions_framework.create_app("ingest_push", SOURCE, "http").test_client()
        body = json.dumps({"message": {"data": base64.b64encode(b"{}").decode(),
                                       "messageId": "bq-x"}}).encode()  # fmt: skip
        assert client.post("/push/pipeline-logs", data=body).status_code == 503
    finally:
        set_sink(None)
