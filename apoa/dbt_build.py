"""Run dbt in this process (the warehouse owner), serialised: dbtRunner is not re-entrant."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from apoa import dbt_templates
from apoa.settings import Settings

_lock = threading.Lock()
SLOWEST_SHOWN = 3


@dataclass(frozen=True)
class BuildResult:
    success: bool
    nodes: int
    failures: list[str]
    # Every node's (name, seconds), slowest first: where a slow micro-batch went.
    timings: tuple[tuple[str, float], ...] = ()

    @property
    def slowest(self) -> tuple[tuple[str, float], ...]:
        return self.timings[:SLOWEST_SHOWN]

    def to_dict(self) -> dict:
        return {"success": self.success, "nodes": self.nodes, "failures": self.failures}


def _args(settings: Settings, command: str, extra: list[str] | None) -> list[str]:
    return [
        command,
        "--project-dir", str(settings.project_dir),
        "--profiles-dir", str(settings.profiles_dir),
        "--target", settings.dbt_target,
        *(extra or []),
    ]  # fmt: skip


def parse_manifest(settings: Settings):
    """Parse the project once, so repeated micro-batch runs skip dbt's parsing."""
    from dbt.cli.main import dbtRunner

    settings.export()
    with _lock:
        outcome = dbtRunner().invoke(_args(settings, "parse", None))
    if not outcome.success:
        raise RuntimeError(f"dbt parse failed: {outcome.exception}")
    # after the parse: its thousands of one-off snippets would only crowd the cache
    dbt_templates.install()
    return outcome.result


def run_dbt(
    settings: Settings, command: str = "build", extra: list[str] | None = None, manifest=None
) -> BuildResult:
    from dbt.cli.main import dbtRunner

    settings.export()
    with _lock:
        outcome = dbtRunner(manifest=manifest).invoke(_args(settings, command, extra))
    failures: list[str] = []
    timings: list[tuple[str, float]] = []
    if outcome.result is not None and hasattr(outcome.result, "results"):
        for result in outcome.result.results:
            timings.append((result.node.name, round(result.execution_time or 0.0, 2)))
            if str(result.status) in ("error", "fail"):
                failures.append(f"{result.node.unique_id}: {result.message}")
    if outcome.exception is not None:
        failures.append(str(outcome.exception))
    return BuildResult(
        success=bool(outcome.success),
        nodes=len(timings),
        failures=failures,
        timings=tuple(sorted(timings, key=lambda timing: -timing[1])),
    )
