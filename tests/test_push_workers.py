"""`apoa serve`'s push processes: their journals reach DuckDB, a dead one loses nothing.

The emulator tests elsewhere (end to end, faults, load) run `apoa serve` with its default
push processes; these test what is particular to them.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import os
import signal
import string
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apoa.demo import wait_for_server
from apoa.emulator import free_port
from apoa.push_worker import WORKERS_LOCK
from apoa.push_workers import wait_for_old_workers
from apoa.replay import publish_to_emulator
from benchmarks.ingest_load import point_subscriptions, process_tree, sample_messages
from ingest import unsafe
from ingest.envelope import RawMessage
from ingest.journal import LandingJournal
from ingest.loader import JournaledStore
from ingest.storage import DuckDBRawStore
from tests.emulator_fixtures import PROJECT, start_emulator
from tests.switched_off import run_switched_off
from tests.test_faults import (
    LANDING_TIMEOUT,
    assert_exactly_once,
    landed,
    start_serve,
    wait_for,
    wait_for_landing,
)


def message(number: int) -> RawMessage:
    return RawMessage(
        topic="pipeline-logs",
        message_id=f"m{number}",
        publish_time=datetime(2026, 9, 1, tzinfo=UTC),
        attributes={},
        subscription=None,
        payload='{"textPayload": "x"}',
    )


class SealedInTheTest:
    """Stands in for the push processes: a journal this test appends to and seals."""

    def __init__(self, journal: LandingJournal) -> None:
        self.journal = journal
        self.appended = 0
        self.collects = 0

    def append(self, numbers: range) -> None:
        self.journal.append([message(n) for n in numbers], [])
        self.appended += len(numbers)

    def collect(self):
        self.collects += 1
        return self.journal.seal()

    def acknowledged(self) -> int:
        return self.appended


@contextlib.contextmanager
def loading_from_elsewhere(tmp_path: Path, linger_seconds: float):
    """A running loader that also loads a journal this test writes, as a push process would."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    store = DuckDBRawStore(con)
    loader = JournaledStore(
        LandingJournal(tmp_path / "journal"), store, linger_seconds=linger_seconds
    )
    elsewhere = SealedInTheTest(LandingJournal(tmp_path / "journal" / "push-0"))
    loader.start()
    loader.load_also(elsewhere)
    try:
        yield store, loader, elsewhere
    finally:
        loader.close()
        con.close()


def test_flush_loads_what_other_processes_acknowledged_before_it(tmp_path):
    # A long linger: after the first round, only a flush makes the loader ask in time.
    with loading_from_elsewhere(tmp_path, linger_seconds=60) as (store, loader, elsewhere):
        loader.flush(timeout=10)  # the first round, so that no round runs on its own below
        elsewhere.append(range(30))
        assert loader.progress() == {"acknowledged": 30, "loaded": 0}
        loader.flush(timeout=10)
        assert store.counts()["raw_pipeline_logs"] == 30
        assert loader.progress() == {"acknowledged": 30, "loaded": 30}
        assert not list((tmp_path / "journal" / "push-0").glob("segment-*"))  # loaded, deleted
        elsewhere.append(range(30, 35))
        loader.flush(timeout=10)
        assert store.counts()["raw_pipeline_logs"] == 35


def test_the_loader_asks_other_processes_on_its_own(tmp_path):
    with loading_from_elsewhere(tmp_path, linger_seconds=0.05) as (store, loader, elsewhere):
        elsewhere.append(range(7))
        assert wait_for(lambda: loader.progress()["loaded"] == 7, 10)
        assert store.counts()["raw_pipeline_logs"] == 7


def test_a_new_owner_waits_until_the_old_push_processes_are_gone(tmp_path):
    journal = tmp_path / "journal"
    journal.mkdir()
    with open(journal / WORKERS_LOCK, "a+") as held:  # as a live push process holds it
        fcntl.flock(held, fcntl.LOCK_SH)
        with pytest.raises(RuntimeError, match="push processes of an earlier owner"):
            wait_for_old_workers(journal, timeout=0.3)
        fcntl.flock(held, fcntl.LOCK_UN)
    wait_for_old_workers(journal, timeout=0.3)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    emulator = start_emulator(tmp_path_factory.mktemp("emulator") / "emulator.log")
    yield emulator
    emulator.stop()


