"""Where landed rows go. One small interface; DuckDB now, BigQuery behind the same one later."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

import duckdb

from ingest.envelope import DeadLetter, RawMessage
from ingest.raw_tables import DEAD_LETTER_TABLE, RAW_SCHEMA, TOPIC_TABLES, duckdb_ddl


class StorageError(RuntimeError):
    """Landing failed; the caller must answer 5xx so Pub/Sub redelivers."""


class RawStore(Protocol):
    def write_batch(
        self, messages: Sequence[RawMessage], dead_letters: Sequence[DeadLetter]
    ) -> None:
        """Land all rows in one transaction, or none of them (raise StorageError)."""


class DuckDBRawStore:
    """Lands rows in the local DuckDB warehouse.

    The store is the only writer of the raw tables, so it numbers rows itself:
    `load_seq` grows strictly in commit order.
    """

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._con = connection.cursor()
        self._lock = threading.Lock()
        for statement in duckdb_ddl():
            self._con.execute(statement)
        self._next_seq = self._max_seq() + 1
        # A seam for fault tests: called inside the transaction after the first table's
        # insert, so a failure there is a failure half-way through a batch.
        self.fault_hook: Callable[[], None] | None = None

    def _max_seq(self) -> int:
        tables = [*TOPIC_TABLES.values(), DEAD_LETTER_TABLE]
        union = " union all ".join(
            f"select max(load_seq) as s from {RAW_SCHEMA}.{table}" for table in tables
        )
        row = self._con.execute(f"select coalesce(max(s), 0) from ({union})").fetchone()
        return int(row[0]) if row else 0

    def write_batch(
        self, messages: Sequence[RawMessage], dead_letters: Sequence[DeadLetter]
    ) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        with self._lock:
            seq = self._next_seq
            try:
                self._con.execute("begin transaction")
                for topic, table in TOPIC_TABLES.items():
                    rows = [m for m in messages if m.topic == topic]
                    rows = _qualify_reused_ids(self._con, f"{RAW_SCHEMA}.{table}", rows)
                    if rows:
                        values = []
                        for message in rows:
                            values.append(
                                (
                                    message.message_id,
                                    seq,
                                    message.publish_time,
                                    now,
                                    message.subscription,
                                    json.dumps(message.attributes, sort_keys=True),
                                    message.payload,
                                )
                            )
                            seq += 1
                        _insert(self._con, f"{RAW_SCHEMA}.{table}", values)
                        if self.fault_hook is not None:
                            self.fault_hook()
                if dead_letters:
                    values = []
                    for letter in {d.dead_letter_id: d for d in dead_letters}.values():
                        values.append(
                            (
                                letter.dead_letter_id,
                                seq,
                                letter.topic,
                                letter.message_id,
                                letter.source,
                                letter.line_number,
                                letter.reason,
                                None
                                if letter.attributes is None
                                else json.dumps(letter.attributes, sort_keys=True),
                                _storable(letter.body),
                                now,
                            )
                        )
                        seq += 1
                    _insert(self._con, f"{RAW_SCHEMA}.{DEAD_LETTER_TABLE}", values)
                self._con.execute("commit")
            except Exception as error:  # noqa: BLE001 - never leave the transaction open
                with contextlib.suppress(duckdb.Error):
                    self._con.execute("rollback")
                raise StorageError(f"landing failed: {error}") from error
            # Numbers of ignored duplicates are simply skipped: gaps are harmless.
            self._next_seq = seq

    def committed_load_seq(self) -> int:
        """The highest load_seq committed: every row at or below it is visible."""
        with self._lock:  # held by write_batch until its commit
            return self._next_seq - 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            counts = {}
            for table in [*TOPIC_TABLES.values(), DEAD_LETTER_TABLE]:
                row = self._con.execute(f"select count(*) from {RAW_SCHEMA}.{table}").fetchone()
                counts[table] = int(row[0]) if row else 0
            return counts


def _qualify_reused_ids(
    con: duckdb.DuckDBPyConnection, table: str, messages: list[RawMessage]
) -> list[RawMessage]:
    """A landed message id with another publish time and another payload is a new message.

    Pub/Sub never reuses a message id within a topic, but the emulator numbers messages from 1
    again after every restart: without this, a kept warehouse would silently drop new
    deliveries as duplicates. Such a message lands as `<id>@<publish time>`, which a
    redelivery of it maps to again. A redelivery keeps its publish time, so it stays a no-op;
    so does the same content sent again under its deterministic id (a second `apoa backfill`
    or HTTP replay of the same file, whose envelopes are stamped when they are sent).
    Earlier messages of the same batch count as landed; each kept id appears once.
    """
    if not messages:
        return []
    placeholders = ", ".join("?" for _ in messages)
    seen = {
        message_id: (publish_time, payload)
        for message_id, publish_time, payload in con.execute(
            f"select message_id, publish_time, payload from {table} "
            f"where message_id in ({placeholders})",
            [m.message_id for m in messages],
        ).fetchall()
    }
    kept: dict[str, RawMessage] = {}
    for message in messages:
        first_time, first_payload = seen.get(message.message_id, (None, None))
        if (
            first_time is not None
            and message.publish_time not in (None, first_time)
            and message.payload != first_payload
        ):
            stamp = message.publish_time.isoformat(timespec="microseconds")
            message = dataclasses.replace(message, message_id=f"{message.message_id}@{stamp}")
        if message.message_id in kept:
            continue  # a redelivery within the batch
        seen.setdefault(message.message_id, (message.publish_time, message.payload))
        kept[message.message_id] = message
    return list(kept.values())


def _insert(con: duckdb.DuckDBPyConnection, table: str, values: list[tuple]) -> None:
    # One multi-row statement per batch: far faster than executemany, and the
    # primary key makes a redelivered message_id a no-op (idempotent landing).
    width = len(values[0])
    placeholders = ", ".join("(" + ", ".join(["?"] * width) + ")" for _ in values)
    params = [item for row in values for item in row]
    con.execute(f"insert or ignore into {table} values {placeholders}", params)


def _storable(text: str) -> str:
    # Lone surrogates (possible in text decoded from JSON escapes) cannot be stored as UTF-8.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
