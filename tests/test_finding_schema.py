"""The versioned finding schema (publisher/schema/finding.v1.json): it is a valid JSON Schema,
every event the publisher makes validates against it, and it rejects what it must reject.

Events made from a real dbt build of a replayed history are validated in
tests/test_finding_episodes.py; events received through the Pub/Sub emulator in
tests/test_subscribers.py."""

from __future__ import annotations

import copy
import json

import pytest
from jsonschema import Draft202012Validator

from publisher.events import ACTIONS, SCHEMA_ID, SCHEMA_VERSION, event_from_row
from publisher.validation import SCHEMA_FILES, load_schema, schema_errors
from tests.finding_rows import finding_row


def test_the_schema_file_is_a_valid_draft_2020_12_schema_of_this_version():
    schema = load_schema(SCHEMA_VERSION)
    Draft202012Validator.check_schema(schema)
    assert schema["$id"] == SCHEMA_ID
    assert SCHEMA_FILES[SCHEMA_VERSION].name == f"finding.v{SCHEMA_VERSION}.json"
    assert schema["properties"]["schema_version"] == {"const": SCHEMA_VERSION}


@pytest.mark.parametrize("kind", sorted(ACTIONS))
@pytest.mark.parametrize("status", ["open", "resolved"])
def test_every_kind_makes_a_valid_event(kind, status):
    body = json.loads(event_from_row(finding_row(kind=kind, status=status)).data)
    assert schema_errors(body) == []
    assert body["action"]["type"] == ACTIONS[kind]


def test_a_row_with_only_the_required_columns_makes_a_valid_event():
    minimal = {
        key: finding_row()[key]
        for key in ("finding_id", "kind", "severity", "status", "detected_at", "summary")
    }
    body = json.loads(event_from_row({**minimal, "repository": "octo/app"}).data)
    assert schema_errors(body) == []
    assert body["probable_cause"] is None
    assert body["action"]["targets"] == []


def test_a_runner_level_finding_is_valid_without_a_repository():
    row = finding_row(kind="queue_spike", repository=None, workflow_name=None, job_name=None,
                      entity=None, runner_label="ubuntu-latest", unit="seconds",
                      first_run_url=None, last_run_url=None)  # fmt: skip
    body = json.loads(event_from_row(row).data)
    assert schema_errors(body) == []
    assert body["entity"]["display"] == "ubuntu-latest"
    assert body["action"]["type"] == "check_runner_capacity"


def _valid() -> dict:
    return json.loads(event_from_row(finding_row()).data)


BREAKAGES = {
    "no summary": lambda b: b.pop("summary"),
    "empty summary": lambda b: b.update(summary=""),
    "event_id not a hash": lambda b: b.update(event_id="not-a-hash"),
    "unknown severity": lambda b: b.update(severity="apocalyptic"),
    "unknown status": lambda b: b.update(status="closed"),
    "revision zero": lambda b: b.update(revision=0),
    "timestamp without offset": lambda b: b.update(detected_at="2026-09-30T12:00:00"),
    "unknown top-level field": lambda b: b.update(surprise=1),
    "no entity at all": lambda b: b.update(entity={"display": "x"}),
    "action target not a URL": lambda b: b["action"]["targets"].append(
        {"rel": "compare", "url": "javascript:alert(1)"}
    ),
    "evidence value as text": lambda b: b["evidence"].update(observed_value="845"),
    "short commit": lambda b: b["evidence"]["commit_range"].update(first_bad_sha="abc"),
    "other schema version": lambda b: b.update(schema_version="2"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_the_schema_rejects(breakage):
    body = copy.deepcopy(_valid())
    BREAKAGES[breakage](body)
    assert schema_errors(body) != []


def test_there_is_no_schema_for_an_unknown_version():
    assert schema_errors({"schema_version": "99"})[0].startswith("unknown schema_version '99'")
    assert schema_errors([1, 2]) != []
