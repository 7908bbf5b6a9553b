"""`apoa backfill`: REST API exports land as the webhook deliveries they stand for.

The exports are written here from a generated history the way `gh api --paginate` writes them
(pages back to back; only each run's latest attempt in `actions/runs`, earlier attempts under
`attempts/N`), then imported through the real landing path and built with dbt.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from apoa import backfill
from apoa.cli import main as cli_main
from apoa.generator import History, generate_history
from apoa.settings import Settings
from apoa.warehouse import LocalWarehouse
from tests.test_data_model import MARTS, build, generated_messages, table_digest

SEED = 5
RUNS_PER_WORKFLOW = 12


# --------------------------------------------------------------------------- exports


def write_exports(history: History, directory: Path, repository_files: bool = True) -> Path:
    """The REST API's view of the history's final states, as `gh api` would save it."""
    runs: dict[int, dict[int, dict]] = defaultdict(dict)  # run id -> attempt -> run object
    jobs: dict[tuple[int, int], dict[int, dict]] = defaultdict(dict)
    repositories: dict[str, dict] = {}
    for message in history.messages:
        data = message.data
        if "workflow_run" in data and data["workflow_run"]["status"] == "completed":
            run = data["workflow_run"]
            runs[run["id"]][run["run_attempt"]] = run
            repositories[data["repository"]["full_name"]] = data["repository"]
        if "workflow_job" in data and data["workflow_job"]["status"] == "completed":
            job = data["workflow_job"]
            jobs[(job["run_id"], job["run_attempt"])][job["id"]] = job
    directory.mkdir(parents=True, exist_ok=True)
    latest = [attempts[max(attempts)] for attempts in runs.values()]
    # actions/runs: newest first, 10 per page, pages back to back (gh api --paginate)
    latest.sort(key=lambda run: run["created_at"], reverse=True)
    pages = [latest[i : i + 10] for i in range(0, len(latest), 10)]
    (directory / "runs.json").write_text(
        "".join(json.dumps({"total_count": len(latest), "workflow_runs": p}) for p in pages)
    )
    for run_id, attempts in runs.items():
        last = max(attempts)
        for number, run in attempts.items():
            listed = sorted(jobs[(run_id, number)].values(), key=lambda job: job["id"])
            name = f"jobs-{run_id}.json" if number == last else f"jobs-{run_id}-{number}.json"
            (directory / name).write_text(json.dumps({"total_count": len(listed), "jobs": listed}))
            if number != last:
                (directory / f"run-{run_id}-{number}.json").write_text(json.dumps(run))
    if repository_files:
        for name, repository in repositories.items():
            (directory / f"repo-{name.replace('/', '-')}.json").write_text(json.dumps(repository))
    return directory


# --------------------------------------------------------------------------- warehouses


@dataclass
class Imported:
    warehouse: LocalWarehouse
    settings: Settings
    exports: Path
    webhook_marts: dict[str, tuple[str, int]]
    after_backfill: dict[str, tuple[str, int]]
    after_second_backfill: dict[str, tuple[str, int]]
    raw_counts: list[int]
    results: list[backfill.BackfillResult]


def raw_count(warehouse: LocalWarehouse) -> int:
    return warehouse.query("select count(*) as n from raw.raw_github_events")[0]["n"]


def run_backfill(warehouse: LocalWarehouse, home: Path, paths: list[Path], **options):
    progress = backfill.ProgressFile(home / "backfill" / "progress.json")
    deliver = backfill.local_deliver(warehouse.land)
    return backfill.backfill(paths, deliver, progress, show_progress=False, **options)


@pytest.fixture(scope="module")
def history() -> History:
    return generate_history(seed=SEED, runs_per_workflow=RUNS_PER_WORKFLOW)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory, history: History) -> Iterator[Imported]:
    home = tmp_path_factory.mktemp("backfill_home")
    exports = write_exports(history, tmp_path_factory.mktemp("exports"))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("NO_GCE_CHECK", "true")
        env.setenv("APOA_HOME", str(home))
        settings = Settings(home=home)
        warehouse = LocalWarehouse(settings)
        try:
            warehouse.land(generated_messages(history.messages, "webhook"), [])
            build(settings)
            webhook_marts = {t: table_digest(warehouse, t) for t in MARTS}
            counts = [raw_count(warehouse)]
            results = [run_backfill(warehouse, home, [exports])]
            counts.append(raw_count(warehouse))
            build(settings)
            after = {t: table_digest(warehouse, t) for t in MARTS}
            results.append(run_backfill(warehouse, home, [exports]))
            counts.append(raw_count(warehouse))
            build(settings)
            again = {t: table_digest(warehouse, t) for t in MARTS}
            yield Imported(
                warehouse, settings, exports, webhook_marts, after, again, counts, results
            )
        finally:
            warehouse.close()


@pytest.fixture(scope="module")
def backfilled_only(
    tmp_path_factory: pytest.TempPathFactory, imported: Imported
) -> Iterator[LocalWarehouse]:
    home = tmp_path_factory.mktemp("backfill_only_home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("NO_GCE_CHECK", "true")
        env.setenv("APOA_HOME", str(home))
        settings = Settings(home=home)
        warehouse = LocalWarehouse(settings)
        try:
            run_backfill(warehouse, home, [imported.exports])
            build(settings)
            yield warehouse
        finally:
            warehouse.close()


# --------------------------------------------------------------------------- tests


def test_gh_paginate_output_is_read_page_by_page() -> None:
    run = {"id": 1, "run_attempt": 1, "workflow_id": 9, "repository": {"full_name": "o/r"}}
    job = {"id": 5, "run_id": 1, "steps": []}
    concatenated = json.dumps({"workflow_runs": [run]}) + "\n" + json.dumps({"jobs": [job]})
    assert list(backfill.json_documents(concatenated)) == [
        {"workflow_runs": [run]},
        {"jobs": [job]},
    ]
    slurped = json.dumps([{"total_count": 1, "workflow_runs": [run]}, {"jobs": [job]}])
    runs, jobs, repositories = [], [], []
    for document in backfill.json_documents(slurped):
        backfill._classify(document, runs, jobs, repositories, "slurped")
    assert (runs, jobs, repositories) == ([run], [job], [])
    with pytest.raises(backfill.BackfillError, match="not JSON"):
        list(backfill.json_documents('{"workflow_runs": [] '))
    with pytest.raises(backfill.BackfillError, match="not a workflow run"):
        backfill._classify({"name": "x"}, [], [], [], "odd.json")


def test_messages_are_webhook_deliveries_with_deterministic_ids(imported: Imported) -> None:
    rows = imported.warehouse.query(
        "select message_id, attributes, payload from raw.raw_github_events "
        "where message_id like 'backfill-%'"
    )
    assert rows
    for row in rows:
        attributes, payload = json.loads(row["attributes"]), json.loads(row["payload"])
        event = attributes["github_event"]
        assert attributes["apoa_source"] == "backfill"
        assert attributes["github_delivery"] == row["message_id"]
        obj = payload[event]
        expected = f"backfill-{event}-{obj['id']}-{obj['run_attempt']}-{obj['status']}"
        assert row["message_id"] == expected
        assert payload["action"] == "completed"
        assert payload["repository"]["default_branch"] == "main"
    staged = imported.warehouse.query(
        "select count(*) as n, min(is_backfill::int) as all_backfill "
        "from main.stg_github__workflow_job_deliveries where message_id like 'backfill-%'"
    )[0]
    assert staged["n"] > 0 and staged["all_backfill"] == 1


def test_backfilling_runs_webhooks_delivered_changes_no_mart(imported: Imported) -> None:
    before, after_first, after_second = imported.raw_counts
    first, second = imported.results
    assert after_first - before == first.messages > 100  # the import did land
    assert after_second == after_first  # the same export again lands nothing new
    assert second.messages == first.messages and second.dead_letters == 0
    for table in MARTS:
        assert imported.webhook_marts[table][1] > 0, table
        assert imported.after_backfill[table] == imported.webhook_marts[table], table
        assert imported.after_second_backfill[table] == imported.webhook_marts[table], table


def test_backfill_alone_gives_the_job_runs_the_webhooks_gave(
    imported: Imported, backfilled_only: LocalWarehouse
) -> None:
    columns = (
        "job_run_id, job_key, run_id, run_attempt, run_number, event, conclusion, "
        "queue_seconds, duration_seconds, is_default_branch, is_flaky_attempt, longest_step_name"
    )
    query = f"select {columns} from main.fct_job_runs order by job_run_id"
    webhook = imported.warehouse.query(query)
    assert len(webhook) > 100
    assert backfilled_only.query(query) == webhook
    runs = (
        "select run_attempt_id, conclusion, duration_seconds, queue_seconds, job_count, "
        "is_rerun from main.fct_workflow_runs order by run_attempt_id"
    )
    assert backfilled_only.query(runs) == imported.warehouse.query(runs)
    assert table_digest(backfilled_only, "fct_pipeline_health_daily") == table_digest(
        imported.warehouse, "fct_pipeline_health_daily"
    )


class Interrupted(RuntimeError):
    pass


def test_an_interrupted_backfill_resumes_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, history: History
) -> None:
    monkeypatch.setenv("APOA_HOME", str(tmp_path))
    exports = write_exports(history, tmp_path / "exports")
    progress = backfill.ProgressFile(tmp_path / "backfill" / "progress.json")
    with LocalWarehouse(Settings(home=tmp_path)) as warehouse:
        land = backfill.local_deliver(warehouse.land)
        batches: list[int] = []

        def failing(batch):
            if len(batches) == 3:
                raise Interrupted("network gone")
            batches.append(len(batch))
            return land(batch)

        with pytest.raises(Interrupted):
            backfill.backfill([exports], failing, progress, show_progress=False, batch_size=40)
        landed = raw_count(warehouse)
        assert landed == sum(batches) == sum(progress.done.values()) > 0
        stream = io.StringIO()
        monkeypatch.setattr("sys.stderr", stream)
        result = backfill.backfill([exports], land, progress, batch_size=40)
        assert result.skipped == landed
        assert result.messages + result.skipped == raw_count(warehouse)
        assert not progress.path.exists()  # finished: nothing left to resume
        line = stream.getvalue()
        assert "backfill [" in line and "/s" in line and "left" in line


def test_cli_imports_and_refuses_what_it_cannot_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, history: History, capsys
) -> None:
    monkeypatch.setenv("APOA_HOME", str(tmp_path / "home"))
    exports = write_exports(history, tmp_path / "exports", repository_files=False)
    assert cli_main(["backfill", str(exports)]) == 2  # no default branch anywhere
    assert "default branch" in capsys.readouterr().err
    assert cli_main(["backfill", str(exports), "--default-branch", "main"]) == 0
    assert "messages from" in capsys.readouterr().out
    broken = tmp_path / "broken.json"
    broken.write_text('{"workflow_runs": [')
    assert cli_main(["backfill", str(broken)]) == 2
    assert cli_main(["backfill", str(tmp_path / "missing.json")]) == 2
