"""Words for people, shared by the Slack, Teams and GitHub subscribers."""

from __future__ import annotations

import os
from typing import Any

STATUS_WORDS = {"open": "Open", "resolved": "Resolved"}
SEVERITY_MARKS = {"critical": "🔴", "warning": "🟠", "info": "🔵"}


def title(event: dict[str, Any]) -> str:
    status = STATUS_WORDS.get(event["status"], event["status"])
    kind = event["kind"].replace("_", " ")
    update = (
        f" (update {event['revision']})"
        if event["revision"] > 1 and event["status"] == "open"
        else ""
    )
    return f"{status}{update}: {kind} in {event['entity']['display']}"


def headline(event: dict[str, Any]) -> str:
    mark = SEVERITY_MARKS.get(event["severity"], "")
    return f"{mark} [{event['severity']}] {title(event)}".strip()


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds}s"


def value(number: float | None, unit: str | None) -> str:
    if number is None:
        return "?"
    if unit == "seconds":
        return duration(number)
    text = f"{number:g}"
    return f"{text} {unit.replace('_', ' ')}" if unit else text


def evidence_facts(event: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) pairs, most telling first; only what the event has."""
    evidence = event["evidence"]
    unit = evidence.get("unit")
    facts: list[tuple[str, str]] = []
    resolution = resolution_text(event)
    if resolution and event["status"] == "resolved":
        facts.append(("Resolution", resolution))
    observed = evidence.get("observed_value")
    if observed is not None:
        text = value(observed, unit)
        if evidence.get("ratio"):
            text += f" ({evidence['ratio']:g}× usual)"
        facts.append(("Observed", text))
    expected = evidence.get("expected_value")
    bounds = evidence.get("expected_range") or {}
    if expected is not None:
        text = value(expected, unit)
        if bounds.get("lower") is not None and bounds.get("upper") is not None:
            text += f" (normal {value(bounds['lower'], unit)} – {value(bounds['upper'], unit)})"
        facts.append(("Expected", text))
    window = evidence.get("baseline_window") or {}
    if window.get("runs"):
        facts.append(("Baseline", f"{window['runs']} earlier runs"))
    if evidence.get("anomalous_runs") is not None:
        runs = str(evidence["anomalous_runs"])
        if evidence.get("episode_runs"):
            runs += f" of {evidence['episode_runs']}"
        facts.append(("Anomalous runs", runs))
    first = evidence.get("first_bad_run") or {}
    if first:
        text = (
            f"#{first['run_number']}" if first.get("run_number") else str(first.get("run_id", "?"))
        )
        if first.get("head_sha"):
            text += f" (commit {first['head_sha'][:7]})"
        facts.append(("First bad run", text))
    commits = evidence.get("commit_range") or {}
    if commits.get("last_good_sha"):
        facts.append(
            ("Commit range", f"{commits['last_good_sha'][:7]}…{commits['first_bad_sha'][:7]}")
        )
    step = evidence.get("step") or {}
    if step:
        text = f"`{step['name']}`"
        if step.get("growth_seconds"):
            text += f" (+{duration(step['growth_seconds'])})"
        facts.append(("Step", text))
    signature = evidence.get("failure_signature") or {}
    if signature:
        seen = {True: "seen before", False: "new"}.get(signature.get("seen_before"), "")
        facts.append(("Failure signature", f"`{signature['signature']}` {seen}".strip()))
    resource = evidence.get("resource_peak") or {}
    if resource:
        text = f"{resource['metric']} peak {value(resource['peak'], resource.get('unit'))}"
        if resource.get("baseline") is not None:
            text += f" vs {value(resource['baseline'], resource.get('unit'))}"
        facts.append(("Resource", text))
    return facts


def resolution_text(event: dict[str, Any]) -> str | None:
    return {
        "fixed": "back to its usual level",
        "accepted": "the new level became its baseline",
    }.get(event.get("resolution") or "")


def cause_text(event: dict[str, Any]) -> str | None:
    cause = event.get("probable_cause")
    return cause["text"] if cause else None


def run_url(event: dict[str, Any]) -> str | None:
    """The page a developer opens first: the latest bad run, else the first."""
    targets = {target["rel"]: target["url"] for target in event["action"]["targets"]}
    return targets.get("latest_bad_run") or targets.get("first_bad_run")


def finding_url(event: dict[str, Any]) -> str | None:
    """APOA_FINDING_URL_TEMPLATE with {finding_id} (e.g. a Looker Studio report filtered on it)."""
    template = os.environ.get("APOA_FINDING_URL_TEMPLATE")
    return template.format(finding_id=event["finding_id"]) if template else None
