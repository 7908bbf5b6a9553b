"""Detection benchmark: the anomaly engine against labeled histories, robust vs naive z-score.

For every seed, generates a labeled history (apoa/labeled.py: sustained regressions of
+30/+60/+150%, queue spikes of 5x/20x, failure rates rising to 20%/60%, flaky jobs at
10%/35%, broken default branches, and hard negatives), lands it in a fresh DuckDB warehouse
as raw webhook rows, runs the real dbt project once with `apoa_scorer: robust` and once with
`apoa_scorer: zscore`, and scores fct_findings per episode:

- a finding of the right kind on the right entity whose first run (its probable start) lies
  within 10 runs of the labeled start counts once; it may come from either branch class of
  the job (a regression slows feature branches too): a second such finding from the other
  branch class is counted as a duplicate, not as false;
- any other finding is false; findings on hard-negative entities are listed apart (one
  episode of at most 5 runs is tolerated on the reverted regression).

Tuning was done on seeds 1, 2 and 3 only. The default seeds (101 102 103) were not looked at
while tuning: report those.

    .venv/bin/python -m benchmarks.detection                  # seeds 101 102 103
    .venv/bin/python -m benchmarks.detection --seeds 1 2 3    # the tuning seeds
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from apoa.labeled import LabeledEpisode, LabeledHistory, generate_labeled_history, land

ROOT = Path(__file__).resolve().parent.parent
EVALUATION_SEEDS = (101, 102, 103)
WITHIN = 10  # a finding's first run lies within this many runs of the labeled start
SCORERS = ("robust", "zscore")
NUMERIC_KINDS = ("duration_regression", "queue_spike")


def run_dbt(home: Path, scorer: str, extra_vars: dict[str, Any]) -> float:
    from dbt.cli.main import dbtRunner

    os.environ["APOA_HOME"] = str(home)
    os.environ["NO_GCE_CHECK"] = "true"
    started = time.monotonic()
    outcome = dbtRunner().invoke(
        [
            "run",
            "--quiet",
            "--select",
            "+fct_findings",
            "--vars",
            json.dumps({"apoa_scorer": scorer, **extra_vars}),
            "--project-dir",
            str(ROOT),
            "--profiles-dir",
            str(ROOT / "dbt_project"),
            "--target-path",
            str(home / "target"),
            "--log-path",
            str(home / "logs"),
        ]
    )
    if not outcome.success:
        failed = [
            f"{result.node.unique_id}: {result.message}"
            for result in getattr(outcome.result, "results", None) or []
            if str(result.status) in ("error", "fail", "runtime error")
        ]
        raise RuntimeError(f"dbt run failed ({scorer}): {failed or outcome.exception}")
    return time.monotonic() - started


def read_findings(db_path: Path) -> list[dict[str, Any]]:
    # dbt ran in this process and may still hold the file: open it with the same settings
    with duckdb.connect(str(db_path)) as con:
        cursor = con.execute("select * from main.fct_findings order by detected_at, finding_id")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# --------------------------------------------------------------------------- scoring


@dataclass
class Match:
    episode: LabeledEpisode
    finding: dict[str, Any] | None = None
    delay_runs: int | None = None


@dataclass
class SeedResult:
    seed: int
    matches: dict[str, list[Match]] = field(default_factory=dict)  # scorer -> per episode
    false: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    negatives: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    tolerated: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    findings: dict[str, int] = field(default_factory=dict)


def finding_entity(finding: dict[str, Any]) -> str:
    if finding["kind"] == "queue_spike":
        return f"runner {finding['runner_label']}"
    return f"{finding['repository']} / {finding['workflow_name']} / {finding['job_name']}"


FALSE_CAUSES = ("start off by >10", "hard negative", "another kind", "unlabeled")


def false_cause(finding: dict[str, Any], history: LabeledHistory) -> str:
    """Where a false finding fell: a misplaced start of a real episode is not a false alarm."""
    entity = finding_entity(finding)
    kinds = {e.kind for e in history.episodes if e.entity == entity}
    if finding["kind"] in kinds:
        return FALSE_CAUSES[0]
    if any(n.entity == entity for n in history.negatives):
        return FALSE_CAUSES[1]
    return FALSE_CAUSES[2] if kinds else FALSE_CAUSES[3]


def _series_times(history: LabeledHistory) -> dict[tuple, list[float]]:
    """(entity, branch class or None) -> created time of each run's first attempt, by position."""
    firsts: dict[tuple, dict[int, float]] = defaultdict(dict)
    for job_run_id, (entity, default, position) in history.job_positions.items():
        at = history.created[job_run_id]
        current = firsts[(entity, default)].get(position)
        firsts[(entity, default)][position] = at if current is None else min(current, at)
    for job_run_id, (entity, position) in history.pool_positions.items():
        firsts[(entity, None)][position] = history.created[job_run_id]
    return {key: [at for _, at in sorted(times.items())] for key, times in firsts.items()}


