"""A kept warehouse across emulator restarts: the emulator numbers message ids from 1 again."""

from __future__ import annotations

import json

from google.cloud import pubsub_v1

from apoa.emulator import create_topology
from tests.emulator_fixtures import PROJECT, start_emulator, start_served, stop_served


def publish(topic: str, payloads: list[dict]) -> list[str]:
    client = pubsub_v1.PublisherClient()
    path = client.topic_path(PROJECT, topic)
    return [client.publish(path, json.dumps(p).encode()).result(timeout=30) for p in payloads]


def test_new_messages_after_an_emulator_restart_land_although_their_ids_repeat(tmp_path):
    first = start_emulator(tmp_path / "first.log")
    served = start_served(tmp_path / "home", first)
    try:
        first_ids = publish("pipeline-logs", [{"before": n} for n in range(3)])
        assert served.wait_for_rows("raw_pipeline_logs", 3) == 3
        first.stop()

        second = start_emulator(tmp_path / "second.log")
        try:
            create_topology(PROJECT, served.url)
            second_ids = publish("pipeline-logs", [{"after": n} for n in range(3)])
            # the premise: the restarted emulator hands out the same ids again
            assert set(second_ids) & set(first_ids)
            assert served.wait_for_rows("raw_pipeline_logs", 6, timeout=60) == 6
        finally:
            second.stop()
    finally:
        first.stop()
        stop_served(served)
    bodies = [json.loads(row["payload"]) for row in served_rows(served)]
    assert sorted(map(json.dumps, bodies)) == sorted(
        [json.dumps({"before": n}) for n in range(3)] + [json.dumps({"after": n}) for n in range(3)]
    )


def served_rows(served) -> list[dict]:
    import duckdb

    # the owner has stopped: the warehouse file can be opened again
    with duckdb.connect(str(served.home / "apoa.duckdb"), read_only=True) as con:
        cursor = con.execute("select payload from raw.raw_pipeline_logs order by load_seq")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
