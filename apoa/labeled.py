"""Labeled GitHub Actions histories: known anomalies and known look-alikes, for scoring the engine.

`apoa.generator` makes one realistic organisation with two injected anomalies, for the demo.
This module makes many small, independent job histories, each carrying one *scenario* with a
fixed effect size, and says exactly where every effect starts. `benchmarks/detection.py`
scores the anomaly engine against these labels; `tests/test_scoring.py` builds a small one.

Scenarios (one job, or one runner pool, each):

- positives, with the kind the engine must report: sustained duration regressions of +30%,
  +60% and +150% (all in one step), a +60% regression fixed after 20 runs, queue spikes of
  5x and 20x on a runner pool (3 hours),
  failure rates rising from 2% to 20% or 60% (for 40 default-branch runs), flaky jobs failing
  10% or 35% of attempts at random (re-runs pass), a default branch broken for 6-10 runs;
- with logs only: a job that starts failing now and then with an error it never logged
  before (new_failure_signature);
- hard negatives, which must not be reported: lone outliers up to 3x, busy-hour slowdowns of
  +20%, a slowdown on one feature branch only, a job failing evenly at 5% all along, and a
  +150% regression reverted after two runs (at most one short episode is tolerated).

Every job also has the ordinary noise of CI: lognormal durations (5-20%), 1% mildly slow runs,
2% random infrastructure failures (re-run 60% of the time), lognormal queue times per pool
with rare lone long waits, and more runs during weekday working hours than at night.

The label of an episode is the first run that *shows* the effect: the first slowed run, the
first job queued in the spike, the first failing run (for a flaky job too: its failures are
the effect, a passing re-run on the same commit is what tells them apart), the first broken
run. Positions count runs (not attempts) of
the job on the episode's branch class, or jobs on the runner pool, in creation order.

Deliveries carry the fields the staging models read, shaped as GitHub sends them (completed
`workflow_job` and `workflow_run` webhooks). Same seed, same bytes.

    python -m apoa.labeled --seed 101 -o labeled.jsonl   # and labeled.labels.json
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apoa.generator import Message, write_jsonl

OWNER = "bench"
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
WEB = "https://github.com"

BASE_FAILURE_RATE = 0.02  # random infrastructure failures, per attempt
RERUN_RATE = 0.6  # share of failed runs someone re-runs (one more attempt)
MILD_OUTLIER_RATE = 0.01  # runs 1.3-2.2x slower for no lasting reason
QUEUE_OUTLIER_RATE = 0.005  # lone jobs waiting 5-20x longer than usual
DEFAULT_BRANCH_SHARE = 0.6
BUSY_SLOWDOWN = 1.2
SPIKE_HOURS = 3

# (name, share of the job's time)
STEPS = (
    ("Run actions/checkout@v4", 0.03),
    ("Run actions/setup-python@v5", 0.07),
    ("Run pip install -r requirements.txt", 0.2),
    ("Run pytest", 0.6),
    ("Run actions/upload-artifact@v4", 0.1),
)
CULPRIT_STEPS = ("Run pip install -r requirements.txt", "Run pytest")
FAILING_STEP = "Run pytest"


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str | None  # the kind the engine must report; None for a hard negative
    family: str  # duration | queue | failure | flaky | broken
    effect: float  # slowdown factor, queue multiplier, failure or flake probability
    count: int  # entities per history (size "full")


SCENARIOS = (
    Scenario("duration +30%", "duration_regression", "duration", 1.3, 6),
    Scenario("duration +60%", "duration_regression", "duration", 1.6, 5),
    Scenario("duration +150%", "duration_regression", "duration", 2.5, 5),
    Scenario("duration +60%, fixed after 20 runs", "duration_regression", "duration", 1.6, 3),
    Scenario("queue 5x", "queue_spike", "queue", 5.0, 4),
    Scenario("queue 20x", "queue_spike", "queue", 20.0, 4),
    Scenario("failure rate 2% -> 20%", "failure_rate", "failure", 0.2, 5),
    Scenario("failure rate 2% -> 60%", "failure_rate", "failure", 0.6, 5),
    Scenario("flaky 10%", "flaky_job", "flaky", 0.1, 5),
    Scenario("flaky 35%", "flaky_job", "flaky", 0.35, 5),
    Scenario("default branch broken", "default_branch_broken", "broken", 1.0, 4),
    Scenario("lone outliers up to 3x", None, "duration", 3.0, 4),
    Scenario("busy-hour slowdown +20%", None, "duration", BUSY_SLOWDOWN, 4),
    Scenario("slowdown on one feature branch", None, "duration", 1.6, 4),
    Scenario("failing evenly at 5%", None, "failure", 0.05, 4),
    Scenario("regression reverted after 2 runs", None, "duration", 2.5, 4),
)
# Only with logs (`logs=True`): a job starts failing now and then with an error it never
# logged before (12 default-branch runs at 25%).
NEW_SIGNATURE = Scenario("new failure signature", "new_failure_signature", "signature", 0.25, 4)
POOL_MEMBERS = 4  # jobs sharing each runner pool of a queue scenario

# The first error line a failed attempt logs: random infrastructure failures, real test
# failures, and the error of the new-signature scenario. Numbers, hosts and paths vary.
INFRA_ERRORS = (
    "Error: connect ETIMEDOUT 140.82.{a}.{b}:443",
    "fatal: unable to access 'https://github.com/bench/deps-{a}.git/': Could not resolve host",
)
TEST_ERROR = "FAILED tests/test_api.py::test_health_{a} - AssertionError: assert {b} == 200"
NEW_ERROR = "ModuleNotFoundError: No module named 'pydantic_settings' (/opt/venv/lib/python3.{a})"


@dataclass(frozen=True)
class LabeledEpisode:
    scenario: str
    kind: str
    entity: str  # "repo / workflow / job" or "runner <label>"
    is_default_branch: bool | None  # None for runner pools
    start_position: int  # 1-based, in the entity's series (see the module docstring)
    start_job_run_id: int
    culprit_step: str | None = None


@dataclass(frozen=True)
class HardNegative:
    scenario: str
    entity: str
    # at most this many episodes of at most this many runs are tolerated on the entity
    tolerated_episodes: int = 0
    tolerated_runs: int = 0


@dataclass
class LabeledHistory:
    seed: int
    messages: list[Message]
    episodes: list[LabeledEpisode]
    negatives: list[HardNegative]
    # job_run_id -> (entity, is_default_branch, position of its run in that series)
    job_positions: dict[int, tuple[str, bool, int]] = field(default_factory=dict)
    # job_run_id -> (runner entity, position of the attempt in the pool's series)
    pool_positions: dict[int, tuple[str, int]] = field(default_factory=dict)
    # job_run_id -> when the attempt was queued (epoch seconds)
    created: dict[int, float] = field(default_factory=dict)
    entities: list[str] = field(default_factory=list)

    def labels(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "episodes": [asdict(e) for e in self.episodes],
            "negatives": [asdict(n) for n in self.negatives],
            "entities": self.entities,
        }


# --------------------------------------------------------------------------- simulation


@dataclass
class _Attempt:
    number: int
    created: float
    started: float
    completed: float
    conclusion: str
    steps: list[tuple[str, str, float, float]]  # name, conclusion, started, completed
    error: str | None = None  # the first error line it logs, when it failed
    job_id: int = 0


@dataclass
class _Run:
    job: _Job
    created: float
    branch: str
    sha: str
    attempts: list[_Attempt] = field(default_factory=list)
    run_id: int = 0
    run_number: int = 0


@dataclass
class _Job:
    repository: str
    median_s: float
    sigma: float
    pool: str
    labels: tuple[str, ...]
    rate: float  # runs per busy hour
    scenario: Scenario | None
    culprit_step: str
    workflow: str = "CI"
    start_index: int = 0  # the default-branch run where the scenario's effect begins
    name: str = "test"
    runs: list[_Run] = field(default_factory=list)

    @property
    def entity(self) -> str:
        return f"{self.repository} / {self.workflow} / {self.name}"


@dataclass
class _Pool:
    label: str
    labels: tuple[str, ...]
    median_s: float
    spike_multiplier: float = 1.0
    spike_from: float | None = None
    scenario: Scenario | None = None

    @property
    def entity(self) -> str:
        return f"runner {','.join(self.labels)}"

    def in_spike(self, t: float) -> bool:
        return self.spike_from is not None and self.spike_from <= t < (
            self.spike_from + SPIKE_HOURS * 3600
        )


def is_busy(t: float) -> bool:
    """Weekday working hours (UTC), when most runs happen and the busy-hour job is slower."""
    moment = datetime.fromtimestamp(t, UTC)
    return moment.weekday() < 5 and 8 <= moment.hour < 18


def _schedule(rng: random.Random, start: float, count: int, per_busy_hour: float) -> list[float]:
    times, t = [], start
    while len(times) < count:
        t += rng.expovariate(per_busy_hour / 3600)
        if rng.random() < (1.0 if is_busy(t) else 0.15):
            times.append(t)
    return times


def _branches(rng: random.Random, count: int) -> list[str]:
    """main for about 60% of runs; the others on pull-request branches of 3-8 runs each."""
    out, pr, left = [], 100, 0
    for _ in range(count):
        if rng.random() < DEFAULT_BRANCH_SHARE:
            out.append("main")
            continue
        if left == 0:
            pr += 1
            left = rng.randint(3, 8)
        left -= 1
        out.append(f"feature/pr-{pr}")
    return out


class _Simulator:
    def __init__(self, seed: int, size: str, runs: int, logs: bool = False) -> None:
        self.seed = seed
        self.size = size
        self.runs = runs
        self.logs = logs
        self.rng = random.Random(f"labeled:{seed}")
        self.jobs: list[_Job] = []
        self.pools: dict[str, _Pool] = {}
        self.start = START.timestamp()

    # ----------------------------------------------------------------- setup

    def build(self) -> None:
        shared = _Pool("ubuntu-latest", ("ubuntu-latest",), median_s=8.0)
        self.pools[shared.label] = shared
        for scenario in SCENARIOS + ((NEW_SIGNATURE,) if self.logs else ()):
            count = scenario.count if self.size == "full" else 1
            for index in range(1, count + 1):
                slug = (
                    scenario.name.replace("%", "pct").replace("+", "plus").replace("->", "to")
                ).replace(",", "")
                slug = "-".join(part for part in slug.replace(".", "").split() if part)
                if scenario.family == "queue":
                    self._queue_scenario(scenario, f"{slug}-{index}")
                else:
                    self.jobs.append(self._job(f"{OWNER}/{slug}-{index}", shared, scenario))

    def _job(self, repository: str, pool: _Pool, scenario: Scenario | None) -> _Job:
        rng = self.rng
        sigma = rng.uniform(0.05, 0.2)
        if scenario is not None and scenario.name.startswith("busy-hour"):
            sigma = rng.uniform(0.04, 0.08)  # quiet jobs: the busy-hour shift stands out
        return _Job(
            repository=repository,
            median_s=math.exp(rng.uniform(math.log(60), math.log(1800))),
            sigma=sigma,
            pool=pool.label,
            labels=pool.labels,
            rate=rng.uniform(0.6, 1.2),
            scenario=scenario,
            culprit_step=rng.choice(CULPRIT_STEPS),
        )

    def _queue_scenario(self, scenario: Scenario, slug: str) -> None:
        rng = self.rng
        label = f"pool-{slug}"
        pool = _Pool(
            label,
            ("self-hosted", "linux", label),
            median_s=rng.uniform(10, 40),
            spike_multiplier=scenario.effect,
            scenario=scenario,
        )
        self.pools[label] = pool
        for member in range(1, POOL_MEMBERS + 1):
            self.jobs.append(self._job(f"{OWNER}/{slug}-job-{member}", pool, None))

    # ----------------------------------------------------------------- runs

    def simulate(self) -> None:
        for job in self.jobs:
            rng = random.Random(f"labeled:{self.seed}:{job.repository}")
            times = _schedule(rng, self.start, self.runs, job.rate)
            branches = _branches(rng, self.runs)
            job.runs = [
                _Run(job, t, branch, f"{rng.getrandbits(160):040x}")
                for t, branch in zip(times, branches, strict=True)
            ]
        # queue spikes start at 10:00 on a weekday around the middle of the history
        end = min(job.runs[-1].created for job in self.jobs)
        for pool in self.pools.values():
            if pool.scenario is None:
                continue
            t = self.start + self.rng.uniform(0.4, 0.65) * (end - self.start)
            moment = datetime.fromtimestamp(t, UTC).replace(hour=10, minute=0, second=0)
            while moment.weekday() >= 5:
                moment = _next_day(moment)
            pool.spike_from = moment.timestamp()
        for job in self.jobs:
            self._play(job)

    def _play(self, job: _Job) -> None:
        rng = random.Random(f"labeled:{self.seed}:{job.repository}:play")
        scenario = job.scenario
        main = [i for i, run in enumerate(job.runs) if run.branch == "main"]
        family = scenario.family if scenario else None
        name = scenario.name if scenario else ""
        start_main = main[int(rng.uniform(0.4, 0.65) * len(main))]
        job.start_index = start_main
        start_t = job.runs[start_main].created

        slow_from: float | None = None
        slow_until: float | None = None
        fail_window: tuple[float, float] | None = None
        broken_runs: set[int] = set()
        outliers: set[int] = set()
        slow_branch: str | None = None
        if family == "duration" and scenario and scenario.kind:
            slow_from = start_t
            if "fixed after" in name:
                slow_until = job.runs[main[main.index(start_main) + 20]].created
        elif name.startswith("regression reverted"):
            slow_from, slow_until = start_t, job.runs[main[main.index(start_main) + 2]].created
        elif name.startswith("lone outliers"):
            candidates = list(range(30, len(job.runs) - 5, 25))
            outliers = set(rng.sample(candidates, min(4, len(candidates))))
        elif name.startswith("slowdown on one feature"):
            branches = [r.branch for r in job.runs[len(job.runs) // 3 :] if r.branch != "main"]
            slow_branch = next(b for b in dict.fromkeys(branches) if branches.count(b) >= 5)
        elif family == "failure" and scenario and scenario.kind:
            end_index = main[min(len(main) - 1, main.index(start_main) + 40)]
            fail_window = (start_t, job.runs[end_index].created)
        elif family == "broken":
            length = rng.randint(6, 10)
            broken_runs = set(main[main.index(start_main) : main.index(start_main) + length])
        elif family == "signature":
            end_index = main[min(len(main) - 1, main.index(start_main) + 12)]
            fail_window = (start_t, job.runs[end_index].created)

        for index, run in enumerate(job.runs):
            factor = 1.0
            if (
                slow_from is not None
                and run.created >= slow_from
                and (slow_until is None or run.created < slow_until)
            ):
                factor = scenario.effect if scenario else 1.0
            if slow_branch is not None and run.branch == slow_branch:
                factor = scenario.effect if scenario else 1.0
            if name.startswith("busy-hour") and is_busy(run.created):
                factor *= BUSY_SLOWDOWN
            outlier = scenario.effect if index in outliers and scenario else None
            # does the commit fail for real (every attempt), or attempts at random?
            commit_fails = False
            flake = BASE_FAILURE_RATE
            if (
                fail_window
                and fail_window[0] <= run.created < fail_window[1]
                or name.startswith("failing evenly")
            ):
                commit_fails = rng.random() < (scenario.effect if scenario else 0)
            if index in broken_runs:
                commit_fails = True
            if family == "flaky" and run.created >= start_t and scenario:
                flake = scenario.effect
            created = run.created
            for number in (1, 2):
                attempt = self._attempt(
                    rng, job, number, created, factor, outlier, commit_fails, flake
                )
                run.attempts.append(attempt)
                if attempt.conclusion == "success" or rng.random() >= RERUN_RATE:
                    break
                created = attempt.completed + rng.uniform(300, 1800)
                outlier = None

    def _attempt(
        self,
        rng: random.Random,
        job: _Job,
        number: int,
        created: float,
        factor: float,
        outlier: float | None,
        commit_fails: bool,
        flake: float,
    ) -> _Attempt:
        pool = self.pools[job.pool]
        queue = pool.median_s * math.exp(0.5 * rng.gauss(0, 1))
        if pool.in_spike(created):
            queue *= pool.spike_multiplier
        elif rng.random() < QUEUE_OUTLIER_RATE:
            queue *= rng.uniform(5, 20)
        base = job.median_s * math.exp(job.sigma * max(-3.0, min(3.0, rng.gauss(0, 1))))
        if outlier is not None:
            base *= outlier
        elif rng.random() < MILD_OUTLIER_RATE:
            base *= rng.uniform(1.3, 2.2)
        shares = [share * math.exp(0.05 * rng.gauss(0, 1)) for _, share in STEPS]
        total = sum(shares)
        lengths = [base * share / total for share in shares]
        if factor != 1.0:
            culprit = [name for name, _ in STEPS].index(job.culprit_step)
            lengths[culprit] += (factor - 1.0) * base
        fails = commit_fails or rng.random() < flake
        failing_step = FAILING_STEP if commit_fails else rng.choice(CULPRIT_STEPS)
        a, b = rng.randint(1, 250), rng.randint(1, 599)
        if not commit_fails:
            error = rng.choice(INFRA_ERRORS).format(a=a, b=b)
        elif job.scenario is not None and job.scenario.family == "signature":
            error = NEW_ERROR.format(a=rng.randint(10, 12))
        else:
            error = TEST_ERROR.format(a=a % 7, b=b)
        started = created + max(1.0, queue)
        t = started
        steps = [("Set up job", "success", t, t + 2)]
        t += 2
        conclusion = "success"
        for (name, _), length in zip(STEPS, lengths, strict=True):
            if conclusion != "success":
                steps.append((name, "skipped", t, t))
                continue
            step_conclusion = "success"
            if fails and name == failing_step:
                length *= rng.uniform(0.2, 0.9)
                step_conclusion = conclusion = "failure"
            steps.append((name, step_conclusion, t, t + length))
            t += length
        steps.append(("Complete job", "success", t, t + 1))
        return _Attempt(
            number, created, started, t + 1, conclusion, steps, error if fails else None
        )

    # ----------------------------------------------------------------- ids and labels

    def assign_ids(self) -> None:
        runs = sorted((run for job in self.jobs for run in job.runs), key=lambda r: r.created)
        run_id = 23_000_000_000
        for run in runs:
            run_id += self.rng.randint(1_000, 50_000)
            run.run_id = run_id
        for job in self.jobs:
            for number, run in enumerate(job.runs, start=1):
                run.run_number = number
        attempts = sorted(
            (a for job in self.jobs for run in job.runs for a in run.attempts),
            key=lambda a: a.created,
        )
        job_id = 61_000_000_000
        for attempt in attempts:
            job_id += self.rng.randint(1_000, 90_000)
            attempt.job_id = job_id

    def labels(self, history: LabeledHistory) -> None:
        for job in self.jobs:
            history.entities.append(job.entity)
            for default in (True, False):
                series = [r for r in job.runs if (r.branch == "main") == default]
                for position, run in enumerate(series, start=1):
                    for attempt in run.attempts:
                        history.job_positions[attempt.job_id] = (job.entity, default, position)
                        history.created[attempt.job_id] = attempt.created
        for pool in self.pools.values():
            history.entities.append(pool.entity)
            members = [
                (a.created, a.job_id)
                for job in self.jobs
                if job.pool == pool.label
                for run in job.runs
                for a in run.attempts
            ]
            for position, (_, job_id) in enumerate(sorted(members), start=1):
                history.pool_positions[job_id] = (pool.entity, position)
            if pool.scenario is not None:
                first = min(
                    (created, job_id) for created, job_id in members if pool.in_spike(created)
                )
                history.episodes.append(
                    LabeledEpisode(
                        scenario=pool.scenario.name,
                        kind="queue_spike",
                        entity=pool.entity,
                        is_default_branch=None,
                        start_position=history.pool_positions[first[1]][1],
                        start_job_run_id=first[1],
                    )
                )
        for job in self.jobs:
            scenario = job.scenario
            if scenario is None:
                continue
            if scenario.kind is None:
                reverted = scenario.name.startswith("regression reverted")
                history.negatives.append(
                    HardNegative(
                        scenario.name,
                        job.entity,
                        tolerated_episodes=1 if reverted else 0,
                        tolerated_runs=5 if reverted else 0,
                    )
                )
                continue
            first = self._first_affected(job)
            if first is None:
                continue  # the effect never showed (e.g. no flaky run): nothing to find
            entity, default, position = history.job_positions[first.job_id]
            history.episodes.append(
                LabeledEpisode(
                    scenario=scenario.name,
                    kind=scenario.kind,
                    entity=entity,
                    is_default_branch=default,
                    start_position=position,
                    start_job_run_id=first.job_id,
                    culprit_step=job.culprit_step if scenario.family == "duration" else None,
                )
            )

    def _first_affected(self, job: _Job) -> _Attempt | None:
        """The first default-branch run that shows the scenario's effect."""
        scenario = job.scenario
        assert scenario is not None
        for run in job.runs[job.start_index :]:
            if run.branch != "main":
                continue
            conclusions = {a.conclusion for a in run.attempts}
            if scenario.family in ("duration", "broken"):
                return run.attempts[0]
            if scenario.family in ("failure", "signature") and "failure" in conclusions:
                return run.attempts[0]
            if scenario.family == "flaky" and "failure" in conclusions:
                return run.attempts[0]
        return None


