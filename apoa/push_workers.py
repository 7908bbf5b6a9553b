"""The owner's side of its push processes (apoa/push_worker.py).

The owner binds the public socket and starts the processes on it; each lands pushes in
its own directory under the journal. The owner's loader asks them, every round, to seal
what they wrote and loads those segments into DuckDB (`SealedElsewhere` in
ingest/loader.py). A process that dies is started again, and the segments it left,
acknowledged rows among them, are loaded like any others.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from apoa.push_worker import WORKERS_LOCK
from ingest import unsafe
from ingest.journal import segments_in
from ingest.log import log

READY_TIMEOUT = 120.0
# A process that does not answer a seal within this long is taken for hung: it is killed and
# replaced, and its segments loaded (a seal costs a lock held for one append and its fsync).
CONTROL_TIMEOUT = float(os.environ.get("APOA_PUSH_CONTROL_TIMEOUT", 30))


class PushWorkerGone(RuntimeError):
    """The process stopped answering on its control socket."""


class _Worker:
    def __init__(self, index: int, listen_fd: int, directory: Path, owner_url: str) -> None:
        self.index = index
        self.directory = directory
        self._listen_fd = listen_fd
        self._owner_url = owner_url
        self._lock = threading.Lock()  # one conversation at a time on the control socket
        self.acknowledged_before = 0  # rows acknowledged by earlier processes in this slot
        self.acknowledged = 0
        self.process: subprocess.Popen | None = None
        self._control: Any = None

    def start(self) -> None:
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "apoa.push_worker",
             "--listen-fd", str(self._listen_fd), "--control-fd", str(theirs.fileno()),
             "--journal", str(self.directory), "--owner", self._owner_url],
            pass_fds=(self._listen_fd, theirs.fileno()),
        )  # fmt: skip
        theirs.close()
        ours.settimeout(READY_TIMEOUT)
        self._control = (ours, ours.makefile("r", encoding="utf-8"), ours.makefile("w"))
        ready = self._receive()
        ours.settimeout(CONTROL_TIMEOUT)
        if not ready.get("ready"):
            raise PushWorkerGone(f"push process {self.index} did not start: {ready}")

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            try:
                _, _, writer = self._control
                writer.write(json.dumps(request) + "\n")
                writer.flush()
                return self._receive()
            except (OSError, ValueError) as error:
                raise PushWorkerGone(str(error)) from error

    def _receive(self) -> dict[str, Any]:
        line = self._control[1].readline()
        if not line:
            raise PushWorkerGone(f"push process {self.index} closed its control socket")
        return json.loads(line)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def reap(self) -> list[Path]:
        """End the process if it still runs (it stopped answering); return every segment it
        left, none of them written any more."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        if self._control is not None:
            for part in reversed(self._control):
                with contextlib.suppress(OSError):  # a write the process never read
                    part.close()
            self._control = None
        self.acknowledged_before += self.acknowledged
        self.acknowledged = 0
        left = segments_in(self.directory)
        if unsafe.enabled(unsafe.DROP_DEAD_PUSH_SEGMENTS):
            for segment in left:
                segment.unlink()
            return []
        return left


class PushWorkers:
    """N push processes on one listening socket; the source of their sealed segments."""

    def __init__(self, listen: socket.socket, journal_dir: Path, owner_url: str, count: int):
        self._listen = listen
        self._stopping = False
        self._workers = [
            _Worker(i, listen.fileno(), journal_dir / f"push-{i}", owner_url) for i in range(count)
        ]
        try:
            for worker in self._workers:
                worker.start()
        except Exception:
            self.stop()
            raise

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process is not None]

    # -- what the loader calls (ingest.loader.SealedElsewhere) ------------------------------
    def collect(self) -> list[Path]:
        """Seal every process's segment; segments of a dead one, which is started again."""
        segments: list[Path] = []
        for worker in self._workers:
            if worker.alive():
                try:
                    reply = worker.ask({"op": "seal"})
                    worker.acknowledged = int(reply["acknowledged"])
                    segments += [Path(path) for path in reply["segments"]]
                    continue
                except PushWorkerGone:
                    pass  # died between the check and the question
            segments += self._replace(worker)
        return segments

    def acknowledged(self) -> int:
        return sum(w.acknowledged_before + w.acknowledged for w in self._workers)

    # -- the owner's other needs ----------------------------------------------------------
    def latency_samples(self, reset: bool = False) -> list[float]:
        samples: list[float] = []
        for worker in self._workers:
            if worker.alive():
                try:
                    samples += worker.ask({"op": "latency", "reset": reset})["samples"]
                except PushWorkerGone:
                    continue
        return samples

    def stop(self) -> None:
        """Finish the requests in flight and end every process; their segments stay for the
        loader's last round (`collect` after this returns them)."""
        self._stopping = True
        for worker in self._workers:
            if worker.alive():
                with contextlib.suppress(PushWorkerGone):
                    worker.ask({"op": "stop"})
            if worker.process is not None:
                try:
                    worker.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.process.kill()
        self._listen.close()

    def _replace(self, worker: _Worker) -> list[Path]:
        # Called from the loader's thread, which lives as long as the owner: the kernel's
        # "kill me when my parent dies" watches the thread that started the process.
        left = worker.reap()
        if not self._stopping:
            log("ERROR", "a push process ended; starting another", slot=worker.index,
                exit_code=worker.process.returncode if worker.process else None,
                segments_left=len(left))  # fmt: skip
            worker.start()
        return left


def wait_for_old_workers(journal_dir: Path, timeout: float = 30.0) -> None:
    """Before loading leftover segments: the push processes of an owner that died must be
    gone (the kernel kills them with it, but not in the same instant)."""
    journal_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with open(journal_dir / WORKERS_LOCK, "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(handle, fcntl.LOCK_UN)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"push processes of an earlier owner still hold {journal_dir}; "
                        "stop them (pgrep -f apoa.push_worker) and start again"
                    ) from None
                time.sleep(0.1)
