"""Deterministic generator of realistic GitHub Actions webhook history.

Simulates a small organisation's CI (3 repositories, 5 workflows) and emits the ``workflow_run``
and ``workflow_job`` deliveries GitHub would send, shaped like the real payloads (octokit/webhooks
examples) and wrapped as Pub/Sub messages for the ``github-events`` topic. Two anomalies are
injected so the detection pipeline has something known to find; everything else is normal noise.

    python -m apoa.generator --seed 7 --runs 60 -o history.jsonl

Same arguments give byte-identical output: every random draw comes from a ``random.Random``
seeded from ``seed`` (one stream per run, so an injected anomaly only changes the runs it touches).
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import random
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TOPIC = "github-events"
HOOK_ID = "421337001"
DEFAULT_START = datetime(2026, 9, 1, tzinfo=UTC)
# Ids per second of start after DEFAULT_START: a day later is ~8.6e9 on, more than a
# history of 10,000 jobs spans (~8e8).
ID_SHIFT_PER_SECOND = 100_000

FAILURE_WINDOW_RUNS = 12  # consecutive runs of the failure_rate anomaly
# The failure_rate anomaly: this share of the window's first attempts fail, and a re-run of
# one fails again with this probability, so most of those runs stay red (a real rise in
# failures, not flakiness that re-runs cure).
BURST_FAILURE_SHARE = 0.75
BURST_RERUN_FAILURE_RATE = 0.9
SLOWDOWN = 1.5  # duration_regression: +150% of the job's duration, all in one step
CANCEL_RATE = 0.01
FAILURE_GAP_RUNS = 10  # ordinary failures stay isolated: at most one per job in this many runs
RERUN_RATE = 0.45  # share of failed runs that someone re-runs (attempt 2, all jobs)
LATE_IN_PROGRESS_RATE = 0.05  # in_progress delivered after completed

API = "https://api.github.com"
WEB = "https://github.com"


# --------------------------------------------------------------------------- public interface


@dataclass(frozen=True)
class Message:
    topic: str
    attributes: dict[str, str]
    data: dict[str, Any]

    def to_json_line(self) -> str:
        body = {"topic": self.topic, "attributes": self.attributes, "data": self.data}
        return json.dumps(body, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class InjectedAnomaly:
    kind: str  # "duration_regression" | "failure_rate"
    repository: str
    workflow: str
    job: str
    first_run_number: int
    description: str


@dataclass(frozen=True)
class History:
    messages: list[Message]
    injected: list[InjectedAnomaly]


# --------------------------------------------------------------------------- the simulated org


@dataclass(frozen=True)
class JobSpec:
    name: str
    median_s: int
    steps: tuple[tuple[str, float], ...]  # steps after "Set up job": (name, share of the time)
    sigma: float = 0.15
    stage: int = 0  # `needs:`: stage n starts when every job of stage n-1 succeeded
    labels: tuple[str, ...] = ("ubuntu-latest",)
    failure_rate: float = 0.03  # nominal; the spacing rule makes it ~2.5%


@dataclass(frozen=True)
class WorkflowSpec:
    id: int
    name: str
    file: str
    jobs: tuple[JobSpec, ...]
    runs_per_active_hour: float
    pull_requests: bool  # also runs for pull requests and feature branches, not only main


@dataclass(frozen=True)
class RepoSpec:
    id: int
    name: str
    description: str
    language: str
    topics: tuple[str, ...]
    created_at: str
    queue_median_s: float
    pr_base: int
    workflows: tuple[WorkflowSpec, ...]


Runner = tuple[int | None, str | None, int | None, str | None]  # id, name, group id, group name
NO_RUNNER: Runner = (None, None, None, None)


@dataclass(frozen=True)
class User:
    login: str
    id: int
    name: str


ORG = User("aetherveil", 148213377, "Aetherveil")
USERS = (
    User("mara-okafor", 61820394, "Mara Okafor"),
    User("jlindqvist", 4419023, "Johan Lindqvist"),
    User("priya-raman", 88127460, "Priya Raman"),
    User("tnowak", 23990871, "Tomasz Nowak"),
)

CHECKOUT = ("Run actions/checkout@v4", 0.02)
SETUP_PY = ("Run actions/setup-python@v5", 0.05)
SETUP_NODE = ("Run actions/setup-node@v4", 0.05)
NPM_CI = ("Run npm ci", 0.3)
PY_LINT = (
    CHECKOUT,
    SETUP_PY,
    ("Run pip install ruff mypy", 0.2),
    ("Run ruff check .", 0.13),
    ("Run mypy src", 0.6),
)
PY_TEST = (
    CHECKOUT,
    SETUP_PY,
    ("Run actions/cache@v4", 0.03),
    ("Run pip install -r requirements.txt", 0.18),
    ("Run pytest -n auto --cov=src", 0.68),
    ("Run actions/upload-artifact@v4", 0.04),
)
NODE_LINT = (CHECKOUT, SETUP_NODE, NPM_CI, ("Run npm run lint", 0.6))
NODE_UNIT = (CHECKOUT, SETUP_NODE, NPM_CI, ("Run npm test -- --coverage", 0.63))
NODE_BUILD = (CHECKOUT, SETUP_NODE, NPM_CI, ("Run npm run build", 0.63))
NODE_E2E = (
    CHECKOUT,
    SETUP_NODE,
    ("Run npm ci", 0.14),
    ("Run npx playwright install --with-deps", 0.14),
    ("Run npx playwright test", 0.62),
    ("Run actions/upload-artifact@v4", 0.03),
)
IMAGE = (
    CHECKOUT,
    ("Run docker/setup-buildx-action@v3", 0.06),
    ("Run docker/login-action@v3", 0.02),
    ("Run docker/build-push-action@v6", 0.9),
)
DEPLOY = (
    CHECKOUT,
    ("Run google-github-actions/auth@v2", 0.04),
    ("Run google-github-actions/deploy-cloudrun@v2", 0.74),
    ("Run ./scripts/smoke-test.sh", 0.2),
)
DBT = (
    CHECKOUT,
    ("Run pip install dbt-duckdb", 0.2),
    ("Run dbt deps", 0.05),
    ("Run dbt build --target ci", 0.73),
)
POST_ACTIONS = (
    "Run actions/checkout",
    "Run actions/setup-",
    "Run actions/cache",
    "Run docker/login",
)
SELF_HOSTED = ("self-hosted", "linux", "x64")

REPOS = (
    RepoSpec(
        id=701234561,
        name="api-gateway",
        description="Edge API gateway: auth, rate limiting and routing for Aetherveil services",
        language="Python",
        topics=("api", "fastapi", "gateway"),
        created_at="2023-03-14T09:12:44Z",
        queue_median_s=12,
        pr_base=1180,
        workflows=(
            WorkflowSpec(
                91820311,
                "CI",
                "ci.yml",
                runs_per_active_hour=0.9,
                pull_requests=True,
                jobs=(
                    JobSpec("lint", 130, PY_LINT),
                    JobSpec("test (ubuntu-latest, 3.11)", 380, PY_TEST),
                    JobSpec("test (ubuntu-latest, 3.12)", 400, PY_TEST),
                ),
            ),
            WorkflowSpec(
                91820312,
                "Deploy",
                "deploy.yml",
                runs_per_active_hour=0.35,
                pull_requests=False,
                jobs=(
                    JobSpec("build-image", 300, IMAGE, sigma=0.12),
                    JobSpec("deploy-staging", 150, DEPLOY, sigma=0.12, stage=1),
                ),
            ),
        ),
    ),
    RepoSpec(
        id=701234877,
        name="web-console",
        description="Operator console for Aetherveil (React, TypeScript)",
        language="TypeScript",
        topics=("react", "typescript", "console"),
        created_at="2023-06-02T15:40:03Z",
        queue_median_s=25,
        pr_base=642,
        workflows=(
            WorkflowSpec(
                93001544,
                "CI",
                "ci.yml",
                runs_per_active_hour=0.9,
                pull_requests=True,
                jobs=(
                    JobSpec("lint", 140, NODE_LINT),
                    JobSpec("unit-tests", 260, NODE_UNIT),
                    JobSpec("e2e-tests", 560, NODE_E2E, sigma=0.18),
                ),
            ),
            WorkflowSpec(
                93001545,
                "Deploy",
                "deploy.yml",
                runs_per_active_hour=0.35,
                pull_requests=False,
                jobs=(
                    JobSpec("build", 200, NODE_BUILD, sigma=0.12),
                    JobSpec("deploy (production)", 120, DEPLOY, sigma=0.12, stage=1),
                ),
            ),
        ),
    ),
    RepoSpec(
        id=715550219,
        name="data-pipeline",
        description="Batch ingestion and dbt transformations for the analytics warehouse",
        language="Python",
        topics=("dbt", "etl", "analytics"),
        created_at="2024-01-22T11:05:37Z",
        queue_median_s=35,
        pr_base=318,
        workflows=(
            WorkflowSpec(
                97415020,
                "CI",
                "ci.yml",
                runs_per_active_hour=0.8,
                pull_requests=True,
                jobs=(
                    JobSpec("test (ubuntu-latest, 3.12)", 420, PY_TEST),
                    JobSpec(
                        "test (macos-latest, 3.12)",
                        690,
                        PY_TEST,
                        sigma=0.2,
                        labels=("macos-latest",),
                    ),
                    JobSpec("dbt-build", 300, DBT, stage=1, labels=SELF_HOSTED),
                ),
            ),
        ),
    ),
)

# Anomaly targets: (repository name, workflow, job, the step that carries the anomaly).
SLOW_TARGET = (
    "api-gateway",
    "CI",
    "test (ubuntu-latest, 3.12)",
    "Run pip install -r requirements.txt",
)
FLAKY_TARGET = ("web-console", "CI", "e2e-tests", "Run npx playwright test")

FEATURES = (
    ("feat/rate-limit-headers", "Add RateLimit-* response headers"),
    ("fix/token-refresh-race", "Fix race in token refresh"),
    ("chore/bump-deps", "Bump dependencies"),
    ("feat/audit-log-export", "Export audit log as CSV"),
    ("refactor/settings-module", "Split settings into modules"),
    ("fix/flaky-timeout", "Raise upstream timeout to 30s"),
    ("feat/retry-backoff", "Exponential backoff for retries"),
    ("perf/cache-warmup", "Warm the cache on startup"),
)
COMMIT_MESSAGES = (
    "fix: handle empty scope list in token validation",
    "feat: add pagination to /v1/pipelines",
    "chore(deps): bump pydantic from 2.8.2 to 2.9.2",
    "refactor: extract retry policy",
    "docs: document local setup with the emulator",
    "test: cover expired-certificate path",
    "perf: batch inserts in the writer",
    "ci: pin actions to major versions",
    "fix: close the DB session on shutdown",
    "feat: structured logging with trace ids",
)


# --------------------------------------------------------------------------- simulation records


@dataclass
class _Step:
    name: str
    number: int
    conclusion: str
    started: int
    completed: int


@dataclass
class _Plan:
    """Every random draw one job attempt needs, taken up front so decisions don't shift streams."""

    spec: JobSpec
    created: int
    started: int
    duration: int  # the job's normal duration, before any injected slowdown
    setup: int
    lengths: list[int]  # main steps
    posts: list[int]
    complete: int
    fail_roll: float
    fail_frac: float
    fail_pick: float
    runner: Runner
    late_lag: int  # > 0: the in_progress delivery arrives this long after completed


