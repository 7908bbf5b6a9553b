"""Detection benchmark for the anomaly engine's part-2 kinds: resource_misuse, metric_anomaly and
the security signals (docs/anomaly-engine.md, "Part 2 benchmark").

For each seed: a labeled history (apoa/signals_labeled.py) and, apart, the ordinary generated
history with its own side data (apoa.generator.generate_side_data), each landed in a fresh
DuckDB warehouse as raw rows and built with the real dbt project (`dbt run --select
+fct_findings`). Scored per labeled episode: a finding of the right kind on the right entity
that starts at the labeled start (within 30 minutes for a metric series, one hour for a run)
counts once; a second finding of the same kind on the same job from the same first run is a
duplicate (a memory leak also raises memory utilization), counted apart; anything else of
these kinds is a false finding. The ordinary history must raise no security finding at all.

    .venv/bin/python -m benchmarks.signals                  # seeds 101 102 103
    .venv/bin/python -m benchmarks.signals --seeds 1 2 3    # the tuning seeds
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from apoa.labeled import land
from apoa.signals_labeled import SignalCase, generate_signal_history, normal_history

KINDS = (
    "resource_misuse",
    "metric_anomaly",
    "security_new_runner_label",
    "security_new_deploy_actor",
    "security_fork_pull_request_target",
    "security_secret_in_logs",
)


def build(messages: list[Any], home: Path) -> list[dict[str, Any]]:
    from tests.test_scoring import query, run_dbt

    db_path = home / "apoa.duckdb"
    land(db_path, messages)
    run_dbt(["run", "--select", "+fct_findings"], home)
    return query(db_path, "select * from main.fct_findings")


def entity_of(finding: dict[str, Any]) -> str:
    if finding["kind"] == "metric_anomaly":
        found = re.search(r'"instance_name":"([^"]+)"', finding["metric_series"] or "")
        return found.group(1) if found else finding["entity"]
    if finding["kind"] in ("security_secret_in_logs", "resource_misuse"):
        return finding["entity"]
    return finding["repository"]


def matches(finding: dict[str, Any], case: SignalCase) -> bool:
    if finding["kind"] != case.kind or entity_of(finding) != case.entity:
        return False
    started = finding["started_at"].replace(tzinfo=UTC)
    slack = timedelta(minutes=30) if case.kind == "metric_anomaly" else timedelta(hours=1)
    return case.start - timedelta(minutes=1) <= started <= case.start + slack


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.signals", description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103])
    parser.add_argument("--runs", type=int, default=120, help="runs per workflow")
    args = parser.parse_args(argv)

    began = time.monotonic()
    found: Counter[tuple[str, str]] = Counter()
    labeled: Counter[tuple[str, str]] = Counter()
    true: Counter[str] = Counter()
    false: Counter[str] = Counter()
    duplicates: Counter[str] = Counter()
    negatives: Counter[tuple[str, str]] = Counter()
    negative_hits: Counter[tuple[str, str]] = Counter()
    normal_security: Counter[str] = Counter()
    false_details: list[str] = []
    for seed in args.seeds:
        history = generate_signal_history(seed, runs=args.runs)
        with tempfile.TemporaryDirectory(prefix="apoa-signals-") as tmp:
            findings = [f for f in build(history.messages, Path(tmp)) if f["kind"] in KINDS]
        positives = [c for c in history.cases if c.positive]
        for case in positives:
            labeled[(case.kind, case.scenario)] += 1
            if any(matches(f, case) for f in findings):
                found[(case.kind, case.scenario)] += 1
        for case in history.cases:
            if not case.positive:
                negatives[(case.kind, case.scenario)] += 1
                if any(f["kind"] == case.kind and entity_of(f) == case.entity for f in findings):
                    negative_hits[(case.kind, case.scenario)] += 1
        claimed: set[tuple[str, str]] = set()
        for finding in findings:
            kind = finding["kind"]
            case = next((c for c in positives if matches(finding, c)), None)
            if case is not None and (case.kind, case.entity) not in claimed:
                claimed.add((case.kind, case.entity))
                true[kind] += 1
            elif case is not None or any(
                kind == c.kind == "resource_misuse"
                and finding["first_job_run_id"] == c.first_job_run_id
                for c in positives
            ):
                duplicates[kind] += 1
            else:
                false[kind] += 1
                false_details.append(f"seed {seed}: {finding['summary']}")
        with tempfile.TemporaryDirectory(prefix="apoa-signals-normal-") as tmp:
            for finding in build(normal_history(seed, runs=args.runs), Path(tmp)):
                if finding["kind"].startswith("security_"):
                    normal_security[finding["kind"]] += 1
                    false_details.append(f"seed {seed} (ordinary): {finding['summary']}")

    seeds = " ".join(str(s) for s in args.seeds)
    print(f"Part-2 detection benchmark, seeds {seeds} ({len(args.seeds)} labeled histories)\n")
    print("Recall per scenario (a finding of the right kind, entity and start):")
    print(f"{'kind':<34} {'scenario':<36} {'episodes':>8} {'found':>6} {'recall':>7}")
    for kind, scenario in sorted(labeled):
        n, hit = labeled[(kind, scenario)], found[(kind, scenario)]
        print(f"{kind:<34} {scenario:<36} {n:>8} {hit:>6} {hit / n:>7.2f}")
    print("\nPrecision per kind (duplicates: a second finding of the same episode, apart):")
    print(f"{'kind':<34} {'findings':>8} {'true':>5} {'false':>6} {'dup':>4} {'precision':>10}")
    for kind in KINDS:
        total = true[kind] + false[kind]
        precision = f"{true[kind] / total:.2f}" if total else "-"
        print(
            f"{kind:<34} {total + duplicates[kind]:>8} {true[kind]:>5} {false[kind]:>6} "
            f"{duplicates[kind]:>4} {precision:>10}"
        )
    print("\nHard negatives (findings of their kind on their entity; none allowed):")
    for kind, scenario in sorted(negatives):
        print(
            f"{kind:<34} {scenario:<36} {negatives[(kind, scenario)]:>3} cases "
            f"{negative_hits[(kind, scenario)]:>3} with a finding"
        )
    total_normal = sum(normal_security.values())
    print(
        f"\nSecurity findings on the ordinary histories (no labeled event): {total_normal}"
        + (f" {dict(normal_security)}" if total_normal else "")
    )
    for line in false_details:
        print(f"  false: {line}")
    print(f"\nwall time: {time.monotonic() - began:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