def journal_rows(pid: int) -> int:
    """Lines in the journal of the push process `pid` (its --journal argument)."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    directory = Path(argv[argv.index("--journal") + 1])
    return sum(segment.read_bytes().count(b"\n") for segment in directory.glob("segment-*"))


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "hung"])
def test_push_process_killed_mid_load_loses_and_doubles_nothing(emulator, tmp_path, how):
    """Its last segment holds acknowledged rows no seal named: the owner loads them and
    starts another process in its place. A hung one (stopped) is killed once it leaves a
    seal unanswered for APOA_PUSH_CONTROL_TIMEOUT; the pushes it held are redelivered."""
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"PUBSUB_EMULATOR_HOST": emulator.host, "APOA_PUSH_CONTROL_TIMEOUT": "2"}
    process = start_serve(home, port, env)
    try:
        remote = wait_for_server(url, process)
        workers = process_tree(process.pid)[1:]
        assert len(workers) == 2, "apoa serve starts two push processes by default"
        assert sorted(remote.status()["push_processes"]["pids"]) == sorted(workers)
        point_subscriptions(url, "push-kill", PROJECT)
        count = 1500
        publish_to_emulator(sample_messages(count), PROJECT, show_progress=False)
        assert wait_for(lambda: landed(remote) >= 300, LANDING_TIMEOUT)
        # The owner paused, so that no seal runs: the victim is killed while its segment
        # holds rows it acknowledged that no seal named (what this test is about).
        os.kill(process.pid, signal.SIGSTOP)
        try:
            time.sleep(0.5)  # a seal asked for just before is answered by now
            before = journal_rows(workers[0])
            assert wait_for(lambda: journal_rows(workers[0]) > before, 60)  # unsealed ones
            os.kill(workers[0], how)
        finally:
            os.kill(process.pid, signal.SIGCONT)
        wait_for_landing(remote, count)
        time.sleep(1.0)  # anything redelivered late would show up as a duplicate
        assert_exactly_once(remote, count)
        replacements = process_tree(process.pid)[1:]
        assert len(replacements) == 2 and workers[0] not in replacements
        assert sorted(remote.status()["push_processes"]["pids"]) == sorted(replacements)
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_push_process_test_fails_when_dead_segments_are_dropped():
    result = run_switched_off(
        "tests/test_push_workers.py::test_push_process_killed_mid_load_loses_and_doubles_nothing"
        "[killed]",
        {unsafe.DROP_DEAD_PUSH_SEGMENTS: "1", "APOA_FAULT_LANDING_TIMEOUT": "30",
         "APOA_FAULT_STALL_SECONDS": "8"},
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-2000:]
    assert "in assert_exactly_once" in result.stdout, result.stdout[-2000:]  # on the count


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`apoa serve` with its default push processes, reached over HTTP as Pub/Sub does."""
    home = tmp_path_factory.mktemp("served-fuzz")
    port = free_port()
    process = start_serve(home, port, {})
    wait_for_server(f"http://127.0.0.1:{port}", process)
    yield port, process
    process.terminate()
    process.wait(timeout=60)


def request(port: int, method: str, target: str, body: bytes | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, target, body=body)
        return connection.getresponse().status
    finally:
        connection.close()


PUBLIC_FUZZ = settings(max_examples=60, deadline=None,
                       suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
paths = st.lists(
    st.one_of(
        st.text(alphabet=string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@", max_size=12),
        st.sampled_from(["push", "admin", "cloudevents", "..", "%00", "%2F", "%ZZ", "status"]),
    ),
    max_size=4,
).map(lambda parts: "/" + "/".join(parts))


@PUBLIC_FUZZ
@given(body=st.binary(max_size=2000))
def test_arbitrary_bytes_to_a_push_process_are_answered(served, body):
    port, _ = served
    assert request(port, "POST", "/push/pipeline-logs", body) in (204, 400)


@PUBLIC_FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    target=st.tuples(paths, st.text(alphabet=string.ascii_letters + "=&%?", max_size=10)).map(
        lambda pair: f"{pair[0]}?{pair[1]}" if pair[1] else pair[0]
    ),
    body=st.one_of(st.none(), st.binary(max_size=300)),
)
def test_any_request_on_the_public_address_gets_an_answer_not_an_error(
    served, method, target, body
):
    """The push processes answer or forward it; the owner answers: never a 5xx."""
    port, process = served
    if method == "POST" and target.rstrip("/") in ("/admin/build", "/admin/publish"):
        return  # real work, not bad input
    status = request(port, method, target, body)
    assert status < 500, (method, target, status)
    assert len(process_tree(process.pid)) == 3  # the owner and both push processes live
