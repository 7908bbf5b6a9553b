"""The single owner of the local DuckDB warehouse.

DuckDB lets one process open a database file at a time (even read-only), so
exactly one process owns `$APOA_HOME/apoa.duckdb`: it lands ingest rows through
one group-commit writer, runs dbt in-process and publishes findings, all on
the same DuckDB instance. Other processes either talk to that owner over HTTP
(see `apoa.remote`) or, when no owner runs, become the owner for one command.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

import duckdb

from apoa.dbt_build import BuildResult, parse_manifest, run_dbt
from apoa.push_workers import wait_for_old_workers
from apoa.settings import FINDINGS_TOPIC, Settings
from ingest.config import IngestConfig
from ingest.envelope import DeadLetter, RawMessage
from ingest.handler import Sink
from ingest.journal import LandingJournal
from ingest.loader import JournaledStore
from ingest.log import log
from ingest.storage import DuckDBRawStore, StorageError
from ingest.writer import GroupCommitWriter, unsafe_sink
from publisher.events import FindingEvent
from publisher.publish import Publish, publish_new_findings, pubsub_publisher

OWNER_FILE = "owner.json"
LOCK_FILE = "owner.lock"
JOURNAL_DIR = "journal"
MICRO_BATCH_QUIET = ["--no-write-json", "--log-level", "none", "--log-level-file", "none"]


class WarehouseBusy(RuntimeError):
    """Another process owns the warehouse file."""


@dataclass(frozen=True)
class OwnerInfo:
    pid: int
    url: str | None


def read_owner(settings: Settings) -> OwnerInfo | None:
    """The running owner, if any: its lock is held and it recorded where it listens."""
    lock_path = settings.home / LOCK_FILE
    if not lock_path.exists():
        return None
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None  # nobody holds it: any owner file is stale
    try:
        info = json.loads((settings.home / OWNER_FILE).read_text())
        return OwnerInfo(pid=int(info["pid"]), url=info.get("url"))
    except (OSError, ValueError, KeyError):
        return OwnerInfo(pid=-1, url=None)


class LocalWarehouse:
    """This process owns the warehouse until `close()`."""

    def __init__(self, settings: Settings, config: IngestConfig | None = None) -> None:
        self.settings = settings
        self.config = config or IngestConfig.from_env()
        settings.home.mkdir(parents=True, exist_ok=True)
        self._lock_handle: IO[str] | None = _acquire_lock(settings)
        try:
            self.con = duckdb.connect(str(settings.db_path))
        except duckdb.IOException as error:
            self._release()
            raise WarehouseBusy(_busy_message(settings, str(error))) from None
        # DuckDB checkpoints when the WAL passes 16 MB by default; with raw payloads of
        # ~10 KB that is every ~1,600 rows and it triples the cost of a small commit.
        self.con.execute("set checkpoint_threshold = '256MB'")
        self.store = DuckDBRawStore(self.con)
        # Requests are acknowledged once their rows are in the journal; the loader moves them
        # into the raw tables in big batches (ingest/loader.py). Leftovers of a crash load first.
        self.journal = LandingJournal(settings.home / JOURNAL_DIR)
        self.loader = JournaledStore(self.journal, self.store, on_loaded=self._loaded)
        try:
            wait_for_old_workers(self.journal.directory)
            self.loader.recover()
        except Exception:
            self.con.close()
            self._release()
            raise
        self.loader.start()
        self.writer = GroupCommitWriter(
            self.loader, max_batch=self.config.batch_rows, max_wait_ms=self.config.batch_wait_ms
        )
        self._land = unsafe_sink(self.writer)
        self._publish: Publish | None = None
        self._manifest = None
        self._views_created: set[str] = set()  # selectors whose views this process created
        self._publish_lock = threading.Lock()  # the trigger and a request may publish at once
        # Called with each committed batch of messages (the real-time build trigger).
        self.on_landed: Callable[[list[RawMessage]], None] | None = None

    # -- ingest -----------------------------------------------------------------
    @property
    def sink(self) -> Sink:
        return self.land

    def land(self, messages: list[RawMessage], dead_letters: list[DeadLetter]) -> None:
        self._land(messages, dead_letters)

    def _loaded(self, messages: list[RawMessage]) -> None:
        if self.on_landed is not None:
            self.on_landed(messages)

    def flush(self) -> None:
        """Every acknowledged row into the raw tables: call before reading or building them."""
        self.loader.flush()

    # -- build and publish --------------------------------------------------------
    def build(self, select: str | None = None, full_refresh: bool = False) -> BuildResult:
        self.flush()
        extra: list[str] = []
        if select:
            extra += ["--select", select]
        if full_refresh:
            extra.append("--full-refresh")
        result = run_dbt(self.settings, "build", [*extra, *self._raw_as_of_now()])
        self.checkpoint()
        return result

    def checkpoint(self, min_wal_bytes: int = 0) -> None:
        """Write DuckDB's log into the database file now. A whole build leaves hundreds of MB
        in it (250 MB at 26k job runs), and the next commit, a micro-batch's, would pay
        seconds to fold it in."""
        wal = self.settings.wal_path
        if not wal.exists() or wal.stat().st_size < min_wal_bytes:
            return
        try:
            self.con.cursor().execute("checkpoint")
        except duckdb.Error as error:  # a load in flight: DuckDB checkpoints on its own later
            log("INFO", "checkpoint skipped", reason=str(error))

    def prepare_micro_batches(self) -> None:
        """Parse the dbt project now (a few seconds), not when the first event arrives."""
        if self._manifest is None:
            self._manifest = parse_manifest(self.settings)

    def run_micro_batch(self, select: str) -> BuildResult:
        """`dbt run` of the incremental path on a manifest parsed once (no tests).

        The views in `select` are created by the first run of it in this process (so a new
        version of the project replaces them) and left alone after that: re-creating a
        view changes nothing and costs dbt a node (~0.07 s each).

        No JSON artifacts and no dbt log: writing manifest.json and run_results.json cost
        ~0.4 s a batch, and dbt formats every debug event for each log before its level drops
        it (~0.1-0.2 s). A failure reaches the caller's BuildResult, which `apoa watch` logs."""
        self.flush()
        self.prepare_micro_batches()
        extra = ["--select", select, *self._raw_as_of_now(), *MICRO_BATCH_QUIET]
        if select in self._views_created:
            extra += ["--exclude", "config.materialized:view"]
        result = run_dbt(self.settings, "run", extra, self._manifest)
        if result.success:
            self._views_created.add(select)
        return result

    def _raw_as_of_now(self) -> list[str]:
        """dbt vars that make the whole build read raw as of this moment (one load_seq), while
        the loader goes on landing: see macros/incremental/apoa_new_rows.sql."""
        ceiling = self.store.committed_load_seq()
        return ["--vars", json.dumps({"apoa_load_seq_ceiling": ceiling})]

    def publish(self, publish: Publish | None = None) -> list[FindingEvent]:
        if publish is None:
            if self._publish is None:
                self._publish = pubsub_publisher(self.settings.pubsub_project, FINDINGS_TOPIC)
            publish = self._publish
        with self._publish_lock:
            return publish_new_findings(self.con.cursor(), publish)

    # -- reading ------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with contextlib.suppress(StorageError):  # a failing load must not hide the status
            self.loader.flush(timeout=5)
        return {
            "pid": os.getpid(),
            "home": str(self.settings.home),
            "raw_counts": self.store.counts(),
            "writer": {"batches": self.writer.batches, "rows": self.writer.rows},
            "journal": {
                "pending_rows": self.loader.pending_rows,
                "loads": self.loader.loads,
                "failed_loads": self.loader.failed_loads,
            },
        }

    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        self.flush()
        cursor = self.con.cursor()
        result = cursor.execute(sql, params or [])
        columns = [column[0] for column in result.description]
        return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]

    def findings(self, status: str = "open") -> list[dict[str, Any]]:
        if not self._has_table("main", "fct_findings"):
            return []
        where = "" if status == "all" else "where status = ?"
        params = [] if status == "all" else [status]
        return self.query(f"select * from main.fct_findings {where} order by detected_at", params)

    def mart_hashes(self) -> dict[str, str]:
        """A hash of each mart's sorted rows: equal hashes mean equal content."""
        tables = self.query(
            "select table_name from information_schema.tables where table_schema = 'main' "
            "and (table_name like 'fct_%' or table_name like 'dim_%') order by table_name"
        )
        hashes = {}
        for row in tables:
            name = row["table_name"]
            result = self.query(
                f"select md5(coalesce(string_agg(h, '' order by h), '')) as digest, count(*) as n "
                f"from (select md5(cast(t as varchar)) as h from main.{name} as t)"
            )
            hashes[name] = f"{result[0]['digest']}:{result[0]['n']}"
        return hashes

    def integrity(self) -> dict[str, dict[str, int]]:
        """Rows and distinct keys per raw table and staging model: equal means no duplicates."""
        checks = {f"raw.{table}": "message_id" for table in self.store.counts()}
        checks.update(
            {
                "main.stg_github__actions_deliveries": "delivery_id",
                "main.stg_github__workflow_job_deliveries": "delivery_id",
                "main.stg_github__workflow_jobs": "job_id",
                "main.fct_job_runs": "job_run_id",
            }
        )
        result = {}
        for relation, key in checks.items():
            schema, table = relation.split(".")
            if not self._has_table(schema, table):
                continue
            row = self.query(
                f"select count(*) as rows, count(distinct {key}) as distinct_keys from {relation}"
            )[0]
            result[relation] = {
                "rows": int(row["rows"]),
                "distinct_keys": int(row["distinct_keys"]),
            }
        return result

    def _has_table(self, schema: str, table: str) -> bool:
        row = (
            self.con.cursor()
            .execute(
                "select count(*) from information_schema.tables "
                "where table_schema = ? and table_name = ?",
                [schema, table],
            )
            .fetchone()
        )
        return bool(row and row[0])

    def record_owner_url(self, url: str) -> None:
        (self.settings.home / OWNER_FILE).write_text(json.dumps({"pid": os.getpid(), "url": url}))

    def close(self) -> None:
        self.writer.close()
        self.loader.close()
        try:
            self.con.close()
        finally:
            self._release()

    def _release(self) -> None:
        try:
            (self.settings.home / OWNER_FILE).unlink(missing_ok=True)
        finally:
            if self._lock_handle is not None:
                fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
                self._lock_handle.close()
                self._lock_handle = None

    def __enter__(self) -> LocalWarehouse:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _acquire_lock(settings: Settings) -> IO[str]:
    handle = open(settings.home / LOCK_FILE, "a+")  # noqa: SIM115 - held for the owner's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        owner = read_owner(settings)
        pid = owner.pid if owner else "unknown"
        raise WarehouseBusy(
            f"the warehouse {settings.db_path} is held by PID {pid} (apoa serve). "
            "Run this command while it is up (it will be sent to that server), or stop it first."
        ) from None
    (settings.home / OWNER_FILE).write_text(json.dumps({"pid": os.getpid(), "url": None}))
    return handle


def _busy_message(settings: Settings, error: str) -> str:
    match = re.search(r"PID (\d+)", error)
    holder = f"PID {match.group(1)}" if match else "another process"
    return (
        f"the warehouse {settings.db_path} is open in {holder}; DuckDB allows one process "
        "at a time. Stop that process (or point APOA_HOME elsewhere) and try again."
    )


def open_local_sink() -> Callable[[list[RawMessage], list[DeadLetter]], None]:
    """For the standalone ingest function: become the owner and land through it."""
    return LocalWarehouse(Settings.from_env()).sink
