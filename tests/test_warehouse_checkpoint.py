"""The owner folds DuckDB's log into the database file after a whole build, not in the
next micro-batch's commit."""

from __future__ import annotations

import json

from apoa.settings import Settings
from apoa.warehouse import LocalWarehouse
from ingest.envelope import RawMessage


def wal_bytes(settings: Settings) -> int:
    wal = settings.wal_path
    return wal.stat().st_size if wal.exists() else 0


def test_checkpoint_empties_a_large_log_and_leaves_a_small_one(tmp_path):
    settings = Settings(home=tmp_path / "home")
    payload = json.dumps({"action": "completed", "padding": "x" * 5000})
    with LocalWarehouse(settings) as warehouse:
        for start in range(0, 2000, 500):
            warehouse.land(
                [
                    RawMessage("github-events", f"m-{n}", None, {}, None, payload)
                    for n in range(start, start + 500)
                ],
                [],
            )
        warehouse.flush()
        grown = wal_bytes(settings)
        assert grown > 1_000_000
        warehouse.checkpoint(min_wal_bytes=grown + 1)  # below the threshold: left alone
        assert wal_bytes(settings) == grown
        warehouse.checkpoint()
        assert wal_bytes(settings) < grown // 100