def score(history: LabeledHistory, scorer: str, findings: list[dict[str, Any]], result) -> None:
    times = _series_times(history)
    negatives = {n.entity: n for n in history.negatives}
    used: set[str] = set()
    matches = []
    duplicates = 0

    def within(finding: dict[str, Any], episode: LabeledEpisode) -> bool:
        """The finding's first run lies within 10 runs of the episode's start, counted in the
        finding's own series (the other branch class sees the change at its next run)."""
        job_run_id = finding["first_job_run_id"]
        if episode.kind == "queue_spike":
            default, position = None, history.pool_positions[job_run_id][1]
        else:
            _, default, position = history.job_positions[job_run_id]
        series = times.get((episode.entity, default))
        if not series:
            return False
        start_at = history.created[episode.start_job_run_id]
        start = bisect.bisect_left(series, start_at - 1.0) + 1
        return abs(position - start) <= WITHIN

    for episode in history.episodes:
        series = times[(episode.entity, episode.is_default_branch)]
        start = episode.start_position
        candidates = [
            f
            for f in findings
            if f["kind"] == episode.kind
            and finding_entity(f) == episode.entity
            and f["finding_id"] not in used
            and within(f, episode)
        ]
        match = Match(episode)
        if candidates:
            first = min(candidates, key=lambda f: f["detected_at"])
            match.finding = first
            detected = first["detected_at"].timestamp()
            match.delay_runs = sum(1 for at in series[start - 1 :] if at <= detected) - 1
            used.add(first["finding_id"])
            for other in candidates:
                if other is not first and other["is_default_branch"] != first["is_default_branch"]:
                    used.add(other["finding_id"])
                    duplicates += 1
        matches.append(match)
    false, on_negatives, tolerated = [], defaultdict(list), 0
    budget = {entity: n.tolerated_episodes for entity, n in negatives.items()}
    for finding in findings:
        if finding["finding_id"] in used:
            continue
        entity = finding_entity(finding)
        negative = negatives.get(entity)
        if negative is not None:
            short = (finding["episode_runs"] or 0) <= negative.tolerated_runs
            if budget[entity] > 0 and short and finding["kind"] == "duration_regression":
                budget[entity] -= 1
                tolerated += 1
                continue
            on_negatives[negative.scenario].append(finding)
        false.append(finding)
    result.matches[scorer] = matches
    result.false[scorer] = false
    result.duplicates[scorer] = duplicates
    result.negatives[scorer] = dict(on_negatives)
    result.tolerated[scorer] = tolerated
    result.findings[scorer] = len(findings)


def _created(history: LabeledHistory, finding: dict[str, Any]) -> float:
    return history.created.get(finding["first_job_run_id"], 0.0)


# --------------------------------------------------------------------------- the report


def _ratio(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator:.2f}" if denominator else "  - "


