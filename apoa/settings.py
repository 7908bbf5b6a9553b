"""Local settings, read once. All local state lives under APOA_HOME."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The dbt project sits at the repository root, next to this package (editable install).
PROJECT_DIR = Path(__file__).resolve().parent.parent

TOPICS = ("github-events", "pipeline-logs", "pipeline-metrics")
FINDINGS_TOPIC = "apoa-findings"


def dbt_target_dir() -> Path:
    """Where dbt runs in this process write manifest.json, run_results.json and compiled SQL:
    DBT_TARGET_PATH when set (each test worker has its own), else the project's target/."""
    return Path(os.environ.get("DBT_TARGET_PATH", PROJECT_DIR / "target"))


@dataclass(frozen=True)
class Settings:
    home: Path
    project_dir: Path = PROJECT_DIR
    dbt_target: str = "local"
    pubsub_project: str = "apoa-local"

    @property
    def db_path(self) -> Path:
        return self.home / "apoa.duckdb"

    @property
    def wal_path(self) -> Path:
        """DuckDB's write-ahead log beside the database file."""
        return self.home / "apoa.duckdb.wal"

    @property
    def profiles_dir(self) -> Path:
        return self.project_dir / "dbt_project"

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("APOA_HOME", ".apoa")).resolve()
        return cls(
            home=home,
            project_dir=Path(os.environ.get("APOA_PROJECT_DIR", PROJECT_DIR)).resolve(),
            dbt_target=os.environ.get("APOA_DBT_TARGET", "local"),
            pubsub_project=os.environ.get("APOA_PUBSUB_PROJECT", "apoa-local"),
        )

    def export(self) -> None:
        """dbt's profile reads APOA_HOME from the environment: make it absolute for it."""
        os.environ["APOA_HOME"] = str(self.home)
