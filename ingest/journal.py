"""The landing journal: a push is acknowledged once its row is fsync'd here.

A DuckDB commit costs milliseconds and Pub/Sub keeps only a few pushes in flight,
so committing DuckDB per push made the warehouse the bottleneck. An append plus
fsync to a file costs a fraction of that. The journal is a write-ahead log in
front of the raw tables: `JournaledStore` (ingest/loader.py) loads it into DuckDB
in large batches and deletes each segment once its rows are committed there; the
owner loads leftover segments on start, so a crash loses nothing acknowledged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from ingest.envelope import DeadLetter, RawMessage
from ingest.storage import StorageError

SEGMENT_GLOB = "segment-*.jsonl"


@dataclasses.dataclass
class SegmentContents:
    messages: list[RawMessage]
    dead_letters: list[DeadLetter]
    unreadable_lines: int  # a write torn by a failure: never acknowledged, so Pub/Sub redelivers


class LandingJournal:
    """Append-only segment files; one writer thread appends, the loader seals."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        numbers = [_segment_number(path) for path in directory.glob(SEGMENT_GLOB)]
        self._next_number = max(numbers, default=0) + 1
        self._current: Path | None = None
        self._file = None
        self._dirty = False
        self._closed_dirty: list[Path] = []  # closed after a torn write, rows not yet sealed
        # A seam for fault tests: called after half of a batch's lines are written.
        self.fault_hook: Callable[[], None] | None = None

    def leftover_segments(self, include_subdirectories: bool = False) -> list[Path]:
        """Segments of an earlier process, oldest first: rows that may not be in DuckDB yet.

        With `include_subdirectories`, also those of its push processes (one directory each)."""
        found = segments_in(self.directory)
        if include_subdirectories:
            for sub in sorted(path for path in self.directory.iterdir() if path.is_dir()):
                found += segments_in(sub)
        return found

    def append(self, messages: Sequence[RawMessage], dead_letters: Sequence[DeadLetter]) -> None:
        """Write and fsync the rows, or raise StorageError with none of them counted."""
        lines = [_encode_message(m) for m in messages]
        lines += [_encode_dead_letter(d) for d in dead_letters]
        if not lines:
            return
        handle = self._open()
        offset = handle.tell()
        try:
            half = len(lines) // 2
            handle.write("".join(lines[:half]))
            if self.fault_hook is not None:
                self.fault_hook()
            handle.write("".join(lines[half:]))
            handle.flush()
            os.fsync(handle.fileno())
        except Exception as error:  # noqa: BLE001 - any failure here means "not landed"
            self._discard_torn_write(offset)
            raise StorageError(f"journal append failed: {error}") from error
        self._dirty = True

    def seal(self) -> list[Path]:
        """Close the current segment; return the segments holding all rows since the last seal."""
        sealed, self._closed_dirty = self._closed_dirty, []
        if self._dirty and self._current is not None:
            sealed.append(self._current)
            self._close()
        return sealed

    def close(self) -> None:
        """Close the file; an empty segment goes, one holding rows stays for the next start."""
        empty = not self._dirty and self._file is not None
        self._close()
        if empty and self._current is not None:
            self._current.unlink(missing_ok=True)

    def _open(self):
        if self._file is None:
            self._current = self.directory / f"segment-{self._next_number:012d}.jsonl"
            self._next_number += 1
            self._file = open(self._current, "a", encoding="utf-8")  # noqa: SIM115 - long-lived
            self._dirty = False
        return self._file

    def _close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
        self._file = None
        self._dirty = False

    def _discard_torn_write(self, offset: int) -> None:
        # Cut the partial lines off; whatever happens, later rows go to a fresh segment so a
        # torn line can never run into a good one. Rows appended before stay in this one.
        with contextlib.suppress(OSError, ValueError):
            self._file.flush()
        with contextlib.suppress(OSError, ValueError):
            os.ftruncate(self._file.fileno(), offset)
        if self._dirty and self._current is not None:
            self._closed_dirty.append(self._current)
            self._close()
        else:
            self._close()
            if self._current is not None:
                self._current.unlink(missing_ok=True)


def read_segment(path: Path) -> SegmentContents:
    messages: list[RawMessage] = []
    dead_letters: list[DeadLetter] = []
    unreadable = 0
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        for line in handle:
            try:
                record = json.loads(line)
                if record["kind"] == "message":
                    messages.append(_decode_message(record))
                else:
                    dead_letters.append(_decode_dead_letter(record))
            except (ValueError, KeyError, TypeError):
                unreadable += 1
    return SegmentContents(messages, dead_letters, unreadable)


def segments_in(directory: Path) -> list[Path]:
    """The segment files of one journal directory, oldest first."""
    return sorted(directory.glob(SEGMENT_GLOB), key=_segment_number)


def _segment_number(path: Path) -> int:
    return int(path.stem.split("-", 1)[1])


def _encode_message(message: RawMessage) -> str:
    record = dataclasses.asdict(message)
    record["publish_time"] = message.publish_time.isoformat() if message.publish_time else None
    # ensure_ascii keeps lone surrogates and NULs representable; one record per line.
    return json.dumps({"kind": "message", **record}) + "\n"


def _encode_dead_letter(letter: DeadLetter) -> str:
    return json.dumps({"kind": "dead_letter", **dataclasses.asdict(letter)}) + "\n"


def _decode_message(record: dict) -> RawMessage:
    published = record["publish_time"]
    return RawMessage(
        topic=record["topic"],
        message_id=record["message_id"],
        publish_time=datetime.fromisoformat(published) if published else None,
        attributes=record["attributes"],
        subscription=record["subscription"],
        payload=record["payload"],
    )


def _decode_dead_letter(record: dict) -> DeadLetter:
    fields = {field.name for field in dataclasses.fields(DeadLetter)}
    return DeadLetter(**{key: value for key, value in record.items() if key in fields})
