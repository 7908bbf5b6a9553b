"""`apoa replay`: send a JSON Lines file of Pub/Sub-shaped messages through the ingest path.

Each line: {"topic": "github-events" | "pipeline-logs" | "pipeline-metrics",
            "attributes": {...}, "data": <the JSON payload>, "message_id": optional}
A line that is not such an object is kept in raw_dead_letters with its line number.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apoa.progress import Progress
from apoa.settings import TOPICS
from ingest.envelope import DeadLetter


@dataclass(frozen=True)
class ReplayMessage:
    line_number: int
    topic: str
    attributes: dict[str, str]
    payload: str
    message_id: str

    def push_envelope(
        self, subscription: str = "projects/apoa-local/subscriptions/replay"
    ) -> bytes:
        return json.dumps(
            {
                "message": {
                    "data": base64.b64encode(self.payload.encode()).decode(),
                    "attributes": self.attributes,
                    "messageId": self.message_id,
                    "publishTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                },
                "subscription": subscription,
            }
        ).encode()


def parse_lines(lines: Iterable[str]) -> tuple[list[ReplayMessage], list[DeadLetter]]:
    messages: list[ReplayMessage] = []
    dead: list[DeadLetter] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        item, reason = _parse_line(line)
        if reason:
            dead.append(DeadLetter(source="replay", reason=reason, body=line.rstrip("\n"),
                                   line_number=number))  # fmt: skip
            continue
        payload = json.dumps(item["data"], separators=(",", ":"), ensure_ascii=False)
        message_id = (
            item.get("message_id")
            or "replay-"
            + hashlib.sha256(line.strip().encode("utf-8", "surrogatepass")).hexdigest()[:32]
        )
        messages.append(
            ReplayMessage(number, item["topic"], item.get("attributes") or {}, payload,
                          str(message_id))
        )  # fmt: skip
    return messages, dead


def _parse_line(line: str) -> tuple[dict[str, Any], str | None]:
    try:
        item = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as error:
        return {}, f"line is not JSON: {error}"
    if not isinstance(item, dict):
        return {}, "line is not a JSON object"
    if item.get("topic") not in TOPICS:
        return {}, f"'topic' must be one of {list(TOPICS)}, got {item.get('topic')!r}"
    attributes = item.get("attributes", {})
    if not isinstance(attributes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        return {}, "'attributes' must be an object of strings"
    if item.get("data") is None:
        return {}, "'data' is missing"
    return item, None


def read_file(path: Path) -> tuple[list[ReplayMessage], list[DeadLetter]]:
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        return parse_lines(handle)


def deliver_http(
    messages: list[ReplayMessage],
    post: Callable[[str, bytes], int],
    workers: int = 16,
    show_progress: bool = True,
) -> None:
    """POST each message as a push envelope to /push/<topic>; retry 5xx like Pub/Sub would."""
    progress = Progress("replay", len(messages), enabled=show_progress)
    lock = threading.Lock()

    def send(message: ReplayMessage) -> None:
        body = message.push_envelope()
        for _attempt in range(20):
            status = post(f"/push/{message.topic}", body)
            if status < 500:
                break
            threading.Event().wait(0.5)
        if status >= 300:
            raise RuntimeError(f"line {message.line_number}: ingest answered {status}")
        with lock:
            progress.advance()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(send, m) for m in messages]:
            future.result()
    progress.finish()


def test_client_poster(app) -> Callable[[str, bytes], int]:
    """functions-framework's Flask test client against the real handler, one per thread."""
    local = threading.local()

    def post(path: str, body: bytes) -> int:
        if not hasattr(local, "client"):
            local.client = app.test_client()
        return local.client.post(path, data=body, content_type="application/json").status_code

    return post


def url_poster(base_url: str) -> Callable[[str, bytes], int]:
    import urllib.error
    import urllib.request

    def post(path: str, body: bytes) -> int:
        req = urllib.request.Request(base_url.rstrip("/") + path, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    return post


def publish_to_emulator(
    messages: list[ReplayMessage], project: str, show_progress: bool = True
) -> None:
    """Publish through Pub/Sub (the emulator when PUBSUB_EMULATOR_HOST is set)."""
    from google.cloud import pubsub_v1

    client = pubsub_v1.PublisherClient(
        batch_settings=pubsub_v1.types.BatchSettings(max_messages=500, max_latency=0.05)
    )
    progress = Progress("publish", len(messages), enabled=show_progress)
    futures = []
    for message in messages:
        topic_path = client.topic_path(project, message.topic)
        futures.append(client.publish(topic_path, message.payload.encode(), **message.attributes))
    for future in futures:
        future.result(timeout=120)
        progress.advance()
    progress.finish()
