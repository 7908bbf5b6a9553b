"""Turn rows of fct_findings into events for the apoa-findings topic. Pure, no I/O."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

SCHEMA_VERSION = "1"

# What a subscriber (or a person) should do about each kind of finding.
ACTIONS = {
    "duration_regression": "investigate_regression",
    "failure_rate": "investigate_failures",
    "queue_spike": "check_runner_capacity",
    "flaky_job": "quarantine_flaky",
    "default_branch_broken": "rerun_failed_jobs",
}


def event_id_for(finding_id: str, status: str, revision: int) -> str:
    """One id per published state of a finding: a rerun repeats it, a status change does not."""
    key = f"{finding_id}\x1f{status}\x1f{revision}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class FindingEvent:
    event_id: str
    finding_id: str
    status: str
    revision: int
    body: dict[str, Any]

    @property
    def attributes(self) -> dict[str, str]:
        return {
            "event_id": self.event_id,
            "finding_id": self.finding_id,
            "kind": str(self.body.get("kind") or ""),
            "severity": str(self.body.get("severity") or ""),
            "repository": str(self.body.get("repository") or ""),
            "status": self.status,
        }

    @property
    def data(self) -> bytes:
        return json.dumps(self.body, sort_keys=True, default=_json_default).encode()


def event_from_row(row: dict[str, Any]) -> FindingEvent:
    finding_id = str(row["finding_id"])
    status = str(row["status"])
    revision = int(row.get("revision") or 1)
    event_id = event_id_for(finding_id, status, revision)
    targets = [url for url in (row.get("first_run_url"), row.get("last_run_url")) if url]
    body = {
        "schema_version": SCHEMA_VERSION,
        "event_id": event_id,
        **{key: _plain(value) for key, value in row.items()},
        "action": {
            "type": ACTIONS.get(str(row.get("kind")), "investigate"),
            "targets": list(dict.fromkeys(targets)),
        },
    }
    return FindingEvent(event_id, finding_id, status, revision, body)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _json_default(value: Any) -> Any:
    return str(_plain(value))