def report(results: list[SeedResult], histories: dict[int, LabeledHistory]) -> str:
    present = tuple(s for s in SCORERS if all(s in r.matches for r in results))
    lines = []
    seeds = " ".join(str(r.seed) for r in results)
    lines.append(f"Detection benchmark, seeds {seeds} ({len(results)} labeled histories)")
    lines.append("")
    lines.append("Recall per scenario (a finding of the right kind, entity and start):")
    header = f"{'scenario':<26} {'kind':<22} {'episodes':>8}"
    for scorer in present:
        header += f" {scorer + ' found':>13} {'recall':>6}"
    header += f" {'median delay':>13}"
    lines.append(header)
    scenarios: dict[str, dict[str, list[Match]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        for scorer, matches in result.matches.items():
            for match in matches:
                scenarios[match.episode.scenario][scorer].append(match)
    lead = present[0]  # the delay column is the first scorer's (robust unless not run)
    for scenario, by_scorer in scenarios.items():
        lead_matches = by_scorer[lead]
        kind = lead_matches[0].episode.kind
        row = f"{scenario:<26} {kind:<22} {len(lead_matches):>8}"
        for scorer in present:
            matches = by_scorer[scorer]
            found = sum(1 for m in matches if m.finding)
            numeric = kind in NUMERIC_KINDS or scorer == "robust"
            ratio = _ratio(found, len(matches)) if numeric else ""
            row += f" {found if numeric else '':>13} {ratio:>6}"
        delays = [m.delay_runs for m in lead_matches if m.delay_runs is not None]
        row += f" {f'{statistics.median(delays):.0f} runs' if delays else '-':>13}"
        lines.append(row)
    lines.append("")
    lines.append("Precision per kind (true = matched to a labeled episode; a second finding of the")
    lines.append("same episode on the job's other branch class is a duplicate, counted apart):")
    header = f"{'kind':<22}"
    for scorer in present:
        header += f" | {scorer:>6} findings  true  false  precision"
    lines.append(header)
    kinds = sorted({m.episode.kind for r in results for m in r.matches[lead]})
    for kind in kinds:
        row = f"{kind:<22}"
        for scorer in present:
            true = sum(
                1
                for r in results
                for m in r.matches[scorer]
                if m.finding and m.episode.kind == kind
            )
            false = sum(1 for r in results for f in r.false[scorer] if f["kind"] == kind)
            total = true + false
            if scorer == "zscore" and kind not in NUMERIC_KINDS:
                row += f" | {'(shared rule or robust only)':>37}"
                continue
            row += f" | {total:>15} {true:>5} {false:>6} {_ratio(true, total):>10}"
        lines.append(row)
    for scorer in present:
        dups = sum(r.duplicates[scorer] for r in results)
        lines.append(f"  duplicates across branch classes ({scorer}): {dups}")
    lines.append("")
    lines.append("Hard negatives (findings on their entities; none allowed but one short episode")
    lines.append("on a reverted regression):")
    names = ", ".join(present)
    lines.append(
        f"{'scenario':<34} {'entities':>8}"
        + "".join(f" {scorer:>7}" for scorer in present)
        + f"   {f'of which duration / queue ({names})':>42}"
    )
    counts: dict[str, int] = defaultdict(int)
    for history in histories.values():
        for negative in history.negatives:
            counts[negative.scenario] += 1
    for scenario, entities in counts.items():
        row = f"{scenario:<34} {entities:>8}"
        numeric = []
        for scorer in present:
            found = [f for r in results for f in r.negatives[scorer].get(scenario, [])]
            row += f" {len(found):>7}"
            numeric.append(sum(1 for f in found if f["kind"] in NUMERIC_KINDS))
        row += f"   {', '.join(str(n) for n in numeric):>42}"
        lines.append(row)
    for scorer in present:
        tolerated = sum(r.tolerated[scorer] for r in results)
        lines.append(f"  tolerated short episodes on reverted regressions ({scorer}): {tolerated}")
    lines.append("")
    lines.append("False findings by kind and where they fell: on an episode of their kind but")
    lines.append("starting more than 10 runs from its labeled start, on a hard negative, on an")
    lines.append("entity labeled with another kind, on an entity with no label:")
    for scorer in present:
        causes: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FALSE_CAUSES, 0))
        for r in results:
            for f in r.false[scorer]:
                if scorer == "zscore" and f["kind"] not in NUMERIC_KINDS:
                    continue  # as in the precision table: its other kinds are not compared
                causes[f["kind"]][false_cause(f, histories[r.seed])] += 1
        lines.append(
            f"  {scorer:<22}" + "".join(f" {cause:>16}" for cause in FALSE_CAUSES) + f" {'all':>5}"
        )
        for kind, counts in sorted(causes.items()):
            lines.append(
                f"  {kind:<22}"
                + "".join(f" {counts[cause]:>16}" for cause in FALSE_CAUSES)
                + f" {sum(counts.values()):>5}"
            )
        if not causes:
            lines.append("  none")
    lines.append("")
    seconds = {s: sum(r.seconds.get(s, 0.0) for r in results) for s in present}
    lines.append(
        "dbt run time: " + ", ".join(f"{s} {seconds[s]:.0f}s" for s in present) + " (all seeds)"
    )
    return "\n".join(lines)


