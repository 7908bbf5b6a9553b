"""Finding events and the publishing policy: ids, attributes, the ledger that keeps a rerun from
publishing twice, revisions on material change only, cooldown, severity threshold, resolved."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import duckdb
import pytest

from publisher import publish as publish_module
from publisher.events import event_from_row, event_id_for
from publisher.publish import PublishConfig, publish_new_findings
from publisher.validation import schema_errors
from tests.finding_rows import finding_row, replace_findings, warehouse_with

NOW = datetime(2026, 10, 1, 12, 0)
NO_COOLDOWN = PublishConfig(cooldown_seconds=0)


class Recorder:
    def __init__(self) -> None:
        self.sent = []

    def __call__(self, event) -> str:
        self.sent.append(event)
        return f"msg-{len(self.sent)}"


def test_event_id_changes_with_status_and_revision_only():
    assert event_id_for("f", "open", 1) == event_id_for("f", "open", 1)
    assert len({event_id_for("f", "open", 1), event_id_for("f", "resolved", 1),
                event_id_for("f", "open", 2), event_id_for("g", "open", 1)}) == 4  # fmt: skip


def test_event_carries_attributes_entity_evidence_cause_and_action():
    event = event_from_row(finding_row())
    assert event.attributes == {
        "schema_version": "1",
        "event_id": event.event_id,
        "finding_id": "f1a2b3c4d5e6f708192a3b4c5d6e7f80",
        "kind": "duration_regression",
        "severity": "critical",
        "repository": "octo/app",
        "status": "open",
    }
    body = json.loads(event.data)
    assert schema_errors(body) == []
    assert body["detected_at"] == "2026-09-30T12:00:00Z"
    assert body["entity"]["workflow"] == "build"
    assert body["entity"]["job"] == "test (ubuntu, 3.12)"
    evidence = body["evidence"]
    assert evidence["observed_value"] == 845.0
    assert evidence["expected_range"] == {"lower": 300.0, "upper": 460.0}
    assert evidence["ratio"] == pytest.approx(845 / 370, abs=1e-3)
    assert evidence["first_bad_run"]["run_number"] == 4812
    assert evidence["commit_range"]["compare_url"] == (
        "https://github.com/octo/app/commit/abc1234def5678abc1234def5678abc1234def56"
    )
    assert body["probable_cause"] == {
        "type": "step_growth", "text": "step `Run pytest` grew most", "step": "Run pytest",
    }  # fmt: skip
    assert body["summary"].endswith("since run #4812 (commit abc1234); step `Run pytest` grew most")
    assert body["action"]["type"] == "investigate_regression"
    assert [target["rel"] for target in body["action"]["targets"]] == [
        "first_bad_run", "latest_bad_run", "compare",
    ]  # fmt: skip


def test_optional_mart_columns_fill_the_evidence():
    row = finding_row(
        kind="new_failure_signature",
        unit="failures_per_10_runs",
        failure_signature="AssertionError: expected <n> got <n> in tests/<path>.py",
        failure_signature_seen_before=True,
        failure_signature_first_seen_url="https://github.com/octo/app/actions/runs/1/job/2",
        last_good_head_sha="0123456789abcdef0123456789abcdef01234567",
        last_good_run_url="https://github.com/octo/app/actions/runs/17344000000/job/48630000000",
        resolution="fixed",
        status="resolved",
        episode_runs=7,
        baseline_runs=30,
        step_growth_seconds=460.0,
        resource_metric="memory_peak_bytes",
        resource_peak=7.5e9,
        resource_baseline=3.1e9,
        sample_run_urls='["https://github.com/octo/app/actions/runs/5/job/6"]',
    )
    body = event_from_row(row).body
    assert schema_errors(body) == []
    evidence = body["evidence"]
    assert evidence["baseline_window"] == {"runs": 30}
    assert evidence["commit_range"]["compare_url"].endswith(
        "/compare/0123456789abcdef0123456789abcdef01234567"
        "...abc1234def5678abc1234def5678abc1234def56"
    )
    assert evidence["failure_signature"]["seen_before"] is True
    assert evidence["resource_peak"]["peak"] == 7.5e9
    assert len(evidence["sample_runs"]) == 3
    assert evidence["episode_runs"] == 7
    assert evidence["last_good_run"]["head_sha"].startswith("0123456")
    assert body["resolution"] == "fixed"
    # A failure signature is the most specific cause there is.
    assert body["probable_cause"]["type"] == "failure_signature"
    assert (
        "seen before (https://github.com/octo/app/actions/runs/1/job/2)"
        in (body["probable_cause"]["text"])
    )
    assert body["action"]["type"] == "investigate_failures"
    rels = [target["rel"] for target in body["action"]["targets"]]
    assert {"first_seen", "last_good_run", "compare"} <= set(rels)


def test_rerun_publishes_nothing_twice_and_resolution_is_a_new_event():
    con = warehouse_with([finding_row()])
    sent = Recorder()
    assert len(publish_new_findings(con, sent, NO_COOLDOWN, NOW)) == 1
    assert publish_new_findings(con, sent, NO_COOLDOWN, NOW) == []
    con.execute("update main.fct_findings set status = 'resolved'")
    resolved = publish_new_findings(con, sent, NO_COOLDOWN, NOW)
    assert [(e.status, e.revision) for e in resolved] == [("resolved", 1)]
    assert resolved[0].finding_id == sent.sent[0].finding_id
    assert publish_new_findings(con, sent, NO_COOLDOWN, NOW) == []
    assert len({event.event_id for event in sent.sent}) == 2


def test_only_a_material_change_makes_a_new_revision():
    con = warehouse_with([finding_row()])
    sent = Recorder()
    publish_new_findings(con, sent, NO_COOLDOWN, NOW)
    # More anomalous runs and a slightly different median: the same news.
    con.execute("update main.fct_findings set anomalous_runs = 9, observed_value = 900")
    assert publish_new_findings(con, sent, NO_COOLDOWN, NOW) == []
    # The median grew by more than a quarter since the last published revision.
    con.execute("update main.fct_findings set observed_value = 1100")
    [update] = publish_new_findings(con, sent, NO_COOLDOWN, NOW)
    assert (update.revision, update.status) == (2, "open")
    assert update.finding_id == sent.sent[0].finding_id
    assert update.event_id != sent.sent[0].event_id
    # Another step to blame is another probable cause.
    con.execute("update main.fct_findings set step_name = 'Install dependencies'")
    [cause] = publish_new_findings(con, sent, NO_COOLDOWN, NOW)
    assert cause.revision == 3
    # A severity change is material too.
    con.execute("update main.fct_findings set severity = 'warning'")
    assert [e.revision for e in publish_new_findings(con, sent, NO_COOLDOWN, NOW)] == [4]
    # So is a new name for the same finding (a later detection renamed it).
    con.execute("update main.fct_findings set kind = 'failure_rate'")
    [renamed] = publish_new_findings(con, sent, NO_COOLDOWN, NOW)
    assert (renamed.kind, renamed.revision, renamed.finding_id) == (
        "failure_rate", 5, sent.sent[0].finding_id)  # fmt: skip
    con.execute("update main.fct_findings set status = 'resolved'")
    [resolved] = publish_new_findings(con, sent, NO_COOLDOWN, NOW)
    assert (resolved.status, resolved.revision) == ("resolved", 5)


def test_cooldown_holds_back_open_events_per_entity_and_kind_but_never_resolution():
    config = PublishConfig(cooldown_seconds=3600)
    first = finding_row(finding_id="a" * 32)
    con = warehouse_with([first])
    sent = Recorder()
    publish_new_findings(con, sent, config, NOW)
    # A second episode on the same job series and kind, and a material update of the first.
    second = finding_row(finding_id="b" * 32, detected_at=datetime(2026, 9, 30, 13, 0))
    other_kind = finding_row(finding_id="c" * 32, kind="failure_rate",
                             unit="failures_per_10_runs", observed_value=5.0,
                             expected_value=0.3)  # fmt: skip
    replace_findings(con, [{**first, "observed_value": 2000.0}, second, other_kind])
    later = publish_new_findings(con, sent, config, NOW + timedelta(minutes=10))
    assert [event.finding_id for event in later] == ["c" * 32]  # another kind: not held back
    # After the cooldown both go out: the update as revision 2, the new episode as revision 1.
    after = publish_new_findings(con, sent, config, NOW + timedelta(minutes=61))
    assert [(e.finding_id[0], e.revision) for e in after] == [("a", 2)]
    after = publish_new_findings(con, sent, config, NOW + timedelta(minutes=122))
    assert [(e.finding_id[0], e.revision) for e in after] == [("b", 1)]
    # Resolution is published at once, cooldown or not.
    replace_findings(con, [{**first, "observed_value": 2000.0, "status": "resolved"}, second])
    resolved = publish_new_findings(con, sent, config, NOW + timedelta(minutes=123))
    assert [(e.finding_id[0], e.status) for e in resolved] == [("a", "resolved")]


def test_a_deferral_is_logged_once_per_reason(capsys, monkeypatch):
    monkeypatch.setattr(publish_module, "_deferrals_logged", {})
    monkeypatch.setenv("APOA_LOG_LEVEL", "INFO")
    config = PublishConfig(cooldown_seconds=3600)
    first = finding_row(finding_id="d" * 32)
    con = warehouse_with([first])
    publish_new_findings(con, Recorder(), config, NOW)
    second = finding_row(finding_id="e" * 32, detected_at=datetime(2026, 9, 30, 13, 0))
    replace_findings(con, [first, second])
    capsys.readouterr()
    for minutes in (5, 10, 15):  # three publishes inside the cooldown
        publish_new_findings(con, Recorder(), config, NOW + timedelta(minutes=minutes))
    deferred = [line for line in capsys.readouterr().err.splitlines() if "finding deferred" in line]
    assert len(deferred) == 1 and "e" * 32 in deferred[0]


def test_severity_threshold_keeps_quiet_findings_unpublished():
    rows = [finding_row(finding_id="a" * 32, severity="warning"),
            finding_row(finding_id="b" * 32, severity="critical", job_key="k2")]  # fmt: skip
    con = warehouse_with(rows)
    sent = Recorder()
    config = PublishConfig(min_severity="critical", cooldown_seconds=0)
    assert [e.finding_id[0] for e in publish_new_findings(con, sent, config, NOW)] == ["b"]
    # The warning stays unpublished, also once it is over; an escalation publishes it.
    replace_findings(con, [{**rows[0], "status": "resolved"}, rows[1]])
    assert publish_new_findings(con, sent, config, NOW) == []
    replace_findings(con, [{**rows[0], "severity": "critical"}, rows[1]])
    assert [e.finding_id[0] for e in publish_new_findings(con, sent, config, NOW)] == ["a"]


def test_an_event_that_breaks_the_schema_is_not_published():
    con = warehouse_with([finding_row(finding_id="a" * 32, severity="apocalyptic"),
                          finding_row(finding_id="b" * 32, job_key="k2")])  # fmt: skip
    sent = Recorder()
    published = publish_new_findings(con, sent, NO_COOLDOWN, NOW)
    assert [event.finding_id[0] for event in published] == ["b"]


def test_a_failed_publish_keeps_what_was_sent_and_retries_the_rest():
    con = warehouse_with([finding_row(finding_id="a" * 32, job_key="k1"),
                          finding_row(finding_id="b" * 32, job_key="k2")])  # fmt: skip
    sent: list[str] = []

    def fails_on_second(event):
        if sent:
            raise TimeoutError("pubsub down")
        sent.append(event.finding_id)
        return "ok"

    with pytest.raises(TimeoutError):
        publish_new_findings(con, fails_on_second, NO_COOLDOWN, NOW)
    retried = publish_new_findings(con, lambda event: "ok", NO_COOLDOWN, NOW)
    assert [event.finding_id for event in retried] == ["b" * 32]


def test_a_ledger_from_before_revisions_is_migrated():
    con = warehouse_with([finding_row()])
    con.execute("create schema apoa_state")
    con.execute(
        "create table apoa_state.published_finding_events (event_id varchar primary key, "
        "finding_id varchar not null, status varchar not null, revision integer not null, "
        "pubsub_message_id varchar, published_at timestamp not null)"
    )
    event = event_from_row(finding_row())
    con.execute(
        "insert into apoa_state.published_finding_events values (?, ?, 'open', 1, 'm', ?)",
        [event.event_id, event.finding_id, NOW],
    )
    # Known and unchanged as far as the old ledger can tell: nothing to publish.
    assert publish_new_findings(con, Recorder(), NO_COOLDOWN, NOW) == []


def test_no_findings_table_yet_means_nothing_to_publish():
    assert publish_new_findings(duckdb.connect(), lambda event: "x") == []
