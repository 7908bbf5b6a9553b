"""`apoa explain FINDING_ID`, with no server running: the command owns the warehouse itself.
(Through a running `apoa serve`, see tests/test_finding_episodes.py.)"""

from __future__ import annotations

import json
from datetime import datetime

from apoa.cli import main
from apoa.warehouse import LocalWarehouse
from publisher.events import event_from_row
from publisher.publish import PublishConfig, publish_new_findings
from tests.finding_rows import finding_row, replace_findings


def test_explain_prints_the_evidence_and_what_was_published(settings, capsys):
    row = finding_row(last_good_head_sha="0123456789abcdef0123456789abcdef01234567",
                      step_growth_seconds=460.0, baseline_runs=30)  # fmt: skip
    other = finding_row(finding_id="f1a2" + "0" * 28, job_key="k2")
    with LocalWarehouse(settings) as owned:
        con = owned.con.cursor()
        replace_findings(con, [row, other])
        config = PublishConfig(cooldown_seconds=0)
        publish_new_findings(con, lambda event: "message-1", config, datetime(2026, 10, 1))
        # What the dashboard sink would have landed for it.
        event = event_from_row(row)
        con.execute(
            "insert into raw.raw_finding_events values ('m-1', 1, null, now(), 's', '{}', ?)",
            [event.data.decode()],
        )
    assert main(["explain", row["finding_id"]]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"finding {row['finding_id']}\n")
    assert row["summary"] in text
    assert "probable cause  step `Run pytest` grew most (+7m 40s)" in text
    assert "Baseline          30 earlier runs" in text
    assert "/compare/0123456789abcdef0123456789abcdef01234567...abc1234" in text
    published = f"revision 1 open     2026-10-01T00:00:00  event {event.event_id}"
    assert f"{published}  message message-1" in text
    assert "landed by the dashboard sink: 1 events" in text

    assert main(["explain", row["finding_id"][:12], "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["event"]["evidence"]["step"] == {"name": "Run pytest", "growth_seconds": 460.0}
    assert [entry["event_id"] for entry in data["published"]] == [event.event_id]

    assert main(["explain", "f1a2"]) == 1  # ambiguous prefix
    assert "matches 2 findings" in capsys.readouterr().err
    assert main(["explain", "nope"]) == 1
    assert "no finding 'nope'" in capsys.readouterr().err
