"""Stopping an emulator frees its port: every process of its group is gone, not only the
`gcloud` wrapper (CI saw the JVM still listening just after `gcloud` had exited)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from apoa.emulator import GcloudEmulator, free_port

# A child that holds the port and takes two seconds to exit on SIGTERM, as the JVM does,
# under a shell leader that exits at once, as `gcloud` does.
SLOW_CHILD = """
import signal, socket, sys, time
sock = socket.socket()
sock.bind(("127.0.0.1", {port}))
sock.listen()
signal.signal(signal.SIGTERM, lambda *_: (time.sleep(2), sys.exit(0)))
time.sleep(120)
"""


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_stop_returns_only_once_no_process_of_the_group_holds_the_port():
    port = free_port()
    child = SLOW_CHILD.format(port=port)
    leader = subprocess.Popen(
        ["sh", "-c", f"\"{sys.executable}\" -c '{child}' & wait"], start_new_session=True
    )
    emulator = GcloudEmulator("pubsub", "APOA_TEST_UNUSED_HOST", port=port)
    emulator._process = leader
    deadline = time.monotonic() + 30
    while not port_open(port):
        assert time.monotonic() < deadline, "the stand-in emulator never listened"
        time.sleep(0.05)

    emulator.stop()

    assert leader.poll() is not None
    assert not port_open(port)
