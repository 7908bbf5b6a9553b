"""The ingest handlers: decode (pure) -> land (the writer) -> answer.

The process that hosts them installs the sink once with `set_sink`; the
functions-framework entry points in `ingest/main.py` call into here.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ingest import unsafe
from ingest.config import IngestConfig
from ingest.envelope import DeadLetter, NotAnEnvelope, RawMessage, decode_cloudevent, decode_push
from ingest.log import log
from ingest.push_auth import AuthFailure, PushAuthConfig, verify_push
from ingest.storage import StorageError
from ingest.trace import log_fields

Sink = Callable[[list[RawMessage], list[DeadLetter]], None]

_PUSH_PATH = re.compile(r"^/push/(?P<topic>[a-z0-9][a-z0-9._-]{0,254})/?$")

_state: dict[str, Any] = {"sink": None, "config": None, "auth": None}
_lock = threading.Lock()


def set_sink(sink: Sink | None, config: IngestConfig | None = None) -> None:
    with _lock:
        _state["sink"] = sink
        _state["config"] = config


def _sink() -> Sink:
    sink = _state["sink"]
    if sink is None:
        with _lock:
            if _state["sink"] is None:
                _state["sink"] = _default_sink()
            sink = _state["sink"]
    return sink


def _config() -> IngestConfig:
    return _state["config"] or IngestConfig.from_env()


def set_push_auth(config: PushAuthConfig | None) -> None:
    _state["auth"] = config


def _push_auth() -> PushAuthConfig:
    if _state["auth"] is None:
        _state["auth"] = PushAuthConfig.from_env()
    return _state["auth"]


def check_push_auth(authorization: str | None) -> tuple[str, int] | None:
    """None when the request may proceed; otherwise the answer to give."""
    config = _push_auth()
    if not config.enabled:
        return None
    try:
        verify_push(authorization, config)
    except AuthFailure as failure:
        log("WARNING", "push authentication failed", reason=failure.reason)
        return f"unauthenticated: {failure.reason}", failure.status
    return None


def _default_sink() -> Sink:
    """Standalone (`functions-framework --target ingest_push`): in production
    (APOA_WAREHOUSE=bigquery) each request streams into BigQuery; locally this process
    becomes the warehouse owner. Under `apoa serve` the server installs its writer first."""
    if os.environ.get("APOA_WAREHOUSE") == "bigquery":
        from ingest.bigquery_storage import BigQueryRawStore

        return BigQueryRawStore.from_env().write_batch
    from apoa.warehouse import open_local_sink

    return open_local_sink()


def handle_push(path: str, body: bytes, authorization: str | None = None) -> tuple[str, int]:
    """Answer a Pub/Sub push delivery. Returns (text, HTTP status)."""
    match = _PUSH_PATH.match(path)
    if not match:
        return "not found: push to /push/<topic>", 404
    refused = check_push_auth(authorization)
    if refused:
        return refused
    topic = match.group("topic")
    try:
        decoded = decode_push(body, topic, _config().max_payload_bytes)
    except NotAnEnvelope as error:
        log("WARNING", "rejected push body", topic=topic, reason=str(error))
        return f"not a Pub/Sub push envelope: {error}", 400
    return _land(decoded)


def handle_cloudevent(source: str, data: Mapping[str, Any] | None, raw_body: bytes) -> None:
    """Land a messagePublished CloudEvent; raise on storage failure (the framework answers 500)."""
    decoded = decode_cloudevent(source, data, raw_body, _config().max_payload_bytes)
    text, status = _land(decoded)
    if status >= 500:
        raise StorageError(text)


def _land(decoded: RawMessage | DeadLetter) -> tuple[str, int]:
    try:
        if isinstance(decoded, RawMessage):
            _sink()([decoded], [])
            log(
                "INFO",
                "landed",
                topic=decoded.topic,
                message_id=decoded.message_id,
                **log_fields(decoded.attributes.get("traceparent")),
            )
        else:
            _sink()([], [decoded])
            log(
                "WARNING",
                "dead-lettered",
                topic=decoded.topic,
                message_id=decoded.message_id,
                reason=decoded.reason,
            )
    except StorageError as error:
        if unsafe.enabled(unsafe.ACK_ON_STORAGE_ERROR):
            return "", 204
        log("ERROR", "storage failed; asking Pub/Sub to redeliver", error=str(error))
        return "storage unavailable, retry", 503
    # 204 even for a dead letter: any other answer makes Pub/Sub redeliver it forever.
    return "", 204
