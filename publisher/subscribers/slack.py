"""Slack subscriber: a Block Kit message through an Incoming Webhook (slack_sdk).

    functions-framework --source publisher/subscribers/slack.py --target slack_subscriber

Environment: APOA_SLACK_WEBHOOK_URL (or APOA_SUBSCRIBER_CREDENTIAL, the Secret Manager
value in production), APOA_SUBSCRIBER_FILTER (default: warning and critical), the de-dup
store (see dedup.py), APOA_FINDING_URL_TEMPLATE for the "Finding" button.
"""

from __future__ import annotations

from typing import Any

import functions_framework
from flask import Request
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from ingest.push_auth import PushAuthConfig
from publisher.subscribers import render
from publisher.subscribers.base import (
    PermanentFailure,
    Subscriber,
    TransientFailure,
    credential,
    filter_from_env,
    instance,
)
from publisher.subscribers.dedup import store_from_env

NAME = "slack"
DEFAULT_FILTER = 'attributes.severity = "critical" OR attributes.severity = "warning"'


def blocks(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The Block Kit message: headline, summary, probable cause, evidence, buttons."""
    facts = render.evidence_facts(event)
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": render.headline(event)[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": event["summary"][:3000]}},
    ]
    cause = render.cause_text(event)
    if cause:
        out.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"*Probable cause:* {cause}"}],
            }
        )
    if facts:
        out.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{label}*\n{text}"} for label, text in facts[:10]
                ],
            }
        )
    buttons = []
    run = render.run_url(event)
    if run:
        buttons.append(("Open the run", run, "run"))
    finding = render.finding_url(event)
    if finding:
        buttons.append(("Open the finding", finding, "finding"))
    if buttons:
        out.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": label},
                        "url": url,
                        "action_id": f"apoa_{action_id}",
                    }
                    for label, url, action_id in buttons
                ],
            }
        )
    out.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"finding `{event['finding_id']}` · event `{event['event_id']}` · "
                    f"action `{event['action']['type']}`",
                }
            ],
        }
    )
    return out


def poster(webhook_url: str, timeout: int = 15):
    """An act() that posts to the webhook; retries 429 (Retry-After) and 500/503 a little."""
    client = WebhookClient(
        webhook_url,
        timeout=timeout,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1),
            RateLimitErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )

    def post(event: dict[str, Any]) -> str:
        response = client.send(
            text=render.headline(event) + "\n" + event["summary"],
            blocks=blocks(event),
            unfurl_links=False,
        )
        if response.status_code == 200:
            return f"slack {response.status_code}"
        detail = f"Slack answered {response.status_code}: {str(response.body)[:200]}"
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientFailure(detail)
        raise PermanentFailure(detail)  # invalid_payload, no_service, channel_not_found, ...

    return post


def from_env() -> Subscriber:
    url = credential("APOA_SLACK_WEBHOOK_URL")
    if not url:
        raise RuntimeError("set APOA_SLACK_WEBHOOK_URL (or APOA_SUBSCRIBER_CREDENTIAL)")
    return Subscriber(
        NAME,
        poster(url),
        store_from_env(NAME),
        filter_from_env(DEFAULT_FILTER),
        PushAuthConfig.from_env(),
    )


@functions_framework.http
def slack_subscriber(request: Request):
    return instance(NAME, from_env).handle(
        request.get_data(cache=False), request.headers.get("Authorization")
    )
