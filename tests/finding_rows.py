"""fct_findings rows for publisher and subscriber tests, shaped like the mart's contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb


def finding_row(**overrides: Any) -> dict[str, Any]:
    row = {
        "finding_id": "f1a2b3c4d5e6f708192a3b4c5d6e7f80",
        "kind": "duration_regression",
        "severity": "critical",
        "status": "open",
        "revision": 1,
        "repository": "octo/app",
        "workflow_name": "build",
        "job_name": "test (ubuntu, 3.12)",
        "branch": "main",
        "is_default_branch": True,
        "entity": "octo/app / build / test (ubuntu, 3.12)",
        "job_key": "k1",
        "first_job_run_id": 48630413032,
        "first_run_id": 17344720969,
        "first_run_number": 4812,
        "first_run_url": "https://github.com/octo/app/actions/runs/17344720969/job/48630413032",
        "last_run_url": "https://github.com/octo/app/actions/runs/17344799999/job/48630499999",
        "first_head_sha": "abc1234def5678abc1234def5678abc1234def56",
        "last_head_sha": "fff0000aaa1111fff0000aaa1111fff0000aaa11",
        "started_at": datetime(2026, 9, 30, 11, 0),
        "ended_at": None,
        "detected_at": datetime(2026, 9, 30, 12, 0),
        "anomalous_runs": 5,
        "observed_value": 845.0,
        "expected_value": 370.0,
        "expected_lower": 300.0,
        "expected_upper": 460.0,
        "unit": "seconds",
        "step_name": "Run pytest",
        "summary": "build / test (ubuntu, 3.12) on main takes 14m 05s, 2.3x its usual 6m 10s, "
        "since run #4812 (commit abc1234)",
        "scorer": "robust",
        "scorer_version": "1",
    }
    row.update(overrides)
    return row


def warehouse_with(rows: list[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with main.fct_findings holding these rows (columns of the first)."""
    con = duckdb.connect()
    replace_findings(con, rows)
    return con


def replace_findings(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    con.execute("drop table if exists main.fct_findings")
    columns = list(rows[0])
    types = {
        bool: "boolean", int: "bigint", float: "double", datetime: "timestamp", str: "varchar",
    }  # fmt: skip
    declared = []
    for column in columns:
        sample = next((row[column] for row in rows if row.get(column) is not None), "")
        declared.append(f"{column} {types.get(type(sample), 'varchar')}")
    con.execute(f"create table main.fct_findings ({', '.join(declared)})")
    placeholders = ", ".join("?" for _ in columns)
    for row in rows:
        con.execute(
            f"insert into main.fct_findings values ({placeholders})", [row.get(c) for c in columns]
        )
