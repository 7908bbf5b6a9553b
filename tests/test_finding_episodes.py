"""Episodes, not alert storms: a replayed history, built and published in phases.

A labeled history (apoa.labeled, one job or runner pool per scenario: regressions, queue
spikes, failure-rate rises, flaky jobs, a broken default branch; or, where that module is
absent, apoa.generator's history with its injected anomalies) is replayed through the real
ingest handler into a warehouse owned by this process. It is cut right after each labeled
episode has had time to be detected, and after every cut dbt builds and the publisher
publishes. Whatever kinds fct_findings produces, the published events must show:

- exactly one finding (one finding_id) per labeled episode that was found, opened once;
- a summary sentence and a probable cause on each;
- a `resolved` event, with the same finding_id, after the entity recovered;
- updates only as new revisions of the same finding, every message valid against the schema,
  and nothing published again by a rerun without new data.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from dataclasses import dataclass

import pytest
from werkzeug.serving import make_server

from apoa import replay
from apoa.generator import Message
from publisher.publish import PublishConfig
from publisher.validation import schema_errors

MAX_PHASES = 5
# How many runs after an episode's first affected run the replay is cut: past the point where
# every kind (3 slow runs for a regression, a few failures) makes an episode.
RUNS_AFTER_START = 6
# Kinds whose findings name a step, a signature or a resource: the data allows a cause.
CAUSE_KINDS = {"duration_regression", "failure_rate", "default_branch_broken", "flaky_job",
               "new_failure_signature"}  # fmt: skip


@dataclass(frozen=True)
class Expected:
    kind: str
    entity: str  # "repo / workflow / job", or "runner <labels>"
    is_default_branch: bool | None
    cut: int  # index into the messages after which the episode should be open


def _labeled_history():
    labeled = pytest.importorskip("apoa.labeled")
    history = labeled.generate_labeled_history(seed=303, size="small", runs=120)
    completed_at: dict[int, int] = {}
    for index, message in enumerate(history.messages):
        job = message.data.get("workflow_job")
        if job and message.data.get("action") == "completed":
            completed_at[job["id"]] = index
    by_position = {value: job_id for job_id, value in history.job_positions.items()}
    by_pool = {value: job_id for job_id, value in history.pool_positions.items()}
    expected = []
    for episode in history.episodes:
        position = episode.start_position + RUNS_AFTER_START
        if episode.is_default_branch is None:
            job_id = by_pool.get((episode.entity, position))
        else:
            job_id = by_position.get((episode.entity, episode.is_default_branch, position))
        if job_id is None or job_id not in completed_at:
            continue
        expected.append(Expected(episode.kind, episode.entity, episode.is_default_branch,
                                 completed_at[job_id]))  # fmt: skip
    return history.messages, expected


def _generated_history():
    from apoa.generator import generate_history

    history = generate_history(seed=11, runs_per_workflow=45)
    expected = []
    for anomaly in history.injected:
        cut = None
        for index, message in enumerate(history.messages):
            run = message.data.get("workflow_run")
            if (
                run
                and message.data.get("action") == "completed"
                and message.attributes.get("repository") == anomaly.repository
                and run.get("name") == anomaly.workflow
                and run.get("run_number") == anomaly.first_run_number + RUNS_AFTER_START
            ):
                cut = index
        if cut is not None:
            entity = f"{anomaly.repository} / {anomaly.workflow} / {anomaly.job}"
            expected.append(Expected(anomaly.kind, entity, None, cut))
    return history.messages, expected


def _phases(messages: list[Message], expected: list[Expected]) -> list[int]:
    cuts = sorted({item.cut + 1 for item in expected})
    if len(cuts) > MAX_PHASES - 1:
        step = len(cuts) / (MAX_PHASES - 1)
        cuts = sorted({cuts[int(i * step)] for i in range(MAX_PHASES - 1)})
    return [*cuts, len(messages)]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    from apoa.dbt_build import parse_manifest, run_dbt
    from apoa.emulator import free_port
    from apoa.server import create_server_app
    from apoa.settings import Settings
    from apoa.warehouse import LocalWarehouse
    from ingest.handler import set_sink

    try:
        messages, expected = _labeled_history()
        source = "apoa.labeled"
    except pytest.skip.Exception:
        messages, expected = _generated_history()
        source = "apoa.generator"
    assert expected, "the history has no episode to look for"
    log_level = pytest.MonkeyPatch()  # undone below: later modules of this worker log at INFO
    log_level.setenv("APOA_LOG_LEVEL", "WARNING")
    home = tmp_path_factory.mktemp("episodes") / "home"
    warehouse = LocalWarehouse(Settings(home=home))
    served = create_server_app(warehouse)
    app = served
    while not hasattr(app, "test_client"):  # the Flask app inside the WSGI middlewares
        app = app.app
    server = None
    post = replay.test_client_poster(app)
    parsed, dead = replay.parse_lines(message.to_json_line() for message in messages)
    assert not dead
    published: list[tuple[int, object]] = []  # (phase, event)
    config = PublishConfig(min_severity="info", cooldown_seconds=0)
    start = 0
    manifest = parse_manifest(warehouse.settings)  # parsed once for all phases
    try:
        for phase, cut in enumerate(_phases(messages, expected)):
            replay.deliver_http(parsed[start:cut], post, show_progress=False)
            start = cut
            warehouse.flush()  # every acknowledged row loaded from the journal
            # The models only (their tests run in test_dbt_models.py): fct_findings and upstream.
            build = run_dbt(warehouse.settings, "run", ["--select", "+fct_findings"], manifest)
            assert build.success, build.failures
            for event in _publish(warehouse, config):
                published.append((phase, event))
        rerun = _publish(warehouse, config)
        findings = warehouse.findings("all")
        # Serve it, as `apoa serve` does, for commands sent to a running owner.
        server = make_server("127.0.0.1", free_port(), served, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        warehouse.record_owner_url(f"http://127.0.0.1:{server.server_port}")
        yield {"source": source, "expected": expected, "published": published,
               "rerun": rerun, "findings": findings, "home": home}  # fmt: skip
    finally:
        if server is not None:
            server.shutdown()
        set_sink(None)
        warehouse.close()
        log_level.undo()


def _publish(warehouse, config: PublishConfig) -> list:
    from publisher.publish import publish_new_findings

    sent = []

    def publish(event) -> str:
        # What goes on the wire, exactly: the message data and its attributes.
        body = json.loads(event.data)
        assert event.attributes["event_id"] == body["event_id"]
        sent.append(body)
        return f"message-{len(sent)}"

    publish_new_findings(warehouse.con.cursor(), publish, config)
    return sent


def _matches(body: dict, item: Expected) -> bool:
    entity = body["entity"]
    if body["kind"] != item.kind:
        return False
    if item.entity.startswith("runner "):
        labels = item.entity.removeprefix("runner ")
        return labels in (entity.get("runner_label"), entity["display"].split(" ")[-1])
    branch_class = entity.get("is_default_branch")
    if (
        None not in (item.is_default_branch, branch_class)
        and branch_class != item.is_default_branch
    ):
        return False
    return entity["display"] == item.entity


def test_every_published_message_validates_against_the_schema(replayed):
    assert replayed["published"]
    for _, body in replayed["published"]:
        assert schema_errors(body) == [], body["finding_id"]


def test_one_finding_per_episode_each_opened_once(replayed):
    bodies = [body for _, body in replayed["published"]]
    found = 0
    for item in replayed["expected"]:
        # One series per branch class: generator histories do not say which class they hit.
        by_class = defaultdict(set)
        for body in bodies:
            if _matches(body, item):
                by_class[body["entity"].get("is_default_branch")].add(body["finding_id"])
        if not by_class:
            continue  # detection quality is measured by the benchmark, not here
        found += 1
        for finding_ids in by_class.values():
            assert len(finding_ids) == 1, (item, finding_ids)
    assert found >= 2, f"too few labeled episodes were found at all ({found})"
    by_finding = defaultdict(list)
    for phase, body in replayed["published"]:
        by_finding[body["finding_id"]].append((phase, body))
    for finding_id, events in by_finding.items():
        opens = [body["revision"] for _, body in events if body["status"] == "open"]
        # Revision 1 once, then only new revisions: never the same state twice.
        assert opens == sorted(set(opens)), (finding_id, opens)
        if opens:
            assert opens[0] == 1
        resolved = [body for _, body in events if body["status"] == "resolved"]
        assert len(resolved) <= 1, finding_id
        if resolved:
            assert events[-1][1]["status"] == "resolved", "nothing follows a resolution"
        assert len({body["event_id"] for _, body in events}) == len(events)


def test_each_finding_has_a_summary_and_a_probable_cause(replayed):
    for _, body in replayed["published"]:
        assert body["summary"].strip(), body["finding_id"]
        if body["kind"] in CAUSE_KINDS:
            cause = body["probable_cause"]
            assert cause and cause["text"], body
            named = cause.get("step") or cause.get("signature") or cause.get("metric")
            assert (named or cause["text"]) in body["summary"]


def test_a_resolved_event_follows_recovery(replayed):
    events = defaultdict(list)
    for phase, body in replayed["published"]:
        events[body["finding_id"]].append((phase, body))
    final = {row["finding_id"]: row["status"] for row in replayed["findings"]}
    reopened_and_resolved = 0
    for finding_id, history in events.items():
        statuses = [body["status"] for _, body in history]
        if final.get(finding_id) == "resolved":
            assert statuses[-1] == "resolved", (finding_id, statuses)
        if "open" in statuses and "resolved" in statuses:
            first_open = min(phase for phase, body in history if body["status"] == "open")
            resolved_phase = next(phase for phase, body in history if body["status"] == "resolved")
            assert resolved_phase > first_open
            reopened_and_resolved += 1
    assert reopened_and_resolved >= 1, "no episode was seen open and then resolved"


def test_a_rerun_without_new_data_publishes_nothing(replayed):
    assert replayed["rerun"] == []


def test_explain_through_a_running_apoa_serve(replayed, monkeypatch, capsys):
    from apoa.cli import main

    monkeypatch.setenv("APOA_HOME", str(replayed["home"]))
    finding = replayed["findings"][0]
    events = [
        body for _, body in replayed["published"] if body["finding_id"] == finding["finding_id"]
    ]
    assert main(["explain", finding["finding_id"][:12]]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"finding {finding['finding_id']}")
    assert finding["summary"] in text
    published = text.split("published (ledger)\n", 1)[1]
    assert len([line for line in published.splitlines() if "revision" in line]) == len(events)
    assert main(["explain", "no-such-finding"]) == 1
    assert "no finding 'no-such-finding'" in capsys.readouterr().err


def test_report_kinds(replayed):
    """Not an assertion on detection: which kinds this build produced, for the record."""
    kinds = sorted({row["kind"] for row in replayed["findings"]})
    print(f"history from {replayed['source']}; fct_findings kinds: {kinds}")
    assert kinds
