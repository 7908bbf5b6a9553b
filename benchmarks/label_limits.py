"""What the labeled histories allow: the failure-rate 20% ceiling of the detection benchmark.

An episode counts as found when a finding's first run lies within 10 runs of its label, the
first failing default-branch run after the rate rises. When that failure is followed by
more than 10 runs without another, nothing tells it from the ordinary failures before the
rise (2% of runs), and the second failure is already too late to count: no scorer that
cannot see the future of a lone failure finds that episode. This counts such episodes per
seed from the generated histories alone (no warehouse, no engine).

    .venv/bin/python -m benchmarks.label_limits --seeds 301 302 303
"""

from __future__ import annotations

import argparse
import sys

from apoa.labeled import default_branch_failures_after_start
from benchmarks.detection import WITHIN

SCENARIO = "failure rate 2% -> 20%"


def opens_with_a_lone_failure(failed: list[bool], within: int = WITHIN) -> bool:
    """The first failure is followed by more than `within` runs without another (or by none)."""
    failures = [i for i, f in enumerate(failed) if f]
    return bool(failures) and (len(failures) < 2 or failures[1] - failures[0] > within)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    args = parser.parse_args(argv)
    episodes = lone = 0
    print(f"{'seed':>6} {'episodes':>9} {'lone first failure':>19}")
    for seed in args.seeds:
        jobs = [f for f in default_branch_failures_after_start(seed, SCENARIO) if any(f)]
        count = sum(opens_with_a_lone_failure(f) for f in jobs)
        episodes, lone = episodes + len(jobs), lone + count
        print(f"{seed:>6} {len(jobs):>9} {count:>19}", flush=True)
    if episodes:
        print(f"{'all':>6} {episodes:>9} {lone:>19}   recall ceiling {1 - lone / episodes:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
