"""The public doors: GitHub signatures, the webhook receiver, OIDC on push endpoints, traces."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import functions_framework
import pytest

from apoa.settings import PROJECT_DIR
from ingest.push_auth import PushAuthConfig
from ingest.signature import verify_signature
from ingest.trace import log_fields, parse
from ingest.webhook import WebhookConfig, handle_webhook
from tests.conftest import fixture_path, load_json

SOURCE = str(PROJECT_DIR / "ingest" / "main.py")


# -- signatures ---------------------------------------------------------------------------
def test_github_docs_vector():
    vector = load_json(fixture_path("github-signature", "github_docs_vector.json"))
    body = vector["payload"].encode()
    assert verify_signature(body, vector["X-Hub-Signature-256"], [vector["secret"].encode()])
    assert not verify_signature(
        body + b" ", vector["X-Hub-Signature-256"], [vector["secret"].encode()]
    )


def test_octokit_vectors_pass_and_negatives_fail():
    vectors = load_json(fixture_path("github-signature", "octokit_webhooks_methods_vectors.json"))
    for vector in vectors["vectors"]:
        body = vector["payload_exact_utf8"].encode("utf-8")
        valid = verify_signature(body, vector["X-Hub-Signature-256"], [vector["secret"].encode()])
        assert valid is vector.get("expected_valid", True), vector["description"]


def test_either_secret_of_a_rotation_verifies():
    body = b'{"zen": "ok"}'
    old, new = b"old-secret", b"new-secret"
    header = "sha256=" + hmac.new(old, body, hashlib.sha256).hexdigest()
    assert verify_signature(body, header, [new, old])
    assert not verify_signature(body, header, [new])
    assert not verify_signature(body, None, [new, old])
    assert not verify_signature(body, "sha256=", [])


# -- the receiver -------------------------------------------------------------------------
SECRET = b"receiver-test-secret"


def signed_headers(body: bytes, event: str = "workflow_job", **extra: str) -> dict[str, str]:
    return {
        "X-Hub-Signature-256": "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest(),
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Hook-ID": "421337001",
        "Content-Type": "application/json",
        **extra,
    }


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[bytes, dict[str, str]]] = []
        self.fail = fail

    def __call__(self, data: bytes, attributes: dict[str, str]) -> str:
        if self.fail:
            raise TimeoutError("pubsub unavailable")
        self.sent.append((data, attributes))
        return str(len(self.sent))


def receive(body: bytes, headers: dict[str, str], publish, **config) -> tuple[str, int]:
    settings = WebhookConfig(secrets=(SECRET,), **config)
    return handle_webhook(headers, lambda limit: body[:limit], settings, publish)


def octokit_job() -> bytes:
    return fixture_path(
        "github-webhook-examples",
        "workflow_job",
        "completed.failure.with-organization.payload.json",
    ).read_bytes()


def test_signed_delivery_is_published_with_its_attributes():
    body, recorder = octokit_job(), Recorder()
    text, status = receive(body, signed_headers(body), recorder)
    assert status == 200
    [(data, attributes)] = recorder.sent
    assert data == body
    assert attributes["github_event"] == "workflow_job"
    assert attributes["github_delivery"] == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert attributes["github_hook_id"] == "421337001"
    assert attributes["repository"] == json.loads(body)["repository"]["full_name"]
    assert attributes["github_action"] == "completed"
    assert parse(attributes["traceparent"])


@pytest.mark.parametrize(
    "headers",
    [
        {"X-GitHub-Event": "workflow_job"},
        {"X-GitHub-Event": "workflow_job", "X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-GitHub-Event": "workflow_job", "X-Hub-Signature-256": "garbage"},
    ],
)
def test_missing_or_bad_signature_is_401_and_publishes_nothing(headers):
    recorder = Recorder()
    assert receive(octokit_job(), headers, recorder)[1] == 401
    assert recorder.sent == []


def test_body_over_the_limit_is_413_before_it_is_read():
    recorder = Recorder()
    body = b"x" * 2000
    headers = signed_headers(body, **{"Content-Length": "2000"})
    assert receive(body, headers, recorder, max_body_bytes=1000)[1] == 413
    headers.pop("Content-Length")  # a chunked body without a length is cut off too
    assert receive(body, headers, recorder, max_body_bytes=1000)[1] == 413
    assert recorder.sent == []


def test_unobserved_event_is_202_with_nothing_published():
    recorder = Recorder()
    body = b'{"ref": "refs/heads/main"}'
    assert receive(body, signed_headers(body, event="push"), recorder)[1] == 202
    assert recorder.sent == []


def test_publish_failure_is_503_so_github_can_redeliver():
    body = octokit_job()
    assert receive(body, signed_headers(body), Recorder(fail=True))[1] == 503


def test_incoming_traceparent_is_continued():
    body, recorder = octokit_job(), Recorder()
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    receive(body, signed_headers(body, traceparent=caller), recorder)
    sent = recorder.sent[0][1]["traceparent"]
    assert parse(sent)[0] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert parse(sent)[1] != "00f067aa0ba902b7"


def test_log_fields_name_the_trace_for_cloud_logging(monkeypatch):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
    fields = log_fields("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    assert fields["logging.googleapis.com/trace"] == (
        "projects/my-project/traces/4bf92f3577b34da6a3ce929d0e0e4736"
    )
    assert log_fields("not a traceparent") == {}


def test_spans_join_the_delivery_trace():
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    original = trace.get_tracer
    trace.get_tracer = lambda *args, **kwargs: tracer  # type: ignore[assignment]
    try:
        body = octokit_job()
        caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        receive(body, signed_headers(body, traceparent=caller), Recorder())
    finally:
        trace.get_tracer = original  # type: ignore[assignment]
    [span] = exporter.get_finished_spans()
    assert span.name == "webhook.publish"
    assert format(span.context.trace_id, "032x") == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_receiver_entry_point_through_functions_framework(monkeypatch):
    """The deployed entry point, called as Cloud Run calls it (publishing recorded)."""
    monkeypatch.setenv("APOA_GITHUB_WEBHOOK_SECRET", SECRET.decode())
    monkeypatch.setenv("APOA_PUBSUB_PROJECT", "apoa-test")
    recorder = Recorder()
    monkeypatch.setattr("ingest.webhook.pubsub_publish", lambda project: recorder)
    app = functions_framework.create_app("github_webhook", SOURCE, "http")
    body = octokit_job()
    client = app.test_client()
    assert client.post("/", data=body, headers=signed_headers(body)).status_code == 200
    assert (
        client.post("/", data=body, headers={"X-GitHub-Event": "workflow_job"}).status_code == 401
    )
    assert len(recorder.sent) == 1 and recorder.sent[0][0] == body


# -- OIDC on push endpoints ---------------------------------------------------------------
AUDIENCE = "https://ingest.example.run.app/push"
PUSH_ACCOUNT = "apoa-push@my-project.iam.gserviceaccount.com"


def _key_and_cert(common_name: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def signing():
    """A locally minted signing key, its certificate served as Google serves its own."""
    key_pem, cert_pem = _key_and_cert("google-like")
    other_key_pem, _ = _key_and_cert("attacker")
    certs = json.dumps({"test-kid": cert_pem}).encode()

    class Certs(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(certs)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Certs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield key_pem, other_key_pem, f"http://127.0.0.1:{server.server_port}/certs"
    server.shutdown()


def mint(key_pem: bytes, **overrides) -> str:
    from google.auth import crypt, jwt

    now = int(time.time())
    claims = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "email": PUSH_ACCOUNT,
        "email_verified": True,
        "iat": now,
        "exp": now + 600,
        "sub": "1234567890",
    }
    claims.update(overrides)
    signer = crypt.RSASigner.from_string(key_pem, key_id="test-kid")
    return jwt.encode(signer, claims).decode()


@pytest.fixture
def authenticated_push(signing, settings):
    from apoa.warehouse import LocalWarehouse
    from ingest.handler import set_push_auth, set_sink

    _, _, certs_url = signing
    with LocalWarehouse(settings) as owned:
        set_sink(owned.sink)
        set_push_auth(PushAuthConfig(AUDIENCE, PUSH_ACCOUNT, certs_url))
        yield functions_framework.create_app("ingest_push", SOURCE, "http").test_client(), owned
        set_push_auth(None)
        set_sink(None)


def push(client, token: str | None, message_id: str = "auth-1"):
    body = json.dumps({"message": {"data": base64.b64encode(b'{"a": 1}').decode(),
                                   "messageId": message_id}}).encode()  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/push/pipeline-logs", data=body, headers=headers).status_code


def test_oidc_cases(authenticated_push, signing):
    client, owned = authenticated_push
    key, other_key, _ = signing
    past = int(time.time()) - 7200
    assert push(client, mint(key), "ok") == 204
    assert push(client, None) == 401
    assert push(client, mint(key, iat=past, exp=past + 600)) == 401  # expired
    assert push(client, mint(key, aud="https://someone-else.run.app")) == 401
    assert push(client, mint(key, iss="https://evil.example.com")) == 401
    assert push(client, mint(other_key)) == 401  # signed by a key Google never published
    assert push(client, mint(key, email="intruder@evil.iam.gserviceaccount.com")) == 403
    assert push(client, mint(key, email_verified=False)) == 403
    landed = owned.query("select message_id from raw.raw_pipeline_logs")
    assert landed == [{"message_id": "ok"}]
