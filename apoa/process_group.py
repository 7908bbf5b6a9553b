"""Stop a child started in its own process group (`start_new_session=True`), all of it.

A launcher can exit before the processes it started: `gcloud` before the emulator's JVM,
chromium before its helpers. Waiting for the leader alone left the JVM still holding its
port (seen in CI), so this waits until no member of the group runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def _group_alive(group: int) -> bool:
    """Whether any process of the group still runs. Zombies do not count: they hold no
    port, and a container's first process may never reap them."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process exited while being read
        if len(fields) > 2 and fields[2] == str(group) and fields[0] != "Z":
            return True
    return False


def _wait_group_gone(group: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _group_alive(group):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def stop_process_group(process: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM to the group, SIGKILL to what is left after `timeout`; returns once no member
    runs and the leader is reaped."""
    group = process.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    if not _wait_group_gone(group, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        _wait_group_gone(group, 5)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)  # the leader, a zombie until reaped
