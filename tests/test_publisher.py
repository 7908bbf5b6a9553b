"""Finding events: ids, attributes, and the ledger that keeps a rerun from publishing twice."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import pytest

from publisher.events import event_from_row, event_id_for
from publisher.publish import publish_new_findings


def finding(status: str = "open", **overrides) -> dict:
    row = {
        "finding_id": "f-1",
        "kind": "duration_regression",
        "severity": "critical",
        "status": status,
        "revision": 1,
        "repository": "octo/app",
        "summary": "build / test on main takes 14m 05s, 2.5x its usual 5m 40s",
        "detected_at": datetime(2026, 9, 30, 12, 0),
        "first_run_url": "https://github.com/octo/app/actions/runs/1",
        "last_run_url": "https://github.com/octo/app/actions/runs/9",
    }
    row.update(overrides)
    return row


def test_event_id_changes_with_status_and_revision_only():
    assert event_id_for("f", "open", 1) == event_id_for("f", "open", 1)
    assert len({event_id_for("f", "open", 1), event_id_for("f", "resolved", 1),
                event_id_for("f", "open", 2), event_id_for("g", "open", 1)}) == 4  # fmt: skip


def test_event_carries_attributes_and_action():
    event = event_from_row(finding())
    assert event.attributes == {
        "event_id": event.event_id,
        "finding_id": "f-1",
        "kind": "duration_regression",
        "severity": "critical",
        "repository": "octo/app",
        "status": "open",
    }
    body = json.loads(event.data)
    assert body["detected_at"] == "2026-09-30T12:00:00"
    assert body["action"] == {
        "type": "investigate_regression",
        "targets": [
            "https://github.com/octo/app/actions/runs/1",
            "https://github.com/octo/app/actions/runs/9",
        ],
    }


def _warehouse_with(rows: list[dict]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "create table main.fct_findings (finding_id varchar, kind varchar, severity varchar, "
        "status varchar, revision integer, repository varchar, summary varchar, "
        "detected_at timestamp, first_run_url varchar, last_run_url varchar)"
    )
    for row in rows:
        con.execute(
            "insert into main.fct_findings values (?,?,?,?,?,?,?,?,?,?)", list(row.values())
        )
    return con


def test_rerun_publishes_nothing_twice_and_a_status_change_is_new():
    sent: list[str] = []

    def publish(event):
        sent.append(event.event_id)
        return f"msg-{len(sent)}"

    con = _warehouse_with([finding()])
    assert len(publish_new_findings(con, publish)) == 1
    assert publish_new_findings(con, publish) == []
    con.execute("update main.fct_findings set status = 'resolved'")
    resolved = publish_new_findings(con, publish)
    assert [event.status for event in resolved] == ["resolved"]
    assert len(set(sent)) == 2


def test_a_failed_publish_keeps_what_was_sent_and_retries_the_rest():
    con = _warehouse_with([finding(finding_id="a"), finding(finding_id="b")])
    sent: list[str] = []

    def fails_on_second(event):
        if sent:
            raise TimeoutError("pubsub down")
        sent.append(event.finding_id)
        return "ok"

    with pytest.raises(TimeoutError):
        publish_new_findings(con, fails_on_second)
    retried = publish_new_findings(con, lambda event: "ok")
    assert [event.finding_id for event in retried] == ["b"]


def test_no_findings_table_yet_means_nothing_to_publish():
    assert publish_new_findings(duckdb.connect(), lambda event: "x") == []