def _next_day(moment: datetime) -> datetime:
    return datetime.fromtimestamp(moment.timestamp() + 86400, UTC)


# --------------------------------------------------------------------------- payloads


def _ts(t: float) -> str:
    return datetime.fromtimestamp(round(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _messages(sim: _Simulator) -> list[Message]:
    delivery_rng = random.Random(f"labeled:{sim.seed}:deliveries")
    pending: list[tuple[float, int, str, str, dict[str, Any]]] = []
    for job in sim.jobs:
        repository = {"full_name": job.repository, "default_branch": "main"}
        for run in job.runs:
            for attempt in run.attempts:
                url = f"{WEB}/{job.repository}/actions/runs/{run.run_id}"
                workflow_job = {
                    "id": attempt.job_id,
                    "run_id": run.run_id,
                    "run_attempt": attempt.number,
                    "workflow_name": job.workflow,
                    "name": job.name,
                    "head_branch": run.branch,
                    "head_sha": run.sha,
                    "status": "completed",
                    "conclusion": attempt.conclusion,
                    "created_at": _ts(attempt.created),
                    "started_at": _ts(attempt.started),
                    "completed_at": _ts(attempt.completed),
                    "runner_name": f"{job.pool}-{attempt.job_id % 97}",
                    "runner_group_name": "Default",
                    "labels": list(job.labels),
                    "steps": [
                        {
                            "name": name,
                            "status": "completed",
                            "conclusion": conclusion,
                            "number": number,
                            "started_at": _ts(started),
                            "completed_at": _ts(completed),
                        }
                        for number, (name, conclusion, started, completed) in enumerate(
                            attempt.steps, start=1
                        )
                    ],
                    "html_url": f"{url}/job/{attempt.job_id}",
                }
                payload = {"action": "completed", "repository": repository}
                payload["workflow_job"] = workflow_job
                pending.append(
                    (attempt.completed, len(pending), "workflow_job", job.repository, payload)
                )
                workflow_run = {
                    "id": run.run_id,
                    "name": job.workflow,
                    "run_number": run.run_number,
                    "run_attempt": attempt.number,
                    "workflow_id": 1000 + sim.jobs.index(job),
                    "path": ".github/workflows/ci.yml",
                    "event": "push" if run.branch == "main" else "pull_request",
                    "status": "completed",
                    "conclusion": attempt.conclusion,
                    "head_branch": run.branch,
                    "head_sha": run.sha,
                    "created_at": _ts(run.created),
                    "run_started_at": _ts(attempt.created),
                    "updated_at": _ts(attempt.completed + 1),
                    "html_url": url,
                    "pull_requests": [],
                    "actor": {"login": "dev"},
                    "triggering_actor": {"login": "dev"},
                }
                payload = {
                    "action": "completed",
                    "repository": repository,
                    "workflow": {"name": job.workflow, "path": ".github/workflows/ci.yml"},
                    "workflow_run": workflow_run,
                }
                pending.append(
                    (attempt.completed + 1, len(pending), "workflow_run", job.repository, payload)
                )
            if sim.logs and attempt.error is not None:
                for line, (severity, text) in enumerate(
                    (("INFO", FAILING_STEP), ("ERROR", attempt.error)), start=1
                ):
                    entry = {
                        "logName": "projects/bench/logs/apoa-ci",
                        "insertId": f"{attempt.job_id}-{line}",
                        "timestamp": _ts(attempt.completed - 3 + line),
                        "receiveTimestamp": _ts(attempt.completed + 2),
                        "severity": severity,
                        "resource": {"type": "generic_task", "labels": {}},
                        "labels": {
                            "github_run_id": str(run.run_id),
                            "github_run_attempt": str(attempt.number),
                            "github_job": job.name,
                            "github_repository": job.repository,
                            "github_workflow": job.workflow,
                            "github_step": "run",
                            "runner_name": f"{job.pool}-{attempt.job_id % 97}",
                        },
                        "jsonPayload": {"message": text, "line_number": line},
                    }
                    pending.append(
                        (attempt.completed - 1, len(pending), "log", job.repository, entry)
                    )
    pending.sort(key=lambda item: item[:2])
    messages = []
    for _, _, event, repository, payload in pending:
        delivery = str(uuid.UUID(int=delivery_rng.getrandbits(128), version=4))
        if event == "log":
            messages.append(Message(topic="pipeline-logs", attributes={}, data=payload))
            continue
        attributes = {
            "github_event": event,
            "github_delivery": delivery,
            "github_hook_id": "421337002",
            "repository": repository,
        }
        messages.append(Message(topic="github-events", attributes=attributes, data=payload))
    return messages


# --------------------------------------------------------------------------- public interface


def _simulated(seed: int, size: str, runs: int, logs: bool) -> _Simulator:
    sim = _Simulator(seed, size, runs, logs)
    sim.build()
    sim.simulate()
    return sim


def generate_labeled_history(
    seed: int, size: str = "full", runs: int = 240, logs: bool = False
) -> LabeledHistory:
    """A labeled history: `size` "full" (the benchmark) or "small" (one job per scenario).

    With `logs`, failed attempts also log their first error line to `pipeline-logs` (Cloud
    Logging entries labeled as the reusable workflow labels them, docs/deploy.md), and the
    new-failure-signature scenario is added.
    """
    if size not in ("full", "small"):
        raise ValueError("size must be 'full' or 'small'")
    sim = _simulated(seed, size, runs, logs)
    sim.assign_ids()
    history = LabeledHistory(seed=seed, messages=_messages(sim), episodes=[], negatives=[])
    sim.labels(history)
    return history


def default_branch_failures_after_start(
    seed: int, scenario: str, size: str = "full", runs: int = 240
) -> list[list[bool]]:
    """For each job of `scenario` in a seed's history: whether each default-branch run from
    the one where the effect begins had a failed attempt. What the labels are made of, for
    checking what a history can tell (benchmarks/label_limits.py)."""
    sim = _simulated(seed, size, runs, logs=False)
    return [
        [
            any(a.conclusion == "failure" for a in run.attempts)
            for run in job.runs[job.start_index :]
            if run.branch == "main"
        ]
        for job in sim.jobs
        if job.scenario is not None and job.scenario.name == scenario
    ]


def land(db_path: Path, messages: Sequence[Message], prefix: str = "labeled") -> None:
    """Write messages into the raw tables of a DuckDB warehouse the way the ingest writer
    does (one table per topic, load_seq ascending), without a server: for tests and
    benchmarks that build the dbt project on a labeled history."""
    import duckdb

    from ingest.raw_tables import RAW_SCHEMA, TOPIC_TABLES, duckdb_ddl

    db_path = Path(db_path)
    staging = db_path.parent / f"{prefix}-incoming.jsonl"
    with duckdb.connect(str(db_path)) as con:
        for statement in duckdb_ddl():
            con.execute(statement)
        start = con.execute(
            " union all ".join(
                f"select coalesce(max(load_seq), 0) from {RAW_SCHEMA}.{table}"
                for table in TOPIC_TABLES.values()
            )
        ).fetchall()
        seq = max(row[0] for row in start)
        for topic, table in TOPIC_TABLES.items():
            rows = [m for m in messages if m.topic == topic]
            if not rows:
                continue
            with staging.open("w", encoding="utf-8") as out:
                for message in rows:
                    seq += 1
                    record = {
                        "message_id": f"{prefix}-{seq}",
                        "load_seq": seq,
                        "publish_time": "2026-06-01T00:00:00",
                        "ingested_at": "2026-06-01T00:00:00",
                        "subscription": f"projects/apoa-bench/subscriptions/{topic}-push",
                        "attributes": json.dumps(message.attributes),
                        "payload": json.dumps(message.data),
                    }
                    out.write(json.dumps(record) + "\n")
            con.execute(
                f"insert into {RAW_SCHEMA}.{table} select * from read_json(?, "
                "format = 'newline_delimited', columns = {message_id: 'varchar', "
                "load_seq: 'bigint', publish_time: 'timestamp', ingested_at: 'timestamp', "
                "subscription: 'varchar', attributes: 'varchar', payload: 'varchar'})",
                [str(staging)],
            )
    staging.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m apoa.labeled", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--size", choices=("full", "small"), default="full")
    parser.add_argument("--runs", type=int, default=240, help="runs per job (default 240)")
    parser.add_argument("--logs", action="store_true", help="failed attempts log their error")
    parser.add_argument("-o", "--output", type=Path, default=Path("labeled.jsonl"))
    args = parser.parse_args(argv)
    history = generate_labeled_history(args.seed, args.size, args.runs, args.logs)
    count = write_jsonl(history, args.output)  # type: ignore[arg-type]
    labels = args.output.with_suffix(".labels.json")
    labels.write_text(json.dumps(history.labels(), indent=2) + "\n")
    print(f"wrote {count} messages to {args.output}, labels to {labels}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
