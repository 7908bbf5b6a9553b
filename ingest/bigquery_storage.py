"""Raw landing on BigQuery, for the stateless ingest instances of production.

Many Cloud Run instances write at once, so nobody can number rows: `load_seq` stays
null and incremental models select by `ingested_at` with a lookback instead (the
bigquery__ variant of macros/incremental/apoa_new_rows.sql). Streaming inserts carry
`insertId` = message id, but BigQuery's de-duplication of insertIds is best effort,
so raw may hold a message twice: staging removes duplicates.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from ingest.envelope import DeadLetter, RawMessage
from ingest.raw_tables import DEAD_LETTER_TABLE, TOPIC_TABLES
from ingest.storage import StorageError

FINDING_EVENTS_TABLE = "raw_finding_events"
SCHEMAS = Path(__file__).resolve().parent.parent / "infra" / "schemas"


def bigquery_client(project: str, api_endpoint: str | None = None):
    """The real client; `api_endpoint` points it at an emulator (with anonymous credentials)."""
    from google.cloud import bigquery

    if not api_endpoint:
        return bigquery.Client(project=project)
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=api_endpoint),
    )


class BigQueryRawStore:
    def __init__(self, client, dataset: str) -> None:
        self._client = client
        self._dataset = f"{client.project}.{dataset}"

    @classmethod
    def from_env(cls) -> BigQueryRawStore:
        project = os.environ["APOA_BQ_PROJECT"]
        client = bigquery_client(project, os.environ.get("APOA_BQ_API_ENDPOINT"))
        return cls(client, os.environ.get("APOA_BQ_DATASET", "pipeline_analytics"))

    def ensure_tables(self) -> None:
        """Create the raw tables as infra/ declares them (partitioned, clustered)."""
        from google.cloud import bigquery

        self._client.create_dataset(self._dataset, exists_ok=True)
        tables = {name: ("raw_message.json", "ingested_at") for name in TOPIC_TABLES.values()}
        tables[DEAD_LETTER_TABLE] = ("raw_dead_letters.json", "received_at")
        # In production a BigQuery subscription writes finding events, in its own columns.
        tables[FINDING_EVENTS_TABLE] = ("raw_finding_events.json", "publish_time")
        for name, (schema_file, partition_field) in tables.items():
            fields = json.loads((SCHEMAS / schema_file).read_text())
            schema = [
                bigquery.SchemaField(f["name"], f["type"], mode=f.get("mode", "NULLABLE"))
                for f in fields
            ]
            table = bigquery.Table(f"{self._dataset}.{name}", schema=schema)
            table.time_partitioning = bigquery.TimePartitioning(field=partition_field)
            table.clustering_fields = {
                DEAD_LETTER_TABLE: ["topic", "reason"],
                FINDING_EVENTS_TABLE: ["message_id"],
            }.get(name, ["load_seq", "message_id"])
            self._client.create_table(table, exists_ok=True)

    def write_batch(
        self, messages: Sequence[RawMessage], dead_letters: Sequence[DeadLetter]
    ) -> None:
        now = datetime.now(UTC).isoformat()
        try:
            for topic, table in TOPIC_TABLES.items():
                rows = [m for m in messages if m.topic == topic]
                if rows:
                    self._insert(
                        table,
                        [_message_row(m, now) for m in rows],
                        [m.message_id for m in rows],
                    )
            if dead_letters:
                self._insert(
                    DEAD_LETTER_TABLE,
                    [_dead_letter_row(d, now) for d in dead_letters],
                    [d.dead_letter_id for d in dead_letters],
                )
        except StorageError:
            raise
        except Exception as error:  # noqa: BLE001 - any client failure: let Pub/Sub redeliver
            raise StorageError(f"BigQuery insert failed: {error}") from error

    def _insert(self, table: str, rows: list[dict], row_ids: list[str]) -> None:
        errors = self._client.insert_rows_json(f"{self._dataset}.{table}", rows, row_ids=row_ids)
        if errors:
            raise StorageError(f"BigQuery rejected rows in {table}: {errors[:3]}")


def _message_row(message: RawMessage, now: str) -> dict:
    return {
        "message_id": message.message_id,
        "load_seq": None,
        "publish_time": message.publish_time.isoformat() if message.publish_time else None,
        "ingested_at": now,
        "subscription": message.subscription,
        "attributes": json.dumps(message.attributes, sort_keys=True),
        "payload": message.payload,
    }


def _dead_letter_row(letter: DeadLetter, now: str) -> dict:
    return {
        "dead_letter_id": letter.dead_letter_id,
        "load_seq": None,
        "topic": letter.topic,
        "message_id": letter.message_id,
        "source": letter.source,
        "line_number": letter.line_number,
        "reason": letter.reason,
        "attributes": None if letter.attributes is None else json.dumps(letter.attributes),
        "body": letter.body,
        "received_at": now,
    }
