"""Tests for apoa.generator: determinism, message envelope, payload shape, and the anomalies."""

from __future__ import annotations

import json
import random
import re
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from apoa.generator import (
    DEFAULT_START,
    FAILURE_WINDOW_RUNS,
    HOOK_ID,
    TOPIC,
    History,
    generate_history,
    generate_side_data,
    main,
    with_side_data,
    write_jsonl,
)

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
BUNDLED_SCHEMA = FIXTURES / "github-webhook-examples" / "schema-bundled" / "schema.json"
SCHEMA_DIR = FIXTURES / "github-webhook-schemas"  # per-event schemas with relative $refs
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

JobKey = tuple[str, str, str]  # repository, workflow, job


@pytest.fixture(scope="module")
def history() -> History:
    return generate_history()


def _at(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


def _runs(history: History) -> dict[int, tuple[str, str, int]]:
    """run_id -> (repository, workflow, run_number)."""
    return {
        m.data["workflow_run"]["id"]: (
            m.data["repository"]["full_name"],
            m.data["workflow_run"]["name"],
            m.data["workflow_run"]["run_number"],
        )
        for m in history.messages
        if m.attributes["github_event"] == "workflow_run"
    }


def _completed_jobs(history: History) -> dict[JobKey, list[tuple[int, str, float]]]:
    """(repository, workflow, job) -> [(run_number, conclusion, duration in seconds)]."""
    runs = _runs(history)
    jobs: dict[JobKey, list[tuple[int, str, float]]] = defaultdict(list)
    for m in history.messages:
        if m.attributes["github_event"] == "workflow_job" and m.data["action"] == "completed":
            job = m.data["workflow_job"]
            repository, workflow, run_number = runs[job["run_id"]]
            duration = (_at(job["completed_at"]) - _at(job["started_at"])).total_seconds()
            jobs[(repository, workflow, job["name"])].append(
                (run_number, job["conclusion"], duration)
            )
    return jobs


def _failure_share(attempts: list[tuple[int, str, float]]) -> float:
    return sum(conclusion == "failure" for _, conclusion, _ in attempts) / len(attempts)


def _median_duration(attempts: list[tuple[int, str, float]], keep: Callable[[int], bool]) -> float:
    return statistics.median(d for n, c, d in attempts if c == "success" and keep(n))


def _key(anomaly: Any) -> JobKey:
    return (anomaly.repository, anomaly.workflow, anomaly.job)


# --------------------------------------------------------------------------- determinism, size


def test_same_arguments_give_identical_output(tmp_path: Path) -> None:
    first = generate_history(seed=11, runs_per_workflow=15)
    second = generate_history(seed=11, runs_per_workflow=15)
    assert [m.to_json_line() for m in first.messages] == [m.to_json_line() for m in second.messages]
    assert first.injected == second.injected
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert write_jsonl(first, a) == write_jsonl(second, b) == len(first.messages)
    assert a.read_bytes() == b.read_bytes()


def test_different_seed_gives_different_output() -> None:
    first = generate_history(seed=11, runs_per_workflow=15)
    other = generate_history(seed=12, runs_per_workflow=15)
    assert [m.to_json_line() for m in first.messages] != [m.to_json_line() for m in other.messages]


def _ids(history: History) -> tuple[set, set, set]:
    jobs, runs, deliveries = set(), set(), set()
    for message in history.messages:
        deliveries.add(message.attributes["github_delivery"])
        if "workflow_job" in message.data:
            jobs.add(message.data["workflow_job"]["id"])
        if "workflow_run" in message.data:
            runs.add(message.data["workflow_run"]["id"])
    return jobs, runs, deliveries


def test_a_later_start_takes_ids_of_its_own_and_the_default_keeps_its_ids() -> None:
    """A stream generated after a kept history (the latency benchmarks) must not merge with
    it, nor with another stream of the same seed that starts elsewhere."""
    default = generate_history(seed=11, runs_per_workflow=15)
    explicit = generate_history(seed=11, runs_per_workflow=15, start=DEFAULT_START)
    assert _ids(explicit) == _ids(default)
    day_later = generate_history(
        seed=11, runs_per_workflow=15, start=DEFAULT_START + timedelta(days=1)
    )
    two_days = generate_history(
        seed=11, runs_per_workflow=15, start=DEFAULT_START + timedelta(days=2)
    )
    for one, other in [(default, day_later), (day_later, two_days), (default, two_days)]:
        for first_ids, other_ids in zip(_ids(one), _ids(other), strict=True):
            assert first_ids and other_ids and not first_ids & other_ids
    # ids still grow with time
    assert max(_ids(default)[0]) < min(_ids(day_later)[0])


def test_default_history_size_and_speed(history: History) -> None:
    assert 2_000 <= len(history.messages) <= 5_000
    started = time.perf_counter()
    generate_history()
    assert time.perf_counter() - started < 5


def test_to_json_line_is_the_pubsub_shape(history: History) -> None:
    message = history.messages[0]
    line = message.to_json_line()
    assert json.loads(line) == {
        "topic": TOPIC,
        "attributes": message.attributes,
        "data": message.data,
    }
    assert line == json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"))


# --------------------------------------------------------------------------- envelope


def test_every_message_carries_the_attributes(history: History) -> None:
    deliveries = [m.attributes["github_delivery"] for m in history.messages]
    assert len(set(deliveries)) == len(deliveries)
    for m in history.messages:
        assert m.topic == TOPIC
        assert set(m.attributes) == {
            "github_event",
            "github_delivery",
            "github_hook_id",
            "repository",
        }
        event = m.attributes["github_event"]
        assert event in ("workflow_run", "workflow_job")
        assert event in m.data
        assert GUID.match(m.attributes["github_delivery"])
        assert m.attributes["github_hook_id"] == HOOK_ID
        assert m.attributes["repository"] == m.data["repository"]["full_name"]


# --------------------------------------------------------------------------- payload shape


def _schema_validator() -> Callable[[str], Any]:
    """A validator factory by definition name (e.g. ``workflow_job$completed``), or skip."""
    jsonschema = pytest.importorskip("jsonschema")
    if BUNDLED_SCHEMA.exists():
        definitions = json.loads(BUNDLED_SCHEMA.read_text())["definitions"]
        return lambda name: jsonschema.Draft7Validator(
            {"$ref": f"#/definitions/{name}", "definitions": definitions}
        )
    if SCHEMA_DIR.exists():
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT7

        schemas = [json.loads(p.read_text()) for p in SCHEMA_DIR.rglob("*.schema.json")]
        registry = Registry().with_resources(
            (s["$id"], Resource.from_contents(s, default_specification=DRAFT7)) for s in schemas
        )
        return lambda name: jsonschema.Draft7Validator(registry.contents(name), registry=registry)
    pytest.skip("../shared/fixtures (octokit webhook schemas) is not available")


def test_payloads_validate_against_octokit_schema(history: History) -> None:
    validator = _schema_validator()
    # A few of every kind (event, action, conclusion, attempt), plus a random sample.
    groups: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    for m in history.messages:
        event = m.attributes["github_event"]
        obj = m.data[event]
        groups[(event, m.data["action"], obj["conclusion"], obj["run_attempt"])].append(m)
    sample = [m for members in groups.values() for m in members[:3]]
    sample += random.Random(0).sample(history.messages, 60)
    covered = {(event, action) for event, action, *_ in groups}
    assert covered == {
        ("workflow_run", "requested"),
        ("workflow_run", "in_progress"),
        ("workflow_run", "completed"),
        ("workflow_job", "queued"),
        ("workflow_job", "in_progress"),
        ("workflow_job", "completed"),
    }
    validators: dict[str, Any] = {}
    for m in sample:
        name = f"{m.attributes['github_event']}${m.data['action']}"
        v = validators.setdefault(name, validator(name))
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in v.iter_errors(m.data)]
        assert not errors, (name, errors[:3])


