"""Every model compiled for the real `bigquery` target offline, and the SQL BigQuery would run
linted with sqlfluff's bigquery dialect (issue 9, item 4).

No BigQuery is reachable here: tests/bigquery_offline.py compiles with the recipe in
DEVELOPERS.md (dummy token, dead loopback endpoint, no cache, no introspection), once as a
full build and once with is_incremental() forced true, and once per scorer. sqlfluff then
parses every distinct compiled text with no templater: what it reads is exactly what dbt would
send. The lint runs in two worker processes while the next variant compiles.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.bigquery_offline import (
    PROJECT,
    SCORERS,
    Compiled,
    SqlLint,
    compile_bigquery,
    lint_sql,
    sql_lint,
)


def test_the_lint_catches_what_bigquery_rejects() -> None:
    """The lint below would fail on broken SQL: a bare UNION (BigQuery needs ALL or DISTINCT),
    a duplicate output column, an unparsable statement."""
    problems = lint_sql(
        {
            "bare_union": "select 1 as a union select 2 as a",
            "duplicate_column": "select 1 as a, 2 as a",
            "unparsable": "select from where",
            "clean": "select 1 as a union all select 2 as a",
        }
    )
    assert set(problems) == {"bare_union", "duplicate_column", "unparsable"}


def model_texts(compiled: Compiled) -> dict[str, str]:
    """Compiled SQL by `<variant>/<model>`; a remote model has no query (tests/test_bqml.py
    covers its DDL)."""
    label = f"{compiled.scorer}{'-incremental' if compiled.incremental else ''}"
    return {
        f"{label}/{name}": node["compiled_code"]
        for name, node in sorted(compiled.models().items())
        if node["compiled_code"].strip()
    }


@pytest.fixture(scope="module", autouse=True)
def lint() -> Iterator[SqlLint]:
    """The session's lint workers; what this module queued and never asked for is dropped."""
    yield sql_lint()
    sql_lint().cancel_pending()


@pytest.fixture(scope="module")
def full(lint: SqlLint) -> Compiled:
    compiled = compile_bigquery("robust", incremental=False)
    lint.submit(model_texts(compiled).values())  # linted while the next variant compiles
    return compiled


@pytest.fixture(scope="module")
def incremental(lint: SqlLint) -> Compiled:
    compiled = compile_bigquery("robust", incremental=True)
    lint.submit(model_texts(compiled).values())
    return compiled


def test_every_model_compiles_for_bigquery(full: Compiled) -> None:
    models = full.models()
    assert len(models) >= 30
    for name, node in models.items():
        assert node["compiled"], name
        assert node["compiled_code"].strip(), f"{name} compiled to nothing"
        # BigQuery names: project.dataset.table, quoted with backticks
        assert "`apoa-offline`" in node["relation_name"], (name, node["relation_name"])
    # the marts read BigQuery relations, not DuckDB ones
    assert f"`{PROJECT}`.`pipeline_analytics`.`fct_job_runs`" in full.sql("ml_job_run_scores") or (
        f"`{PROJECT}`.`pipeline_analytics`.`int_duration_series`"
        in full.sql("ml_duration_regression_scores")
    )


def test_incremental_rendering_differs_exactly_for_incremental_models(
    full: Compiled, incremental: Compiled
) -> None:
    incremental_models = {
        name
        for name, node in full.models().items()
        if node["config"]["materialized"] == "incremental"
    }
    assert incremental_models, "no incremental model: the incremental rendering tests nothing"
    changed = {name for name in full.models() if full.sql(name) != incremental.sql(name)}
    assert changed == incremental_models
    # BigQuery's predicate: the ingestion watermark minus the lookback, read from `this`
    staged = incremental.sql("stg_github__workflow_jobs")
    assert "timestamp_sub(" in staged and "interval 6 hour" in staged


def test_compiled_sql_passes_sqlfluff_bigquery(
    lint: SqlLint, full: Compiled, incremental: Compiled
) -> None:
    """Every compiled model of every variant (full, incremental, each scorer), each distinct
    text once: a scorer's models that compile to the robust scorer's text are not linted twice.
    """
    texts: dict[str, str] = {}
    for variant in [full, incremental, *(compile_bigquery(scorer) for scorer in SCORERS[1:])]:
        variant_texts = model_texts(variant)
        lint.submit(variant_texts.values())  # before the next scorer compiles
        known = set(texts.values())
        texts.update({name: text for name, text in variant_texts.items() if text not in known})
    assert len(texts) > len(full.models())
    assert lint.problems(texts) == {}
