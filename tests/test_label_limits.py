"""The failure-rate ceiling count (benchmarks/label_limits.py)."""

from __future__ import annotations

from benchmarks.label_limits import main, opens_with_a_lone_failure


def test_a_first_failure_counts_as_lone_only_when_the_next_is_out_of_reach():
    quick = [False, True] + [False] * 10 + [True]  # the next failure 11 runs later
    assert opens_with_a_lone_failure(quick, within=11) is False
    assert opens_with_a_lone_failure(quick, within=10) is True
    assert opens_with_a_lone_failure([True, False, True]) is False
    assert opens_with_a_lone_failure([False, True, False]) is True
    assert opens_with_a_lone_failure([False, False]) is False  # no failure: no episode


def test_the_count_reads_the_benchmarks_own_histories(capsys):
    assert main(["--seeds", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    seed_row = lines[1].split()
    assert seed_row[0] == "1"
    assert int(seed_row[1]) == 5  # five jobs of this scenario per seed, each shows failures
    assert 0 <= int(seed_row[2]) <= 5
    assert "recall ceiling" in lines[-1]
