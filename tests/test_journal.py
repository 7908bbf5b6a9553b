"""The landing journal gives back what it acknowledged, and nothing of a torn write."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.envelope import DeadLetter, RawMessage
from ingest.journal import LandingJournal, read_segment
from ingest.storage import StorageError


def message(n: int, payload: str = '{"a": 1}', published: datetime | None = None) -> RawMessage:
    return RawMessage("github-events", f"m-{n}", published, {"github_event": "x"}, "sub", payload)


def test_rows_come_back_exactly_as_appended(tmp_path):
    journal = LandingJournal(tmp_path)
    odd = '{"t": "NUL \\u0000, lone \\ud800, emoji \U0001f600, quote \\" and \\\\"}'
    rows = [
        message(1, published=datetime(2026, 11, 28, 9, 0, 0, 456000, tzinfo=UTC)),
        message(2, payload=odd),
        message(3, payload="not json \ud800 with a lone surrogate"),
    ]
    letter = DeadLetter("push", "message data is not JSON", "\x00body", "github-events", "d-1")
    journal.append(rows, [letter])
    [segment] = journal.seal()
    contents = read_segment(segment)
    assert contents.messages == rows
    assert contents.dead_letters == [letter]
    assert contents.unreadable_lines == 0


def test_a_torn_append_leaves_no_row_and_later_rows_go_to_a_new_segment(tmp_path):
    journal = LandingJournal(tmp_path)
    journal.append([message(1)], [])

    def disk_full() -> None:
        raise OSError(28, "No space left on device")

    journal.fault_hook = disk_full
    with pytest.raises(StorageError, match="No space left"):
        journal.append([message(2), message(3), message(4)], [])  # half written, then fails
    journal.fault_hook = None
    journal.append([message(5)], [])
    segments = journal.seal()
    assert len(segments) == 2  # the segment of the failed write was closed, not reused
    ids = [m.message_id for s in segments for m in read_segment(s).messages]
    assert ids == ["m-1", "m-5"]
    assert all(read_segment(s).unreadable_lines == 0 for s in segments)


def test_seal_returns_nothing_when_nothing_was_appended(tmp_path):
    journal = LandingJournal(tmp_path)
    assert journal.seal() == []
    journal.append([message(1)], [])
    assert len(journal.seal()) == 1
    assert journal.seal() == []


def test_a_new_journal_finds_the_leftovers_oldest_first_and_numbers_after_them(tmp_path):
    first = LandingJournal(tmp_path)
    for n in range(3):
        first.append([message(n)], [])
        first.seal()
    first.close()
    second = LandingJournal(tmp_path)
    leftovers = second.leftover_segments()
    assert [read_segment(s).messages[0].message_id for s in leftovers] == ["m-0", "m-1", "m-2"]
    second.append([message(9)], [])
    [new] = second.seal()
    assert new not in leftovers and new.name > leftovers[-1].name


def test_a_line_torn_by_a_crash_is_skipped_and_counted(tmp_path):
    journal = LandingJournal(tmp_path)
    journal.append([message(1)], [])
    [segment] = journal.seal()
    with open(segment, "a", encoding="utf-8") as handle:
        handle.write('{"kind": "message", "topic": "github-ev')  # the process died mid-write
    contents = read_segment(segment)
    assert [m.message_id for m in contents.messages] == ["m-1"]
    assert contents.unreadable_lines == 1
