"""`apoa report`: one self-contained HTML page of pipeline health, read from the marts.

Two halves, so that the owner of the warehouse can do the reading wherever it runs:

- `collect(query)` reads the marts through a `query(sql, params) -> rows` function (the
  owner's `LocalWarehouse.query`, or the same function inside `apoa serve`, which hands the
  result over `GET /admin/report-data`) and returns plain JSON: numbers, strings, lists.
- `apoa.report_html.render(data)` turns that into the page, with Plotly's JavaScript inlined.

Which marts exist is checked when it runs: a section whose mart is missing says which one
and what to run instead of failing the page.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

Query = Callable[[str, list[Any] | None], list[dict[str, Any]]]

# What each section reads. `required`: without it the section cannot be drawn; `optional`:
# the section is drawn without the part that needs it, and says so.
SECTIONS: dict[str, dict[str, Any]] = {
    "findings": {
        "title": "Open findings",
        "required": ["fct_findings"],
        "optional": ["raw.raw_finding_events"],
    },
    "regressions": {
        "title": "Top regressions",
        "required": ["fct_findings", "fct_job_runs"],
        "optional": ["ml_job_run_scores"],
    },
    "health": {
        "title": "Health by repository and workflow",
        "required": ["fct_pipeline_health_daily"],
        "optional": ["fct_workflow_runs", "fct_job_runs"],
    },
    "flaky": {"title": "Flaky jobs", "required": ["fct_job_runs"], "optional": []},
    "steps": {"title": "Slowest steps", "required": ["fct_step_runs"], "optional": []},
}

TOP_REGRESSIONS = 5
REGRESSION_RUNS = 300  # at most this many recent runs of a regressed job's series are drawn
TOP_FLAKY = 12
TOP_STEPS = 15
RESOLVED_SHOWN = 10


def collect(query: Query, source: str = "") -> dict[str, Any]:
    """Everything the page shows, as plain JSON (the same whether local or over HTTP)."""
    tables = _tables(query)
    data: dict[str, Any] = {
        "generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "source": source,
        "tables": sorted(tables),
        "overview": None,
        "sections": {},
    }
    if "fct_job_runs" in tables:
        data["overview"] = _guard(lambda: _overview(query))
    readers = {
        "findings": _findings,
        "regressions": _regressions,
        "health": _health,
        "flaky": _flaky,
        "steps": _steps,
    }
    for name, spec in SECTIONS.items():
        missing = [table for table in spec["required"] if table not in tables]
        section: dict[str, Any] = {
            "title": spec["title"],
            "missing": missing,
            "missing_optional": [table for table in spec["optional"] if table not in tables],
            "error": None,
        }
        if not missing:
            try:
                section.update(readers[name](query, tables))
            except Exception as error:  # a renamed column must not cost the other sections
                section["error"] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
        data["sections"][name] = section
    return plain(data)


def section_status(data: dict[str, Any]) -> dict[str, str]:
    """'ok', 'missing <tables>' or 'error: ...' per section (for `apoa report --json`)."""
    status = {}
    for name, section in data["sections"].items():
        if section["missing"]:
            status[name] = "missing " + ", ".join(section["missing"])
        elif section["error"]:
            status[name] = "error: " + section["error"]
        else:
            status[name] = "ok"
    return status


def write_report(data: dict[str, Any], path: Path) -> Path:
    from apoa.report_html import render

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- reading


def _tables(query: Query) -> set[str]:
    rows = query(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('main', 'raw')",
        None,
    )
    return {
        row["table_name"] if row["table_schema"] == "main" else f"raw.{row['table_name']}"
        for row in rows
    }


def _guard(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception:
        return None


def _overview(query: Query) -> dict[str, Any]:
    return query(
        """
        select
            count(*) as job_runs,
            count(distinct repository) as repositories,
            count(distinct repository || '/' || workflow_name) as workflows,
            count(distinct job_key) as jobs,
            min(completed_at) as first_completed_at,
            max(completed_at) as last_completed_at,
            avg(case when is_failure then 1.0 else 0.0 end) as failure_rate,
            sum(duration_seconds) as runner_seconds
        from main.fct_job_runs
        """,
        None,
    )[0]


def _finding_view(row: dict[str, Any]) -> dict[str, Any]:
    """A finding as people read it: the publisher's sentence (with its probable cause) and
    the links it would publish; the mart's own summary when the publisher cannot say more."""
    summary = row.get("summary")
    links: list[dict[str, str]] = []
    try:
        from publisher.events import event_from_row

        body = event_from_row(row).body
        summary = body.get("summary") or summary
        links = list(body.get("action", {}).get("targets", []))
    except Exception:
        for rel, column in (("first_bad_run", "first_run_url"), ("latest_bad_run", "last_run_url")):
            if row.get(column):
                links.append({"rel": rel, "url": str(row[column])})
    observed, expected = _number(row.get("observed_value")), _number(row.get("expected_value"))
    return {
        "finding_id": row.get("finding_id"),
        "kind": row.get("kind"),
        "severity": row.get("severity"),
        "status": row.get("status"),
        "entity": row.get("entity")
        or " / ".join(str(row.get(key)) for key in ("repository", "workflow_name", "job_name")),
        "repository": row.get("repository"),
        "workflow_name": row.get("workflow_name"),
        "job_name": row.get("job_name"),
        "job_key": row.get("job_key"),
        "branch": row.get("branch"),
        "is_default_branch": row.get("is_default_branch"),
        "summary": summary,
        "links": links,
        "detected_at": row.get("detected_at"),
        "started_at": row.get("started_at"),
        "ended_at": row.get("ended_at"),
        "resolution": row.get("resolution"),
        "first_run_number": row.get("first_run_number"),
        "first_job_run_id": row.get("first_job_run_id"),
        "observed_value": observed,
        "expected_value": expected,
        "expected_lower": _number(row.get("expected_lower")),
        "expected_upper": _number(row.get("expected_upper")),
        "ratio": observed / expected if observed and expected else None,
        "unit": row.get("unit"),
        "anomalous_runs": row.get("anomalous_runs"),
        "episode_runs": row.get("episode_runs"),
    }


