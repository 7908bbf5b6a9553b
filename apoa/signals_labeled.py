"""Labeled histories for the anomaly engine's part-2 kinds: resource_misuse, metric_anomaly and
the security signals (docs/anomaly-engine.md). benchmarks/signals.py scores the engine on them
and tests/test_signals.py builds a small one.

A history is the ordinary generated org (apoa/generator.py, no injected anomalies) plus:

- resource samples of every completed job (CPU utilization, memory utilization of its limit,
  memory bytes; one point a minute, linked by the reusable workflow's labels), each job with its
  own stable level and 8% noise per run — and, on labeled jobs, a sustained change: memory x3
  for 12 runs (a leak), CPU x2.2 for 12 runs, memory at 97-99% of its limit for 6 runs. Hard
  negatives: one run at 3x memory (a lone heavy run), a job whose peaks drift up 15% overall;
- Cloud Monitoring series of the systems the pipelines deploy to (CPU utilization of
  gce_instance VMs, one point every 5 minutes for 9 days) with a daily cycle, a slow drift and
  noise; labeled series get a rise to 2-3x their level or a drop to 10% for 1-3 hours after
  day 3. Hard negatives: a strong daily cycle (x3 at noon), a steady drift of +40% over the
  9 days, one lone outlier point;
- security events in the last third of the history: a job on a runner label set the
  repository never used, a deploy run started by an actor never seen, a pull_request_target
  run from a fork, a log line warning that an output may contain a secret. Hard negatives: a
  pull_request_target run from a branch of the repository itself (its pull request is
  listed), a log line that mentions a token without being about a secret, and the ordinary
  history itself (four people, the same runners, deploys by people who also push).

Same seed, same history.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apoa.generator import (
    DEFAULT_START,
    METRICS_TOPIC,
    Message,
    completed_jobs,
    generate_history,
    generate_side_data,
)

RESOURCE_PREFIX = "custom.googleapis.com/apoa/runner/"
VM_METRIC = "compute.googleapis.com/instance/cpu/utilization"
STEP_SECONDS = 300
SERIES_DAYS = 9
NEW_ACTOR = "eve-contractor"
FORK = "outsider-dev/api-gateway"


@dataclass(frozen=True)
class SignalCase:
    """One labeled episode (or hard negative) of a part-2 kind."""

    kind: str
    entity: str  # job key "repo / workflow / job", a metric series' instance, or a repository
    start: datetime  # the first sample, point or run that shows it
    positive: bool
    scenario: str
    first_job_run_id: int | None = None


@dataclass
class SignalHistory:
    seed: int
    messages: list[Message]
    cases: list[SignalCase] = field(default_factory=list)


def _ts(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _epoch_dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


# --------------------------------------------------------------------------- resources


def _resource_messages(
    history_messages: list[Message], seed: int, cases: list[SignalCase]
) -> list[Message]:
    from apoa.generator import History

    jobs = completed_jobs(History(history_messages, []))
    by_job: dict[str, list[Any]] = {}
    for job in jobs:
        by_job.setdefault(f"{job.repository} / {job.workflow} / {job.name}", []).append(job)
    rng = random.Random(f"{seed}:signals:resources")
    keys = sorted(k for k, runs in by_job.items() if len(runs) >= 60)
    rng.shuffle(keys)
    scenarios = [
        ("memory x3 for 12 runs", "memory_used_bytes", 3.0, 12, True),
        ("cpu x2.2 for 12 runs", "cpu_utilization", 2.2, 12, True),
        ("memory near its limit for 6 runs", "memory_utilization", 0.98, 6, True),
        ("one run at 3x memory", "memory_used_bytes", 3.0, 1, False),
        ("peaks drifting up 15%", "drift", 1.15, 0, False),
    ]
    effects: dict[str, tuple[str, str, float, int, int, bool]] = {}
    for (scenario, measure, factor, length, positive), key in zip(scenarios, keys, strict=False):
        runs = by_job[key]
        start = rng.randint(len(runs) // 2, len(runs) - max(length, 1) - 5)
        effects[key] = (scenario, measure, factor, start, length, positive)
    messages = []
    for key, runs in by_job.items():
        job_rng = random.Random(f"{seed}:signals:{key}")
        cpu_level = job_rng.uniform(0.2, 0.4)
        memory_level = job_rng.randint(800, 3000) * 2**20
        limit = memory_level * job_rng.uniform(1.8, 3.0)
        effect = effects.get(key)
        for index, job in enumerate(runs):
            cpu, memory = cpu_level, float(memory_level)
            near_limit = False
            if effect:
                scenario, measure, factor, start, length, positive = effect
                if measure == "drift":
                    memory *= 1 + (factor - 1) * index / len(runs)
                elif start <= index < start + length:
                    if measure == "memory_used_bytes":
                        memory *= factor
                    elif measure == "cpu_utilization":
                        cpu *= factor
                    else:
                        near_limit = True
                if index == start and measure != "drift":
                    cases.append(
                        SignalCase(
                            "resource_misuse",
                            key,
                            _epoch_dt(job.completed),
                            positive,
                            scenario,
                            first_job_run_id=job.job_id,
                        )
                    )
            if effect and effect[1] == "drift" and index == 0:
                cases.append(
                    SignalCase("resource_misuse", key, _epoch_dt(job.completed), False, effect[0])
                )
            messages.extend(_job_resource_messages(job, job_rng, cpu, memory, limit, near_limit))
    return messages


def _job_resource_messages(
    job: Any, rng: random.Random, cpu: float, memory: float, limit: float, near_limit: bool
) -> list[Message]:
    run_cpu = cpu * math.exp(rng.gauss(0, 0.08))
    run_memory = memory * math.exp(rng.gauss(0, 0.08))
    duration = max(job.completed - job.started, 60)
    times = [job.started + 30 + 60 * i for i in range(int(duration // 60))] or [job.completed]
    samples = []
    for t in times:
        used = run_memory * rng.uniform(0.85, 1.0)
        share = rng.uniform(0.97, 0.99) if near_limit else min(used / limit, 0.9)
        samples.append((t, min(0.99, run_cpu * rng.uniform(0.8, 1.0)), share, used))
    labels = {
        "github_run_id": str(job.run_id),
        "github_run_attempt": str(job.run_attempt),
        "github_job": job.name,
        "github_repository": job.repository,
        "github_workflow": job.workflow,
        "runner_name": job.runner_name or "",
    }
    resource = {
        "type": "generic_task",
        "labels": {
            "project_id": "apoa-local",
            "location": "global",
            "namespace": job.repository,
            "job": job.workflow,
            "task_id": f"{job.run_id}/{job.run_attempt}/{job.name}",
        },
    }
    series = (
        ("cpu_utilization", "DOUBLE", "1", lambda s: {"doubleValue": round(s[1], 4)}),
        ("memory_utilization", "DOUBLE", "1", lambda s: {"doubleValue": round(s[2], 4)}),
        ("memory_used_bytes", "INT64", "By", lambda s: {"int64Value": str(int(s[3]))}),
    )
    out = []
    for name, value_type, unit, value in series:
        data = {
            "metric": {"type": RESOURCE_PREFIX + name, "labels": labels},
            "resource": resource,
            "metricKind": "GAUGE",
            "valueType": value_type,
            "unit": unit,
            "points": [
                {"interval": {"endTime": _ts(_epoch_dt(s[0]))}, "value": value(s)}
                for s in reversed(samples)
            ],
        }
        out.append(Message(METRICS_TOPIC, {"metric_type": RESOURCE_PREFIX + name}, data))
    return out


# --------------------------------------------------------------------------- metric series


def metric_series_messages(
    seed: int, start: datetime, cases: list[SignalCase], per_message: int = 12
) -> list[Message]:
    """CPU utilization of a few VMs every 5 minutes, with labeled rises, drops and look-alikes."""
    rng = random.Random(f"{seed}:signals:metrics")
    plans = [
        ("rise x2.5", True),
        ("rise x2", True),
        ("drop to 10%", True),
        ("strong daily cycle", False),
        ("drift +40%", False),
        ("one outlier point", False),
        ("ordinary", False),
    ]
    points_total = SERIES_DAYS * 86400 // STEP_SECONDS
    messages = []
    for number, (scenario, positive) in enumerate(plans, start=1):
        instance = f"vm-{seed}-{number}"
        level = rng.uniform(0.2, 0.5)
        amplitude = 0.9 if scenario == "strong daily cycle" else rng.uniform(0.1, 0.35)
        drift = 0.4 if scenario == "drift +40%" else rng.uniform(-0.1, 0.1)
        phase = rng.uniform(0, 2 * math.pi)
        event_at = rng.randint(int(points_total * 0.4), int(points_total * 0.9))
        length = rng.randint(12, 36)
        values = []
        for i in range(points_total):
            day = i * STEP_SECONDS / 86400
            cycle = 1 + amplitude * math.sin(2 * math.pi * day + phase)
            value = level * cycle * (1 + drift * day / SERIES_DAYS) * math.exp(rng.gauss(0, 0.05))
            if positive and event_at <= i < event_at + length:
                value *= {"rise x2.5": 2.5, "rise x2": 2.0, "drop to 10%": 0.1}[scenario]
            if scenario == "one outlier point" and i == event_at:
                value *= 3
            values.append(min(value, 1.0))
        at = start + timedelta(seconds=STEP_SECONDS * event_at)
        cases.append(SignalCase("metric_anomaly", instance, at, positive, scenario))
        for first in range(0, points_total, per_message):
            chunk = range(first, min(first + per_message, points_total))
            data = {
                "metric": {"type": VM_METRIC, "labels": {"instance_name": instance}},
                "resource": {
                    "type": "gce_instance",
                    "labels": {
                        "project_id": "apoa-prod",
                        "instance_id": str(9000 + number),
                        "zone": "europe-west1-b",
                    },
                },
                "metricKind": "GAUGE",
                "valueType": "DOUBLE",
                "points": [
                    {
                        "interval": {
                            "endTime": _ts(start + timedelta(seconds=STEP_SECONDS * (i + 1)))
                        },
                        "value": {"doubleValue": round(values[i], 5)},
                    }
                    for i in reversed(chunk)
                ],
            }
            messages.append(Message(METRICS_TOPIC, {"metric_type": VM_METRIC}, data))
    return messages


# --------------------------------------------------------------------------- security


def _runs(messages: list[Message]) -> dict[int, list[int]]:
    """workflow run id -> indexes of its messages (workflow_run and workflow_job)."""
    runs: dict[int, list[int]] = {}
    for index, message in enumerate(messages):
        event = message.attributes.get("github_event")
        if event == "workflow_run":
            runs.setdefault(message.data["workflow_run"]["id"], []).append(index)
        elif event == "workflow_job":
            runs.setdefault(message.data["workflow_job"]["run_id"], []).append(index)
    return runs


def _security(messages: list[Message], seed: int, cases: list[SignalCase]) -> list[Message]:
    rng = random.Random(f"{seed}:signals:security")
    messages = list(messages)
    runs = _runs(messages)
    infos = []
    for run_id, indexes in runs.items():
        first = next(
            (messages[i] for i in indexes if "workflow_run" in messages[i].data),
            None,
        )
        if first is None:
            continue
        run = first.data["workflow_run"]
        infos.append((run["created_at"], run_id, run, first.data["repository"]["full_name"]))
    infos.sort()
    late = infos[len(infos) * 2 // 3 :]

    def pick(predicate: Any) -> tuple[str, int, dict[str, Any], str]:
        chosen = [info for info in late if predicate(info)]
        return chosen[rng.randrange(len(chosen))]

    used: set[int] = set()

    def fresh(info: Any) -> bool:
        return info[1] not in used and info[2]["run_attempt"] == 1

    def edit(run_id: int, change: Any) -> None:
        used.add(run_id)
        for i in runs[run_id]:
            data = copy.deepcopy(messages[i].data)
            change(data)
            messages[i] = Message(messages[i].topic, messages[i].attributes, data)

    when = lambda info: datetime.fromisoformat(info[0].replace("Z", "+00:00"))  # noqa: E731

    # a job on a runner label set the repository never used
    info = pick(lambda i: fresh(i) and i[2]["name"] == "CI")

    def new_label(data: dict[str, Any]) -> None:
        if "workflow_job" in data:
            data["workflow_job"]["labels"] = ["self-hosted", "linux", "x64", "gpu-a100"]

    edit(info[1], new_label)
    cases.append(SignalCase("security_new_runner_label", info[3], when(info), True, "new runner"))

    # a deploy run started by an actor never seen
    info = pick(lambda i: fresh(i) and i[2]["name"] == "Deploy")

    def new_actor(data: dict[str, Any]) -> None:
        if "workflow_run" in data:
            for key in ("actor", "triggering_actor"):
                data["workflow_run"][key] = dict(
                    data["workflow_run"][key], login=NEW_ACTOR, id=99000001
                )

    edit(info[1], new_actor)
    cases.append(SignalCase("security_new_deploy_actor", info[3], when(info), True, "new actor"))

    # pull_request_target from a fork, and from the repository itself (hard negative)
    for positive in (True, False):
        info = pick(lambda i: fresh(i) and i[2]["event"] == "pull_request")

        def target(data: dict[str, Any], positive: bool = positive) -> None:
            if "workflow_run" in data:
                data["workflow_run"]["event"] = "pull_request_target"
                if positive:
                    data["workflow_run"]["head_repository"] = dict(
                        data["workflow_run"]["head_repository"], full_name=FORK
                    )
                    data["workflow_run"]["pull_requests"] = []

        edit(info[1], target)
        cases.append(
            SignalCase(
                "security_fork_pull_request_target",
                info[3],
                when(info),
                positive,
                "fork pull_request_target" if positive else "same-repository pull_request_target",
            )
        )
    return messages


def _log_line(job: Any, text: str, severity: str, number: int) -> Message:
    from apoa.generator import LOGS_TOPIC

    at = _epoch_dt((job.started + job.completed) / 2)
    labels = {
        "github_run_id": str(job.run_id),
        "github_run_attempt": str(job.run_attempt),
        "github_job": job.name,
        "github_repository": job.repository,
        "github_workflow": job.workflow,
        "github_step": "run",
    }
    entry = {
        "logName": "projects/apoa-local/logs/apoa-ci",
        "resource": {"type": "generic_task", "labels": {"project_id": "apoa-local"}},
        "labels": labels,
        "severity": severity,
        "timestamp": _ts(at),
        "insertId": f"signals-{job.job_id}-{number}",
        "textPayload": text,
    }
    return Message(LOGS_TOPIC, {"logging.googleapis.com/timestamp": _ts(at)}, entry)


def _secret_logs(messages: list[Message], seed: int, cases: list[SignalCase]) -> list[Message]:
    from apoa.generator import History

    rng = random.Random(f"{seed}:signals:logs")
    jobs = completed_jobs(History(messages, []))
    late = jobs[len(jobs) * 2 // 3 :]
    positive, negative = rng.sample(late, 2)
    lines = (
        (positive, "Warning: Skip output 'token' since it may contain secret.", "WARNING", True),
        (negative, "refreshing the auth token cache (3 entries)", "INFO", False),
    )
    out = []
    for job, text, severity, is_positive in lines:
        cases.append(
            SignalCase(
                "security_secret_in_logs",
                f"{job.repository} / {job.workflow} / {job.name}",
                _epoch_dt(job.started),
                is_positive,
                "secret warning" if is_positive else "token mentioned",
                first_job_run_id=job.job_id,
            )
        )
        out.append(_log_line(job, text, severity, 1))
    return out


# --------------------------------------------------------------------------- the history


def generate_signal_history(
    seed: int, runs: int = 120, start: datetime = DEFAULT_START, metrics: bool = True
) -> SignalHistory:
    """An ordinary generated org with labeled part-2 episodes and hard negatives."""
    cases: list[SignalCase] = []
    base = generate_history(seed=seed, runs_per_workflow=runs, start=start, inject=False)
    messages = _security(base.messages, seed, cases)
    messages += _resource_messages(messages, seed, cases)
    messages += _secret_logs(messages, seed, cases)
    if metrics:
        messages += metric_series_messages(seed, start, cases)
    return SignalHistory(seed, messages, cases)


def normal_history(seed: int, runs: int = 120) -> list[Message]:
    """The ordinary generated org with its own side data: the security signals must stay silent."""
    base = generate_history(seed=seed, runs_per_workflow=runs, inject=False)
    return base.messages + generate_side_data(base, seed=seed)
