"""Turn rows of fct_findings into apoa-findings events (schema publisher/schema/finding.v1.json).

Pure, no I/O. The mart gives one row per episode; this module shapes it into the published
message: the entity it is about, the evidence (observed against expected, the first bad
run, the commit range, sample runs, ...), the probable cause, one human sentence and a
machine-readable action. Evidence the mart does not provide (yet) is left out or null:
each optional column is read only when the row has it (see `OPTIONAL_COLUMNS`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ingest import unsafe

SCHEMA_VERSION = "1"
SCHEMA_ID = "https://apoa.dev/schemas/finding.v1.json"

# What a subscriber (or a person) should do about each kind of finding.
ACTIONS = {
    "duration_regression": "investigate_regression",
    "failure_rate": "investigate_failures",
    "new_failure_signature": "investigate_failures",
    "default_branch_broken": "rerun_failed_jobs",
    "flaky_job": "quarantine_flaky",
    "queue_spike": "check_runner_capacity",
    "resource_peak": "check_resource_usage",
    "security_event": "review_security_event",
    "resource_misuse": "check_resource_usage",
    "metric_anomaly": "investigate_metric",
    "security_new_runner_label": "review_security_event",
    "security_new_deploy_actor": "review_security_event",
    "security_fork_pull_request_target": "review_security_event",
    "security_secret_in_logs": "rotate_secret",
}
DEFAULT_ACTION = "investigate"
SEVERITIES = ("info", "warning", "critical")

# Columns the mart may add; each is read only when present. Documented in docs/findings.md.
OPTIONAL_COLUMNS = (
    "runner_label",
    "metric_type",
    "metric_series",
    "baseline_runs",
    "baseline_started_at",
    "baseline_ended_at",
    "last_good_run_url",
    "last_good_head_sha",
    "last_job_run_id",
    "episode_runs",
    "resolution",
    "last_run_number",
    "last_run_id",
    "peak_observed_value",
    "step_growth_seconds",
    "step_observed_seconds",
    "step_baseline_seconds",
    "failure_signature",
    "failure_line",
    "failure_signature_seen_before",
    "failure_signature_first_seen_at",
    "failure_signature_first_seen_url",
    "failure_signature_seen_in",
    "resource_metric",
    "resource_peak",
    "resource_baseline",
    "resource_unit",
    "sample_run_urls",
    "probable_cause",
)


def event_id_for(finding_id: str, status: str, revision: int) -> str:
    """One id per published state of a finding: a rerun repeats it, a status change does not."""
    key = f"{finding_id}\x1f{status}\x1f{revision}"
    if unsafe.enabled(unsafe.EVENT_ID_PER_PUBLISH):  # only for the fault test's meta-test
        key += f"\x1f{uuid.uuid4()}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class FindingEvent:
    event_id: str
    finding_id: str
    status: str
    revision: int
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def severity(self) -> str:
        return str(self.body["severity"])

    @property
    def attributes(self) -> dict[str, str]:
        """Pub/Sub attributes: what subscription filters can select on."""
        entity = self.body.get("entity") or {}
        return {
            "schema_version": SCHEMA_VERSION,
            "event_id": self.event_id,
            "finding_id": self.finding_id,
            "kind": self.kind,
            "severity": self.severity,
            "repository": str(entity.get("repository") or ""),
            "status": self.status,
        }

    @property
    def data(self) -> bytes:
        return json.dumps(self.body, sort_keys=True, default=_json_default).encode()


def event_from_row(row: dict[str, Any], revision: int = 1) -> FindingEvent:
    """The event for one fct_findings row at `revision` (the publisher's count of changes)."""
    row = {key: _plain(value) for key, value in row.items()}
    finding_id = str(row["finding_id"])
    status = str(row["status"])
    event_id = event_id_for(finding_id, status, revision)
    evidence = evidence_from_row(row)
    cause = probable_cause(row, evidence)
    body: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "event_id": event_id,
        "finding_id": finding_id,
        "revision": revision,
        "kind": str(row["kind"]),
        "severity": str(row["severity"]),
        "status": status,
        "detected_at": row.get("detected_at"),
        "started_at": row.get("started_at"),
        "ended_at": row.get("ended_at"),
        "resolution": row.get("resolution"),
        "entity": entity_from_row(row),
        "evidence": evidence,
        "probable_cause": cause,
        "summary": summary_sentence(row, cause),
        "action": action_for(row, evidence),
    }
    return FindingEvent(event_id, finding_id, status, revision, body)


# --------------------------------------------------------------------------- parts


