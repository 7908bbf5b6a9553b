"""A small run of the load benchmark (benchmarks/ingest_load.py): nothing lost, nothing doubled.

Throughput is reported by the benchmark script, not asserted here.
"""

from __future__ import annotations

from benchmarks.ingest_load import run
from tests.emulator_fixtures import require_emulator


def test_five_thousand_messages_through_the_emulator_land_exactly_once():
    require_emulator()
    result = run(5000, timeout=600, quiet=True, push_processes=(2,))
    (ingest,) = result["ingests"]
    assert ingest["phase"].delivered == 5000
    assert ingest["loss"] == 0
    assert ingest["duplicates"] == 0
    assert ingest["build_ok"]
    raw = {k: v for k, v in ingest["integrity"].items() if k.startswith("raw.raw_")}
    assert sum(v["rows"] for k, v in raw.items() if "dead" not in k) == 5000
    assert ingest["integrity"]["main.stg_github__workflow_job_deliveries"]["rows"] > 0
