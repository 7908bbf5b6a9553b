"""The detection benchmark's table, for any subset of its scorers (`--scorers zscore` alone
once failed on a missing robust column)."""

from __future__ import annotations

import pytest

from apoa.labeled import HardNegative, LabeledEpisode, LabeledHistory
from benchmarks.detection import FALSE_CAUSES, Match, SeedResult, false_cause, report

EPISODE = LabeledEpisode(
    scenario="duration +60%", kind="duration_regression", entity="o/r / CI / test",
    is_default_branch=True, start_position=80, start_job_run_id=1,
)  # fmt: skip
NEGATIVE = HardNegative("lone outliers up to 3x", "o/q / CI / test")
ON_THE_EPISODE_JOB = {
    "kind": "duration_regression", "repository": "o/r", "workflow_name": "CI", "job_name": "test",
}  # fmt: skip


def seed_result(scorers: tuple[str, ...]) -> SeedResult:
    result = SeedResult(seed=1)
    for scorer, found in zip(("robust", "zscore"), (True, False), strict=True):
        if scorer not in scorers:
            continue
        finding = {"kind": "duration_regression", "finding_id": scorer} if found else None
        result.matches[scorer] = [Match(EPISODE, finding, 3 if found else None)]
        result.false[scorer] = [dict(ON_THE_EPISODE_JOB)] if scorer == "zscore" else []
        result.duplicates[scorer] = 0
        result.negatives[scorer] = {}
        result.tolerated[scorer] = 0
        result.seconds[scorer] = 1.0
    return result


@pytest.mark.parametrize("scorers", [("robust", "zscore"), ("robust",), ("zscore",)])
def test_report_prints_recall_and_precision_for_the_scorers_that_ran(scorers):
    history = LabeledHistory(seed=1, messages=[], episodes=[EPISODE], negatives=[NEGATIVE])
    text = report([seed_result(scorers)], {1: history})
    recall = next(line for line in text.splitlines() if line.startswith("duration +60%"))
    precision = next(line for line in text.splitlines() if line.startswith("duration_regression"))
    if "robust" in scorers:
        assert "1   1.00" in recall
        assert "1     1      0       1.00" in precision
    if "zscore" in scorers:
        assert "0   0.00" in recall
        assert "1     0      1       0.00" in precision
    # the delay is the first scorer's: robust found it 3 runs in, zscore did not find it
    assert recall.split()[-1] == ("runs" if scorers[0] == "robust" else "-")


def test_false_findings_are_told_apart_by_where_they_fell():
    """A misplaced start of a real episode, a hard negative, another kind's entity, no label."""
    history = LabeledHistory(seed=1, messages=[], episodes=[EPISODE], negatives=[NEGATIVE])
    on_negative = dict(ON_THE_EPISODE_JOB, repository="o/q")
    other_kind = dict(ON_THE_EPISODE_JOB, kind="flaky_job")
    unlabeled = dict(ON_THE_EPISODE_JOB, repository="o/s")
    assert [
        false_cause(f, history) for f in (ON_THE_EPISODE_JOB, on_negative, other_kind, unlabeled)
    ] == list(FALSE_CAUSES)

    result = seed_result(("robust",))
    result.false["robust"] = [ON_THE_EPISODE_JOB, on_negative, other_kind, unlabeled, unlabeled]
    lines = report([result], {1: history}).splitlines()
    header = next(
        i for i, line in enumerate(lines) if line.startswith("  robust") and "all" in line
    )
    rows = {line.split()[0]: line.split()[1:] for line in lines[header + 1 : header + 3]}
    assert rows == {
        "duration_regression": ["1", "1", "0", "2", "4"],
        "flaky_job": ["0", "0", "1", "0", "1"],
    }
