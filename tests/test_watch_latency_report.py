"""The latency benchmark times the events that open a finding, not its resolutions."""

from __future__ import annotations

from benchmarks.watch_latency import Results, report


def _event(kind: str, status: str, job_run_id: int) -> dict:
    return {
        "kind": kind,
        "status": status,
        "revision": 1 if status == "open" else 2,
        "evidence": {"last_bad_run": {"job_run_id": job_run_id}},
        "entity": {"display": f"{kind}-{job_run_id}"},
    }


def test_only_opening_events_with_streamed_evidence_are_timed() -> None:
    results = Results(published=3, publish_seconds=1.0, completed_at={1: 100.0, 2: 100.0})
    results.arrivals = [
        (112.0, _event("duration_regression", "open", 1)),
        # the fix came 300 s after the last bad run: by design, not a delay
        (400.0, _event("failure_rate", "resolved", 2)),
        (130.0, _event("failure_rate", "open", 9)),  # its evidence was landed before
    ]
    text = report({"job_runs": 1, "build_seconds": 1.0, "announced": 0}, results, [], 20)
    [timed] = [line for line in text.splitlines() if line.startswith("delivery published")]
    assert timed.split()[-4:] == ["1", "12.0s", "12.0s", "12.0s"]
    assert "(1 about runs outside the stream, 1 resolutions)" in text
    assert "  12.0s duration_regression open r1" in text
    assert "      - failure_rate resolved r2" in text
