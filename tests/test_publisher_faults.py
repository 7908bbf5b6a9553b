"""The publisher killed between publishing and recording: at most a repeat with the same
event_id, which subscribers drop. The last test turns the guarantee off (ingest/unsafe.py)
and checks that the fault test then fails."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from apoa.emulator import create_pull_subscription, create_topology, pull_all
from ingest import unsafe
from publisher.publish import PublishConfig, publish_new_findings, pubsub_publisher
from publisher.subscribers.base import Subscriber
from publisher.subscribers.dedup import SQLiteDedupStore
from tests.emulator_fixtures import PROJECT, start_emulator
from tests.finding_rows import finding_row, replace_findings
from tests.switched_off import run_switched_off

ROOT = Path(__file__).resolve().parent.parent
NO_COOLDOWN = PublishConfig(cooldown_seconds=0)

# The real publisher in a process of its own, with a publish that lets Pub/Sub accept the
# first event and then kills the process before the ledger row is written.
KILLED_PUBLISHER = """
import os, signal, sys
import duckdb
from publisher.publish import PublishConfig, publish_new_findings, pubsub_publisher

publish = pubsub_publisher(sys.argv[2], "apoa-findings")

def publish_then_die(event):
    publish(event)
    os.kill(os.getpid(), signal.SIGKILL)

config = PublishConfig(cooldown_seconds=0)
publish_new_findings(duckdb.connect(sys.argv[1]), publish_then_die, config)
"""


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    emulator = start_emulator(tmp_path_factory.mktemp("emulator") / "emulator.log")
    create_topology(PROJECT, None)
    yield emulator
    emulator.stop()


def push_body(message) -> bytes:
    return json.dumps(
        {
            "message": {
                "data": base64.b64encode(message.data).decode(),
                "attributes": dict(message.attributes),
                "messageId": message.message_id,
            },
            "subscription": "projects/apoa-test/subscriptions/killed-publisher",
        }
    ).encode()


def test_publisher_killed_before_recording_repeats_only_the_same_event_id(emulator, tmp_path):
    subscription = create_pull_subscription(PROJECT, "apoa-findings", f"killed-{os.getpid()}")
    database = tmp_path / "apoa.duckdb"
    with duckdb.connect(str(database)) as con:
        replace_findings(
            con,
            [finding_row(finding_id=f"f{n:031d}", job_name=f"test {n}") for n in range(3)],
        )
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_PUBLISHER, str(database), PROJECT],
        cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with duckdb.connect(str(database)) as con:  # the next run publishes the rest
        sent = publish_new_findings(con, pubsub_publisher(PROJECT, "apoa-findings"), NO_COOLDOWN)
    assert len(sent) == 3  # the killed run recorded nothing, so everything goes again

    messages = pull_all(subscription, expect=4, timeout=60)
    event_ids = [json.loads(m.data)["event_id"] for m in messages]
    assert len(messages) == 4  # the premise: one event reached Pub/Sub twice

    posted: list[str] = []
    subscriber = Subscriber(
        "killed-publisher",
        act=lambda event: posted.append(event["finding_id"]) or None,
        store=SQLiteDedupStore(tmp_path / "dedup.sqlite"),
    )
    answers = [subscriber.handle(push_body(m))[1] for m in messages]
    assert answers == [204] * 4
    assert len(posted) == 3, event_ids  # the repeat was dropped: one post per finding
    assert sorted(posted) == sorted({json.loads(m.data)["finding_id"] for m in messages})


def test_fault_test_fails_when_event_ids_are_not_stable():
    result = run_switched_off(
        "tests/test_publisher_faults.py::"
        "test_publisher_killed_before_recording_repeats_only_the_same_event_id",
        {unsafe.EVENT_ID_PER_PUBLISH: "1"},
        600,
    )
    assert result.returncode == 1, result.stdout[-2000:]
    assert "assert len(posted) == 3" in result.stdout, result.stdout[-2000:]
