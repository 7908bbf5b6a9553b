"""Dashboard sink: every published finding event lands in raw_finding_events.

Looker Studio should see findings between dbt builds, so the events themselves are kept,
as published, in a raw table that a view (stg_apoa__finding_events) reads live:

- production: a BigQuery subscription on apoa-findings writes the table directly
  (infra/pubsub.tf, `apoa-findings-bigquery`); no code runs;
- locally: a push subscription on apoa-findings (`apoa-findings-dashboard`) delivers to the
  warehouse owner's ingest endpoint, `apoa serve`'s /push/apoa-findings, which lands it like
  any other push (ingest/raw_tables.py maps the topic to raw_finding_events). The warehouse
  file is only ever opened by its owner.

`dashboard_sink` below is that same ingest handler as a functions-framework function bound
to the apoa-findings topic, for a host that installs its own sink (ingest.handler.set_sink).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import functions_framework
from flask import Request

from ingest.handler import handle_push

TOPIC = "apoa-findings"
SUBSCRIPTION = "apoa-findings-dashboard"
TABLE = "raw_finding_events"


def push_endpoint(owner_url: str) -> str:
    return f"{owner_url.rstrip('/')}/push/{TOPIC}"


def subscribe(project: str, owner_url: str, subscription: str = SUBSCRIPTION) -> str:
    """The push subscription apoa-findings -> the owner's /push/apoa-findings (idempotent)."""
    from google.api_core.exceptions import AlreadyExists
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(project, subscription)
    try:
        with contextlib.suppress(AlreadyExists):
            subscriber.create_subscription(
                name=path,
                topic=publisher.topic_path(project, TOPIC),
                push_config={"push_endpoint": push_endpoint(owner_url)},
                ack_deadline_seconds=60,
            )
    finally:
        subscriber.close()
    return path


def landed_events(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """raw_finding_events rows (payload as text) -> the events, in landing order."""
    ordered = sorted(rows, key=lambda row: row.get("load_seq") or 0)
    return [json.loads(row["payload"]) for row in ordered]


@functions_framework.http
def dashboard_sink(request: Request):
    return handle_push(
        f"/push/{TOPIC}", request.get_data(cache=False), request.headers.get("Authorization")
    )
