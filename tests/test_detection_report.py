"""The detection benchmark's table, for any subset of its scorers (`--scorers zscore` alone
once failed on a missing robust column)."""

from __future__ import annotations

import pytest

from apoa.labeled import HardNegative, LabeledEpisode, LabeledHistory
from benchmarks.detection import Match, SeedResult, report

EPISODE = LabeledEpisode(
    scenario="duration +60%", kind="duration_regression", entity="o/r / CI / test",
    is_default_branch=True, start_position=80, start_job_run_id=1,
)  # fmt: skip
NEGATIVE = HardNegative("lone outliers up to 3x", "o/q / CI / test")


def seed_result(scorers: tuple[str, ...]) -> SeedResult:
    result = SeedResult(seed=1)
    for scorer, found in zip(("robust", "zscore"), (True, False), strict=True):
        if scorer not in scorers:
            continue
        finding = {"kind": "duration_regression", "finding_id": scorer} if found else None
        result.matches[scorer] = [Match(EPISODE, finding, 3 if found else None)]
        result.false[scorer] = [{"kind": "duration_regression"}] if scorer == "zscore" else []
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
