"""`apoa serve`: the warehouse owner as an HTTP server.

- POST /push/<topic>          Pub/Sub push deliveries (functions-framework `ingest_push`)
- POST /cloudevents           messagePublished CloudEvents (`ingest_cloudevent`)
- GET  /admin/status          raw row counts, writer and journal statistics, push processes
- GET  /admin/push-latency    p50 / p99 of push handling (?reset=1 starts a new window)
- GET  /admin/ingest-progress rows acknowledged and loaded so far (forces no load: cheap to poll)
- GET  /admin/integrity       duplicates in raw (by message id) and in staging (by key)
- POST /admin/build           dbt build in this process
- POST /admin/publish         publish new findings to apoa-findings
- GET  /admin/findings        findings as JSON (?status=open|resolved|all)
- GET  /admin/findings/<id>/explain  the full evidence of one finding (`apoa explain`)
- GET  /admin/mart-hashes     a content hash per mart (for idempotency checks)
- POST /admin/dead-letters    land dead letters found by a client (e.g. `apoa replay`)
- GET  /admin/dead-letters/list  what was dead-lettered, with reasons
- GET  /admin/raw/<table>     raw rows after ?after_seq=N (at most 1000)
- GET  /admin/report-data     what `apoa report` draws, read from the marts (apoa/report.py)
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections import deque
from decimal import Decimal
from typing import Any

import functions_framework
from flask import Flask, jsonify, request
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server

from apoa.push_workers import PushWorkers
from apoa.settings import PROJECT_DIR
from apoa.warehouse import LocalWarehouse
from ingest.envelope import DeadLetter
from ingest.handler import set_sink

INGEST_SOURCE = str(PROJECT_DIR / "ingest" / "main.py")


class PushLatency:
    """WSGI middleware: how long each push request took, for `apoa serve`'s status."""

    def __init__(self, app: Any, keep: int = 200_000) -> None:
        self.app = app
        self.samples: deque[float] = deque(maxlen=keep)

    def __call__(self, environ: dict, start_response: Any) -> Any:
        if not environ.get("PATH_INFO", "").startswith("/push/"):
            return self.app(environ, start_response)
        started = time.perf_counter()
        try:
            return list(self.app(environ, start_response))
        finally:
            self.samples.append(time.perf_counter() - started)

    def summary(self, reset: bool = False) -> dict[str, float]:
        values = list(self.samples)
        if reset:
            self.samples.clear()
        return latency_summary(values)


class WorkersLatency:
    """The same summary over the push processes' samples (they answer the pushes)."""

    def __init__(self, workers: PushWorkers) -> None:
        self.workers = workers

    def summary(self, reset: bool = False) -> dict[str, float]:
        return latency_summary(self.workers.latency_samples(reset))


def latency_summary(samples: list[float]) -> dict[str, float]:
    values = sorted(samples)
    if not values:
        return {"count": 0}

    def at(q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 2)

    return {"count": len(values), "p50_ms": at(0.50), "p99_ms": at(0.99)}


def create_server_app(warehouse: LocalWarehouse, workers: PushWorkers | None = None) -> Any:
    """The owner's app: pushes, CloudEvents and the admin routes. With push processes the
    pushes reach them instead, and the push-latency route reports theirs."""
    set_sink(warehouse.sink, warehouse.config)
    app: Flask = functions_framework.create_app("ingest_push", INGEST_SOURCE, "http")
    cloudevents = functions_framework.create_app("ingest_cloudevent", INGEST_SOURCE, "cloudevent")
    latency = PushLatency(DispatcherMiddleware(app, {"/cloudevents": cloudevents}))
    _add_admin_routes(
        app, warehouse, latency if workers is None else WorkersLatency(workers), workers
    )
    return latency