@dataclass
class _Job:
    plan: _Plan
    conclusion: str
    steps: list[_Step]
    completed: int
    id: int = 0


@dataclass
class _Attempt:
    number: int
    started: int
    actor: User
    jobs: list[_Job]
    conclusion: str
    completed: int

    @property
    def in_progress_at(self) -> int:
        return min(job.plan.started for job in self.jobs)


@dataclass
class _Run:
    repo: RepoSpec
    workflow: WorkflowSpec
    run_number: int
    created: int
    event: str
    branch: str
    sha: str
    tree_id: str
    message: str
    title: str
    commit_at: int
    author: User
    pull_request: tuple[int, str, str] | None  # (number, head branch, base sha)
    attempts: list[_Attempt]
    id: int = 0
    check_suite_id: int = 0


@dataclass(frozen=True)
class _Injection:
    slow_from: int
    flaky_window: range
    flaky_runs: frozenset[int]


# --------------------------------------------------------------------------- simulation


def _hex(rng: random.Random, bits: int = 160) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    """Lognormal noise clipped at 2.5 sigma: ordinary runs never look like outliers."""
    z = max(-2.5, min(2.5, rng.normalvariate(0, 1)))
    return median * math.exp(sigma * z)


def _split(total: int, weights: Sequence[float]) -> list[int]:
    """Integer parts of ``total`` proportional to ``weights``, summing exactly to ``total``."""
    out, acc, prev, whole = [], 0.0, 0, sum(weights)
    for w in weights:
        acc += w
        cut = round(total * acc / whole)
        out.append(cut - prev)
        prev = cut
    return out


def _post_steps(spec: JobSpec) -> list[str]:
    return [f"Post {name}" for name, _ in reversed(spec.steps) if name.startswith(POST_ACTIONS)]