_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def _finding_order(finding: dict[str, Any]) -> tuple:
    return (
        0 if finding["status"] == "open" else 1,
        _SEVERITY_ORDER.get(str(finding["severity"]), 3),
        -(finding["ratio"] or 0),
        str(finding["detected_at"]),
    )


def _read_findings(query: Query) -> list[dict[str, Any]]:
    rows = query("select * from main.fct_findings order by detected_at desc, finding_id", None)
    return [_finding_view(row) for row in rows]


def _findings(query: Query, tables: set[str]) -> dict[str, Any]:
    findings = _read_findings(query)
    opened = sorted((f for f in findings if f["status"] == "open"), key=_finding_order)
    resolved = [f for f in findings if f["status"] != "open"]
    result: dict[str, Any] = {
        "open": opened,
        "resolved": resolved[:RESOLVED_SHOWN],
        "resolved_count": len(resolved),
        "landed_events": None,
    }
    if "raw.raw_finding_events" in tables:
        result["landed_events"] = query(
            "select count(*) as events, max(publish_time) as latest_publish_time "
            "from raw.raw_finding_events",
            None,
        )[0]
    return result


def _regressions(query: Query, tables: set[str]) -> dict[str, Any]:
    findings = [f for f in _read_findings(query) if f["kind"] == "duration_regression"]
    chosen = sorted(findings, key=_finding_order)[:TOP_REGRESSIONS]
    has_scores = "ml_job_run_scores" in tables
    items = []
    for finding in chosen:
        branch_filter, params = "", [finding["job_key"]]
        if finding["is_default_branch"] is not None:
            branch_filter, params = (
                "and is_default_branch = ?",
                [*params, finding["is_default_branch"]],
            )
        runs = query(
            f"""
            select * from (
                select
                    job_run_id, completed_at, duration_seconds, conclusion, run_number,
                    run_attempt, head_sha, head_branch, html_url
                from main.fct_job_runs
                where job_key = ? {branch_filter} and duration_seconds is not null
                order by completed_at desc, job_run_id desc
                limit {REGRESSION_RUNS}
            ) order by completed_at, job_run_id
            """,
            params,
        )
        scores: dict[Any, dict[str, Any]] = {}
        if has_scores:
            for score in query(
                f"""
                select job_run_id, lower_bound, upper_bound, expected_value, is_anomaly, episode_id
                from main.ml_job_run_scores
                where kind = 'duration_regression' and job_key = ? {branch_filter}
                """,
                params,
            ):
                scores[score["job_run_id"]] = score
        for run in runs:
            score = scores.get(run["job_run_id"], {})
            run["lower_bound"] = score.get("lower_bound")
            run["upper_bound"] = score.get("upper_bound")
            run["expected_value"] = score.get("expected_value")
            run["is_anomaly"] = bool(score.get("is_anomaly"))
            run["in_episode"] = score.get("episode_id") is not None
        items.append({"finding": finding, "runs": runs, "has_band": bool(scores)})
    return {"items": items, "duration_regressions": len(findings)}


