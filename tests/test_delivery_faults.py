"""Duplicate and out-of-order deliveries through the real landing path and staging models.

Pub/Sub delivers at least once and in any order, and GitHub re-sends a delivery under a new
message id when asked to. Each guarantee has a switch (macros/unsafe/apoa_unsafe.sql) that
turns it off; the last test runs each fault test again with its switch on and expects it to
fail on its assertion.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path

import pytest

from apoa.generator import generate_history
from apoa.settings import Settings
from apoa.warehouse import LocalWarehouse
from ingest.envelope import RawMessage
from tests.switched_off import run_switched_off

STAGING = (
    "stg_github__actions_deliveries stg_github__workflow_job_deliveries stg_github__workflow_jobs"
)


@pytest.fixture(scope="module")
def job_deliveries() -> list[RawMessage]:
    """queued, in_progress and completed of one generated job that passed, in that order."""
    history = generate_history(seed=5, runs_per_workflow=3)
    by_job: dict[int, list] = {}
    for message in history.messages:
        if message.attributes["github_event"] == "workflow_job":
            by_job.setdefault(message.data["workflow_job"]["id"], []).append(message)
    deliveries = next(
        messages
        for messages in by_job.values()
        if [m.data["action"] for m in messages] == ["queued", "in_progress", "completed"]
        and messages[-1].data["workflow_job"]["conclusion"] == "success"
    )
    return [
        RawMessage("github-events", f"msg-{n}", None, dict(m.attributes), None, json.dumps(m.data))
        for n, m in enumerate(deliveries)
    ]


def staged_job(tmp_path: Path, messages: list[RawMessage]) -> tuple[dict, int]:
    """Land the messages one at a time (each its own load), build staging, read it back."""
    with LocalWarehouse(Settings(home=tmp_path / "home")) as warehouse:
        for message in messages:
            warehouse.land([message], [])
            warehouse.flush()
        result = warehouse.run_micro_batch(STAGING)
        assert result.success, result.failures
        [job] = warehouse.query(
            "select status, conclusion, delivery_count from main.stg_github__workflow_jobs"
        )
        [deliveries] = warehouse.query(
            "select count(*) as n from main.stg_github__workflow_job_deliveries"
        )
    return job, deliveries["n"]


def test_a_delivery_resent_under_a_new_message_id_is_one_delivery(tmp_path, job_deliveries):
    queued, in_progress, completed = job_deliveries
    resent = dataclasses.replace(completed, message_id="msg-resent")  # same X-GitHub-Delivery
    redelivered = completed  # same message id: Pub/Sub's at-least-once
    job, delivery_rows = staged_job(tmp_path, [queued, in_progress, completed, resent, redelivered])
    assert delivery_rows == 3
    assert job == {"status": "completed", "conclusion": "success", "delivery_count": 3}


def test_deliveries_in_reverse_order_and_a_late_one_give_the_final_state(tmp_path, job_deliveries):
    queued, in_progress, completed = job_deliveries
    # GitHub sends another in_progress long after the job completed: a new delivery id
    late = dataclasses.replace(
        in_progress,
        message_id="msg-late",
        attributes={**in_progress.attributes, "github_delivery": str(uuid.uuid4())},
    )
    job, delivery_rows = staged_job(tmp_path, [completed, in_progress, queued, late])
    assert delivery_rows == 4
    assert job == {"status": "completed", "conclusion": "success", "delivery_count": 4}


@pytest.mark.parametrize(
    ("test_name", "switch"),
    [
        ("test_a_delivery_resent_under_a_new_message_id_is_one_delivery",
         "APOA_UNSAFE_KEEP_EVERY_DELIVERY_COPY"),
        ("test_deliveries_in_reverse_order_and_a_late_one_give_the_final_state",
         "APOA_UNSAFE_LATEST_BY_ARRIVAL"),
    ],
)  # fmt: skip
def test_delivery_fault_test_fails_when_its_guarantee_is_switched_off(test_name, switch):
    result = run_switched_off(f"tests/test_delivery_faults.py::{test_name}", {switch: "1"}, 600)
    assert result.returncode == 1, result.stdout[-2000:]
    assert "1 failed" in result.stdout
    assert f"in {test_name}" in result.stdout, result.stdout[-2000:]  # on its own assertion