def _activity(t: int) -> float:
    """Relative chance of a run at time t: busy on weekday working hours, quiet otherwise."""
    tm = time.gmtime(t)
    if tm.tm_wday >= 5:
        return 0.08
    return 1.0 if 7 <= tm.tm_hour < 19 else 0.12


def _schedule(rng: random.Random, start: int, count: int, per_hour: float) -> list[int]:
    """``count`` trigger times: a Poisson process thinned by ``_activity``."""
    times, t = [], start
    while len(times) < count:
        t += max(1, round(rng.expovariate(per_hour / 3600)))
        if rng.random() < _activity(t):
            times.append(t)
    return times


def _ordinary_failures(rng: random.Random, runs: int, rate: float) -> frozenset[int]:
    """Run numbers whose first attempt fails by chance; never clustered, so never an anomaly."""
    failing: list[int] = []
    for number in range(1, runs + 1):
        isolated = not failing or number - failing[-1] >= FAILURE_GAP_RUNS
        if rng.random() < rate and isolated:
            failing.append(number)
    return frozenset(failing)


def _plan_job(rng: random.Random, spec: JobSpec, created: int, queue_median: float) -> _Plan:
    if "macos-latest" in spec.labels:
        queue_median *= 2.5
    started = created + max(1, round(_lognormal(rng, queue_median, 0.45)))
    duration = round(_lognormal(rng, spec.median_s, spec.sigma))
    setup = rng.randint(1, 4)
    posts = [rng.randint(0, 1) for _ in _post_steps(spec)]
    complete = rng.randint(0, 1)
    shares = [share * rng.lognormvariate(0, 0.1) for _, share in spec.steps]
    main_total = max(len(shares), duration - setup - sum(posts) - complete)
    if "self-hosted" in spec.labels:
        n = rng.randint(1, 4)
        runner: Runner = (30 + n, f"dp-runner-{n:02d}", 1, "Default")
    else:
        n = rng.randint(1, 99)
        runner = (n, f"GitHub Actions {n}", 2, "GitHub Actions")
    fail_roll, fail_frac, fail_pick = rng.random(), rng.uniform(0.3, 0.95), rng.random()
    late = rng.random() < LATE_IN_PROGRESS_RATE
    late_lag = rng.randint(1, 30)
    return _Plan(
        spec=spec,
        created=created,
        started=started,
        duration=duration,
        setup=setup,
        lengths=_split(main_total, shares),
        posts=posts,
        complete=complete,
        fail_roll=fail_roll,
        fail_frac=fail_frac,
        fail_pick=fail_pick,
        runner=runner,
        late_lag=late_lag if late else 0,
    )


def _pick_failing_step(plan: _Plan) -> int:
    """Ordinary failures happen in a build/test step, more likely in a longer one."""
    names = [name for name, _ in plan.spec.steps]
    candidates = [i for i, name in enumerate(names) if not name.startswith("Run actions/")]
    weights = [plan.spec.steps[i][1] for i in candidates]
    acc, target = 0.0, plan.fail_pick * sum(weights)
    for i, w in zip(candidates, weights, strict=True):
        acc += w
        if target < acc:
            return i
    return candidates[-1]


def _run_job(
    plan: _Plan, *, fail_at: int | None, slow_step: str | None, cancel_at: int | None
) -> _Job:
    """Lay the steps out back to back from ``started``; they add up to the job's duration."""
    names = [name for name, _ in plan.spec.steps]
    lengths = list(plan.lengths)
    if slow_step is not None:
        lengths[names.index(slow_step)] += round(SLOWDOWN * plan.duration)
    t = plan.started + plan.setup
    steps = [_Step("Set up job", 1, "success", plan.started, t)]
    outcome = "success"
    for i, (name, length) in enumerate(zip(names, lengths, strict=True)):
        if outcome != "success":
            steps.append(_Step(name, i + 2, "skipped", t, t))
            continue
        conclusion = "success"
        if i == fail_at:
            length, conclusion = max(1, round(length * plan.fail_frac)), "failure"
        if cancel_at is not None and t + length >= cancel_at:
            length, conclusion = max(0, cancel_at - t), "cancelled"
        steps.append(_Step(name, i + 2, conclusion, t, t + length))
        t += length
        outcome = conclusion
    number = len(names) + 8  # GitHub leaves a gap before the post steps
    for name, length in zip(_post_steps(plan.spec), plan.posts, strict=True):
        runs = outcome == "success" or "checkout" in name
        steps.append(_Step(name, number, "success" if runs else "skipped", t, t + length * runs))
        t += length * runs
        number += 1
    steps.append(_Step("Complete job", number, "success", t, t + plan.complete))
    return _Job(plan, outcome, steps, t + plan.complete)


def _simulate_attempt(
    rng: random.Random,
    run: _Run,
    number: int,
    t0: int,
    actor: User,
    failing: frozenset[str],
    inj: _Injection | None,
) -> _Attempt:
    """One attempt; ``failing`` names the jobs whose first attempt fails by chance."""
    repo, wf = run.repo, run.workflow
    cancel_roll, cancel_frac = rng.random(), rng.uniform(0.2, 0.8)
    jobs: list[_Job] = []
    stage_start = t0 + rng.randint(2, 6)
    for stage in sorted({spec.stage for spec in wf.jobs}):
        specs = [spec for spec in wf.jobs if spec.stage == stage]
        plans = [
            _plan_job(rng, spec, stage_start + rng.randint(0, 2), repo.queue_median_s)
            for spec in specs
        ]
        cancel_at = None
        if number == 1 and stage == 0 and cancel_roll < CANCEL_RATE:
            last_start = max(p.started + p.setup for p in plans)
            first_end = min(p.started + p.duration for p in plans)
            if first_end - last_start > 20:
                cancel_at = last_start + round(cancel_frac * (first_end - last_start))
        for plan in plans:
            key = (repo.name, wf.name, plan.spec.name)
            if number == 1:
                fail = plan.spec.name in failing
            else:  # re-runs usually succeed
                fail = plan.fail_roll < plan.spec.failure_rate
            fail_at = _pick_failing_step(plan)
            slow_step = None
            if inj is not None and key == FLAKY_TARGET[:3] and run.run_number in inj.flaky_window:
                fail = (
                    run.run_number in inj.flaky_runs
                    if number == 1
                    else plan.fail_roll < BURST_RERUN_FAILURE_RATE
                )
                fail_at = [name for name, _ in plan.spec.steps].index(FLAKY_TARGET[3])
            if inj is not None and key == SLOW_TARGET[:3] and run.run_number >= inj.slow_from:
                slow_step = SLOW_TARGET[3]
            jobs.append(
                _run_job(
                    plan,
                    fail_at=fail_at if fail else None,
                    slow_step=slow_step,
                    cancel_at=cancel_at,
                )
            )
        if any(job.conclusion != "success" for job in jobs):
            break  # later stages `need` this one: they never start
        stage_start = max(job.completed for job in jobs) + rng.randint(2, 6)
    conclusions = {job.conclusion for job in jobs}
    conclusion = next(c for c in ("failure", "cancelled", "success") if c in conclusions)
    completed = max(job.completed for job in jobs) + rng.randint(1, 3)
    return _Attempt(number, t0, actor, jobs, conclusion, completed)


