"""The series scorers re-score only touched series, and give what a full rebuild gives."""

from __future__ import annotations

import json
import random

import pytest

from apoa.dbt_build import parse_manifest, run_dbt
from apoa.generator import generate_history, generate_side_data
from apoa.settings import PROJECT_DIR, Settings, dbt_target_dir
from apoa.warehouse import LocalWarehouse
from ingest.envelope import RawMessage

SERIES_SCORERS = (
    "ml_duration_regression_scores",
    "ml_queue_spike_scores",
    "ml_failure_rate_scores",
    "ml_flaky_job_scores",
    "ml_default_branch_broken_scores",
    "ml_resource_misuse_scores",
)
# numbered per job or runner pool, incremental like the scorers (apoa_series_tables.sql)
SERIES_TABLES = (
    "int_duration_series",
    "int_queue_series",
    "int_failure_series",
    "int_resource_series",
    "int_metric_series",
    "int_attempt_series",
)
SELECT = "+ml_job_run_scores"
SERIES_SELECT = [f"+{table}" for table in SERIES_TABLES]
STEPS = 2


def digest(warehouse: LocalWarehouse, table: str) -> tuple[str, int]:
    [row] = warehouse.query(
        f"select md5(coalesce(string_agg(h, '' order by h), '')) as digest, count(*) as n "
        f"from (select md5(cast(t as varchar)) as h from main.{table} as t)"
    )
    return row["digest"], row["n"]


# The project's margin and context cover every series of this history; the small ones make
# the later runs score tails read from a truncated series, as a long history does.
RESCORE_VARS = {
    "project vars": {},
    "short tails": {"apoa_rescore_margin_runs": 40, "apoa_rescore_context_runs": 150},
}


_BUILT: dict[str, dict] = {}  # one build per variant, shared by the tests that read it


