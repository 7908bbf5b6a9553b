"""Journal first, DuckDB behind: acknowledge after the journal's fsync, load in big batches.

`JournaledStore` has the `write_batch` of a raw store, so the group-commit writer
uses it unchanged: a request is answered once its rows are in the journal. A
loader thread moves journaled rows into the raw tables every `linger_seconds`
(or sooner when many are waiting), one DuckDB transaction per chunk, and deletes
a segment only after its rows are committed. A load that fails is retried with
backoff and its segment kept: a DuckDB failure delays rows but cannot lose them.
Readers that must see every acknowledged row call `flush()` first.

Under `apoa serve` the pushes are answered by processes of their own, each with its own
journal (apoa/push_worker.py). Then the loader also asks them, every round, for the
segments they sealed (`SealedElsewhere`) and loads those the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from ingest import unsafe
from ingest.envelope import DeadLetter, RawMessage
from ingest.journal import LandingJournal, read_segment
from ingest.log import log
from ingest.storage import RawStore, StorageError

LOAD_CHUNK_ROWS = 1000


class SealedElsewhere(Protocol):
    """Journals written by other processes (apoa/push_workers.py)."""

    def collect(self) -> list[Path]:
        """Segments that are complete now; the loader deletes each once it is loaded."""
        ...

    def acknowledged(self) -> int:
        """Rows those processes have acknowledged so far."""
        ...


class JournaledStore:
    def __init__(
        self,
        journal: LandingJournal,
        store: RawStore,
        on_loaded: Callable[[list[RawMessage]], None] | None = None,
        linger_seconds: float = 0.2,
        max_pending_rows: int = 2000,
    ) -> None:
        self.journal = journal
        self._store = store
        self._on_loaded = on_loaded
        self._linger = linger_seconds
        self._max_pending = max_pending_rows
        self._lock = threading.Lock()  # appends and seals exclude each other
        self._changed = threading.Condition(self._lock)
        self._messages: list[RawMessage] = []
        self._dead_letters: list[DeadLetter] = []
        self._first_pending_at: float | None = None
        self._appended = 0  # rows acknowledged so far
        self._loaded = 0  # ... of which committed to the raw tables
        self._flush_wanted = False
        self._stopping = False
        self.loads = 0
        self.failed_loads = 0
        self._thread: threading.Thread | None = None
        self._elsewhere: SealedElsewhere | None = None
        self._elsewhere_loaded = 0  # rows loaded from other processes' segments
        self._rounds_begun = 0
        self._rounds_done = 0
        self._last_round_at = 0.0

    # -- startup ------------------------------------------------------------------------
    def recover(self) -> int:
        """Load the segments an earlier process left (it crashed or its DuckDB failed)."""
        recovered = 0
        for segment in self.journal.leftover_segments(include_subdirectories=True):
            contents = read_segment(segment)
            if contents.unreadable_lines:
                log(
                    "WARNING",
                    "journal lines torn by a failed write skipped (never acknowledged)",
                    segment=segment.name,
                    lines=contents.unreadable_lines,
                )
            self._load(contents.messages, contents.dead_letters)
            segment.unlink()
            recovered += len(contents.messages) + len(contents.dead_letters)
        if recovered:
            log("INFO", "journal recovered", rows=recovered)
        return recovered

    def load_also(self, elsewhere: SealedElsewhere | None) -> None:
        """From the next round on, also load what `elsewhere` sealed (None: stop asking)."""
        with self._lock:
            self._elsewhere = elsewhere
            self._changed.notify_all()

    def start(self) -> JournaledStore:
        self._thread = threading.Thread(target=self._run, name="apoa-loader", daemon=True)
        self._thread.start()
        return self

    # -- the raw store interface -------------------------------------------------------------
    def write_batch(
        self, messages: Sequence[RawMessage], dead_letters: Sequence[DeadLetter]
    ) -> None:
        with self._lock:
            self.journal.append(messages, dead_letters)  # raises StorageError: a 5xx answer
            if self._first_pending_at is None:
                self._first_pending_at = time.monotonic()
            self._messages.extend(messages)
            self._dead_letters.extend(dead_letters)
            self._appended += len(messages) + len(dead_letters)
            if self.pending_rows >= self._max_pending:
                self._changed.notify_all()

    @property
    def pending_rows(self) -> int:
        progress = self.progress()
        return progress["acknowledged"] - progress["loaded"]

    def progress(self) -> dict[str, int]:
        """Rows acknowledged (journaled) and loaded so far, without waiting for a load.

        Rows of other processes count once a round has asked them (every `linger_seconds`);
        a process that died may have acknowledged more than it last said, hence the max."""
        elsewhere = self._elsewhere.acknowledged() if self._elsewhere is not None else 0
        return {
            "acknowledged": self._appended + max(elsewhere, self._elsewhere_loaded),
            "loaded": self._loaded + self._elsewhere_loaded,
        }

    def flush(self, timeout: float = 120.0) -> None:
        """Block until every row acknowledged before this call is in the raw tables."""
        if threading.current_thread() is self._thread:
            return
        deadline = time.monotonic() + timeout
        with self._lock:
            target = self._appended
            # Rows other processes acknowledged before this call: a round that begins after it
            # asks them to seal, so its end is the point where they are all loaded.
            round_needed = self._rounds_begun + 1 if self._elsewhere is not None else 0
            while self._loaded < target or self._rounds_done < round_needed:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None:
                    raise StorageError(
                        f"{max(target - self._loaded, 1)} or more journaled rows not loaded "
                        f"after {timeout:.0f} s"
                    )
                self._flush_wanted = True
                self._changed.notify_all()
                self._changed.wait(timeout=min(remaining, 0.5))

    def close(self) -> None:
        """Load what is pending (once), stop the loader and close the journal."""
        with self._lock:
            self._stopping = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=120)
        with self._lock:
            self.journal.close()

    # -- the loader thread -------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.1
        while True:
            with self._lock:
                self._wait_for_work()
                stopping = self._stopping  # then this round is the last
                messages, self._messages = self._messages, []
                dead_letters, self._dead_letters = self._dead_letters, []
                self._first_pending_at = None
                segments = self.journal.seal()
                target = self._appended
                self._rounds_begun += 1
                this_round = self._rounds_begun
                elsewhere = self._elsewhere
            self._last_round_at = time.monotonic()
            sealed = _collect(elsewhere) if elsewhere is not None else []
            from_elsewhere = 0
            for segment in sealed:
                contents = read_segment(segment)
                messages += contents.messages
                dead_letters += contents.dead_letters
                from_elsewhere += len(contents.messages) + len(contents.dead_letters)
            segments += sealed
            while messages or dead_letters:
                try:
                    self._load(messages, dead_letters)
                    break
                except Exception as error:  # noqa: BLE001 - keep the rows, retry later
                    self.failed_loads += 1
                    if unsafe.enabled(unsafe.DROP_FAILED_LOAD):
                        break
                    log("ERROR", "loading the journal failed; retrying", error=str(error))
                    if self._stopping:
                        return  # the segments stay; the next start loads them
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
            backoff = 0.1
            if messages or dead_letters:
                self.loads += 1
            _remove(segments)
            with self._lock:
                self._loaded = target
                self._elsewhere_loaded += from_elsewhere
                self._rounds_done = this_round
                self._changed.notify_all()
            if self._on_loaded is not None and messages:
                try:
                    self._on_loaded(messages)
                except Exception as error:  # noqa: BLE001 - a callback must not stop loading
                    log("ERROR", "on_loaded callback failed", error=str(error))
            if stopping:
                return

    def _wait_for_work(self) -> None:
        """With the lock held: until rows have lingered long enough, or enough are waiting,
        or (with other processes' journals) it is time to ask them again."""
        while not self._stopping:
            pending = len(self._messages) + len(self._dead_letters)
            if self._flush_wanted or (
                pending
                and (
                    pending >= self._max_pending
                    or time.monotonic() - (self._first_pending_at or 0) >= self._linger
                )
            ):
                self._flush_wanted = False
                return
            if self._elsewhere is not None:
                since = time.monotonic() - self._last_round_at
                if since >= self._linger:
                    return
                self._changed.wait(timeout=self._linger - since)
            else:
                self._changed.wait(timeout=self._linger if pending else 1.0)

    def _load(self, messages: list[RawMessage], dead_letters: list[DeadLetter]) -> None:
        for start in range(0, max(len(messages), len(dead_letters)), LOAD_CHUNK_ROWS):
            self._store.write_batch(
                messages[start : start + LOAD_CHUNK_ROWS],
                dead_letters[start : start + LOAD_CHUNK_ROWS],
            )


def _collect(elsewhere: SealedElsewhere) -> list[Path]:
    try:
        return elsewhere.collect()
    except Exception as error:  # noqa: BLE001 - their rows stay on disk for a later round
        log("ERROR", "asking the push processes to seal failed", error=str(error))
        return []


def _remove(segments: list[Path]) -> None:
    for segment in segments:
        segment.unlink(missing_ok=True)
