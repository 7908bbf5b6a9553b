"""functions-framework entry points.

    functions-framework --source ingest/main.py --target ingest_push
    functions-framework --source ingest/main.py --target ingest_cloudevent \
        --signature-type cloudevent

    functions-framework --source ingest/main.py --target github_webhook

`ingest_push` serves Pub/Sub push subscriptions at /push/<topic> (a push body
does not name its topic, so the path does); `ingest_cloudevent` takes the
Eventarc/CloudEvent form, whose `source` names the topic.
"""

import os

import functions_framework
from flask import Request

from ingest.handler import handle_cloudevent, handle_push
from ingest.trace import configure_exporter
from ingest.webhook import WebhookConfig, handle_webhook, pubsub_publish

configure_exporter()
_webhook: dict = {}


@functions_framework.http
def ingest_push(request: Request):
    text, status = handle_push(
        request.path, request.get_data(cache=False), request.headers.get("Authorization")
    )
    return text, status


@functions_framework.cloud_event
def ingest_cloudevent(event) -> None:
    handle_cloudevent(str(event["source"]), event.data, _raw_body(event))


def _raw_body(event) -> bytes:
    import json

    return json.dumps(
        {"source": event["source"], "id": event["id"], "data": event.data}, default=str
    ).encode()


@functions_framework.http
def github_webhook(request: Request):
    """The public receiver GitHub delivers webhooks to (see ingest/webhook.py)."""
    if not _webhook:  # read secrets and create the client once per instance
        project = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ["APOA_PUBSUB_PROJECT"]
        _webhook["config"] = WebhookConfig.from_env()
        _webhook["publish"] = pubsub_publish(project)
    return handle_webhook(
        request.headers, request.stream.read, _webhook["config"], _webhook["publish"]
    )
