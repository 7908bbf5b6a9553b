"""Bad input on every endpoint, property-based: never a crash, never an unhandled 500,
never lost: a well-formed envelope with bad content is a dead letter answered 204; a body
that is not an envelope is a 400 (the push endpoints) or a 401 (the webhook receiver)."""

from __future__ import annotations

import base64
import json
import uuid

import functions_framework
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from apoa.settings import PROJECT_DIR
from apoa.warehouse import LocalWarehouse
from ingest.handler import set_sink
from ingest.webhook import WebhookConfig, handle_webhook

SOURCE = str(PROJECT_DIR / "ingest" / "main.py")
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip

# JSON values with odd unicode (NUL, lone surrogates escaped), SQL-looking strings, nesting.
odd_text = st.one_of(
    st.text(),
    st.sampled_from(["'; drop table raw.raw_github_events; --", "\x00", "\ud800", "\\u0000",
                     "Robert'); DELETE FROM main.fct_findings;--", "é" * 1000]),
)  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | odd_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
    max_leaves=30,
)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    from apoa.settings import Settings

    with LocalWarehouse(Settings(home=tmp_path_factory.mktemp("fuzz"))) as owned:
        set_sink(owned.sink)
        yield owned
    set_sink(None)


@pytest.fixture(scope="module")
def client(warehouse):
    return functions_framework.create_app("ingest_push", SOURCE, "http").test_client()


def dead_letters(warehouse) -> int:
    return warehouse.query("select count(*) as n from raw.raw_dead_letters")[0]["n"]


def landed(warehouse) -> int:
    return warehouse.query("select count(*) as n from raw.raw_pipeline_logs")[0]["n"]


@FUZZ
@given(body=st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash_the_push_endpoint(client, body):
    status = client.post("/push/pipeline-logs", data=body).status_code
    assert status in (204, 400)


@FUZZ
@given(
    message=st.dictionaries(
        st.sampled_from(["data", "messageId", "message_id", "attributes", "publishTime"]),
        json_values,
        max_size=5,
    )
)
def test_any_message_object_is_landed_or_dead_lettered(client, warehouse, message):
    before = dead_letters(warehouse) + landed(warehouse)
    body = json.dumps({"message": message}).encode()
    status = client.post("/push/pipeline-logs", data=body).status_code
    assert status == 204  # an envelope: acknowledged whatever its content
    assert dead_letters(warehouse) + landed(warehouse) >= before  # kept, never dropped silently


@FUZZ
@given(payload=json_values, attributes=st.dictionaries(odd_text, odd_text, max_size=3),
       message_id=odd_text.filter(bool))  # fmt: skip
def test_any_json_payload_lands_byte_for_byte(client, warehouse, payload, attributes, message_id):
    data = json.dumps(payload).encode()
    message_id = f"{uuid.uuid4()}{message_id}"  # unique: a reused id is a redelivery
    body = json.dumps(
        {
            "message": {
                "data": base64.b64encode(data).decode(),
                "messageId": message_id,
                "attributes": attributes,
            }
        }
    ).encode()
    assert client.post("/push/pipeline-logs", data=body).status_code == 204
    key = message_id.encode("utf-8", "backslashreplace").decode()  # how a bad id is kept
    rows = warehouse.query("select payload from raw.raw_pipeline_logs where message_id = ?", [key])
    letters = warehouse.query("select reason from raw.raw_dead_letters where message_id = ?",
                              [key])  # fmt: skip
    assert rows or letters
    if rows:
        assert json.loads(rows[0]["payload"]) == json.loads(data)


def test_deeply_nested_json_is_a_dead_letter_not_a_crash(client, warehouse):
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    body = json.dumps({"message": {"data": base64.b64encode(deep).decode(),
                                   "messageId": "deep-1"}}).encode()  # fmt: skip
    assert client.post("/push/pipeline-logs", data=body).status_code == 204
    reasons = warehouse.query("select reason from raw.raw_dead_letters where message_id = 'deep-1'")
    assert reasons == [{"reason": "message data is not JSON"}]


def test_deeply_nested_envelope_is_a_400(client):
    assert client.post("/push/pipeline-logs", data=b"[" * 100_000).status_code == 400


SECRET = b"fuzz-secret"


@FUZZ
@given(body=st.binary(max_size=3000), headers=st.dictionaries(
    st.sampled_from(["X-Hub-Signature-256", "X-GitHub-Event", "X-GitHub-Delivery",
                     "Content-Length", "traceparent"]), odd_text, max_size=5))  # fmt: skip
@example(body=b"", headers={"Content-Length": "\u00b2"})  # a digit int() refuses: it crashed once
def test_webhook_receiver_refuses_anything_unsigned(body, headers):
    sent = []
    text, status = handle_webhook(
        headers, lambda limit: body[:limit], WebhookConfig(secrets=(SECRET,), max_body_bytes=2000),
        lambda data, attributes: sent.append(data) or "1",
    )  # fmt: skip
    assert status in (401, 413)
    assert sent == []


def test_secrets_never_reach_the_logs(capsys, monkeypatch):
    monkeypatch.setenv("APOA_LOG_LEVEL", "INFO")
    """The receiver logs failures and publishes; neither line may carry the secret."""
    import hashlib
    import hmac

    secret = "s3cr3t-value-that-must-not-leak"
    config = WebhookConfig(secrets=(secret.encode(),))
    body = b'{"action": "completed", "repository": {"full_name": "o/r"}}'
    good = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    for headers, publish in [
        ({"X-GitHub-Event": "workflow_job", "X-Hub-Signature-256": good}, lambda d, a: "1"),
        ({"X-GitHub-Event": "workflow_job", "X-Hub-Signature-256": "sha256=00"}, lambda d, a: "1"),
        ({"X-GitHub-Event": "workflow_job", "X-Hub-Signature-256": good},
         lambda d, a: (_ for _ in ()).throw(RuntimeError(f"boom {d!r}"))),
    ]:  # fmt: skip
        handle_webhook(headers, lambda limit: body, config, publish)
    captured = capsys.readouterr()
    logs = captured.out + captured.err
    assert "webhook" in logs  # the lines were written, and were captured
    assert secret not in logs
    assert good.split("=")[1] not in logs
