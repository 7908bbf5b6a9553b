"""What every subscriber does with a push delivery from apoa-findings.

    authenticate -> decode the envelope -> validate the event against its schema
    -> the subscriber's own filter -> claim event_id -> act -> mark done -> answer

Answers follow Pub/Sub's rules: 2xx acknowledges; anything else is redelivered with
backoff (and, in production, dead-lettered after the subscription's maximum attempts).
So a message that can never succeed (not an event, fails its schema, or an action the
destination refuses with a 4xx) is logged and acknowledged; only a transient failure
(5xx, rate limit, network) answers 503.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ingest.log import log
from ingest.push_auth import AuthFailure, PushAuthConfig, verify_push
from publisher.subscribers.dedup import Claim, DedupStore
from publisher.subscribers.filters import AttributeFilter
from publisher.validation import schema_errors


class PermanentFailure(Exception):
    """The destination refused the action for good (4xx): log, acknowledge, do not retry."""


class TransientFailure(Exception):
    """The destination is unavailable for now (5xx, rate limit): Pub/Sub redelivers."""


class NotAnEnvelope(ValueError):
    pass


@dataclass(frozen=True)
class Delivery:
    message_id: str | None
    attributes: dict[str, str]
    body: Any
    subscription: str | None


def decode_delivery(raw: bytes) -> Delivery:
    """A push body -> the finding event it carries. Raises NotAnEnvelope, or ValueError for
    an envelope whose data is not a JSON object."""
    try:
        envelope = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise NotAnEnvelope(f"body is not JSON: {error}") from None
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(message, dict):
        raise NotAnEnvelope("body has no 'message' object")
    attributes = message.get("attributes") or {}
    attributes = (
        {str(k): str(v) for k, v in attributes.items()} if isinstance(attributes, dict) else {}
    )
    message_id = message.get("messageId") or message.get("message_id")
    try:
        data = base64.b64decode(message.get("data") or "", validate=True)
        body = json.loads(data)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"message data is not base64 JSON: {error}") from None
    subscription = envelope.get("subscription")
    return Delivery(
        str(message_id) if message_id else None,
        attributes,
        body,
        subscription if isinstance(subscription, str) else None,
    )


Act = Callable[[dict[str, Any]], "str | None"]


@dataclass
class Subscriber:
    """A subscriber: its name, its filter, its de-dup store and what it does with an event."""

    name: str
    act: Act
    store: DedupStore
    filter: AttributeFilter = field(default_factory=lambda: AttributeFilter.parse(""))
    auth: PushAuthConfig = field(default_factory=PushAuthConfig)
    counts: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def handle(self, raw: bytes, authorization: str | None = None) -> tuple[str, int]:
        """Answer one push delivery: (text, HTTP status)."""
        if self.auth.enabled:
            try:
                verify_push(authorization, self.auth)
            except AuthFailure as failure:
                log(
                    "WARNING",
                    "push authentication failed",
                    subscriber=self.name,
                    reason=failure.reason,
                )
                return f"unauthenticated: {failure.reason}", failure.status
        try:
            delivery = decode_delivery(raw)
        except NotAnEnvelope as error:
            return f"not a Pub/Sub push envelope: {error}", 400
        except ValueError as error:
            self._count("invalid")
            log(
                "ERROR",
                "undecodable finding event; acknowledged",
                subscriber=self.name,
                reason=str(error),
            )
            return "", 204
        self._count("received")
        event = delivery.body
        errors = schema_errors(event)
        if errors:
            self._count("invalid")
            log(
                "ERROR",
                "finding event breaks its schema; acknowledged",
                subscriber=self.name,
                message_id=delivery.message_id,
                errors=errors[:5],
            )
            return "", 204
        # Filter on the event's own fields, so a missing attribute cannot let anything through.
        attributes = {**delivery.attributes, **_filter_attributes(event)}
        if not self.filter.accepts(attributes):
            self._count("filtered")
            log("DEBUG", "filtered out", subscriber=self.name, event_id=event["event_id"])
            return "", 204
        return self._act_once(event)

    def _act_once(self, event: dict[str, Any]) -> tuple[str, int]:
        event_id = event["event_id"]
        claim = self.store.claim(event_id)
        if claim is Claim.DONE:
            self._count("duplicates")
            log("INFO", "already delivered; acknowledged", subscriber=self.name, event_id=event_id)
            return "", 204
        if claim is Claim.BUSY:
            self._count("busy")
            return "another delivery of this event is in progress", 503
        try:
            note = self.act(event)
        except PermanentFailure as error:
            self.store.release(event_id)
            self._count("refused")
            log(
                "ERROR",
                "destination refused the finding; not retried",
                subscriber=self.name,
                event_id=event_id,
                finding_id=event["finding_id"],
                reason=str(error),
            )
            return "", 204
        except Exception as error:  # noqa: BLE001 - any other failure: let Pub/Sub redeliver
            self.store.release(event_id)
            self._count("failed")
            log(
                "WARNING",
                "delivery failed; Pub/Sub will redeliver",
                subscriber=self.name,
                event_id=event_id,
                error=f"{type(error).__name__}: {error}",
            )
            return "failed, retry later", 503
        self.store.complete(event_id, note)
        self._count("acted")
        log(
            "INFO",
            "finding delivered",
            subscriber=self.name,
            event_id=event_id,
            finding_id=event["finding_id"],
            status=event["status"],
            note=note,
        )
        return "", 204


def _filter_attributes(event: Mapping[str, Any]) -> dict[str, str]:
    entity = event.get("entity") or {}
    return {
        "kind": str(event.get("kind")),
        "severity": str(event.get("severity")),
        "status": str(event.get("status")),
        "finding_id": str(event.get("finding_id")),
        "event_id": str(event.get("event_id")),
        "repository": str(entity.get("repository") or ""),
    }


# --------------------------------------------------------------------------- hosting


_instances: dict[str, Subscriber] = {}
_instances_lock = threading.Lock()


def install(subscriber: Subscriber) -> None:
    """Use this subscriber for its name's HTTP function (tests; or a host that builds its own)."""
    with _instances_lock:
        _instances[subscriber.name] = subscriber


def uninstall(name: str) -> None:
    with _instances_lock:
        _instances.pop(name, None)


def instance(name: str, build: Callable[[], Subscriber]) -> Subscriber:
    """The subscriber for `name`, built from the environment once per process."""
    with _instances_lock:
        if name not in _instances:
            _instances[name] = build()
        return _instances[name]


def filter_from_env(default: str) -> AttributeFilter:
    """APOA_SUBSCRIBER_FILTER: the subscription's own filter expression (see filters.py)."""
    return AttributeFilter.parse(os.environ.get("APOA_SUBSCRIBER_FILTER", default))


def credential(*names: str) -> str | None:
    """The first set of these environment variables, then APOA_SUBSCRIBER_CREDENTIAL (the
    Secret Manager value Cloud Run injects)."""
    for name in (*names, "APOA_SUBSCRIBER_CREDENTIAL"):
        value = os.environ.get(name)
        if value:
            return value.strip()
    return None
