"""The public GitHub webhook receiver: verify, then publish the raw body to github-events.

Answers: 401 for a missing or bad signature; 413 for a body over the limit;
202 with nothing published for events we do not observe (so GitHub does not
retry them); 200 once Pub/Sub accepted the message; 503 when publishing failed,
so the delivery shows as failed in GitHub and can be redelivered.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ingest.log import log
from ingest.signature import verify_signature
from ingest.trace import continue_or_start, log_fields, span

# Below Pub/Sub's 10 MB message limit, leaving room for attributes.
DEFAULT_MAX_BODY_BYTES = 9 * 1024 * 1024
DEFAULT_EVENTS = ("workflow_run", "workflow_job", "ping")

Publish = Callable[[bytes, dict[str, str]], str]


@dataclass(frozen=True)
class WebhookConfig:
    secrets: tuple[bytes, ...]
    events: frozenset[str] = frozenset(DEFAULT_EVENTS)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @classmethod
    def from_env(cls) -> WebhookConfig:
        """Secrets from APOA_GITHUB_WEBHOOK_SECRET (and ..._PREVIOUS during a rotation), or
        from Secret Manager versions named in APOA_GITHUB_WEBHOOK_SECRET_VERSIONS."""
        secrets = [
            os.environ.get(name, "").encode()
            for name in ("APOA_GITHUB_WEBHOOK_SECRET", "APOA_GITHUB_WEBHOOK_SECRET_PREVIOUS")
        ]
        versions = os.environ.get("APOA_GITHUB_WEBHOOK_SECRET_VERSIONS", "")
        secrets += [_secret_manager(name.strip()) for name in versions.split(",") if name.strip()]
        events = os.environ.get("APOA_WEBHOOK_EVENTS")
        return cls(
            secrets=tuple(secret for secret in secrets if secret),
            events=frozenset(events.split(",")) if events else frozenset(DEFAULT_EVENTS),
            max_body_bytes=int(os.environ.get("APOA_WEBHOOK_MAX_BYTES", DEFAULT_MAX_BODY_BYTES)),
        )


def _secret_manager(version_name: str) -> bytes:
    from google.cloud import secretmanager

    client = secretmanager.SecretManagerServiceClient()
    return client.access_secret_version(name=version_name).payload.data


def handle_webhook(
    headers: Mapping[str, str],
    read_body: Callable[[int], bytes],
    config: WebhookConfig,
    publish: Publish,
) -> tuple[str, int]:
    declared = headers.get("Content-Length")
    # isdigit() alone accepts digits int() refuses ('²'): a crash, found by hypothesis
    if (
        declared
        and declared.isascii()
        and declared.isdigit()
        and int(declared) > config.max_body_bytes
    ):
        return f"body larger than {config.max_body_bytes} bytes", 413
    body = read_body(config.max_body_bytes + 1)
    if len(body) > config.max_body_bytes:
        return f"body larger than {config.max_body_bytes} bytes", 413
    if not verify_signature(body, headers.get("X-Hub-Signature-256"), config.secrets):
        log("WARNING", "webhook signature missing or invalid",
            delivery=headers.get("X-GitHub-Delivery"))  # fmt: skip
        return "signature missing or invalid", 401

    event = headers.get("X-GitHub-Event", "")
    delivery = headers.get("X-GitHub-Delivery", "")
    if event not in config.events:
        return f"event {event!r} is not observed; nothing published", 202

    traceparent = continue_or_start(headers.get("traceparent"))
    attributes = {
        "github_event": event,
        "github_delivery": delivery,
        "github_hook_id": headers.get("X-GitHub-Hook-ID", ""),
        "repository": _repository(body),
        "traceparent": traceparent,
    }
    action = _action(body)
    if action:
        # Pub/Sub subscription filters see attributes only: this lets the build trigger
        # subscribe to completed runs and jobs alone.
        attributes["github_action"] = action
    try:
        with span("webhook.publish", traceparent):
            message_id = publish(body, attributes)
    except Exception as error:  # noqa: BLE001 - any publish failure must become a 5xx
        log("ERROR", "publishing the delivery failed", delivery=delivery, error=str(error),
            **log_fields(traceparent))  # fmt: skip
        return "could not publish the delivery; retry", 503
    log("INFO", "webhook published", delivery=delivery, event=event, message_id=message_id,
        **log_fields(traceparent))  # fmt: skip
    return f"published {message_id}", 200


def _parsed(body: bytes) -> dict:
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _repository(body: bytes) -> str:
    repository = _parsed(body).get("repository")
    name = repository.get("full_name") if isinstance(repository, dict) else None
    return name if isinstance(name, str) else ""


def _action(body: bytes) -> str:
    action = _parsed(body).get("action")
    return action if isinstance(action, str) else ""


def pubsub_publish(project: str, topic: str = "github-events") -> Publish:
    from google.cloud import pubsub_v1

    client = pubsub_v1.PublisherClient()
    topic_path = client.topic_path(project, topic)

    def publish(data: bytes, attributes: dict[str, str]) -> str:
        return client.publish(topic_path, data, **attributes).result(timeout=30)

    return publish
