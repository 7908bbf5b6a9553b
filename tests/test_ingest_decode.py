"""Decoding push envelopes and CloudEvents, with every real fixture."""

from __future__ import annotations

import base64
import json

import pytest

from ingest.envelope import (
    DeadLetter,
    NotAnEnvelope,
    RawMessage,
    decode_cloudevent,
    decode_push,
)
from tests.conftest import fixture_path, load_json

LIMIT = 1024 * 1024


def envelope(data: bytes | str | None, message_id: str | None = "m-1", **message) -> bytes:
    body: dict = {"subscription": "projects/p/subscriptions/s", "message": dict(message)}
    if message_id is not None:
        body["message"]["messageId"] = message_id
    if data is not None:
        body["message"]["data"] = data if isinstance(data, str) else base64.b64encode(data).decode()
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "name",
    [
        "ff-python_raw_pubsub_request.json",
        "ff-python_raw_pubsub_request_noattributes.json",
        "ff-nodejs_RAW_PUBSUB_BODY.json",
    ],
)
def test_real_push_bodies_with_json_data_land(name):
    body = fixture_path("gcp", "pubsub-push", name).read_bytes()
    decoded = decode_push(body, "github-events", LIMIT)
    assert isinstance(decoded, RawMessage)
    assert json.loads(decoded.payload) == {"foo": "bar"}
    assert decoded.subscription.startswith("projects/")
    assert (
        decoded.message_id
        == load_json(fixture_path("gcp", "pubsub-push", name))["message"]["messageId"]
    )


def test_full_push_body_with_both_spellings_keeps_id_time_and_attributes():
    body = fixture_path("gcp", "pubsub-push", "luci-go_validBody_full.json").read_bytes()
    decoded = decode_push(body, "pipeline-logs", LIMIT)
    # Its data is plain text, not JSON: kept as a dead letter with everything it carried.
    assert isinstance(decoded, DeadLetter)
    assert decoded.reason == "message data is not JSON"
    assert decoded.message_id == "2070443601311540"
    assert decoded.attributes == {"key": "value"}
    assert b"Hello Cloud Pub/Sub" not in decoded.body.encode()  # body is the envelope, base64


def test_publish_time_is_parsed_to_utc():
    payload = base64.b64encode(b'{"a": 1}').decode()
    body = envelope(payload, publishTime="2021-02-26T19:13:55.749Z")
    decoded = decode_push(body, "pipeline-metrics", LIMIT)
    assert isinstance(decoded, RawMessage)
    assert decoded.publish_time.isoformat() == "2021-02-26T19:13:55.749000"


def test_loki_negative_bodies():
    cases = load_json(fixture_path("gcp", "pubsub-push", "loki_negative_push_bodies.json"))["cases"]
    expected = {
        "invalid JSON": NotAnEnvelope,
        "empty": NotAnEnvelope,
        "missing subscription": "message data is not valid base64",
        "missing message ID": "message has no messageId, so it cannot be landed idempotently",
        "missing data": "message data is empty",
    }
    assert set(cases) == set(expected)
    for name, case in cases.items():
        body = case.encode() if isinstance(case, str) else json.dumps(case).encode()
        outcome = expected[name]
        if outcome is NotAnEnvelope:
            with pytest.raises(NotAnEnvelope):
                decode_push(body, "github-events", LIMIT)
        else:
            decoded = decode_push(body, "github-events", LIMIT)
            assert isinstance(decoded, DeadLetter), name
            assert decoded.reason == outcome, name


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("not base64!", "message data is not valid base64"),
        (b"\xff\xfe\xfd", "message data is not UTF-8 text"),
        (b"\x01\x02\x03\x04", "message data is not JSON"),
        (b"plain text", "message data is not JSON"),
        ("", "message data is empty"),
    ],
)
def test_bad_content_is_a_dead_letter(data, reason):
    decoded = decode_push(envelope(data), "github-events", LIMIT)
    assert isinstance(decoded, DeadLetter)
    assert decoded.reason == reason
    assert decoded.message_id == "m-1"


def test_oversized_payload_is_a_dead_letter():
    decoded = decode_push(envelope(json.dumps({"x": "y" * 2000}).encode()), "github-events", 1000)
    assert isinstance(decoded, DeadLetter)
    assert "larger than the 1000-byte limit" in decoded.reason


def test_unknown_topic_is_a_dead_letter():
    decoded = decode_push(envelope(b"{}"), "gcf-test", LIMIT)
    assert isinstance(decoded, DeadLetter)
    assert decoded.reason.startswith("unknown topic 'gcf-test'")


def test_dead_letter_id_is_stable_across_redeliveries():
    first = decode_push(envelope(b"nope"), "github-events", LIMIT)
    second = decode_push(envelope(b"nope"), "github-events", LIMIT)
    other = decode_push(envelope(b"nope", message_id="m-2"), "github-events", LIMIT)
    assert first.dead_letter_id == second.dead_letter_id != other.dead_letter_id


CONFORMANCE = "cloudevents-functions-framework"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("pubsub_text-cloudevent-input.json", "unknown topic 'gcf-test'"),
        ("pubsub_binary-cloudevent-input.json", "unknown topic 'gcf-test'"),
    ],
)
def test_conformance_cloudevents_name_their_topic(name, reason):
    event = load_json(fixture_path("gcp", CONFORMANCE, "conformance", name))
    decoded = decode_cloudevent(event["source"], event["data"], b"{}", LIMIT)
    assert isinstance(decoded, DeadLetter)
    assert decoded.reason.startswith(reason)
    assert decoded.topic == "gcf-test"
    assert decoded.message_id == "aaaaaa-1111-bbbb-2222-cccccccccccc"


def test_cloudevent_on_a_known_topic_lands():
    event = load_json(
        fixture_path("gcp", CONFORMANCE, "conformance", "pubsub_text-cloudevent-input.json")
    )
    event["source"] = "//pubsub.googleapis.com/projects/p/topics/pipeline-logs"
    event["data"]["message"]["data"] = base64.b64encode(b'{"severity": "ERROR"}').decode()
    decoded = decode_cloudevent(event["source"], event["data"], b"{}", LIMIT)
    assert isinstance(decoded, RawMessage)
    assert decoded.topic == "pipeline-logs"
    assert decoded.attributes == {"attr1": "attr1-value"}
    assert decoded.subscription == "projects/sample-project/subscriptions/sample-subscription"