def _simulate_run(
    rng: random.Random,
    repo: RepoSpec,
    wf: WorkflowSpec,
    run_number: int,
    created: int,
    failing: frozenset[str],
    inj: _Injection | None,
) -> _Run:
    author = rng.choice(USERS)
    kind = rng.random()
    message = rng.choice(COMMIT_MESSAGES)
    pr_number = repo.pr_base + run_number // 3
    branch, title = FEATURES[pr_number % len(FEATURES)]
    sha, tree_id, base_sha = _hex(rng), _hex(rng), _hex(rng)
    commit_at = created - rng.randint(5, 90)
    pull_request = None
    if wf.pull_requests and kind < 0.28:
        event, pull_request, message = "pull_request", (pr_number, branch, base_sha), title
    elif wf.pull_requests and kind < 0.34:
        event = "push"
    else:
        event, branch = "push", "main"
        if kind > 0.6:
            merged = pr_number - 2
            merged_branch, merged_title = FEATURES[merged % len(FEATURES)]
            message = (
                f"Merge pull request #{merged} from {ORG.login}/{merged_branch}\n\n{merged_title}"
            )
    run = _Run(
        repo=repo,
        workflow=wf,
        run_number=run_number,
        created=created,
        event=event,
        branch=branch,
        sha=sha,
        tree_id=tree_id,
        message=message,
        title=title if pull_request else message.split("\n")[0],
        commit_at=commit_at,
        author=author,
        pull_request=pull_request,
        attempts=[],
    )
    first = _simulate_attempt(rng, run, 1, created, author, failing, inj)
    run.attempts.append(first)
    rerun_roll, rerun_delay, rerun_actor = (
        rng.random(),
        _lognormal(rng, 1200, 0.6),
        rng.choice(USERS),
    )
    if first.conclusion == "failure" and rerun_roll < RERUN_RATE:
        t0 = first.completed + round(rerun_delay)
        run.attempts.append(_simulate_attempt(rng, run, 2, t0, rerun_actor, failing, inj))
    return run


def _assign_ids(rng: random.Random, runs: list[_Run], shift: int = 0) -> None:
    """GitHub ids grow with time across the whole site: hand them out in creation order."""
    run_id, suite_id, job_id = (
        base + shift for base in (17_342_000_000, 45_120_000_000, 48_610_000_000)
    )
    for run in sorted(runs, key=lambda r: r.created):
        run_id += rng.randint(2_000, 60_000)
        suite_id += rng.randint(4_000, 120_000)
        run.id, run.check_suite_id = run_id, suite_id
    jobs = [job for run in runs for attempt in run.attempts for job in attempt.jobs]
    for job in sorted(jobs, key=lambda j: j.plan.created):
        job_id += rng.randint(5_000, 150_000)
        job.id = job_id


# --------------------------------------------------------------------------- payload templates