def _position(history: LabeledHistory, job_run_id: int, kind: str) -> str:
    if kind == "queue_spike" and job_run_id in history.pool_positions:
        return f"pool#{history.pool_positions[job_run_id][1]}"
    if job_run_id in history.job_positions:
        _, default, position = history.job_positions[job_run_id]
        return f"{'main' if default else 'other'}#{position}"
    return "?"


def details(result: SeedResult, history: LabeledHistory, scorer: str) -> str:
    """The misses and false findings of one seed, for finding their causes (tuning seeds)."""
    scenario_of = {e.entity: e.scenario for e in history.episodes}
    scenario_of.update({n.entity: n.scenario for n in history.negatives})
    lines = [f"seed {result.seed} ({scorer}): misses"]
    for match in result.matches[scorer]:
        if match.finding is None:
            e = match.episode
            branch = "main" if e.is_default_branch else "other"
            start = f"{branch}#{e.start_position}"
            lines.append(f"  {e.scenario:<26} {e.entity}  labeled start {start}")
    lines.append(f"seed {result.seed} ({scorer}): false findings")
    for f in result.false[scorer]:
        entity = finding_entity(f)
        lines.append(
            f"  {f['kind']:<21} {entity} [{scenario_of.get(entity, 'pool member')}] first "
            f"{_position(history, f['first_job_run_id'], f['kind'])} runs {f['episode_runs']} "
            f"rev {f['revision']}: {f['summary']}"
        )
    return "\n".join(lines)


def run_seed(
    seed: int,
    extra_vars: dict[str, Any],
    keep: Path | None,
    scorers: tuple[str, ...] = SCORERS,
    show_details: bool = False,
    runs: int = 240,
) -> tuple[Any, Any]:
    history = generate_labeled_history(seed, runs=runs)
    with tempfile.TemporaryDirectory(prefix=f"apoa-detection-{seed}-") as tmp:
        home = keep / str(seed) if keep else Path(tmp)
        home.mkdir(parents=True, exist_ok=True)
        db_path = home / "apoa.duckdb"
        db_path.unlink(missing_ok=True)
        land(db_path, history.messages, f"labeled-{seed}")
        result = SeedResult(seed)
        for scorer in scorers:
            result.seconds[scorer] = run_dbt(home, scorer, extra_vars)
            score(history, scorer, read_findings(db_path), result)
            if show_details:
                print(details(result, history, scorer), file=sys.stderr, flush=True)
    return history, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.detection", description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(EVALUATION_SEEDS))
    parser.add_argument("--vars", default="{}", help="extra dbt vars as JSON (for ablations)")
    parser.add_argument("--keep", type=Path, help="keep each seed's warehouse under this dir")
    parser.add_argument(
        "--scorers", nargs="+", choices=SCORERS, default=list(SCORERS), help="scorers to run"
    )
    parser.add_argument("--runs", type=int, default=240, help="runs per job (default 240)")
    parser.add_argument(
        "--details", action="store_true", help="list each seed's misses and false findings"
    )
    args = parser.parse_args(argv)
    extra = json.loads(args.vars)
    started = datetime.now()
    histories, results = {}, []
    for seed in args.seeds:
        history, result = run_seed(
            seed, extra, args.keep, tuple(args.scorers), args.details, args.runs
        )
        histories[seed] = history
        results.append(result)
        print(f"seed {seed}: done", file=sys.stderr, flush=True)
    print(report(results, histories))
    if extra:
        print(f"extra vars: {json.dumps(extra)}")
    print(f"wall time: {(datetime.now() - started).total_seconds():.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