def _json_default(value: Any) -> Any:
    # ISO 8601 for timestamps, the same text the CLI prints when it owns the warehouse.
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _add_admin_routes(
    app: Flask,
    warehouse: LocalWarehouse,
    latency: PushLatency | WorkersLatency,
    workers: PushWorkers | None = None,
) -> None:
    app.json.default = _json_default  # type: ignore[attr-defined]

    def status():
        answer = warehouse.status()
        if workers is not None:
            answer["push_processes"] = {
                "pids": workers.pids,
                "acknowledged": workers.acknowledged(),
            }
        return jsonify(answer)

    def ingest_progress():
        return jsonify(warehouse.loader.progress())

    def push_latency():
        # Apart from status: sorting every sample is not free, and load scripts poll status.
        return jsonify(latency.summary(reset=request.args.get("reset") == "1"))

    def integrity():
        return jsonify(warehouse.integrity())

    def build():
        options = request.get_json(silent=True) or {}
        result = warehouse.build(options.get("select"), bool(options.get("full_refresh")))
        return jsonify(result.to_dict()), 200 if result.success else 500

    def publish():
        events = warehouse.publish()
        return jsonify({"published": [event.body for event in events]})

    def findings():
        return jsonify({"findings": warehouse.findings(request.args.get("status", "open"))})

    def explain(finding_id: str):
        from publisher.explain import FindingNotFound
        from publisher.explain import explain as explain_finding

        try:
            return jsonify(explain_finding(warehouse.con.cursor(), finding_id))
        except FindingNotFound as error:
            return jsonify({"error": str(error)}), 404

    def mart_hashes():
        return jsonify(warehouse.mart_hashes())

    def list_dead_letters():
        return jsonify(
            warehouse.query(
                "select topic, message_id, source, line_number, reason, body "
                "from raw.raw_dead_letters order by load_seq"
            )
        )

    def raw_rows(table: str):
        from ingest.raw_tables import DEAD_LETTER_TABLE, TOPIC_TABLES

        if table not in (*TOPIC_TABLES.values(), DEAD_LETTER_TABLE):
            return jsonify({"error": f"unknown raw table {table!r}"}), 404
        after = int(request.args.get("after_seq", -1))
        rows = warehouse.query(
            f"select * from raw.{table} where load_seq > ? order by load_seq limit 1000", [after]
        )
        return jsonify(rows)

    def report_data():
        from apoa.report import collect

        return jsonify(collect(warehouse.query, source=str(warehouse.settings.db_path)))

    def dead_letters():
        letters = [DeadLetter(**item) for item in request.get_json(force=True)]
        warehouse.land([], letters)
        return "", 204

    for rule, view, methods in [
        ("/admin/status", status, ["GET"]),
        ("/admin/push-latency", push_latency, ["GET"]),
        ("/admin/ingest-progress", ingest_progress, ["GET"]),
        ("/admin/build", build, ["POST"]),
        ("/admin/publish", publish, ["POST"]),
        ("/admin/findings", findings, ["GET"]),
        ("/admin/findings/<finding_id>/explain", explain, ["GET"]),
        ("/admin/mart-hashes", mart_hashes, ["GET"]),
        ("/admin/dead-letters", dead_letters, ["POST"]),
        ("/admin/dead-letters/list", list_dead_letters, ["GET"]),
        ("/admin/raw/<table>", raw_rows, ["GET"]),
        ("/admin/integrity", integrity, ["GET"]),
        ("/admin/report-data", report_data, ["GET"]),
    ]:
        app.add_url_rule(rule, endpoint=rule, view_func=view, methods=methods)


class RunningServer:
    """The owner's HTTP server; `serve_forever` in the main thread or in a thread (tests).

    With `push_processes`, that many processes answer the pushes on the public address
    (apoa/push_worker.py) and forward everything else to this process, which listens on a
    loopback port of its own and loads their journals. With 0 this process answers all."""

    def __init__(
        self,
        warehouse: LocalWarehouse,
        host: str,
        port: int,
        watch: bool = False,
        push_processes: int = 0,
    ):
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.warehouse = warehouse
        self.workers: PushWorkers | None = None
        try:
            if push_processes:
                public = _listening_socket(host, port)
                # bound first: the push processes need its address, the app needs them
                internal = _listening_socket("127.0.0.1", 0)
                self.url = f"http://{host}:{public.getsockname()[1]}"
                self.workers = PushWorkers(
                    public,
                    warehouse.journal.directory,
                    f"http://127.0.0.1:{internal.getsockname()[1]}",
                    push_processes,
                )
                warehouse.loader.load_also(self.workers)
                app = create_server_app(warehouse, self.workers)
                self._server = make_server("127.0.0.1", 0, app, threaded=True, fd=internal.fileno())
                internal.close()  # the server holds a duplicate
            else:
                self._server = make_server(host, port, create_server_app(warehouse), threaded=True)
                self.url = f"http://{host}:{self._server.server_port}"
        except Exception:
            if self.workers is not None:
                self.workers.stop()
            warehouse.close()
            raise
        warehouse.record_owner_url(self.url)
        self.trigger = None
        if watch:
            from apoa.watch import BuildTrigger

            warehouse.prepare_micro_batches()
            self.trigger = BuildTrigger(
                build=warehouse.run_micro_batch,
                publish=lambda: len(warehouse.publish()),
                # a whole run leaves a large log that the next micro-batch would fold in
                after_publish=lambda: warehouse.checkpoint(min_wal_bytes=64 * 2**20),
                build_at_start=True,
            )
            warehouse.on_landed = self.trigger.notify

    def serve_forever(self) -> None:
        try:
            self._server.serve_forever()
        finally:
            if self.workers is not None:
                self.workers.stop()  # their last rows load in the warehouse's close below
            self._server.server_close()
            if self.trigger is not None:
                self.trigger.stop()
            self.warehouse.close()

    def stop(self) -> None:
        threading.Thread(target=self._server.shutdown, daemon=True).start()


def _listening_socket(host: str, port: int) -> socket.socket:
    listen = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listen.bind((host, port))
        listen.listen(128)
    except OSError:
        listen.close()
        raise
    listen.set_inheritable(True)
    return listen


def serve(
    warehouse: LocalWarehouse,
    host: str,
    port: int,
    watch: bool = False,
    on_listening: Any = None,
    push_processes: int = 0,
) -> None:
    """Serve until SIGINT/SIGTERM. Returns after the warehouse is closed.

    With `watch`, every landed completed run or job triggers a debounced micro-batch
    build and publish in this process (see apoa/watch.py).
    """
    server = RunningServer(warehouse, host, port, watch, push_processes)
    if on_listening is not None:
        on_listening(server.url)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: server.stop())
        signal.signal(signal.SIGINT, lambda *_: server.stop())
    answered = f"{push_processes} push processes" if push_processes else "this process"
    print(f"apoa serve: listening on {server.url} (pushes: {answered}), "
          f"warehouse {warehouse.settings.db_path}", flush=True)  # fmt: skip
    server.serve_forever()
    print("apoa serve: stopped", flush=True)