def test_each_job_attempt_has_one_queued_in_progress_completed(history: History) -> None:
    actions: dict[int, Counter[str]] = defaultdict(Counter)
    for m in history.messages:
        if m.attributes["github_event"] != "workflow_job":
            continue
        job, action = m.data["workflow_job"], m.data["action"]
        actions[job["id"]][action] += 1
        assert job["status"] == action
        assert TIMESTAMP.match(job["created_at"]) and TIMESTAMP.match(job["started_at"])
        run_url = f"https://github.com/{m.attributes['repository']}/actions/runs/{job['run_id']}"
        assert job["html_url"] == f"{run_url}/job/{job['id']}"
        if action == "queued":
            assert job["started_at"] == job["created_at"]
            assert job["conclusion"] is None and job["steps"] == [] and job["runner_id"] is None
        elif action == "in_progress":
            assert job["conclusion"] is None and job["completed_at"] is None
            assert job["steps"][0]["status"] == "in_progress"
            assert {s["status"] for s in job["steps"][1:]} == {"queued"}
        else:
            created, started = _at(job["created_at"]), _at(job["started_at"])
            completed = _at(job["completed_at"])
            assert completed >= started >= created
            steps = job["steps"]
            assert _at(steps[0]["started_at"]) == started
            assert _at(steps[-1]["completed_at"]) == completed  # steps add up to the job
            for before, after in zip(steps, steps[1:], strict=False):
                assert before["completed_at"] == after["started_at"]
                assert before["number"] < after["number"]
    assert all(c == Counter(queued=1, in_progress=1, completed=1) for c in actions.values())


