"""The raw landing tables: one per topic, plus dead letters.

Rows are landed unparsed. `payload` holds the message data exactly as
published (UTF-8 JSON text); `attributes` holds the Pub/Sub attributes as a
JSON object. Parsing happens in dbt staging, never here.
"""

from __future__ import annotations

RAW_SCHEMA = "raw"

TOPIC_TABLES: dict[str, str] = {
    "github-events": "raw_github_events",
    "pipeline-logs": "raw_pipeline_logs",
    "pipeline-metrics": "raw_pipeline_metrics",
    # Every event published on apoa-findings, for dashboards between builds (the local form
    # of the BigQuery subscription; see publisher/subscribers/dashboard_sink.py).
    "apoa-findings": "raw_finding_events",
}

DEAD_LETTER_TABLE = "raw_dead_letters"

# load_seq is assigned by the single writer, strictly increasing in commit order,
# so incremental models can select "rows after the last one I processed" without
# the late-commit gaps a timestamp watermark has.
_MESSAGE_COLUMNS = """
    message_id varchar primary key,
    load_seq bigint not null,
    publish_time timestamp,
    ingested_at timestamp not null,
    subscription varchar,
    attributes varchar not null,
    payload varchar not null
"""

_DEAD_LETTER_COLUMNS = """
    dead_letter_id varchar primary key,
    load_seq bigint not null,
    topic varchar,
    message_id varchar,
    source varchar not null,
    line_number bigint,
    reason varchar not null,
    attributes varchar,
    body varchar not null,
    received_at timestamp not null
"""


def duckdb_ddl() -> list[str]:
    statements = [f"create schema if not exists {RAW_SCHEMA}"]
    for table in TOPIC_TABLES.values():
        statements.append(f"create table if not exists {RAW_SCHEMA}.{table} ({_MESSAGE_COLUMNS})")
    statements.append(
        f"create table if not exists {RAW_SCHEMA}.{DEAD_LETTER_TABLE} ({_DEAD_LETTER_COLUMNS})"
    )
    return statements
