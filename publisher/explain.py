"""`apoa explain FINDING_ID`: everything known about one finding, for a person or a script.

The finding as the mart holds it now, the event it makes (the full evidence, the probable
cause, the action), what the publisher's ledger says was published and when, and the
events that came back through the dashboard sink (raw_finding_events).
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

from publisher.events import event_from_row
from publisher.publish import FINDINGS, published_events, read_findings
from publisher.subscribers import render


class FindingNotFound(LookupError):
    pass


def explain(con: duckdb.DuckDBPyConnection, finding_id: str) -> dict[str, Any]:
    """Raises FindingNotFound (no finding, or a prefix that matches several)."""
    rows = [row for row in read_findings(con) if str(row["finding_id"]).startswith(finding_id)]
    exact = [row for row in rows if row["finding_id"] == finding_id]
    rows = exact or rows
    if not rows:
        raise FindingNotFound(f"no finding {finding_id!r} in {FINDINGS}")
    if len(rows) > 1:
        ids = ", ".join(sorted(str(row["finding_id"]) for row in rows)[:5])
        raise FindingNotFound(f"{finding_id!r} matches {len(rows)} findings: {ids}")
    row = rows[0]
    history = published_events(con, str(row["finding_id"]))
    revision = max([entry["revision"] for entry in history] or [1])
    event = event_from_row(row, revision=revision)
    return {
        "finding_id": row["finding_id"],
        "event": event.body,
        "published": [_plain(entry) for entry in history],
        "landed": _landed(con, str(row["finding_id"])),
        "finding": {key: _plain(value) for key, value in row.items()},
    }


def _landed(con: duckdb.DuckDBPyConnection, finding_id: str) -> list[dict[str, Any]]:
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'raw' and table_name = 'raw_finding_events'"
    ).fetchone()
    if not exists or not exists[0]:
        return []
    rows = con.execute(
        "select message_id, publish_time, payload from raw.raw_finding_events "
        "where json_extract_string(payload, '$.finding_id') = ? order by load_seq",
        [finding_id],
    ).fetchall()
    landed = []
    for message_id, publish_time, payload in rows:
        body = json.loads(payload)
        landed.append(
            {
                "message_id": message_id,
                "publish_time": _plain(publish_time),
                "event_id": body.get("event_id"),
                "status": body.get("status"),
                "revision": body.get("revision"),
            }
        )
    return landed


def format_explanation(data: dict[str, Any]) -> str:
    event = data["event"]
    entity = event["entity"]
    evidence = event["evidence"]
    lines = [
        f"finding {event['finding_id']}",
        f"  {event['kind']} · {event['severity']} · {event['status']} · revision "
        f"{event['revision']}",
        "",
        f"  {event['summary']}",
        "",
        f"entity          {entity['display']}",
    ]
    if entity.get("branch") or entity.get("is_default_branch") is not None:
        branch_class = "default branch" if entity.get("is_default_branch") else "other branches"
        lines.append(f"branch          {entity.get('branch') or '?'} ({branch_class})")
    for key in ("runner_label", "metric_series"):
        if entity.get(key):
            lines.append(f"{key.replace('_', ' '):<16}{entity[key]}")
    lines.append(f"detected at     {event['detected_at']}")
    if event.get("started_at"):
        lines.append(f"started at      {event['started_at']}")
    if event.get("ended_at"):
        lines.append(f"ended at        {event['ended_at']}")
    if event.get("resolution"):
        lines.append(f"resolution      {event['resolution']}")
    cause = event.get("probable_cause")
    lines += ["", f"probable cause  {cause['text'] if cause else '(the data names none)'}", ""]
    lines.append("evidence")
    for label, text in render.evidence_facts(event):
        lines.append(f"  {label:<18}{text}")
    for label, part in (("first bad run", "first_bad_run"), ("latest bad run", "last_bad_run")):
        run = evidence.get(part) or {}
        if run.get("url"):
            lines.append(f"  {label:<18}{run['url']}")
    commits = evidence.get("commit_range") or {}
    if commits.get("compare_url"):
        lines.append(f"  {'commits':<18}{commits['compare_url']}")
    if evidence.get("sample_runs"):
        lines.append(f"  {'sample runs':<18}{len(evidence['sample_runs'])}")
        lines += [f"    {sample['url']}" for sample in evidence["sample_runs"]]
    for label, part in (
        ("failure signature", "failure_signature"),
        ("resource peak", "resource_peak"),
    ):
        if evidence.get(part):
            lines.append(f"  {label:<18}{json.dumps(evidence[part], sort_keys=True)}")
    if evidence.get("scorer"):
        scorer = evidence["scorer"]
        lines.append(f"  {'scorer':<18}{scorer.get('name')} {scorer.get('version', '')}".rstrip())
    lines += ["", f"action          {event['action']['type']}"]
    lines += [f"  {target['rel']:<18}{target['url']}" for target in event["action"]["targets"]]
    lines += ["", "published (ledger)"]
    if not data["published"]:
        lines.append("  nothing yet (run `apoa publish`)")
    for entry in data["published"]:
        lines.append(
            f"  revision {entry['revision']} {entry['status']:<9}{entry['published_at']}  "
            f"event {entry['event_id']}  message {entry.get('pubsub_message_id')}"
        )
    if data["landed"]:
        lines += ["", f"landed by the dashboard sink: {len(data['landed'])} events"]
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)
