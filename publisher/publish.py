"""Publish new or changed findings to apoa-findings, each state exactly once.

The ledger of published event ids is written after Pub/Sub accepted the
messages; a crash in between repeats an event with the same event_id, which
subscribers drop. A status change (open -> resolved) is a new event_id.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import duckdb

from publisher.events import FindingEvent, event_from_row

LEDGER = "apoa_state.published_finding_events"
FINDINGS = "main.fct_findings"

Publish = Callable[[FindingEvent], str]


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists apoa_state")
    con.execute(
        f"""create table if not exists {LEDGER} (
            event_id varchar primary key,
            finding_id varchar not null,
            status varchar not null,
            revision integer not null,
            pubsub_message_id varchar,
            published_at timestamp not null
        )"""
    )


def unpublished_events(con: duckdb.DuckDBPyConnection) -> list[FindingEvent]:
    ensure_ledger(con)
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'main' and table_name = 'fct_findings'"
    ).fetchone()
    if not exists or not exists[0]:
        return []
    cursor = con.execute(f"select * from {FINDINGS} order by detected_at, finding_id")
    columns = [column[0] for column in cursor.description]
    events = [event_from_row(dict(zip(columns, row, strict=True))) for row in cursor.fetchall()]
    published = {row[0] for row in con.execute(f"select event_id from {LEDGER}").fetchall()}
    return [event for event in events if event.event_id not in published]


def publish_new_findings(con: duckdb.DuckDBPyConnection, publish: Publish) -> list[FindingEvent]:
    """Publish every unpublished event, then record them. Returns what was published."""
    events = unpublished_events(con)
    recorded = []
    try:
        for event in events:
            message_id = publish(event)
            now = datetime.now(UTC).replace(tzinfo=None)
            recorded.append(
                (event.event_id, event.finding_id, event.status, event.revision, message_id, now)
            )
    finally:
        # Record what Pub/Sub accepted even when a later publish failed.
        if recorded:
            con.executemany(f"insert or ignore into {LEDGER} values (?, ?, ?, ?, ?, ?)", recorded)
    return events


def pubsub_publisher(project: str, topic: str) -> Publish:
    """A Publish callable on google-cloud-pubsub (honours PUBSUB_EMULATOR_HOST)."""
    from google.cloud import pubsub_v1

    client = pubsub_v1.PublisherClient()
    topic_path = client.topic_path(project, topic)

    def publish(event: FindingEvent) -> str:
        future = client.publish(topic_path, event.data, **event.attributes)
        return future.result(timeout=60)

    return publish
