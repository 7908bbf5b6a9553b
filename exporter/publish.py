"""Publishing TimeSeries messages to pipeline-metrics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    data: bytes
    attributes: dict[str, str]


# Publishes every message or raises; returns the message ids in order.
PublishBatch = Callable[[Sequence[Message]], list[str]]


def pubsub_publisher(project: str, topic: str, timeout: float = 60) -> PublishBatch:
    """A PublishBatch on google-cloud-pubsub (honours PUBSUB_EMULATOR_HOST)."""
    from google.cloud import pubsub_v1

    client = pubsub_v1.PublisherClient()
    topic_path = client.topic_path(project, topic)

    def publish(messages: Sequence[Message]) -> list[str]:
        futures = [
            client.publish(topic_path, message.data, **message.attributes) for message in messages
        ]
        # Wait for all: result() raises if Pub/Sub did not accept a message.
        return [future.result(timeout=timeout) for future in futures]

    return publish
