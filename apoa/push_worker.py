"""One push process of `apoa serve`: answer Pub/Sub pushes from a journal of its own.

    python -m apoa.push_worker --listen-fd N --control-fd M --journal DIR --owner URL

The owner binds the public socket and starts these processes on it (apoa/push_workers.py).
Each accepts connections from that socket, lands pushes and CloudEvents in its own
journal directory (fsync, then 204: the same promise as in the owner) and forwards every
other request to the owner. Why a process: one Python interpreter answering pushes and
loading DuckDB ran at one full core with every thread waiting for the interpreter lock;
the Pub/Sub emulator keeps only a few pushes in flight, so each millisecond of that wait
cost throughput (README, "Reliability and security").

The owner talks to it over the control socket, one JSON object a line each way:
`seal` closes the current segment and names every segment whose rows the owner may load
now, `latency` returns the push-handling times, `stop` finishes in-flight requests and exits.
The process also exits when the owner does: the kernel kills it (PR_SET_PDEATHSIG) and the
control socket reaches its end. It holds a shared lock on the journal while it runs, so a
new owner loads a dead one's segments only once no process writes them.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import http.client
import json
import logging
import os
import signal
import socket
import sys
import threading
import urllib.parse
from pathlib import Path
from typing import Any

from ingest.envelope import DeadLetter, RawMessage
from ingest.journal import LandingJournal

WORKERS_LOCK = "push-workers.lock"
_PR_SET_PDEATHSIG = 1
# Headers that describe one connection, not the message: never forwarded.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-authenticate", "proxy-authorization"}  # fmt: skip


class JournalOnlyStore:
    """The raw store of a push process: rows go to its journal, the owner loads them."""

    def __init__(self, journal: LandingJournal) -> None:
        self.journal = journal
        self.acknowledged = 0
        self._lock = threading.Lock()  # an append and a seal exclude each other

    def write_batch(self, messages: list[RawMessage], dead_letters: list[DeadLetter]) -> None:
        with self._lock:
            self.journal.append(messages, dead_letters)  # raises StorageError: a 5xx answer
            self.acknowledged += len(messages) + len(dead_letters)

    def seal(self) -> tuple[list[Path], int]:
        """Segments holding every row acknowledged so far, and how many rows that is."""
        with self._lock:
            return self.journal.seal(), self.acknowledged

    def close(self) -> None:
        with self._lock:
            self.journal.close()


class OwnerProxy:
    """WSGI: forward a request to the owner's internal address and relay its answer."""

    def __init__(self, owner_url: str) -> None:
        parsed = urllib.parse.urlsplit(owner_url)
        self._host, self._port = parsed.hostname, parsed.port

    def __call__(self, environ: dict, start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else None
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_") and key[5:].replace("_", "-").lower() not in _HOP_BY_HOP
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        target = environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
        connection = http.client.HTTPConnection(self._host, self._port, timeout=None)
        try:
            connection.request(environ["REQUEST_METHOD"], target, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except OSError as error:
            start_response("502 Bad Gateway", [("Content-Type", "text/plain")])
            return [f"the warehouse owner did not answer: {error}".encode()]
        finally:
            connection.close()
        relayed = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
        start_response(f"{response.status} {response.reason}", relayed)
        return [data]


def create_worker_app(store: JournalOnlyStore, owner_url: str) -> tuple[Any, Any]:
    """Pushes and CloudEvents land here; everything else is the owner's. Returns the app
    (a `PushLatency`, which keeps the handling times) and its group-commit writer."""
    import functions_framework
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    from apoa.server import INGEST_SOURCE, PushLatency
    from ingest.config import IngestConfig
    from ingest.handler import set_sink
    from ingest.writer import GroupCommitWriter, unsafe_sink

    config = IngestConfig.from_env()
    writer = GroupCommitWriter(store, max_batch=config.batch_rows, max_wait_ms=config.batch_wait_ms)
    set_sink(unsafe_sink(writer), config)
    push = functions_framework.create_app("ingest_push", INGEST_SOURCE, "http")
    cloudevents = functions_framework.create_app("ingest_cloudevent", INGEST_SOURCE, "cloudevent")
    proxy = OwnerProxy(owner_url)

    def route(environ: dict, start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").startswith("/push/"):
            return push(environ, start_response)
        return proxy(environ, start_response)

    return PushLatency(DispatcherMiddleware(route, {"/cloudevents": cloudevents})), writer


def die_with_parent() -> None:
    """Ask the kernel to kill this process when the owner that started it dies (Linux)."""
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # not Linux: the end of the control socket still stops this process
    if os.getppid() != parent:  # the owner died before the request took effect
        os._exit(1)


def serve_control(
    control: socket.socket, store: JournalOnlyStore, app: Any, writer: Any, server: Any
) -> None:
    """Answer the owner's requests until it asks to stop or goes away."""
    requests = control.makefile("r", encoding="utf-8")
    replies = control.makefile("w", encoding="utf-8")

    def answer(reply: dict[str, Any]) -> None:
        replies.write(json.dumps(reply) + "\n")
        replies.flush()

    answer({"ready": True, "pid": os.getpid()})
    for line in requests:
        request = json.loads(line)
        if request["op"] == "seal":
            segments, acknowledged = store.seal()
            answer({"segments": [str(path) for path in segments], "acknowledged": acknowledged})
        elif request["op"] == "latency":
            samples = list(app.samples)
            if request.get("reset"):
                app.samples.clear()
            answer({"samples": samples})
        elif request["op"] == "stop":
            break
    # Stop accepting, let the requests in flight finish, and keep their rows on disk: the
    # owner loads whatever this process's directory holds once it has exited.
    server.shutdown()
    writer.close()
    store.close()
    answer({"stopped": True})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apoa.push_worker")
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--journal", type=Path, required=True)
    parser.add_argument("--owner", required=True, help="the owner's internal URL")
    args = parser.parse_args(argv)

    die_with_parent()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the owner says when: `stop`
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    lock = open(args.journal.parent / WORKERS_LOCK, "a+")  # noqa: SIM115 - held until exit
    fcntl.flock(lock, fcntl.LOCK_SH)
    control = socket.socket(fileno=args.control_fd)
    store = JournalOnlyStore(LandingJournal(args.journal))
    app, writer = create_worker_app(store, args.owner)

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True, fd=args.listen_fd)
    # Every process polls the shared socket and all wake for one connection: a blocking
    # accept would leave the losers stuck in it, deaf to `stop` until the next connection.
    server.socket.setblocking(False)
    threading.Thread(target=server.serve_forever, name="apoa-push-http", daemon=True).start()
    # OSError: the owner went away, and the kernel ends this process too
    with contextlib.suppress(OSError, ValueError):
        serve_control(control, store, app, writer, server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