@pytest.fixture(scope="module", params=list(RESCORE_VARS), ids=list(RESCORE_VARS))
def builds(request, tmp_path_factory) -> dict:
    return _build(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def project_build(tmp_path_factory) -> dict:
    return _build("project vars", tmp_path_factory)


def _build(variant: str, tmp_path_factory) -> dict:
    if variant in _BUILT:
        return _BUILT[variant]
    dbt_vars = ["--vars", json.dumps(RESCORE_VARS[variant])]
    history = generate_history(seed=11, runs_per_workflow=60)
    # with the jobs' logs and metrics (the resource and metric series), some of them landing
    # late: most of the history first, then a few small deliveries, out of order within each,
    # so that a job can arrive after its points and claim them (int_metric_series)
    webhooks, side = history.messages, generate_side_data(history, seed=11)
    cut_webhooks, cut_side = int(len(webhooks) * 0.9), int(len(side) * 0.8)
    messages = [
        RawMessage(m.topic, f"g-{n}", None, m.attributes, None, json.dumps(m.data))
        for n, m in enumerate(
            webhooks[:cut_webhooks] + side[:cut_side] + webhooks[cut_webhooks:] + side[cut_side:]
        )
    ]
    first = cut_webhooks + cut_side
    rest = messages[first:]
    random.Random(11).shuffle(rest)
    steps = [messages[:first]] + [rest[i::STEPS] for i in range(STEPS)]
    home = tmp_path_factory.mktemp("incremental-scoring") / "home"
    with LocalWarehouse(Settings(home=home)) as warehouse:
        manifest = parse_manifest(warehouse.settings)
        delete_seen = []
        for step in steps:
            warehouse.land(step, [])
            warehouse.flush()
            result = run_dbt(warehouse.settings, "run", ["--select", SELECT, *dbt_vars], manifest)
            assert result.success, result.failures
            delete_seen.append(_ran_a_delete())
        incremental = {table: digest(warehouse, table) for table in SERIES_SCORERS + SERIES_TABLES}
        incremental["ml_job_run_scores"] = digest(warehouse, "ml_job_run_scores")
        result = run_dbt(
            warehouse.settings, "run", ["--select", SELECT, "--full-refresh", *dbt_vars], manifest
        )
        assert result.success, result.failures
        full = {table: digest(warehouse, table) for table in incremental}
    built = {"incremental": incremental, "full": full, "delete_seen": delete_seen, "home": home}
    _BUILT[variant] = built
    return built


def _ran_a_delete() -> tuple[bool, bool]:
    """dbt-duckdb's delete+insert: the rows of the touched series replaced, not the table
    (a scorer's, and a series table's)."""
    compiled = dbt_target_dir() / "run" / "apoa" / "models"
    return tuple(
        "delete from" in (compiled / path).read_text().lower()
        for path in (
            "ml/ml_duration_regression_scores.sql",
            "intermediate/scoring/int_queue_series.sql",
        )
    )


def test_incremental_scoring_equals_a_full_rebuild(builds):
    assert all(n > 0 for _, n in builds["incremental"].values())
    assert builds["incremental"] == builds["full"]


def test_later_runs_replace_only_touched_series(builds):
    # the first run creates the tables; every later one is a delete+insert
    assert builds["delete_seen"] == [(False, False)] + [(True, True)] * STEPS


def test_bigquery_keeps_full_tables(tmp_path):
    settings = Settings(home=tmp_path / "home")
    for target, expected in (("bigquery", "table"), ("local", "incremental")):
        target_path = tmp_path / f"target-{target}"
        result = run_dbt(settings, "parse", ["--target", target, "--target-path", str(target_path)])
        assert result.success, result.failures
        nodes = json.loads((target_path / "manifest.json").read_text())["nodes"]
        for name in SERIES_SCORERS:
            assert nodes[f"model.apoa.{name}"]["config"]["materialized"] == expected, name
        for name in SERIES_TABLES:
            materialized = nodes[f"model.apoa.{name}"]["config"]["materialized"]
            assert materialized == ("view" if target == "bigquery" else "incremental"), name


def test_the_fingerprint_covers_every_anomaly_engine_var():
    import re

    project = (PROJECT_DIR / "dbt_project.yml").read_text()
    names = re.findall(r"^  (apoa_[a-z_]+):", project, flags=re.MULTILINE)
    engine = names[names.index("apoa_scorer") :]
    macro = (PROJECT_DIR / "macros" / "incremental" / "apoa_series_scores.sql").read_text()
    listed = re.findall(r"'(apoa_[a-z_]+)'", macro)
    assert engine and set(engine) == set(listed)


def test_another_scorer_rescores_every_series_without_a_full_refresh(project_build):
    builds = project_build
    # the fixture's warehouse is closed: reopen it and switch the scorer in an ordinary run
    with LocalWarehouse(Settings(home=builds["home"])) as warehouse:
        for scorer in ("zscore", "robust"):
            result = run_dbt(
                warehouse.settings,
                "run",
                ["--select", SELECT, "--vars", json.dumps({"apoa_scorer": scorer})],
            )
            assert result.success, result.failures
            [row] = warehouse.query(
                "select count(*) as n, count(distinct scorer) as scorers, min(scorer) as scorer "
                "from main.ml_job_run_scores where kind = 'duration_regression'"
            )
            assert row == {"n": builds["incremental"]["ml_duration_regression_scores"][1],
                           "scorers": 1, "scorer": scorer}  # fmt: skip


def test_a_series_var_renumbers_every_series_without_a_full_refresh(project_build):
    """The season block shapes every stored row of the duration and queue series: changing it
    must rebuild all of them, not only the series new runs reach."""
    changed = ["--vars", json.dumps({"apoa_season_block_hours": 6})]
    with LocalWarehouse(Settings(home=project_build["home"])) as warehouse:
        digests = {}
        for extra in ([], ["--full-refresh"]):
            result = run_dbt(
                warehouse.settings, "run", ["--select", *SERIES_SELECT, *changed, *extra]
            )
            assert result.success, result.failures
            digests[bool(extra)] = {t: digest(warehouse, t) for t in SERIES_TABLES}
        assert digests[False] == digests[True]
        for table in ("int_duration_series", "int_queue_series"):
            assert digests[False][table] != project_build["full"][table], table
        result = run_dbt(warehouse.settings, "run", ["--select", *SERIES_SELECT])
        assert result.success, result.failures
        [row] = warehouse.query(
            "select count(distinct series_fingerprint) as n from main.int_queue_series"
        )
        assert row == {"n": 1}


def test_a_pool_tail_follows_job_runs_that_move_or_leave_every_pool(tmp_path):
    """int_queue_series renumbers each touched pool from its earliest change: a job run whose
    labels change leaves a gap in its old pool, and one left with no labels is deleted. Both
    sit a third and half of the way into the history, so their pools' tails are long."""
    history = generate_history(seed=11, runs_per_workflow=40)
    messages = [
        RawMessage(m.topic, f"g-{n}", None, m.attributes, None, json.dumps(m.data))
        for n, m in enumerate(history.messages)
    ]
    completed = [
        m
        for m in history.messages
        if m.attributes.get("github_event") == "workflow_job"
        and m.data.get("action") == "completed"
        and m.data["workflow_job"]["labels"] == ["ubuntu-latest"]
    ]
    moved, left = completed[len(completed) // 3], completed[len(completed) // 2]

    def redelivered(message, labels: list[str], n: int) -> RawMessage:
        # the same state sent again later (a later arrival wins a tie) with other labels
        data = json.loads(json.dumps(message.data))
        data["workflow_job"]["labels"] = labels
        attributes = {**message.attributes, "github_delivery": f"relabelled-{n}"}
        return RawMessage(message.topic, f"relabelled-{n}", None, attributes, None,
                          json.dumps(data))  # fmt: skip

    changes = [redelivered(moved, ["macos-latest"], 1), redelivered(left, [], 2)]
    select = ["--select", *SERIES_SELECT]
    with LocalWarehouse(Settings(home=tmp_path / "home")) as warehouse:
        for step in (messages, changes):
            warehouse.land(step, [])
            warehouse.flush()
            assert run_dbt(warehouse.settings, "run", select).success
        incremental = digest(warehouse, "int_queue_series")
        ids = [moved.data["workflow_job"]["id"], left.data["workflow_job"]["id"]]
        pools = warehouse.query(
            "select runner_label from main.int_queue_series as q "
            "inner join main.fct_job_runs as j using (job_run_id) "
            f"where j.job_id in ({ids[0]}, {ids[1]}) order by j.job_id = {ids[0]} desc"
        )
        assert run_dbt(warehouse.settings, "run", [*select, "--full-refresh"]).success
        assert digest(warehouse, "int_queue_series") == incremental
    assert [p["runner_label"] for p in pools] == ["macos-latest"]