def entity_from_row(row: dict[str, Any]) -> dict[str, Any]:
    repository = row.get("repository")
    named = [str(part) for part in (repository, row.get("workflow_name"), row.get("job_name"))]
    return {
        "repository": repository,
        "workflow": row.get("workflow_name"),
        "job": row.get("job_name"),
        "branch": row.get("branch"),
        "is_default_branch": row.get("is_default_branch"),
        "runner_label": row.get("runner_label"),
        "metric_series": row.get("metric_series") or row.get("metric_type"),
        "job_key": row.get("job_key"),
        "display": row.get("entity")
        or " / ".join(part for part in named if part != "None")
        or row.get("runner_label")
        or row.get("metric_series")
        or row.get("metric_type")
        or str(row.get("kind")),
    }


def entity_key(body: dict[str, Any]) -> str:
    """What a cooldown is kept per: the series a finding is about, whatever its episode."""
    entity = body["entity"]
    parts = [
        entity.get("repository"),
        entity.get("workflow"),
        entity.get("job"),
        "default" if entity.get("is_default_branch") else "other",
        entity.get("runner_label"),
        entity.get("metric_series"),
    ]
    return "\x1f".join("" if part is None else str(part) for part in parts)


def evidence_from_row(row: dict[str, Any]) -> dict[str, Any]:
    observed = _number(row.get("observed_value"))
    expected = _number(row.get("expected_value"))
    repository_url = _repository_url(row)
    first_bad_run = _drop_none(
        {
            "run_id": row.get("first_run_id"),
            "run_number": row.get("first_run_number"),
            "job_run_id": row.get("first_job_run_id"),
            "url": row.get("first_run_url"),
            "head_sha": row.get("first_head_sha"),
            "at": row.get("started_at"),
        }
    )
    return {
        "observed_value": observed,
        "peak_value": _number(row.get("peak_observed_value")),
        "expected_value": expected,
        "expected_range": {
            "lower": _number(row.get("expected_lower")),
            "upper": _number(row.get("expected_upper")),
        },
        "ratio": round(observed / expected, 3) if observed is not None and expected else None,
        "unit": row.get("unit"),
        "anomalous_runs": row.get("anomalous_runs"),
        "episode_runs": row.get("episode_runs"),
        "baseline_window": _baseline_window(row),
        "first_bad_run": first_bad_run or None,
        "last_bad_run": _drop_none(
            {
                "run_id": row.get("last_run_id"),
                "run_number": row.get("last_run_number"),
                "job_run_id": row.get("last_job_run_id"),
                "url": row.get("last_run_url"),
                "head_sha": row.get("last_head_sha"),
            }
        )
        or None,
        "last_good_run": _drop_none(
            {"url": row.get("last_good_run_url"), "head_sha": row.get("last_good_head_sha")}
        )
        or None,
        "sample_runs": _sample_runs(row),
        "commit_range": _commit_range(row, repository_url),
        "step": _step(row),
        "failure_signature": _failure_signature(row),
        "resource_peak": _resource_peak(row),
        "scorer": _drop_none({"name": row.get("scorer"), "version": row.get("scorer_version")})
        or None,
    }


def probable_cause(row: dict[str, Any], evidence: dict[str, Any]) -> dict[str, Any] | None:
    """The most specific cause the evidence supports, as a type and one short sentence."""
    if row.get("probable_cause"):
        return {"type": "mart", "text": str(row["probable_cause"])}
    signature = evidence.get("failure_signature")
    if signature:
        seen = signature.get("seen_before")
        where = signature.get("first_seen_url") or signature.get("seen_in")
        if seen is True:
            history = "seen before" + (f" ({where})" if where else "")
        elif seen is False:
            history = "never seen before for this job"
        else:
            history = "history unknown"
        return {
            "type": "failure_signature",
            "text": f"fails with `{signature['signature']}`, {history}",
            "signature": signature["signature"],
        }
    resource = evidence.get("resource_peak")
    if resource:
        peak = _format_value(resource["peak"], resource.get("unit"))
        text = f"{resource['metric']} peaked at {peak}"
        if resource.get("baseline") is not None:
            baseline = _format_value(resource["baseline"], resource.get("unit"))
            text += f" against its usual {baseline}"
        return {"type": "resource_peak", "text": text, "metric": resource["metric"]}
    step = evidence.get("step")
    if step:
        growth = step.get("growth_seconds")
        kind = str(row.get("kind"))
        if kind == "duration_regression":
            text = f"step `{step['name']}` grew most"
            if growth is not None and growth > 0:
                text += f" (+{_format_seconds(growth)})"
            return {"type": "step_growth", "text": text, "step": step["name"]}
        if kind in ("failure_rate", "default_branch_broken", "flaky_job"):
            return {
                "type": "failing_step",
                "text": f"step `{step['name']}` fails most often",
                "step": step["name"],
            }
        return {"type": "step", "text": f"look at step `{step['name']}`", "step": step["name"]}
    return None