def test_each_run_attempt_has_requested_in_progress_completed(history: History) -> None:
    actions: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
    job_ids: dict[tuple[int, int], set[int]] = defaultdict(set)
    numbers: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    for m in history.messages:
        if m.attributes["github_event"] == "workflow_run":
            run = m.data["workflow_run"]
            actions[(run["id"], run["run_attempt"])][m.data["action"]] += 1
            repo = m.attributes["repository"]
            assert run["html_url"] == f"https://github.com/{repo}/actions/runs/{run['id']}"
            numbers[(m.attributes["repository"], run["name"])][run["run_number"]] = run["id"]
        else:
            job = m.data["workflow_job"]
            job_ids[(job["run_id"], job["run_attempt"])].add(job["id"])
    assert all(c == Counter(requested=1, in_progress=1, completed=1) for c in actions.values())
    for runs in numbers.values():  # run ids grow with run_number within a workflow
        ids = [runs[n] for n in sorted(runs)]
        assert sorted(runs) == list(range(1, len(runs) + 1)) and ids == sorted(ids)
    reruns = [(run_id, attempt) for run_id, attempt in actions if attempt == 2]
    assert reruns, "expected some re-runs"
    for run_id, _ in reruns:  # every attempt gets new, later job ids
        assert min(job_ids[(run_id, 2)]) > max(job_ids[(run_id, 1)])


def test_some_job_deliveries_arrive_out_of_order(history: History) -> None:
    seen_completed: set[int] = set()
    late = 0
    for m in history.messages:
        if m.attributes["github_event"] == "workflow_job":
            job_id = m.data["workflow_job"]["id"]
            if m.data["action"] == "completed":
                seen_completed.add(job_id)
            elif m.data["action"] == "in_progress" and job_id in seen_completed:
                late += 1
    jobs = len(seen_completed)
    assert 0.01 * jobs < late < 0.1 * jobs


def test_typical_payload_sizes(history: History) -> None:
    for m in history.messages:
        size = len(json.dumps(m.data, separators=(",", ":")))
        if m.attributes["github_event"] == "workflow_run":
            assert 15_000 <= size <= 30_000
        elif m.data["action"] == "completed":
            assert 6_000 <= size <= 14_000


# --------------------------------------------------------------------------- anomalies


def test_injected_duration_regression_is_real(history: History) -> None:
    (regression,) = [a for a in history.injected if a.kind == "duration_regression"]
    attempts = _completed_jobs(history)[_key(regression)]
    first = regression.first_run_number
    before = _median_duration(attempts, lambda n: n < first)
    after = _median_duration(attempts, lambda n: n >= first)
    assert after / before > 2


