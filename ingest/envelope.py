"""Decode Pub/Sub push envelopes and CloudEvents into landable rows.

Pure functions, no I/O. Three outcomes:
- a `RawMessage` to land in the topic's raw table;
- a `DeadLetter`: a well-formed envelope whose content can never be landed
  (bad base64, not JSON, empty, too large, unknown topic). It is kept with its
  reason and acknowledged, because Pub/Sub redelivers any non-2xx push forever;
- `NotAnEnvelope` raised: the body is not a Pub/Sub envelope at all (HTTP 400).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ingest.raw_tables import TOPIC_TABLES


class NotAnEnvelope(ValueError):
    """The request body is not a Pub/Sub push envelope or CloudEvent."""


@dataclass(frozen=True)
class RawMessage:
    topic: str
    message_id: str
    publish_time: datetime | None
    attributes: dict[str, str]
    subscription: str | None
    payload: str


@dataclass(frozen=True)
class DeadLetter:
    source: str
    reason: str
    body: str
    topic: str | None = None
    message_id: str | None = None
    attributes: dict[str, str] | None = None
    line_number: int | None = None

    @property
    def dead_letter_id(self) -> str:
        # Stable across redeliveries of the same bad message, so it is kept once.
        key = "\x1f".join(
            [
                self.source,
                self.topic or "",
                self.message_id or "",
                str(self.line_number or ""),
                self.reason,
                hashlib.sha256(self.body.encode("utf-8", "surrogatepass")).hexdigest(),
            ]
        )
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


Decoded = RawMessage | DeadLetter


def parse_json_body(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise NotAnEnvelope(f"body is not JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise NotAnEnvelope("body is not a JSON object")
    return parsed


def decode_push(body: bytes, topic: str, max_payload_bytes: int) -> Decoded:
    """Decode the HTTP body of a push subscription delivery for `topic`."""
    envelope = parse_json_body(body)
    message = envelope.get("message")
    if not isinstance(message, dict):
        raise NotAnEnvelope("body has no 'message' object")
    subscription = envelope.get("subscription")
    return _decode_message(
        message,
        topic=topic,
        subscription=subscription if isinstance(subscription, str) else None,
        source="push",
        raw_body=body,
        max_payload_bytes=max_payload_bytes,
    )


def decode_cloudevent(
    source: str, data: Mapping[str, Any] | None, raw_body: bytes, max_payload_bytes: int
) -> Decoded:
    """Decode a `google.cloud.pubsub.topic.v1.messagePublished` CloudEvent.

    The topic is the last part of the event source,
    `//pubsub.googleapis.com/projects/P/topics/T`.
    """
    topic = source.rsplit("/topics/", 1)[1] if "/topics/" in source else ""
    message = data.get("message") if isinstance(data, Mapping) else None
    if not isinstance(message, dict):
        return DeadLetter(
            source="cloudevent",
            topic=topic or None,
            reason="cloudevent data has no 'message' object",
            body=_text(raw_body),
        )
    subscription = data.get("subscription") if isinstance(data, Mapping) else None
    return _decode_message(
        message,
        topic=topic,
        subscription=subscription if isinstance(subscription, str) else None,
        source="cloudevent",
        raw_body=raw_body,
        max_payload_bytes=max_payload_bytes,
    )


def _decode_message(
    message: dict[str, Any],
    *,
    topic: str,
    subscription: str | None,
    source: str,
    raw_body: bytes,
    max_payload_bytes: int,
) -> Decoded:
    # Push bodies carry both spellings (messageId and message_id); accept either.
    message_id = message.get("messageId") or message.get("message_id")
    message_id = str(message_id) if isinstance(message_id, str | int) else None
    attributes = _attributes(message.get("attributes"))

    def dead(reason: str) -> DeadLetter:
        return DeadLetter(
            source=source,
            topic=topic or None,
            message_id=_storable(message_id) if message_id else None,
            attributes={_storable(k): _storable(v) for k, v in attributes.items()},
            reason=reason,
            body=_text(raw_body),
        )

    if topic not in TOPIC_TABLES:
        return dead(f"unknown topic {topic!r}; expected one of {sorted(TOPIC_TABLES)}")
    if not message_id:
        return dead("message has no messageId, so it cannot be landed idempotently")
    if not _is_text(message_id) or not all(
        _is_text(k) and _is_text(v) for k, v in attributes.items()
    ):
        return dead("messageId or attributes are not valid Unicode text")
    data = message.get("data")
    if not isinstance(data, str) or not data:
        return dead("message data is empty")
    if len(data) > max_payload_bytes * 4 // 3 + 4:
        return dead(f"message data is larger than the {max_payload_bytes}-byte limit")
    try:
        payload_bytes = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return dead("message data is not valid base64")
    if len(payload_bytes) > max_payload_bytes:
        return dead(f"message data is larger than the {max_payload_bytes}-byte limit")
    try:
        payload = payload_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return dead("message data is not UTF-8 text")
    try:
        json.loads(payload)
    except (json.JSONDecodeError, RecursionError):
        return dead("message data is not JSON")
    if "\x00" in payload:
        # JSON may escape NUL as \u0000 but a raw NUL byte is not valid JSON text anyway.
        return dead("message data contains a NUL byte")
    return RawMessage(
        topic=topic,
        message_id=message_id,
        publish_time=_timestamp(message.get("publishTime") or message.get("publish_time")),
        attributes=attributes,
        subscription=subscription,
        payload=payload,
    )


def _is_text(value: str) -> bool:
    """False for strings holding lone surrogates (possible from JSON escapes), which no
    UTF-8 store can hold."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _attributes(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(key): str(item) for key, item in value.items()}


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(tzinfo=None)


def _storable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _text(raw: bytes) -> str:
    # Keep undecodable bytes visible rather than lose them.
    return raw.decode("utf-8", "backslashreplace")
