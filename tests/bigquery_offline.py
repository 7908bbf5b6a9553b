"""The dbt project compiled for the real `bigquery` target with no BigQuery reachable.

The recipe (DEVELOPERS.md): the `bigquery` output of dbt_project/profiles.yml with its
authentication swapped for a dummy OAuth token and its API endpoint pointed at a closed
loopback port, `--no-populate-cache --no-introspect` so dbt asks BigQuery nothing, and
`apoa_force_incremental` so is_incremental() needs no warehouse. Compiles are cached per
process: tests/test_bigquery_compile.py and tests/test_bqml.py share them, and the sqlfluff lint
of each distinct text (SqlLint), which runs in two worker processes beside the compiles.
"""

from __future__ import annotations

import atexit
import functools
import json
import multiprocessing
import os
import shutil
import socket
import tempfile
from collections.abc import Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlfluff.core import FluffConfig, Linter

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "apoa-offline"
DATASET = "pipeline_analytics"
SCORERS = ("robust", "zscore", "bqml_arima", "bqml_kmeans", "vertex")
# Rules that hold for any compiled SQL (layout is Jinja's, not ours): a bare UNION is a syntax
# error on BigQuery and a duplicate output column fails CREATE TABLE. Parse errors always count.
COMPILED_SQL_RULES = "AM02,AL08"


@dataclass(frozen=True)
class Compiled:
    scorer: str
    incremental: bool
    target_path: Path
    vars: str
    manifest: dict[str, Any]

    def models(self) -> dict[str, dict[str, Any]]:
        """The compiled models by name (every enabled model of a robust compile)."""
        return {
            node["name"]: node
            for node in self.manifest["nodes"].values()
            if node["resource_type"] == "model" and node.get("compiled")
        }

    def sql(self, name: str) -> str:
        return self.models()[name]["compiled_code"]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _scratch_dir(prefix: str) -> Path:
    """A temporary directory removed when the process exits (every run left ~6 MB each)."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory


@functools.cache
def offline_profiles_dir() -> Path:
    """dbt_project/profiles.yml's `bigquery` output, authentication and endpoint made offline."""
    profiles = yaml.safe_load((ROOT / "dbt_project" / "profiles.yml").read_text())
    output = dict(profiles["apoa"]["outputs"]["bigquery"])
    output.update(
        method="oauth-secrets",
        token="offline-no-credentials",
        project=PROJECT,
        dataset=DATASET,
        api_endpoint=f"http://127.0.0.1:{closed_port()}",
        job_retries=0,
        threads=1,
    )
    directory = _scratch_dir("apoa-bq-offline-")
    profile = {"apoa": {"target": "bigquery", "outputs": {"bigquery": output}}}
    (directory / "profiles.yml").write_text(yaml.safe_dump(profile))
    return directory


def dbt_arguments(target_path: Path) -> list[str]:
    """What every offline invocation shares: the project, the offline profile, its own target."""
    return [
        "--project-dir",
        str(ROOT),
        "--profiles-dir",
        str(offline_profiles_dir()),
        "--target",
        "bigquery",
        "--target-path",
        str(target_path),
        "--log-path",
        str(target_path / "logs"),
        "--quiet",
    ]


def invoke_dbt(args: list[str], target_path: Path, callbacks: list | None = None) -> Any:
    """dbt in this process (a run-operation reads the partial parse its compile left)."""
    from dbt.cli.main import dbtRunner

    saved = os.environ.get("NO_GCE_CHECK")
    os.environ["NO_GCE_CHECK"] = "true"  # google-auth must not probe a metadata server
    try:
        return dbtRunner(callbacks=callbacks or []).invoke([*args, *dbt_arguments(target_path)])
    finally:
        if saved is None:
            os.environ.pop("NO_GCE_CHECK", None)
        else:
            os.environ["NO_GCE_CHECK"] = saved


def compile_bigquery(scorer: str = "robust", incremental: bool = False) -> Compiled:
    """`dbt compile` of every model for the bigquery target, offline. Another scorer than
    robust changes only the scoring models: those (and what they need) are compiled."""
    # one cache key per variant, however it is asked for (`("robust")` and
    # `("robust", incremental=False)` are two keys to functools.cache)
    return _compile(scorer, incremental)


@functools.cache
def _compile(scorer: str, incremental: bool) -> Compiled:
    """In this process: two dbt processes at a time were slower (each new one pays dbt's
    imports and adapter start-up again, about as much as a compile)."""
    target_path = _scratch_dir(f"apoa-bq-{scorer}-{int(incremental)}-")
    variables = json.dumps(
        {"apoa_scorer": scorer, "apoa_force_incremental": "true" if incremental else "false"}
    )
    outcome = invoke_dbt(
        [
            "compile",
            "--no-populate-cache",
            "--no-introspect",
            "--select",
            "resource_type:model" if scorer == "robust" else "models/ml models/bqml fct_findings",
            "--vars",
            variables,
        ],
        target_path,
    )
    if not outcome.success:
        raise AssertionError(f"offline bigquery compile ({scorer}) failed: {outcome.exception}")
    manifest = json.loads((target_path / "manifest.json").read_text())
    return Compiled(scorer, incremental, target_path, variables, manifest)


def bigquery_linter(rules: str = COMPILED_SQL_RULES) -> Linter:
    """sqlfluff's bigquery dialect over already rendered SQL (no templater), no size limit."""
    config = FluffConfig(
        overrides={
            "dialect": "bigquery",
            "templater": "raw",
            "rules": rules,
            "large_file_skip_byte_limit": 0,
        },
        require_dialect=False,
    )
    return Linter(config=config)


def _lint_one(text: str) -> list[str]:
    """Violations (parse errors included) of one text: runs in a lint worker process."""
    linter = _worker_linter()
    return [
        f"L{violation.line_no}:{violation.line_pos} {violation.rule_code()} {violation.desc()}"
        for violation in linter.lint_string(text).get_violations()
    ]


@functools.cache
def _worker_linter() -> Linter:
    return bigquery_linter()


class SqlLint:
    """sqlfluff over rendered SQL in two worker processes, each distinct text once per session.
    Texts are submitted as soon as they exist (while the next variant compiles in this
    process) and collected when a test asks; `cancel_pending` drops what nobody asked for."""

    def __init__(self, processes: int = 2) -> None:
        # spawn, not fork: this process has dbt's threads and state
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(max_workers=processes, mp_context=context)
        self._futures: dict[str, Future[list[str]]] = {}

    def submit(self, texts: Iterable[str]) -> None:
        # the biggest first: the two workers finish together
        for text in sorted(set(texts) - set(self._futures), key=len, reverse=True):
            self._futures[text] = self._pool.submit(_lint_one, text)

    def problems(self, texts: dict[str, str]) -> dict[str, list[str]]:
        """Violations per name; names without any are left out."""
        self.submit(texts.values())
        found = {name: self._futures[text].result() for name, text in texts.items()}
        return {name: violations for name, violations in found.items() if violations}

    def cancel_pending(self) -> None:
        for text, future in list(self._futures.items()):
            if future.cancel():
                del self._futures[text]


@functools.cache
def sql_lint() -> SqlLint:
    return SqlLint()


def lint_sql(texts: dict[str, str]) -> dict[str, list[str]]:
    """Violations (parse errors included) per name; names without any are left out."""
    return sql_lint().problems(texts)