def _ts(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _step_ts(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


def _node_id(kind: str, id_: int) -> str:
    """GitHub's legacy global node id, e.g. ``MDQ6VXNlcjIxMDMxMDY3`` for ``04:User21031067``."""
    return base64.b64encode(f"0{len(kind)}:{kind}{id_}".encode()).decode()


def _copy(obj: Any) -> Any:
    """Fresh dicts and lists around shared (immutable) strings: cheap, and safe to mutate."""
    if isinstance(obj, dict):
        return {k: _copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_copy(v) for v in obj]
    return obj


def _user(user: User, kind: str = "User") -> dict[str, Any]:
    api = f"{API}/users/{user.login}"
    return {
        "login": user.login,
        "id": user.id,
        "node_id": _node_id(kind, user.id),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{user.id}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{WEB}/{user.login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": kind,
        "site_admin": False,
    }


def _organization() -> dict[str, Any]:
    api = f"{API}/orgs/{ORG.login}"
    return {
        "login": ORG.login,
        "id": ORG.id,
        "node_id": _node_id("Organization", ORG.id),
        "url": api,
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events",
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues",
        "members_url": f"{api}/members{{/member}}",
        "public_members_url": f"{api}/public_members{{/member}}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{ORG.id}?v=4",
        "description": "Autonomous DevOps platform",
    }


REPO_API_URLS = (
    ("forks_url", "/forks"),
    ("keys_url", "/keys{/key_id}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("teams_url", "/teams"),
    ("hooks_url", "/hooks"),
    ("issue_events_url", "/issues/events{/number}"),
    ("events_url", "/events"),
    ("assignees_url", "/assignees{/user}"),
    ("branches_url", "/branches{/branch}"),
    ("tags_url", "/tags"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("trees_url", "/git/trees{/sha}"),
    ("statuses_url", "/statuses/{sha}"),
    ("languages_url", "/languages"),
    ("stargazers_url", "/stargazers"),
    ("contributors_url", "/contributors"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("commits_url", "/commits{/sha}"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("comments_url", "/comments{/number}"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("contents_url", "/contents/{+path}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("merges_url", "/merges"),
    ("archive_url", "/{archive_format}{/ref}"),
    ("downloads_url", "/downloads"),
    ("issues_url", "/issues{/number}"),
    ("pulls_url", "/pulls{/number}"),
    ("milestones_url", "/milestones{/number}"),
    ("notifications_url", "/notifications{?since,all,participating}"),
    ("labels_url", "/labels{/name}"),
    ("releases_url", "/releases{/id}"),
    ("deployments_url", "/deployments"),
)


def _full_name(repo: RepoSpec) -> str:
    return f"{ORG.login}/{repo.name}"


def _repository_lite(repo: RepoSpec) -> dict[str, Any]:
    """The short repository object nested in ``workflow_run``."""
    full = _full_name(repo)
    api = f"{API}/repos/{full}"
    lite = {
        "id": repo.id,
        "node_id": _node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": full,
        "private": True,
        "owner": _user(ORG, "Organization"),
        "html_url": f"{WEB}/{full}",
        "description": repo.description,
        "fork": False,
        "url": api,
    }
    lite.update((key, api + suffix) for key, suffix in REPO_API_URLS)
    return lite


def _repository(repo: RepoSpec) -> dict[str, Any]:
    """The full top-level ``repository`` object; ``pushed_at`` is set per delivery."""
    full = _full_name(repo)
    return _repository_lite(repo) | {
        "created_at": repo.created_at,
        "updated_at": "2026-08-28T16:02:11Z",
        "pushed_at": None,
        "git_url": f"git://github.com/{full}.git",
        "ssh_url": f"git@github.com:{full}.git",
        "clone_url": f"{WEB}/{full}.git",
        "svn_url": f"{WEB}/{full}",
        "homepage": None,
        "size": repo.id % 9000 + 1200,
        "stargazers_count": 3,
        "watchers_count": 3,
        "language": repo.language,
        "has_issues": True,
        "has_projects": False,
        "has_downloads": True,
        "has_wiki": False,
        "has_pages": False,
        "has_discussions": False,
        "forks_count": 0,
        "mirror_url": None,
        "archived": False,
        "disabled": False,
        "open_issues_count": repo.id % 17 + 4,
        "license": None,
        "allow_forking": False,
        "is_template": False,
        "web_commit_signoff_required": False,
        "topics": list(repo.topics),
        "visibility": "private",
        "forks": 0,
        "open_issues": repo.id % 17 + 4,
        "watchers": 3,
        "default_branch": "main",
        "custom_properties": {},
    }


def _workflow(repo: RepoSpec, wf: WorkflowSpec) -> dict[str, Any]:
    full = _full_name(repo)
    return {
        "badge_url": f"{WEB}/{full}/workflows/{wf.name}/badge.svg",
        "created_at": "2024-02-06T10:21:37.000Z",
        "html_url": f"{WEB}/{full}/blob/main/.github/workflows/{wf.file}",
        "id": wf.id,
        "name": wf.name,
        "node_id": _node_id("Workflow", wf.id),
        "path": f".github/workflows/{wf.file}",
        "state": "active",
        "updated_at": "2026-07-30T08:14:52.000Z",
        "url": f"{API}/repos/{full}/actions/workflows/{wf.id}",
    }


@dataclass
class _Templates:
    """Per-repository objects built once; every delivery gets a fresh copy."""

    organization: dict[str, Any]
    users: dict[str, dict[str, Any]]
    repositories: dict[str, dict[str, Any]]
    lites: dict[str, dict[str, Any]]
    workflows: dict[tuple[str, str], dict[str, Any]]

    @classmethod
    def build(cls) -> _Templates:
        return cls(
            organization=_organization(),
            users={u.login: _user(u) for u in USERS},
            repositories={r.name: _repository(r) for r in REPOS},
            lites={r.name: _repository_lite(r) for r in REPOS},
            workflows={(r.name, w.name): _workflow(r, w) for r in REPOS for w in r.workflows},
        )

    def envelope(self, action: str, run: _Run, sender: User) -> dict[str, Any]:
        repository = _copy(self.repositories[run.repo.name])
        repository["pushed_at"] = _ts(run.commit_at)
        return {
            "action": action,
            "repository": repository,
            "organization": _copy(self.organization),
            "sender": _copy(self.users[sender.login]),
        }


def _run_payload(tpl: _Templates, action: str, run: _Run, attempt: _Attempt) -> dict[str, Any]:
    full = _full_name(run.repo)
    api = f"{API}/repos/{full}/actions/runs/{run.id}"
    status, conclusion, updated = {
        "requested": ("queued", None, attempt.started),
        "in_progress": ("in_progress", None, attempt.in_progress_at),
        "completed": ("completed", attempt.conclusion, attempt.completed),
    }[action]
    committer = {"name": "GitHub", "email": "noreply@github.com"}
    email = f"{run.author.id}+{run.author.login}@users.noreply.github.com"
    author = {"name": run.author.name, "email": email}
    previous_attempt_url = f"{api}/attempts/{attempt.number - 1}" if attempt.number > 1 else None
    pull_requests = []
    if run.pull_request is not None:
        number, head_ref, base_sha = run.pull_request
        repo_ref = {"id": run.repo.id, "url": f"{API}/repos/{full}", "name": run.repo.name}
        pull_requests.append(
            {
                "url": f"{API}/repos/{full}/pulls/{number}",
                "id": 2_000_000_000 + run.repo.id % 1000 * 10_000 + number,
                "number": number,
                "head": {"ref": head_ref, "sha": run.sha, "repo": dict(repo_ref)},
                "base": {"ref": "main", "sha": base_sha, "repo": repo_ref},
            }
        )
    workflow_run = {
        "id": run.id,
        "name": run.workflow.name,
        "node_id": _node_id("WorkflowRun", run.id),
        "head_branch": run.branch,
        "head_sha": run.sha,
        "path": f".github/workflows/{run.workflow.file}",
        "display_title": run.title,
        "run_number": run.run_number,
        "event": run.event,
        "status": status,
        "conclusion": conclusion,
        "workflow_id": run.workflow.id,
        "check_suite_id": run.check_suite_id,
        "check_suite_node_id": _node_id("CheckSuite", run.check_suite_id),
        "url": api,
        "html_url": f"{WEB}/{full}/actions/runs/{run.id}",
        "pull_requests": pull_requests,
        "created_at": _ts(run.created),
        "updated_at": _ts(updated),
        "actor": _copy(tpl.users[run.author.login]),
        "run_attempt": attempt.number,
        "run_started_at": _ts(attempt.started),
        "triggering_actor": _copy(tpl.users[attempt.actor.login]),
        "jobs_url": f"{api}/jobs",
        "logs_url": f"{api}/logs",
        "check_suite_url": f"{API}/repos/{full}/check-suites/{run.check_suite_id}",
        "artifacts_url": f"{api}/artifacts",
        "cancel_url": f"{api}/cancel",
        "rerun_url": f"{api}/rerun",
        "previous_attempt_url": previous_attempt_url,
        "workflow_url": f"{API}/repos/{full}/actions/workflows/{run.workflow.id}",
        "head_commit": {
            "id": run.sha,
            "tree_id": run.tree_id,
            "message": run.message,
            "timestamp": _ts(run.commit_at),
            "author": author,
            "committer": committer if run.branch == "main" else dict(author),
        },
        "repository": _copy(tpl.lites[run.repo.name]),
        "head_repository": _copy(tpl.lites[run.repo.name]),
    }
    payload = tpl.envelope(action, run, attempt.actor)
    payload["workflow"] = _copy(tpl.workflows[(run.repo.name, run.workflow.name)])
    payload["workflow_run"] = workflow_run
    return payload


def _step_payload(step: _Step, status: str) -> dict[str, Any]:
    done = status == "completed"
    return {
        "name": step.name,
        "status": status,
        "conclusion": step.conclusion if done else None,
        "number": step.number,
        "started_at": None if status == "queued" else _step_ts(step.started),
        "completed_at": _step_ts(step.completed) if done else None,
    }


def _job_payload(
    tpl: _Templates, action: str, run: _Run, attempt: _Attempt, job: _Job
) -> dict[str, Any]:
    full = _full_name(run.repo)
    plan = job.plan
    runner = plan.runner
    if action == "queued":  # GitHub sends started_at = created_at and no runner yet
        started, completed, conclusion, steps, runner = plan.created, None, None, [], NO_RUNNER
    elif action == "in_progress":
        started, completed, conclusion = plan.started, None, None
        first, *rest = job.steps
        steps = [_step_payload(first, "in_progress")] + [_step_payload(s, "queued") for s in rest]
    else:
        started, completed, conclusion = plan.started, job.completed, job.conclusion
        steps = [_step_payload(s, "completed") for s in job.steps]
    workflow_job = {
        "id": job.id,
        "run_id": run.id,
        "workflow_name": run.workflow.name,
        "head_branch": run.branch,
        "run_url": f"{API}/repos/{full}/actions/runs/{run.id}",
        "run_attempt": attempt.number,
        "node_id": _node_id("CheckRun", job.id),
        "head_sha": run.sha,
        "url": f"{API}/repos/{full}/actions/jobs/{job.id}",
        "html_url": f"{WEB}/{full}/actions/runs/{run.id}/job/{job.id}",
        "status": action,
        "conclusion": conclusion,
        "created_at": _ts(plan.created),
        "started_at": _ts(started),
        "completed_at": None if completed is None else _ts(completed),
        "name": plan.spec.name,
        "steps": steps,
        "check_run_url": f"{API}/repos/{full}/check-runs/{job.id}",
        "labels": list(plan.spec.labels),
        "runner_id": runner[0],
        "runner_name": runner[1],
        "runner_group_id": runner[2],
        "runner_group_name": runner[3],
    }
    payload = tpl.envelope(action, run, attempt.actor)
    payload["workflow_job"] = workflow_job
    return payload


# --------------------------------------------------------------------------- history


def _injection(seed: int, runs: int) -> tuple[_Injection, list[InjectedAnomaly]]:
    rng = random.Random(f"{seed}:inject")
    slow_from = runs * 2 // 3 + 1
    window_len = min(FAILURE_WINDOW_RUNS, runs)
    first = (runs - window_len) // 2 + 1
    window = range(first, first + window_len)
    failing = frozenset(rng.sample(list(window), round(BURST_FAILURE_SHARE * window_len)))
    injected = [
        InjectedAnomaly(
            kind="duration_regression",
            repository=f"{ORG.login}/{SLOW_TARGET[0]}",
            workflow=SLOW_TARGET[1],
            job=SLOW_TARGET[2],
            first_run_number=slow_from,
            description=(
                f"From run #{slow_from} on, step '{SLOW_TARGET[3]}' takes an extra "
                f"{SLOWDOWN:.0%} of the job's normal duration (job +{SLOWDOWN:.0%}, sustained)."
            ),
        ),
        InjectedAnomaly(
            kind="failure_rate",
            repository=f"{ORG.login}/{FLAKY_TARGET[0]}",
            workflow=FLAKY_TARGET[1],
            job=FLAKY_TARGET[2],
            first_run_number=first,
            description=(
                f"Runs #{first}-#{window.stop - 1}: step '{FLAKY_TARGET[3]}' fails "
                f"{len(failing)} of {window_len} first attempts (re-runs fail "
                f"{BURST_RERUN_FAILURE_RATE:.0%}), then recovers."
            ),
        ),
    ]
    return _Injection(slow_from, window, failing), injected


def _simulate(seed: int, runs_per_workflow: int, start: int, inj: _Injection | None) -> list[_Run]:
    runs = []
    for repo in REPOS:
        for wf in repo.workflows:
            prefix = f"{seed}:{repo.name}:{wf.name}"
            schedule_rng = random.Random(f"{prefix}:schedule")
            times = _schedule(schedule_rng, start, runs_per_workflow, wf.runs_per_active_hour)
            failures = {
                job.name: _ordinary_failures(
                    random.Random(f"{prefix}:{job.name}:failures"),
                    runs_per_workflow,
                    job.failure_rate,
                )
                for job in wf.jobs
            }
            for run_number, created in enumerate(times, start=1):
                rng = random.Random(f"{prefix}:run:{run_number}")
                failing = frozenset(name for name, runs in failures.items() if run_number in runs)
                runs.append(_simulate_run(rng, repo, wf, run_number, created, failing, inj))
    return runs


def generate_history(
    seed: int = 7,
    runs_per_workflow: int = 60,
    start: datetime = DEFAULT_START,
    shuffle_window: int = 0,
    inject: bool = True,
) -> History:
    """Simulate the org's CI from ``start`` and return its webhook deliveries in send order."""
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    inj, injected = _injection(seed, runs_per_workflow) if inject else (None, [])
    runs = _simulate(seed, runs_per_workflow, int(start.timestamp()), inj)
    # GitHub's ids grow with time: a history that starts later takes a later stretch of them,
    # so histories with different starts (a stream after a kept history) share no job, run or
    # delivery id. The default start keeps the ids it always had.
    later = max(0, int((start - DEFAULT_START).total_seconds()))
    _assign_ids(random.Random(f"{seed}:ids"), runs, shift=later * ID_SHIFT_PER_SECOND)

    tpl = _Templates.build()
    pending: list[tuple[int, int, str, str, dict[str, Any]]] = []

    def emit(at: int, event: str, run: _Run, payload: dict[str, Any]) -> None:
        pending.append((at, len(pending), event, _full_name(run.repo), payload))

    for run in runs:
        for att in run.attempts:
            emit(att.started, "workflow_run", run, _run_payload(tpl, "requested", run, att))
            emit(
                att.in_progress_at, "workflow_run", run, _run_payload(tpl, "in_progress", run, att)
            )
            for job in att.jobs:
                late = job.plan.late_lag
                in_progress_at = job.completed + late if late else job.plan.started
                for action, at in (
                    ("queued", job.plan.created),
                    ("in_progress", in_progress_at),
                    ("completed", job.completed),
                ):
                    emit(at, "workflow_job", run, _job_payload(tpl, action, run, att, job))
            emit(att.completed, "workflow_run", run, _run_payload(tpl, "completed", run, att))
    pending.sort(key=lambda item: item[:2])

    delivery_rng = random.Random(f"{seed}:delivery" if not later else f"{seed}:{later}:delivery")
    messages = [
        Message(
            topic=TOPIC,
            attributes={
                "github_event": event,
                "github_delivery": str(uuid.UUID(int=delivery_rng.getrandbits(128), version=4)),
                "github_hook_id": HOOK_ID,
                "repository": repository,
            },
            data=payload,
        )
        for _, _, event, repository, payload in pending
    ]
    if shuffle_window > 1:
        # Each message moves by less than shuffle_window places: messages further apart keep order.
        shuffle_rng = random.Random(f"{seed}:shuffle")
        keys = [i + shuffle_rng.random() * shuffle_window for i in range(len(messages))]
        messages = [m for _, m in sorted(zip(keys, messages, strict=True), key=lambda km: km[0])]
    return History(messages=messages, injected=injected)


# --------------------------------------------------------------------------- logs and metrics
#
# Opt-in: what the reusable workflow (.github/workflows/reusable-ci.yml) and a log sink would
# send for the generated jobs, derived from the history's completed workflow_job payloads so
# the GitHub messages above never change. Each job gets one way to be linked, drawn from its
# own random stream: the workflow's labels, only the generic_task execution id, only the
# runner's name (linkable by runner and time window), or nothing at all.

LOGS_TOPIC = "pipeline-logs"
METRICS_TOPIC = "pipeline-metrics"
SIDE_PROJECT = "apoa-local"
METRIC_PREFIX = "custom.googleapis.com/apoa/runner/"
LINK_STYLES = (("labels", 0.70), ("execution_id", 0.10), ("runner", 0.17), ("none", 0.03))
MAX_LOG_ENTRIES = 20

FAILURE_LINES = (
    (
        "pytest",
        "{ts} FAILED tests/{module}/test_{name}.py::test_{name}_{case}[{n}] - AssertionError: "
        "expected {a}, got {b} (request {hex})",
    ),
    (
        "playwright",
        "{ts} Error: page.goto: Timeout {ms}ms exceeded. navigating to "
        '"https://staging.aetherveil.dev/{module}/{n}" (trace {uuid})',
    ),
    ("npm test", "FAIL src/{module}/{name}.test.tsx: expected {a} rows, received {b} ({ms} ms)"),
    ("npm run", "{ts} ERROR in ./src/{module}/{name}.ts {n}:{b} TS2345: type mismatch at {hex}"),
    (
        "docker",
        'ERROR: failed to solve: process "/bin/sh -c pip install -r requirements.txt" did not '
        "complete successfully: exit code: {b} (layer sha256:{hex})",
    ),
    (
        "deploy",
        "ERROR: (gcloud.run.deploy) Revision 'api-{hex}' is not ready and cannot serve traffic: "
        "container failed to start on port {port} after {ms}ms",
    ),
    (
        "smoke",
        "{ts} smoke test failed: GET /healthz answered {status} after {ms}ms (attempt {n})",
    ),
    ("dbt", "Database Error in model stg_{name} (models/staging/stg_{name}.sql): no column c{n}"),
    ("mypy", "src/{module}/{name}.py:{n}:{b}: error: Incompatible types in assignment"),
    ("ruff", "src/{module}/{name}.py:{n}:{b}: F401 `os` imported but unused"),
    ("pip", "ERROR: Could not find a version that satisfies the requirement lib{name}=={a}.{b}"),
)
GENERIC_FAILURE_LINE = "{ts} Error: Process completed with exit code {b}."
LOG_NOISE = (
    ("INFO", "{ts} collected {n} items / {b} deselected"),
    ("INFO", "Downloading https://files.example.org/{module}/{name}-{a}.{b}.tar.gz ({n} kB)"),
    ("WARNING", "{ts} warning: {name} is deprecated and will be removed in {a}.{b}"),
    ("INFO", "{ts} {module}/{name}: {n} passed in {a}.{b}s"),
)
NAMES = ("auth", "token", "cache", "router", "billing", "export", "audit", "session")
MODULES = ("api", "core", "web", "jobs", "storage")


@dataclass(frozen=True)
class SideJob:
    """What the side data needs of one completed job attempt."""

    job_id: int
    run_id: int
    run_attempt: int
    name: str
    repository: str
    workflow: str
    runner_name: str | None
    started: int
    completed: int
    conclusion: str
    failed_step: tuple[str, int, int] | None  # (name, started, completed)


def _epoch(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp())


def _rfc3339(t: float) -> str:
    whole = int(t)
    micros = round((t - whole) * 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micros:06d}Z"


def completed_jobs(history: History) -> list[SideJob]:
    """The completed job attempts of a history, in completion order."""
    jobs: dict[int, SideJob] = {}
    for message in history.messages:
        if message.attributes.get("github_event") != "workflow_job":
            continue
        job = message.data["workflow_job"]
        if job["status"] != "completed" or not job["started_at"] or not job["completed_at"]:
            continue
        failed = next(
            (step for step in job["steps"] if step["conclusion"] in ("failure", "timed_out")), None
        )
        jobs[job["id"]] = SideJob(
            job_id=job["id"],
            run_id=job["run_id"],
            run_attempt=job["run_attempt"],
            name=job["name"],
            repository=message.data["repository"]["full_name"],
            workflow=job["workflow_name"],
            runner_name=job["runner_name"],
            started=_epoch(job["started_at"]),
            completed=_epoch(job["completed_at"]),
            conclusion=job["conclusion"],
            failed_step=None
            if failed is None
            else (failed["name"], _epoch(failed["started_at"]), _epoch(failed["completed_at"])),
        )
    return sorted(jobs.values(), key=lambda j: (j.completed, j.job_id))


def link_style(seed: int, job_id: int) -> str:
    """How a job's logs and metrics can be linked: labels, execution_id, runner or none."""
    roll, acc = random.Random(f"{seed}:side:{job_id}:style").random(), 0.0
    for style, share in LINK_STYLES:
        acc += share
        if roll < acc:
            return style
    return LINK_STYLES[-1][0]


def _side_identity(job: SideJob, style: str) -> tuple[dict[str, str], dict[str, Any]]:
    """(labels, resource) the way the reusable workflow sets them, thinned by link style."""
    task_id = f"{job.run_id}/{job.run_attempt}/{job.name}"
    labels = {
        "github_run_id": str(job.run_id),
        "github_run_attempt": str(job.run_attempt),
        "github_job": job.name,
        "github_repository": job.repository,
        "github_workflow": job.workflow,
        "runner_name": job.runner_name or "",
    }
    task = {
        "type": "generic_task",
        "labels": {
            "project_id": SIDE_PROJECT,
            "location": "global",
            "namespace": job.repository,
            "job": job.workflow,
            "task_id": task_id,
        },
    }
    node = {"type": "generic_node", "labels": {"project_id": SIDE_PROJECT, "location": "global"}}
    if style == "labels":
        return labels, task
    if style == "execution_id":
        return {}, task
    if style == "runner" and job.runner_name:
        node["labels"]["node_id"] = job.runner_name
        return {"runner_name": job.runner_name}, node
    return {}, node


def _fill(template: str, rng: random.Random, at: float) -> str:
    return template.format(
        ts=_rfc3339(at),
        module=rng.choice(MODULES),
        name=rng.choice(NAMES),
        case=rng.choice(("refresh", "expiry", "retry", "limit")),
        n=rng.randint(1, 400),
        a=rng.randint(1, 40),
        b=rng.randint(41, 99),
        ms=rng.randint(1000, 60000),
        port=rng.choice((8080, 8000, 3000)),
        status=rng.choice((500, 502, 503)),
        hex=f"{rng.getrandbits(48):012x}",
        uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    )


def _log_messages(job: SideJob, style: str, seed: int) -> list[Message]:
    assert job.failed_step is not None
    rng = random.Random(f"{seed}:side:{job.job_id}:logs")
    step_name, step_start, step_end = job.failed_step
    labels, resource = _side_identity(job, style)
    template = next(
        (line for key, line in FAILURE_LINES if key in step_name.lower()), GENERIC_FAILURE_LINE
    )
    count = rng.randint(4, MAX_LOG_ENTRIES - 1)
    error_at = rng.randint(1, count - 1)
    span = max(step_end - step_start, 1)
    entries = []
    for number in range(1, count + 1):
        at = step_start + span * number / (count + 2)
        if number == error_at:
            severity, text = "ERROR", _fill(template, rng, at)
        else:
            severity, line = rng.choice(LOG_NOISE)
            text = _fill(line, rng, at)
        entries.append((at, severity, {"message": text, "line_number": number}))
    exit_code = rng.choice((1, 1, 1, 2, 137))
    entries.append(
        (
            step_start + span * (count + 1) / (count + 2),
            "ERROR",
            {"message": f"step run failed with exit code {exit_code}", "exit_code": exit_code},
        )
    )
    key = f"{job.run_id}-{job.run_attempt}-{job.name}".replace(" ", "_")
    messages = []
    for number, (at, severity, payload) in enumerate(entries, start=1):
        timestamp = _rfc3339(at)
        entry = {
            "logName": f"projects/{SIDE_PROJECT}/logs/apoa-ci",
            "resource": resource,
            "labels": dict(labels, github_step="run") if labels.get("github_run_id") else labels,
            "severity": severity,
            "timestamp": timestamp,
            "receiveTimestamp": _rfc3339(job.completed + 1),
            "insertId": f"apoa-{key}-{number}",
            "jsonPayload": payload,
        }
        attributes = {"logging.googleapis.com/timestamp": timestamp}
        messages.append(Message(topic=LOGS_TOPIC, attributes=attributes, data=entry))
    return messages


def _metric_messages(job: SideJob, style: str, seed: int) -> list[Message]:
    rng = random.Random(f"{seed}:side:{job.job_id}:metrics")
    labels, resource = _side_identity(job, style)
    duration = job.completed - job.started
    minutes = max(1, duration // 60)
    first = job.started + min(30, duration / 2)
    times = [first + 60 * i for i in range(minutes) if first + 60 * i <= job.completed]
    base_cpu, base_memory = rng.uniform(0.2, 0.7), rng.randint(900, 4000) * 2**20
    samples = [
        (
            t,
            round(min(0.99, max(0.01, base_cpu + rng.uniform(-0.15, 0.25))), 4),
            base_memory + rng.randint(0, 600) * 2**20,
        )
        for t in times
    ]
    newest_first = list(reversed(samples))
    series = (
        ("cpu_utilization", "DOUBLE", "1", lambda s: {"doubleValue": s[1]}),
        ("memory_used_bytes", "INT64", "By", lambda s: {"int64Value": str(s[2])}),
    )
    messages = []
    for name, value_type, unit, value in series:
        data = {
            "metric": {"type": METRIC_PREFIX + name, "labels": labels},
            "resource": resource,
            "metricKind": "GAUGE",
            "valueType": value_type,
            "unit": unit,
            "points": [
                {"interval": {"endTime": _rfc3339(s[0])}, "value": value(s)} for s in newest_first
            ],
        }
        attributes = {
            "source": "github-actions-runner",
            "metric_type": METRIC_PREFIX + name,
            **{k: v for k, v in labels.items() if k.startswith("github_")},
        }
        messages.append(Message(topic=METRICS_TOPIC, attributes=attributes, data=data))
    return messages


def generate_side_data(history: History, seed: int = 7) -> list[Message]:
    """Cloud Logging entries (failed jobs only, at most 20 each) and Monitoring TimeSeries (CPU
    and memory, one point per job-minute each) for the history's completed jobs, in the order
    they would be sent: when each job ends."""
    return [message for job in completed_jobs(history) for message in _side_messages(job, seed)]


def _side_messages(job: SideJob, seed: int) -> list[Message]:
    """One job's metrics, and its logs if it failed in a step."""
    style = link_style(seed, job.job_id)
    messages = _metric_messages(job, style, seed)
    if job.conclusion in ("failure", "timed_out") and job.failed_step is not None:
        messages.extend(_log_messages(job, style, seed))
    return messages


def with_side_data(history: History, seed: int = 7) -> list[Message]:
    """The history's deliveries with each job's logs and metrics right after the delivery of
    its completion (the first, if it was delivered twice): a stream as it arrives, the way
    the runner's reporting step sends them when the job ends."""
    side = {job.job_id: _side_messages(job, seed) for job in completed_jobs(history)}
    stream: list[Message] = []
    for message in history.messages:
        stream.append(message)
        job = message.data.get("workflow_job")
        if job and job["status"] == "completed":
            stream.extend(side.pop(job["id"], ()))
    return stream


def write_jsonl(history: History, path: Path) -> int:
    """Write one ``Message.to_json_line()`` per line; return how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for message in history.messages:
            out.write(message.to_json_line() + "\n")
    return len(history.messages)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m apoa.generator",
        description="Write a deterministic, realistic GitHub Actions webhook history as JSONL.",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=60, help="runs per workflow (default 60)")
    parser.add_argument(
        "--start",
        type=datetime.fromisoformat,
        default=DEFAULT_START,
        help="first day, ISO 8601, UTC (default 2026-09-01)",
    )
    parser.add_argument("--shuffle-window", type=int, default=0, help="shuffle within N messages")
    parser.add_argument("--no-inject", action="store_true", help="no injected anomalies")
    parser.add_argument("-o", "--output", type=Path, default=Path("history.jsonl"))
    args = parser.parse_args(argv)

    history = generate_history(
        seed=args.seed,
        runs_per_workflow=args.runs,
        start=args.start,
        shuffle_window=args.shuffle_window,
        inject=not args.no_inject,
    )
    count = write_jsonl(history, args.output)
    print(f"wrote {count} messages to {args.output}")
    for a in history.injected:
        where = f"{a.repository} / {a.workflow} / {a.job}"
        print(f"injected {a.kind}: {where} from run #{a.first_run_number}")
        print(f"  {a.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
