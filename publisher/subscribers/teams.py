"""Microsoft Teams subscriber: an Adaptive Card through an Incoming Webhook.

    functions-framework --source publisher/subscribers/teams.py --target teams_subscriber

There is no well-kept Python client for Teams webhooks, so this is one plain HTTP POST
(requests) of the documented message shape: {"type": "message", "attachments": [{
"contentType": "application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard>}]}.
Environment: APOA_TEAMS_WEBHOOK_URL (or APOA_SUBSCRIBER_CREDENTIAL), APOA_SUBSCRIBER_FILTER
(default: critical), the de-dup store (dedup.py), APOA_FINDING_URL_TEMPLATE.
"""

from __future__ import annotations

from typing import Any

import functions_framework
import requests
from flask import Request

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

NAME = "teams"
DEFAULT_FILTER = 'attributes.severity = "critical"'
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
COLORS = {"critical": "Attention", "warning": "Warning", "info": "Accent"}


def card(event: dict[str, Any]) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": render.title(event),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": "Good"
            if event["status"] == "resolved"
            else COLORS.get(event["severity"], "Default"),
        },
        {"type": "TextBlock", "text": event["summary"], "wrap": True},
    ]
    cause = render.cause_text(event)
    if cause:
        body.append({"type": "TextBlock", "text": f"**Probable cause:** {cause}", "wrap": True})
    facts = render.evidence_facts(event)
    if facts:
        body.append(
            {"type": "FactSet", "facts": [{"title": label, "value": text} for label, text in facts]}
        )
    body.append(
        {
            "type": "TextBlock",
            "isSubtle": True,
            "size": "Small",
            "wrap": True,
            "text": f"severity {event['severity']} · finding {event['finding_id']} · "
            f"event {event['event_id']}",
        }
    )
    actions = []
    run = render.run_url(event)
    if run:
        actions.append({"type": "Action.OpenUrl", "title": "Open the run", "url": run})
    finding = render.finding_url(event)
    if finding:
        actions.append({"type": "Action.OpenUrl", "title": "Open the finding", "url": finding})
    return {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": actions,
        "msteams": {"width": "Full"},
    }


def message(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card(event),
            }
        ],
    }


def poster(webhook_url: str, session: requests.Session | None = None, timeout: float = 15):
    session = session or requests.Session()

    def post(event: dict[str, Any]) -> str:
        try:
            response = session.post(webhook_url, json=message(event), timeout=timeout)
        except requests.RequestException as error:
            raise TransientFailure(f"Teams webhook unreachable: {error}") from None
        if 200 <= response.status_code < 300:
            return f"teams {response.status_code}"
        detail = f"Teams answered {response.status_code}: {response.text[:200]}"
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientFailure(detail)
        raise PermanentFailure(detail)

    return post


def from_env() -> Subscriber:
    url = credential("APOA_TEAMS_WEBHOOK_URL")
    if not url:
        raise RuntimeError("set APOA_TEAMS_WEBHOOK_URL (or APOA_SUBSCRIBER_CREDENTIAL)")
    return Subscriber(
        NAME,
        poster(url),
        store_from_env(NAME),
        filter_from_env(DEFAULT_FILTER),
        PushAuthConfig.from_env(),
    )


@functions_framework.http
def teams_subscriber(request: Request):
    return instance(NAME, from_env).handle(
        request.get_data(cache=False), request.headers.get("Authorization")
    )