def test_injected_failure_rate_is_real(history: History) -> None:
    (flaky,) = [a for a in history.injected if a.kind == "failure_rate"]
    attempts = _completed_jobs(history)[_key(flaky)]
    window = range(flaky.first_run_number, flaky.first_run_number + FAILURE_WINDOW_RUNS)
    assert _failure_share([a for a in attempts if a[0] in window]) > 0.4
    assert _failure_share([a for a in attempts if a[0] >= window.stop]) < 0.1  # recovered


def test_other_jobs_stay_within_normal_noise(history: History) -> None:
    assert {a.kind for a in history.injected} == {"duration_regression", "failure_rate"}
    injected = {_key(a) for a in history.injected}
    others = {k: v for k, v in _completed_jobs(history).items() if k not in injected}
    assert len({k[0] for k in others}) == 3 and len(others) >= 9
    for key, attempts in others.items():
        assert _failure_share(attempts) < 0.1, key
        failed = {n for n, c, _ in attempts if c == "failure"}
        worst_window = max(len(failed & set(range(n, n + 12))) for n in range(1, 61))
        assert worst_window <= 2, key  # ordinary failures are isolated, never a burst
        early = _median_duration(attempts, lambda n: n <= 40)
        late = _median_duration(attempts, lambda n: n > 40)
        assert 0.75 < late / early < 1.33, key


def test_without_injection_there_is_nothing_to_find() -> None:
    plain = generate_history(inject=False)
    assert plain.injected == []
    jobs = _completed_jobs(plain)
    for attempts in jobs.values():
        assert _failure_share(attempts) < 0.1
        early = _median_duration(attempts, lambda n: n <= 40)
        assert 0.75 < _median_duration(attempts, lambda n: n > 40) / early < 1.33


# --------------------------------------------------------------------------- shuffle, CLI


def test_shuffle_window_only_reorders_nearby_messages() -> None:
    window = 20
    ordered = [m.to_json_line() for m in generate_history(runs_per_workflow=10).messages]
    shuffled = [
        m.to_json_line()
        for m in generate_history(runs_per_workflow=10, shuffle_window=window).messages
    ]
    assert shuffled != ordered and sorted(shuffled) == sorted(ordered)
    position = {line: i for i, line in enumerate(ordered)}
    assert max(abs(position[line] - i) for i, line in enumerate(shuffled)) < window
    again = [
        m.to_json_line()
        for m in generate_history(runs_per_workflow=10, shuffle_window=window).messages
    ]
    assert again == shuffled


def test_cli_writes_jsonl_and_reports_anomalies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "history.jsonl"
    assert main(["--seed", "3", "--runs", "10", "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    printed = capsys.readouterr().out
    assert f"wrote {len(lines)} messages" in printed
    assert "duration_regression" in printed and "failure_rate" in printed
    assert {json.loads(line)["topic"] for line in lines} == {TOPIC}


def test_side_data_follows_the_completion_of_its_job() -> None:
    history = generate_history(runs_per_workflow=10)
    stream = with_side_data(history, seed=7)
    lines = [m.to_json_line() for m in stream]
    expected = history.messages + generate_side_data(history, seed=7)
    assert sorted(lines) == sorted(m.to_json_line() for m in expected)
    completed_at: dict[str, int] = {}  # run/attempt/job name -> index of the completion
    for index, message in enumerate(stream):
        job = message.data.get("workflow_job")
        if job and job["status"] == "completed":
            key = f"{job['run_id']}/{job['run_attempt']}/{job['name']}"
            completed_at.setdefault(key, index)
    checked = 0
    for index, message in enumerate(stream):
        labels = message.data.get("metric", {}).get("labels") or message.data.get("labels") or {}
        if "github_run_id" in labels:
            key = f"{labels['github_run_id']}/{labels['github_run_attempt']}/{labels['github_job']}"
            assert completed_at[key] < index
            checked += 1
    assert checked > 100
