"""Group commit: many request threads, one writer, one transaction per batch.

A request is answered only after the batch holding its rows is committed. One
commit per message caps out near 170 rows/s on DuckDB; batches reach thousands.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ingest import unsafe
from ingest.envelope import DeadLetter, RawMessage
from ingest.handler import Sink
from ingest.storage import RawStore, StorageError


@dataclass
class _Pending:
    messages: Sequence[RawMessage]
    dead_letters: Sequence[DeadLetter]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class GroupCommitWriter:
    def __init__(self, store: RawStore, max_batch: int = 200, max_wait_ms: float = 0.0) -> None:
        self._store = store
        self._max_batch = max_batch
        self._max_wait = max_wait_ms / 1000
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="apoa-writer", daemon=True)
        self._thread.start()
        self.batches = 0
        self.rows = 0

    def land(
        self, messages: Sequence[RawMessage] = (), dead_letters: Sequence[DeadLetter] = ()
    ) -> None:
        """Block until the rows are committed; raise StorageError if they were not."""
        pending = _Pending(messages, dead_letters)
        self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise StorageError(str(pending.error)) from pending.error

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            size = len(first.messages) + len(first.dead_letters)
            # Natural batching: everything that queued up while the last commit ran goes
            # into this one. An optional wait trades latency for larger batches.
            deadline = time.monotonic() + self._max_wait
            stop = False
            while size < self._max_batch:
                remaining = deadline - time.monotonic()
                try:
                    item = (
                        self._queue.get(timeout=remaining)
                        if remaining > 0
                        else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
                size += len(item.messages) + len(item.dead_letters)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Pending]) -> None:
        error = self._write(batch)
        if error is not None and len(batch) > 1:
            # One bad request must not fail its neighbours forever: retry each alone.
            for pending in batch:
                self._finish([pending], self._write([pending]))
            return
        self._finish(batch, error)

    def _write(self, batch: list[_Pending]) -> BaseException | None:
        messages = [m for pending in batch for m in pending.messages]
        dead_letters = [d for pending in batch for d in pending.dead_letters]
        try:
            self._store.write_batch(messages, dead_letters)
        except Exception as exc:  # noqa: BLE001 - every waiter must learn the batch failed
            return exc
        self.batches += 1
        self.rows += len(messages) + len(dead_letters)
        return None

    @staticmethod
    def _finish(batch: list[_Pending], error: BaseException | None) -> None:
        for pending in batch:
            pending.error = error
            pending.done.set()


def unsafe_sink(writer: GroupCommitWriter) -> Sink:
    """`writer.land`, unless ingest.unsafe.ACK_BEFORE_COMMIT asks for the sink that
    acknowledges before anything is stored (to prove the crash test catches it)."""
    if not unsafe.enabled(unsafe.ACK_BEFORE_COMMIT):
        return writer.land
    return _UnsafeBuffer(writer).add


class _UnsafeBuffer:
    """What ingest would be without group commit's promise: acknowledge now, commit every
    second."""

    def __init__(self, writer: GroupCommitWriter) -> None:
        self._writer = writer
        self._rows: list[tuple[list[RawMessage], list[DeadLetter]]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._flush_forever, daemon=True).start()

    def add(self, messages: list[RawMessage], dead_letters: list[DeadLetter]) -> None:
        with self._lock:
            self._rows.append((messages, dead_letters))

    def _flush_forever(self) -> None:
        while True:
            time.sleep(1.0)
            with self._lock:
                rows, self._rows = self._rows, []
            if rows:
                self._writer.land(
                    [m for ms, _ in rows for m in ms], [d for _, ds in rows for d in ds]
                )