def summary_sentence(row: dict[str, Any], cause: dict[str, Any] | None) -> str:
    """The mart's sentence, with the probable cause appended when it does not name it yet."""
    summary = str(row.get("summary") or "").rstrip(". ")
    if not summary:
        summary = f"{row.get('kind')} on {entity_from_row(row)['display']}"
    if cause and cause.get("type") != "mart":
        named = cause.get("step") or cause.get("signature") or cause.get("metric")
        if not named or str(named) not in summary:
            summary += f"; {cause['text']}"
    return summary


def action_for(row: dict[str, Any], evidence: dict[str, Any]) -> dict[str, Any]:
    targets: list[dict[str, str]] = []

    def add(rel: str, url: Any) -> None:
        if url and all(target["url"] != url for target in targets):
            targets.append({"rel": rel, "url": str(url)})

    first = evidence.get("first_bad_run") or {}
    last = evidence.get("last_bad_run") or {}
    add("first_bad_run", first.get("url"))
    add("latest_bad_run", last.get("url"))
    add("last_good_run", (evidence.get("last_good_run") or {}).get("url"))
    commits = evidence.get("commit_range") or {}
    add("compare", commits.get("compare_url"))
    signature = evidence.get("failure_signature") or {}
    add("first_seen", signature.get("first_seen_url"))
    return {"type": ACTIONS.get(str(row.get("kind")), DEFAULT_ACTION), "targets": targets}


# --------------------------------------------------------------------------- helpers


def _baseline_window(row: dict[str, Any]) -> dict[str, Any] | None:
    window = _drop_none(
        {
            "runs": row.get("baseline_runs"),
            "started_at": row.get("baseline_started_at"),
            "ended_at": row.get("baseline_ended_at"),
        }
    )
    return window or None


def _sample_runs(row: dict[str, Any]) -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = []
    urls = row.get("sample_run_urls")
    if isinstance(urls, str):
        try:
            urls = json.loads(urls)
        except json.JSONDecodeError:
            urls = [url for url in re.split(r"[\s,]+", urls) if url]
    for url in [row.get("first_run_url"), *(urls or []), row.get("last_run_url")]:
        if url and all(sample["url"] != url for sample in samples):
            samples.append({"url": str(url)})
    return samples


def _commit_range(row: dict[str, Any], repository_url: str | None) -> dict[str, Any] | None:
    first_bad = row.get("first_head_sha")
    if not first_bad:
        return None
    last_good = row.get("last_good_head_sha")
    latest = row.get("last_head_sha")
    compare_url = None
    if repository_url and last_good and last_good != first_bad:
        compare_url = f"{repository_url}/compare/{last_good}...{first_bad}"
    elif repository_url:
        compare_url = f"{repository_url}/commit/{first_bad}"
    return _drop_none(
        {
            "last_good_sha": last_good,
            "first_bad_sha": first_bad,
            "latest_sha": latest,
            "compare_url": compare_url,
        }
    )


def _step(row: dict[str, Any]) -> dict[str, Any] | None:
    if not row.get("step_name"):
        return None
    return _drop_none(
        {
            "name": str(row["step_name"]),
            "growth_seconds": _number(row.get("step_growth_seconds")),
            "observed_seconds": _number(row.get("step_observed_seconds")),
            "baseline_seconds": _number(row.get("step_baseline_seconds")),
        }
    )


def _failure_signature(row: dict[str, Any]) -> dict[str, Any] | None:
    if not row.get("failure_signature"):
        return None
    seen = row.get("failure_signature_seen_before")
    return _drop_none(
        {
            "signature": str(row["failure_signature"]),
            "line": row.get("failure_line"),
            "seen_before": None if seen is None else bool(seen),
            "first_seen_at": row.get("failure_signature_first_seen_at"),
            "first_seen_url": row.get("failure_signature_first_seen_url"),
            "seen_in": row.get("failure_signature_seen_in"),
        }
    )


def _resource_peak(row: dict[str, Any]) -> dict[str, Any] | None:
    if not row.get("resource_metric") or row.get("resource_peak") is None:
        return None
    return _drop_none(
        {
            "metric": str(row["resource_metric"]),
            "peak": _number(row["resource_peak"]),
            "baseline": _number(row.get("resource_baseline")),
            "unit": row.get("resource_unit"),
        }
    )


def _repository_url(row: dict[str, Any]) -> str | None:
    for url in (row.get("first_run_url"), row.get("last_run_url")):
        match = re.match(r"^(https?://[^/]+/[^/]+/[^/]+)/(actions|commit|runs)/", str(url or ""))
        if match:
            return match.group(1)
    return None


def _format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds}s"


def _format_value(value: float | None, unit: str | None) -> str:
    if value is None:
        return "?"
    if unit == "seconds":
        return _format_seconds(value)
    text = f"{value:g}"
    return f"{text} {unit}" if unit else text


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _drop_none(mapping: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        # The warehouse keeps UTC in naive timestamps; the schema wants RFC 3339 with an offset.
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _json_default(value: Any) -> Any:
    return str(_plain(value))
