"""De-duplication on event_id: a subscriber acts on each published state of a finding once.

Pub/Sub delivers at least once: a push that timed out, a redelivery after a crash, the
publisher repeating an event after a crash before it wrote its ledger. Before acting, a
subscriber *claims* the event_id; after acting it marks it *done*. A claim is a lease: if
the subscriber dies mid-action, another delivery may take the event over once the lease
expired. Locally each subscriber keeps its own SQLite file (never the warehouse file); in
production the store is Firestore (database `apoa-dedup`, one document per event_id with
an `expire_at` field for the TTL policy).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, Protocol


class Claim(Enum):
    NEW = "new"  # act on it, then complete() or release()
    DONE = "done"  # already acted on: acknowledge and do nothing
    BUSY = "busy"  # another delivery holds a live lease: answer 503, Pub/Sub retries later


class DedupStore(Protocol):
    def claim(self, event_id: str) -> Claim: ...

    def complete(self, event_id: str, note: str | None = None) -> None: ...

    def release(self, event_id: str) -> None: ...

    def note(self, event_id: str) -> str | None: ...


class SQLiteDedupStore:
    """One SQLite file per subscriber. Safe across threads and processes (BEGIN IMMEDIATE)."""

    def __init__(self, path: Path | str, lease_seconds: float = 120) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lease_seconds = lease_seconds
        self._local = threading.local()
        with self._connection() as con:
            con.execute(
                "create table if not exists delivered_finding_events ("
                "event_id text primary key, state text not null, claimed_at real not null, "
                "completed_at real, note text)"
            )

    def _connection(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            con.execute("pragma journal_mode=wal")
            self._local.con = con
        return con

    def claim(self, event_id: str) -> Claim:
        con = self._connection()
        now = time.time()
        con.execute("begin immediate")
        try:
            row = con.execute(
                "select state, claimed_at from delivered_finding_events where event_id = ?",
                (event_id,),
            ).fetchone()
            if row is None:
                con.execute(
                    "insert into delivered_finding_events (event_id, state, claimed_at) "
                    "values (?, 'claimed', ?)",
                    (event_id, now),
                )
                result = Claim.NEW
            elif row[0] == "done":
                result = Claim.DONE
            elif now - row[1] < self.lease_seconds:
                result = Claim.BUSY
            else:  # the holder died mid-action: take the event over
                con.execute(
                    "update delivered_finding_events set claimed_at = ? where event_id = ?",
                    (now, event_id),
                )
                result = Claim.NEW
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        return result

    def complete(self, event_id: str, note: str | None = None) -> None:
        self._connection().execute(
            "update delivered_finding_events set state = 'done', completed_at = ?, note = ? "
            "where event_id = ?",
            (time.time(), note, event_id),
        )

    def release(self, event_id: str) -> None:
        self._connection().execute(
            "delete from delivered_finding_events where event_id = ? and state = 'claimed'",
            (event_id,),
        )

    def note(self, event_id: str) -> str | None:
        row = (
            self._connection()
            .execute("select note from delivered_finding_events where event_id = ?", (event_id,))
            .fetchone()
        )
        return row[0] if row else None


class FirestoreDedupStore:
    """Firestore documents keyed by event_id (collection `APOA_DEDUP_COLLECTION`).

    The claim is a Firestore transaction; `expire_at` feeds the database's TTL policy
    (infra/state.tf), so the collection does not grow forever.
    """

    def __init__(
        self,
        client: Any,
        collection: str = "delivered_finding_events",
        lease_seconds: float = 120,
        keep_days: int = 30,
    ) -> None:
        self.client = client
        self.collection = client.collection(collection)
        self.lease = timedelta(seconds=lease_seconds)
        self.keep = timedelta(days=keep_days)

    @classmethod
    def from_env(cls) -> FirestoreDedupStore:
        from google.cloud import firestore

        client = firestore.Client(
            project=os.environ.get("GOOGLE_CLOUD_PROJECT") or None,
            database=os.environ.get("APOA_FIRESTORE_DATABASE", "(default)"),
        )
        return cls(client, os.environ.get("APOA_DEDUP_COLLECTION", "delivered_finding_events"))

    def claim(self, event_id: str) -> Claim:
        from google.cloud import firestore

        document = self.collection.document(event_id)
        now = datetime.now(UTC)

        @firestore.transactional
        def claim_in(transaction) -> Claim:
            snapshot = document.get(transaction=transaction)
            if not snapshot.exists:
                transaction.create(
                    document, {"state": "claimed", "claimed_at": now, "expire_at": now + self.keep}
                )
                return Claim.NEW
            data = snapshot.to_dict() or {}
            if data.get("state") == "done":
                return Claim.DONE
            claimed_at = data.get("claimed_at")
            if claimed_at is not None and now - claimed_at < self.lease:
                return Claim.BUSY
            transaction.update(document, {"claimed_at": now})
            return Claim.NEW

        return claim_in(self.client.transaction())

    def complete(self, event_id: str, note: str | None = None) -> None:
        now = datetime.now(UTC)
        self.collection.document(event_id).set(
            {"state": "done", "completed_at": now, "note": note, "expire_at": now + self.keep},
            merge=True,
        )

    def release(self, event_id: str) -> None:
        from google.cloud import firestore

        document = self.collection.document(event_id)

        @firestore.transactional
        def release_in(transaction) -> None:
            snapshot = document.get(transaction=transaction)
            if snapshot.exists and (snapshot.to_dict() or {}).get("state") == "claimed":
                transaction.delete(document)

        release_in(self.client.transaction())

    def note(self, event_id: str) -> str | None:
        snapshot = self.collection.document(event_id).get()
        return (snapshot.to_dict() or {}).get("note") if snapshot.exists else None


def store_from_env(name: str) -> DedupStore:
    """Firestore when APOA_FIRESTORE_DATABASE is set (production), else a local SQLite file:
    APOA_DEDUP_PATH, or $APOA_HOME/subscribers/<name>.sqlite3."""
    if os.environ.get("APOA_FIRESTORE_DATABASE"):
        return FirestoreDedupStore.from_env()
    path = os.environ.get("APOA_DEDUP_PATH")
    if not path:
        home = Path(os.environ.get("APOA_HOME", ".apoa")).resolve()
        path = str(home / "subscribers" / f"{name}.sqlite3")
    return SQLiteDedupStore(path)
