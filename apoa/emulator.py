"""Start and stop the Google Cloud Pub/Sub emulator, and lay out APOA's topics on it."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Self

from apoa.process_group import stop_process_group
from apoa.settings import FINDINGS_TOPIC, TOPICS


class EmulatorUnavailable(RuntimeError):
    pass


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback port nothing listens on, below the kernel's ephemeral range: a port the
    kernel hands out for port 0 is also handed to outgoing connections, which can take it
    in the seconds before a JVM emulator binds it (seen with two test workers)."""
    low = max(_ephemeral_low() - 12000, 1024)
    pick = random.SystemRandom()
    for _ in range(200):
        port = pick.randrange(low, low + 12000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmulatorTimeout(EmulatorUnavailable):
    """The emulator started but did not answer in time."""


class GcloudEmulator:
    """`gcloud beta emulators <component> start` on a free loopback port, in its own process
    group, exported to clients through `env_var` while it runs. An emulator that exits while
    starting on a port this class chose is tried again on another: most often another
    process bound that port first."""

    def __init__(
        self,
        component: str,
        env_var: str,
        args: tuple[str, ...] = (),
        port: int | None = None,
        log: Path | None = None,
    ):
        self.component = component
        self.env_var = env_var
        self._args = args
        self._chosen_port = port is None
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._log_path = log
        self._process: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("gcloud") is not None

    def start(self, timeout: float = 60, attempts: int = 3) -> Self:
        if not self.available():
            raise EmulatorUnavailable(
                f"gcloud is not installed, so the {self.component} emulator cannot start"
            )
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once(timeout)
            except EmulatorTimeout:
                raise
            except EmulatorUnavailable:
                if not self._chosen_port or attempt == attempts:
                    raise
                self.stop()
                self.port = free_port()
                self.host = f"127.0.0.1:{self.port}"
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> Self:
        log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            ["gcloud", "beta", "emulators", self.component, "start",
             f"--host-port={self.host}", *self._args],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EmulatorUnavailable(f"the emulator exited with {self._process.returncode}")
            try:
                with urllib.request.urlopen(f"http://{self.host}/", timeout=1) as response:
                    if response.status == 200:
                        os.environ[self.env_var] = self.host
                        return self
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise EmulatorTimeout(f"the emulator did not answer on {self.host} within {timeout}s")

    def stop(self) -> None:
        if self._process is None:
            return
        stop_process_group(self._process)  # gcloud exits before the JVM that holds the port
        self._process = None
        if os.environ.get(self.env_var) == self.host:
            del os.environ[self.env_var]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class PubSubEmulator(GcloudEmulator):
    """The Pub/Sub emulator for one project (PUBSUB_EMULATOR_HOST while it runs)."""

    def __init__(
        self, project: str = "apoa-local", port: int | None = None, log: Path | None = None
    ):
        super().__init__("pubsub", "PUBSUB_EMULATOR_HOST", (f"--project={project}",), port, log)
        self.project = project


def create_topology(project: str, push_base_url: str | None) -> None:
    """Topics for the three sources and for findings; push subscriptions to the ingest server
    (the sources, and apoa-findings for the dashboard sink)."""
    from google.api_core.exceptions import AlreadyExists
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    try:
        for topic in (*TOPICS, FINDINGS_TOPIC):
            with contextlib.suppress(AlreadyExists):
                publisher.create_topic(name=publisher.topic_path(project, topic))
        if push_base_url is None:
            return
        for topic in TOPICS:
            with contextlib.suppress(AlreadyExists):
                subscriber.create_subscription(
                    name=subscriber.subscription_path(project, f"{topic}-ingest"),
                    topic=publisher.topic_path(project, topic),
                    push_config={"push_endpoint": f"{push_base_url}/push/{topic}"},
                    ack_deadline_seconds=60,
                )
    finally:
        subscriber.close()
    # The dashboard sink: every finding event back into the owner's raw_finding_events.
    from publisher.subscribers.dashboard_sink import subscribe

    subscribe(project, push_base_url)


def create_pull_subscription(project: str, topic: str, name: str) -> str:
    from google.api_core.exceptions import AlreadyExists
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(project, name)
    try:
        subscriber.create_subscription(name=path, topic=publisher.topic_path(project, topic))
    except AlreadyExists:
        pass
    finally:
        subscriber.close()
    return path


def pull_all(subscription_path: str, expect: int, timeout: float = 60) -> list:
    """Pull (and acknowledge) messages until `expect` arrived or `timeout` passed."""
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    received = []
    deadline = time.monotonic() + timeout
    try:
        while len(received) < expect and time.monotonic() < deadline:
            response = subscriber.pull(
                subscription=subscription_path, max_messages=100, timeout=5,
                return_immediately=False,
            )  # fmt: skip
            if response.received_messages:
                subscriber.acknowledge(
                    subscription=subscription_path,
                    ack_ids=[m.ack_id for m in response.received_messages],
                )
                received.extend(m.message for m in response.received_messages)
    finally:
        subscriber.close()
    return received
