"""The Cloud Monitoring exporter on recorded API shapes.

The recorded series are Google's own (shared/fixtures/gcp/monitoring-timeseries, from
opentelemetry-operations-go): CreateTimeSeriesRequest bodies. A fake timeSeries.list serves
them the way the API does: series of one metric type whose points fall in (start, end],
newest point first, `pageSize` series per page and a `nextPageToken` until the last.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from exporter.checkpoint import (
    CheckpointConflict,
    FileCheckpointStore,
    GcsCheckpointStore,
    checkpoint_store,
)
from exporter.config import ExporterConfig
from exporter.export import run_export
from exporter.monitoring import ListRequest, http_fetcher, parse_rfc3339, rfc3339
from exporter.publish import Message
from tests.conftest import fixture_path

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
TCP = "agent.googleapis.com/network/tcp_connections"  # 12 recorded series
GAUGE = "workload.googleapis.com/simple.gauge"  # 2 series, DOUBLE
HISTOGRAM = "workload.googleapis.com/simple.float64.histogram"  # DISTRIBUTION


def recorded_series() -> list[dict[str, Any]]:
    series = []
    for path in sorted(fixture_path("gcp", "monitoring-timeseries").glob("*.json")):
        document = json.loads(path.read_text())
        for key in ("createTimeSeriesRequests", "createServiceTimeSeriesRequests"):
            for request in document.get(key, []):
                series.extend(request["timeSeries"])
    assert len(series) > 100
    return series


class FakeMonitoring:
    """projects.timeSeries.list over the recorded series, one point per minute each."""

    def __init__(self, series: list[dict[str, Any]], minutes: range = range(-240, 241)) -> None:
        self.recorded = series
        self.minutes = minutes
        self._points: dict[int, list[tuple[datetime, dict[str, Any]]]] = {}
        self.requests: list[dict[str, str]] = []

    def points(self, index: int) -> list[tuple[datetime, dict[str, Any]]]:
        """The recorded point repeated every minute around T0 (built on first use)."""
        if index not in self._points:
            template = self.recorded[index]["points"][0]
            points = []
            for minute in self.minutes:
                point = copy.deepcopy(template)
                end = T0 + timedelta(minutes=minute)
                point["interval"]["endTime"] = rfc3339(end)
                if "startTime" in point["interval"]:  # CUMULATIVE: the start stays put
                    point["interval"]["startTime"] = rfc3339(T0 - timedelta(days=1))
                points.append((end, point))
            self._points[index] = points
        return self._points[index]

    def __call__(self, request: ListRequest) -> dict[str, Any]:
        params = request.params()
        self.requests.append(params)
        match = re.fullmatch(r'metric\.type = "([^"]+)"', params["filter"])
        assert match, params["filter"]
        start = parse_rfc3339(params["interval.startTime"])
        end = parse_rfc3339(params["interval.endTime"])
        assert params["view"] == "FULL" and start < end
        matching = []
        for index, recorded in enumerate(self.recorded):
            if recorded["metric"]["type"] != match.group(1):
                continue
            inside = [point for moment, point in self.points(index) if start < moment <= end]
            if inside:
                matching.append({**recorded, "points": list(reversed(inside))})
        offset = int(params.get("pageToken") or 0)
        size = int(params["pageSize"])
        response: dict[str, Any] = {"timeSeries": matching[offset : offset + size]}
        if offset + size < len(matching):
            response["nextPageToken"] = str(offset + size)
        return response

    def tokens(self, metric_type: str) -> list[str]:
        return [
            request.get("pageToken", "")
            for request in self.requests
            if metric_type in request["filter"]
        ]


class FakePublisher:
    """Records what was published; can be told to fail on the Nth batch."""

    def __init__(self, fail_on_batch: int | None = None) -> None:
        self.messages: list[Message] = []
        self.batches = 0
        self.fail_on_batch = fail_on_batch

    def __call__(self, messages: Sequence[Message]) -> list[str]:
        self.batches += 1
        if self.batches == self.fail_on_batch:
            raise TimeoutError("Pub/Sub did not accept the batch")
        self.messages.extend(messages)
        return [f"id-{len(self.messages) - len(messages) + i}" for i in range(len(messages))]

    def series(self, metric_type: str | None = None) -> list[dict[str, Any]]:
        return [
            json.loads(message.data)
            for message in self.messages
            if metric_type in (None, message.attributes["metric_type"])
        ]


def published_points(publisher: FakePublisher) -> list[tuple[str, str]]:
    """(series identity, point end time) for every published point."""
    keys = []
    for series in publisher.series():
        identity = json.dumps([series["metric"], series["resource"]], sort_keys=True)
        keys += [(identity, point["interval"]["endTime"]) for point in series["points"]]
    return keys


@pytest.fixture(scope="module")
def monitoring_series() -> list[dict[str, Any]]:
    return recorded_series()


@pytest.fixture
def monitoring(monitoring_series) -> FakeMonitoring:
    return FakeMonitoring(monitoring_series)


@pytest.fixture
def config() -> ExporterConfig:
    return ExporterConfig(
        project="apoa-test",
        metric_types=(TCP, GAUGE, HISTOGRAM),
        initial_lookback=timedelta(minutes=30),
        settle=timedelta(minutes=4),
        max_window=timedelta(hours=1),
        page_size=5,
    )


@pytest.fixture
def store(tmp_path) -> FileCheckpointStore:
    return FileCheckpointStore(tmp_path / "checkpoint.json")


def test_first_run_publishes_each_series_once_and_advances_the_checkpoint(
    config, monitoring, store
):
    publisher = FakePublisher()
    results, failed = run_export(config, monitoring, publisher, store, now=T0)

    assert failed == []
    assert [len(publisher.series(metric)) for metric in config.metric_types] == [12, 2, 2]
    # Window (T0 - 30 min, T0 - 4 min]: 26 one-minute points per series, newest first.
    for series in publisher.series():
        ends = [point["interval"]["endTime"] for point in series["points"]]
        assert len(ends) == 26
        assert ends[0] == rfc3339(T0 - timedelta(minutes=4))
        assert ends == sorted(ends, reverse=True)
    for metric_type in config.metric_types:
        assert store.load(metric_type) == T0 - timedelta(minutes=4)
    assert [result.series for result in results] == [12, 2, 2]


def test_each_message_is_the_timeseries_as_listed_with_its_attributes(
    config, monitoring, monitoring_series, store
):
    publisher = FakePublisher()
    run_export(config, monitoring, publisher, store, now=T0)

    recorded = [series for series in monitoring_series if series["metric"]["type"] == HISTOGRAM]
    published = publisher.series(HISTOGRAM)
    for original, sent in zip(recorded, published, strict=True):
        assert sent["metric"] == original["metric"] and sent["resource"] == original["resource"]
        assert sent["valueType"] == "DISTRIBUTION" and sent["metricKind"] == "CUMULATIVE"
        assert sent["points"][0]["value"] == original["points"][0]["value"]
    message = next(m for m in publisher.messages if m.attributes["metric_type"] == GAUGE)
    assert message.attributes["source"] == "cloud-monitoring-exporter"
    assert message.attributes["resource_type"] == "generic_task"
    assert message.attributes["window_end"] == rfc3339(T0 - timedelta(minutes=4))
    assert re.fullmatch(r"[0-9a-f]{32}", message.attributes["export_id"])
    assert len({m.attributes["export_id"] for m in publisher.messages}) == 16


def test_paging_follows_next_page_token_until_the_last_page(config, monitoring, store):
    publisher = FakePublisher()
    run_export(config, monitoring, publisher, store, now=T0)

    assert monitoring.tokens(TCP) == ["", "5", "10"]
    assert monitoring.tokens(GAUGE) == [""]
    assert publisher.batches == 3 + 1 + 1
    identities = [json.dumps(series["metric"]) for series in publisher.series(TCP)]
    assert len(set(identities)) == 12


def test_a_rerun_publishes_nothing_twice(config, monitoring, store):
    first = FakePublisher()
    run_export(config, monitoring, first, store, now=T0)

    again = FakePublisher()
    results, failed = run_export(config, monitoring, again, store, now=T0)
    assert (results, failed, again.messages) == ([], [], [])

    later = FakePublisher()
    run_export(config, monitoring, later, store, now=T0 + timedelta(minutes=10))
    assert len(later.series(TCP)) == 12
    assert all(len(series["points"]) == 10 for series in later.series())
    assert not set(published_points(first)) & set(published_points(later))
    assert store.load(TCP) == T0 + timedelta(minutes=6)


def test_a_publish_failure_leaves_the_checkpoint_unmoved(config, monitoring, store):
    store.save(TCP, T0 - timedelta(minutes=20))
    failing = FakePublisher(fail_on_batch=2)  # TCP's second page
    results, failed = run_export(config, monitoring, failing, store, now=T0)

    assert failed == [TCP]
    assert store.load(TCP) == T0 - timedelta(minutes=20)
    # The other metric types were still exported and checkpointed.
    assert store.load(GAUGE) == store.load(HISTOGRAM) == T0 - timedelta(minutes=4)
    assert {result.metric_type for result in results} == {GAUGE, HISTOGRAM}

    # The rerun repeats the whole TCP window (at least once), with the same export ids.
    first_ids = {
        m.attributes["export_id"] for m in failing.messages if m.attributes["metric_type"] == TCP
    }
    retry = FakePublisher()
    results, failed = run_export(config, monitoring, retry, store, now=T0)
    assert failed == [] and len(retry.series(TCP)) == 12
    assert retry.series(GAUGE) == []
    assert first_ids <= {m.attributes["export_id"] for m in retry.messages}
    assert store.load(TCP) == T0 - timedelta(minutes=4)


def test_a_fetch_failure_leaves_the_checkpoint_unmoved(config, monitoring, store):
    def broken(request: ListRequest) -> dict[str, Any]:
        if request.metric_type == GAUGE:
            raise ConnectionError("monitoring.googleapis.com unreachable")
        return monitoring(request)

    _, failed = run_export(config, broken, FakePublisher(), store, now=T0)
    assert failed == [GAUGE]
    assert store.load(GAUGE) is None
    assert store.load(TCP) == T0 - timedelta(minutes=4)


def test_a_long_gap_is_caught_up_window_by_window(config, monitoring, store):
    store.save(GAUGE, T0 - timedelta(hours=3))
    gauge_only = ExporterConfig(**{**config.__dict__, "metric_types": (GAUGE,)})
    publisher = FakePublisher(fail_on_batch=3)
    results, failed = run_export(gauge_only, monitoring, publisher, store, now=T0)

    # Two full hours went through; the third window failed and stays to be redone.
    assert failed == [GAUGE]
    assert [(r.start, r.end) for r in results] == [
        (T0 - timedelta(hours=3), T0 - timedelta(hours=2)),
        (T0 - timedelta(hours=2), T0 - timedelta(hours=1)),
    ]
    assert store.load(GAUGE) == T0 - timedelta(hours=1)

    results, failed = run_export(gauge_only, monitoring, FakePublisher(), store, now=T0)
    assert failed == [] and [(r.start, r.end) for r in results] == [
        (T0 - timedelta(hours=1), T0 - timedelta(minutes=4))
    ]


# --- Requests, configuration and checkpoint stores -----------------------------------------


class FakeResponse:
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        self.status_code = status
        self.body = body
        self.headers = headers or {}

    @property
    def content(self) -> bytes:
        return json.dumps(self.body).encode()

    def json(self) -> Any:
        return self.body

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}")


class FakeSession:
    def __init__(self, responses: list[FakeResponse]) -> None:
        self.responses = responses
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def get(self, url: str, **kwargs: Any) -> FakeResponse:
        self.calls.append(("GET", url, kwargs))
        return self.responses.pop(0)

    def post(self, url: str, **kwargs: Any) -> FakeResponse:
        self.calls.append(("POST", url, kwargs))
        return self.responses.pop(0)


def test_http_fetcher_sends_a_timeseries_list_request():
    session = FakeSession([FakeResponse(200, {"timeSeries": []})])
    request = ListRequest(
        project="apoa-test",
        metric_type="run.googleapis.com/container/cpu/utilizations",
        start=T0 - timedelta(hours=1),
        end=T0,
        page_size=500,
        page_token="abc",
        extra_filter='resource.labels.service_name = starts_with("apoa-")',
    )
    assert http_fetcher(session)(request) == {"timeSeries": []}
    [(method, url, kwargs)] = session.calls
    assert (method, url) == (
        "GET",
        "https://monitoring.googleapis.com/v3/projects/apoa-test/timeSeries",
    )
    assert kwargs["params"] == {
        "filter": 'metric.type = "run.googleapis.com/container/cpu/utilizations" AND '
        '(resource.labels.service_name = starts_with("apoa-"))',
        "interval.startTime": "2026-11-02T11:00:00.000000Z",
        "interval.endTime": "2026-11-02T12:00:00.000000Z",
        "view": "FULL",
        "pageSize": "500",
        "pageToken": "abc",
    }


def test_rfc3339_parses_the_precisions_the_api_writes():
    assert parse_rfc3339("1970-01-01T00:00:00Z") == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_rfc3339("2026-11-02T12:00:00.123456789Z").microsecond == 123456
    assert parse_rfc3339(rfc3339(T0)) == T0


def test_config_from_env():
    config = ExporterConfig.from_env(
        {
            "GOOGLE_CLOUD_PROJECT": "p",
            "APOA_EXPORTER_METRIC_TYPES": " a/b , c/d ,",
            "APOA_EXPORTER_CHECKPOINT": "gs://bucket/checkpoint.json",
            "APOA_EXPORTER_SETTLE_SECONDS": "60",
        }
    )
    assert config.project == "p"
    assert config.metric_types == ("a/b", "c/d")
    assert config.topic == "pipeline-metrics"
    assert config.checkpoint == "gs://bucket/checkpoint.json"
    assert config.settle == timedelta(minutes=1)
    with pytest.raises(ValueError, match="METRIC_TYPES"):
        ExporterConfig.from_env({"GOOGLE_CLOUD_PROJECT": "p"})


def test_file_checkpoint_never_moves_backwards(tmp_path):
    store = FileCheckpointStore(tmp_path / "state" / "checkpoint.json")
    assert store.load(TCP) is None
    store.save(TCP, T0)
    store.save(TCP, T0 - timedelta(minutes=5))
    assert FileCheckpointStore(tmp_path / "state" / "checkpoint.json").load(TCP) == T0


def test_gcs_checkpoint_writes_with_generation_preconditions():
    session = FakeSession(
        [
            FakeResponse(404),
            FakeResponse(200, {"generation": "17"}),
            FakeResponse(200, {"generation": "18"}),
            FakeResponse(412),
        ]
    )
    store = checkpoint_store("gs://apoa-state/exporter/checkpoint.json", session)
    assert isinstance(store, GcsCheckpointStore)
    assert store.load(TCP) is None
    store.save(TCP, T0)
    store.save(GAUGE, T0)
    with pytest.raises(CheckpointConflict):
        store.save(HISTOGRAM, T0)

    get, first, second, _ = session.calls
    assert get[1].endswith("/b/apoa-state/o/exporter%2Fcheckpoint.json")
    assert first[2]["params"]["ifGenerationMatch"] == "0"
    assert second[2]["params"]["ifGenerationMatch"] == "17"
    assert json.loads(second[2]["data"]) == {TCP: rfc3339(T0), GAUGE: rfc3339(T0)}


def test_gcs_checkpoint_reads_an_existing_object():
    document = {TCP: "2026-11-02T11:56:00.000000Z"}
    session = FakeSession([FakeResponse(200, document, {"x-goog-generation": "42"})])
    store = GcsCheckpointStore(session, "b", "checkpoint.json")
    assert store.load(TCP) == T0 - timedelta(minutes=4)
    assert store.load(GAUGE) is None
    assert len(session.calls) == 1


# --- The real publisher, on the Pub/Sub emulator -------------------------------------------


@pytest.mark.emulator
def test_pubsub_publisher_delivers_data_and_attributes(tmp_path):
    from apoa.emulator import PubSubEmulator
    from exporter.publish import pubsub_publisher

    if not PubSubEmulator.available():
        if os.environ.get("APOA_REQUIRE_EMULATOR"):
            pytest.fail("gcloud (the Pub/Sub emulator) is required here but not installed")
        pytest.skip("gcloud is not installed: no Pub/Sub emulator")
    emulator = PubSubEmulator("apoa-exporter-test", log=Path(tmp_path / "emulator.log")).start()
    try:
        from google.cloud import pubsub_v1

        publisher_client = pubsub_v1.PublisherClient()
        subscriber = pubsub_v1.SubscriberClient()
        topic = publisher_client.topic_path("apoa-exporter-test", "pipeline-metrics")
        subscription = subscriber.subscription_path("apoa-exporter-test", "metrics-check")
        publisher_client.create_topic(name=topic)
        subscriber.create_subscription(name=subscription, topic=topic)

        message = Message(b'{"metric":{}}', {"source": "cloud-monitoring-exporter", "x": "1"})
        ids = pubsub_publisher("apoa-exporter-test", "pipeline-metrics")([message, message])
        assert len(ids) == 2

        received = subscriber.pull(subscription=subscription, max_messages=10, timeout=30)
        got = [(m.message.data, dict(m.message.attributes)) for m in received.received_messages]
        assert got == [(message.data, message.attributes)] * 2

        missing = pubsub_publisher("apoa-exporter-test", "no-such-topic")
        with pytest.raises(Exception):  # noqa: B017 - NotFound, surfaced by the future
            missing([message])
    finally:
        emulator.stop()
