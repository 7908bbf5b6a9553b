"""Publish new or changed findings to apoa-findings: episodes, not alert storms.

fct_findings holds one row per episode. What gets published, and when, is decided here
against a ledger of what was already published (apoa_state.published_finding_events):

- a finding's first state is revision 1; while it stays open a new event (same
  finding_id, next revision, new event_id) is published only when its evidence changed
  materially: another severity, another probable cause, or an observed value that moved by
  at least `material_change` (relative) since the last published revision;
- per entity and kind, at most one open-state event per `cooldown_seconds`: later ones wait
  (they are published by the first run after the cooldown, with the evidence of that time);
- findings below `min_severity` are not published; an episode that was published and
  then resolves is always published as `resolved` (same finding_id), cooldown or not;
- every event is validated against publisher/schema/finding.v1.json before it is sent.

The ledger is written after Pub/Sub accepted the messages; a crash in between repeats an
event with the same event_id, which subscribers drop.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from ingest.log import log
from publisher.events import SEVERITIES, FindingEvent, entity_key, event_from_row
from publisher.validation import schema_errors

LEDGER = "apoa_state.published_finding_events"
FINDINGS = "main.fct_findings"

Publish = Callable[[FindingEvent], str]


@dataclass(frozen=True)
class PublishConfig:
    min_severity: str = "warning"
    cooldown_seconds: float = 3600.0
    material_change: float = 0.25

    @classmethod
    def from_env(cls) -> PublishConfig:
        config = cls(
            min_severity=os.environ.get("APOA_FINDINGS_MIN_SEVERITY", "warning"),
            cooldown_seconds=float(os.environ.get("APOA_FINDINGS_COOLDOWN_SECONDS", 3600)),
            material_change=float(os.environ.get("APOA_FINDINGS_MATERIAL_CHANGE", 0.25)),
        )
        if config.min_severity not in SEVERITIES:
            raise ValueError(f"APOA_FINDINGS_MIN_SEVERITY must be one of {list(SEVERITIES)}")
        return config


@dataclass(frozen=True)
class Published:
    """The last published state of one finding, from the ledger."""

    finding_id: str
    status: str
    revision: int
    severity: str | None
    observed_value: float | None
    cause: str | None
    kind: str | None = None  # null in ledgers written before kinds were recorded


@dataclass
class LedgerState:
    findings: dict[str, Published] = field(default_factory=dict)
    # (entity key, kind) -> when its last open-state event was published
    last_open_at: dict[tuple[str, str], datetime] = field(default_factory=dict)


@dataclass
class Plan:
    events: list[FindingEvent] = field(default_factory=list)
    deferred: list[tuple[str, str]] = field(default_factory=list)  # (finding_id, why)
    skipped: list[tuple[str, str]] = field(default_factory=list)


# --------------------------------------------------------------------------- the ledger


_LEDGER_COLUMNS = (
    ("kind", "varchar"),
    ("severity", "varchar"),
    ("entity_key", "varchar"),
    ("observed_value", "double"),
    ("cause", "varchar"),
)


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists apoa_state")
    con.execute(
        f"""create table if not exists {LEDGER} (
            event_id varchar primary key,
            finding_id varchar not null,
            status varchar not null,
            revision integer not null,
            pubsub_message_id varchar,
            published_at timestamp not null
        )"""
    )
    # Ledgers written before episodes were revised lack these; old rows keep nulls.
    for column, type_name in _LEDGER_COLUMNS:
        con.execute(f"alter table {LEDGER} add column if not exists {column} {type_name}")


def read_ledger(con: duckdb.DuckDBPyConnection) -> LedgerState:
    ensure_ledger(con)
    state = LedgerState()
    rows = con.execute(
        f"""select finding_id, status, revision, severity, observed_value, cause,
                   kind, entity_key, published_at
            from {LEDGER}
            order by published_at, revision, case status when 'open' then 0 else 1 end"""
    ).fetchall()
    for finding_id, status, revision, severity, observed, cause, kind, key, at in rows:
        state.findings[finding_id] = Published(
            finding_id, status, revision, severity, observed, cause, kind
        )
        if status == "open" and key is not None:
            state.last_open_at[(key, kind)] = at
    return state


# --------------------------------------------------------------------------- the policy


def cause_key(event: FindingEvent) -> str | None:
    cause = event.body.get("probable_cause")
    if not cause:
        return None
    named = cause.get("step") or cause.get("signature") or cause.get("metric") or cause["text"]
    return f"{cause['type']}:{named}"


def material_changes(previous: Published, event: FindingEvent, threshold: float) -> list[str]:
    """Why `event` says something the last published state of its finding did not."""
    changes = []
    # A finding keeps its id when a later detection renames it (failure_rate found to be
    # default_branch_broken, ...): subscribers must hear the new name.
    if previous.kind is not None and previous.kind != event.kind:
        changes.append(f"kind {previous.kind} -> {event.kind}")
    if previous.severity is not None and previous.severity != event.severity:
        changes.append(f"severity {previous.severity} -> {event.severity}")
    cause = cause_key(event)
    if previous.cause is not None and cause is not None and previous.cause != cause:
        changes.append(f"probable cause {previous.cause} -> {cause}")
    observed = event.body["evidence"].get("observed_value")
    before = previous.observed_value
    if observed is not None and before is not None:
        base = max(abs(before), 1e-9)
        if abs(observed - before) / base >= threshold:
            changes.append(f"observed value {before:g} -> {observed:g}")
    return changes


def plan_events(
    rows: list[dict[str, Any]], ledger: LedgerState, config: PublishConfig, now: datetime
) -> Plan:
    """Decide what to publish for these fct_findings rows. Pure: reads nothing, writes nothing."""
    plan = Plan()
    min_rank = SEVERITIES.index(config.min_severity)
    cooldown = timedelta(seconds=config.cooldown_seconds)
    last_open_at = dict(ledger.last_open_at)

    for row in rows:
        finding_id = str(row["finding_id"])
        status = str(row["status"])
        previous = ledger.findings.get(finding_id)
        severity = str(row.get("severity"))
        below = SEVERITIES.index(severity) < min_rank if severity in SEVERITIES else False

        if previous is None:
            if below:
                plan.skipped.append((finding_id, f"severity {severity} below threshold"))
                continue
            candidate = event_from_row(row, revision=1)
        elif previous.status == "resolved":
            if status == "resolved":
                continue  # the episode is over and was announced as such
            candidate = event_from_row(row, revision=previous.revision + 1)  # re-opened
        elif status == "resolved":
            candidate = event_from_row(row, revision=previous.revision)
        else:
            current = event_from_row(row, revision=previous.revision)
            changes = material_changes(previous, current, config.material_change)
            if not changes:
                continue
            candidate = event_from_row(row, revision=previous.revision + 1)

        errors = schema_errors(candidate.body)
        if errors:
            log(
                "ERROR",
                "finding event does not match its schema; not published",
                finding_id=finding_id,
                errors=errors[:5],
            )
            plan.skipped.append((finding_id, "schema: " + "; ".join(errors[:3])))
            continue
        if candidate.status == "open":
            key = (entity_key(candidate.body), candidate.kind)
            last = last_open_at.get(key)
            if last is not None and now - last < cooldown:
                plan.deferred.append((finding_id, f"cooldown until {last + cooldown}"))
                continue
            last_open_at[key] = now
        plan.events.append(candidate)
    return plan


# --------------------------------------------------------------------------- publishing


def read_findings(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'main' and table_name = 'fct_findings'"
    ).fetchone()
    if not exists or not exists[0]:
        return []
    cursor = con.execute(f"select * from {FINDINGS} order by detected_at, finding_id")
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def unpublished_events(
    con: duckdb.DuckDBPyConnection,
    config: PublishConfig | None = None,
    now: datetime | None = None,
) -> Plan:
    config = config or PublishConfig.from_env()
    now = now or _utcnow()
    return plan_events(read_findings(con), read_ledger(con), config, now)


_deferrals_logged: dict[str, str] = {}  # finding_id -> the reason last logged


def publish_new_findings(
    con: duckdb.DuckDBPyConnection,
    publish: Publish,
    config: PublishConfig | None = None,
    now: datetime | None = None,
) -> list[FindingEvent]:
    """Publish every event the policy lets through, then record them. Returns what was sent."""
    now = now or _utcnow()
    plan = unpublished_events(con, config, now)
    for finding_id, why in plan.deferred:
        # `apoa watch` publishes after every build: say each deferral once, not every time.
        if _deferrals_logged.get(finding_id) != why:
            log("INFO", "finding deferred", finding_id=finding_id, reason=why)
            if len(_deferrals_logged) >= 10_000:
                _deferrals_logged.clear()
            _deferrals_logged[finding_id] = why
    recorded = []
    try:
        for event in plan.events:
            message_id = publish(event)
            recorded.append(
                (
                    event.event_id,
                    event.finding_id,
                    event.status,
                    event.revision,
                    message_id,
                    now,
                    event.kind,
                    event.severity,
                    entity_key(event.body),
                    event.body["evidence"].get("observed_value"),
                    cause_key(event),
                )
            )
    finally:
        # Record what Pub/Sub accepted even when a later publish failed.
        if recorded:
            con.executemany(
                f"insert or ignore into {LEDGER} (event_id, finding_id, status, revision, "
                "pubsub_message_id, published_at, kind, severity, entity_key, observed_value, "
                "cause) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                recorded,
            )
    return plan.events


def published_events(con: duckdb.DuckDBPyConnection, finding_id: str) -> list[dict[str, Any]]:
    """What the ledger holds for one finding, oldest first (for `apoa explain`)."""
    ensure_ledger(con)
    cursor = con.execute(
        f"select event_id, status, revision, severity, observed_value, cause, published_at, "
        f"pubsub_message_id from {LEDGER} where finding_id = ? order by published_at, revision",
        [finding_id],
    )
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def pubsub_publisher(project: str, topic: str) -> Publish:
    """A Publish callable on google-cloud-pubsub (honours PUBSUB_EMULATOR_HOST)."""
    from google.cloud import pubsub_v1

    client = pubsub_v1.PublisherClient()
    topic_path = client.topic_path(project, topic)

    def publish(event: FindingEvent) -> str:
        future = client.publish(topic_path, event.data, **event.attributes)
        return future.result(timeout=60)

    return publish


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