def _health(query: Query, tables: set[str]) -> dict[str, Any]:
    days = query(
        """
        select
            repository, workflow_name, day, runs, failed_runs, failure_rate,
            duration_p50_seconds, duration_p95_seconds, job_runs, queue_p50_seconds,
            queue_p95_seconds, reruns, rerun_rate, flaky_job_runs, flaky_rate, restores,
            mean_time_to_restore_seconds
        from main.fct_pipeline_health_daily
        order by repository, workflow_name, day
        """,
        None,
    )
    series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for day in days:
        series.setdefault((day["repository"], day["workflow_name"]), []).append(day)

    durations: dict[tuple[str, str], dict[str, Any]] = {}
    if "fct_workflow_runs" in tables:
        for row in query(
            """
            select
                repository, workflow_name,
                quantile_cont(duration_seconds, 0.5) as duration_p50_seconds,
                quantile_cont(duration_seconds, 0.95) as duration_p95_seconds
            from main.fct_workflow_runs
            group by repository, workflow_name
            """,
            None,
        ):
            durations[(row["repository"], row["workflow_name"])] = row
    queues: dict[tuple[str, str], dict[str, Any]] = {}
    if "fct_job_runs" in tables:
        for row in query(
            """
            select
                repository, workflow_name,
                quantile_cont(queue_seconds, 0.5) as queue_p50_seconds,
                quantile_cont(queue_seconds, 0.95) as queue_p95_seconds
            from main.fct_job_runs
            group by repository, workflow_name
            """,
            None,
        ):
            queues[(row["repository"], row["workflow_name"])] = row

    totals = []
    for (repository, workflow), rows in series.items():
        runs = sum(row["runs"] or 0 for row in rows)
        job_runs = sum(row["job_runs"] or 0 for row in rows)
        restores = [r for r in rows if r["restores"] and r["mean_time_to_restore_seconds"]]
        restore_count = sum(r["restores"] for r in restores)
        duration = durations.get((repository, workflow), {})
        queue = queues.get((repository, workflow), {})
        totals.append(
            {
                "repository": repository,
                "workflow_name": workflow,
                "days": len(rows),
                "runs": runs,
                "failure_rate": _ratio(sum(r["failed_runs"] or 0 for r in rows), runs),
                "rerun_rate": _ratio(sum(r["reruns"] or 0 for r in rows), runs),
                "flaky_rate": _ratio(sum(r["flaky_job_runs"] or 0 for r in rows), job_runs),
                "duration_p50_seconds": duration.get("duration_p50_seconds"),
                "duration_p95_seconds": duration.get("duration_p95_seconds"),
                "queue_p50_seconds": queue.get("queue_p50_seconds"),
                "queue_p95_seconds": queue.get("queue_p95_seconds"),
                "restores": restore_count,
                "mean_time_to_restore_seconds": _ratio(
                    sum(r["restores"] * r["mean_time_to_restore_seconds"] for r in restores),
                    restore_count,
                ),
            }
        )
    return {
        "series": [
            {"repository": repository, "workflow_name": workflow, "days": rows}
            for (repository, workflow), rows in series.items()
        ],
        "totals": totals,
    }


def _flaky(query: Query, tables: set[str]) -> dict[str, Any]:
    jobs = query(
        f"""
        select
            repository,
            workflow_name,
            job_name,
            job_key,
            count(*) as attempts,
            sum(case when is_failure then 1 else 0 end) as failures,
            sum(case when is_flaky_attempt then 1 else 0 end) as flaky_attempts,
            sum(case when is_flaky_failure then 1 else 0 end) as flaky_failures,
            sum(case when is_flaky_failure then duration_seconds else 0 end)
                as flaky_failure_seconds,
            max(case when is_flaky_failure then completed_at end) as last_flaky_failure_at,
            arg_max(html_url, completed_at) filter (where is_flaky_failure)
                as last_flaky_failure_url
        from main.fct_job_runs
        group by repository, workflow_name, job_name, job_key
        having sum(case when is_flaky_failure then 1 else 0 end) > 0
        order by flaky_failures desc, attempts asc, repository, workflow_name, job_name
        limit {TOP_FLAKY}
        """,
        None,
    )
    for job in jobs:
        job["flaky_rate"] = _ratio(job["flaky_attempts"], job["attempts"])
    summary = query(
        """
        select
            count(*) as attempts,
            sum(case when is_flaky_failure then 1 else 0 end) as flaky_failures,
            count(distinct case when is_flaky_failure then job_key end) as flaky_jobs
        from main.fct_job_runs
        """,
        None,
    )[0]
    return {"jobs": jobs, "summary": summary}


def _steps(query: Query, tables: set[str]) -> dict[str, Any]:
    steps = query(
        f"""
        select
            repository,
            workflow_name,
            job_name,
            step_name,
            count(*) as runs,
            quantile_cont(duration_seconds, 0.5) as p50_seconds,
            quantile_cont(duration_seconds, 0.95) as p95_seconds,
            max(duration_seconds) as max_seconds,
            sum(duration_seconds) as total_seconds
        from main.fct_step_runs
        where duration_seconds is not null
        group by repository, workflow_name, job_name, step_name
        order by total_seconds desc, repository, workflow_name, job_name, step_name
        limit {TOP_STEPS}
        """,
        None,
    )
    total = query(
        "select sum(duration_seconds) as total_seconds, count(*) as step_runs "
        "from main.fct_step_runs",
        None,
    )[0]
    return {"steps": steps, "summary": total}


# --------------------------------------------------------------------------- values


def _ratio(part: float | None, whole: float | None) -> float | None:
    if not whole or part is None:
        return None
    return part / whole


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def plain(value: Any) -> Any:
    """JSON-ready: ISO 8601 timestamps and dates, floats for decimals, None for NaN."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
