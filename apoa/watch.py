"""Real time: a build and a publish within seconds of the job that caused them, without polling.

When the warehouse owner lands a completed `workflow_job` or `workflow_run`, it
notifies the trigger. The trigger waits for a short quiet period (so a burst of
events costs one build), then runs the models between the raw sources and
`fct_findings` (`dbt run`, no tests: those run in the scheduled full build) on a
manifest parsed once, and publishes new findings. Builds never overlap: events that
arrive during a build are picked up by the next one.

What findings do not need (the dimensions, the daily health mart, step facts) is left
to a whole run of everything downstream of the raw sources, which the trigger makes
instead of a finding-path run once `full_every_seconds` have passed since the last
one: locally that stands in for production's scheduled build.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from apoa.dbt_build import BuildResult
from ingest.envelope import RawMessage
from ingest.log import log

# Downstream of the raw sources and upstream of fct_findings: what a new finding needs.
MICRO_BATCH_SELECT = "source:raw+,+fct_findings"
# Everything downstream of the raw sources.
WHOLE_RUN_SELECT = "source:raw+"
WHOLE_RUN_EVERY_SECONDS = 600.0


def is_completed_delivery(message: RawMessage) -> bool:
    """A completed run or job: the moment a finding can change."""
    if message.attributes.get("github_event") not in ("workflow_job", "workflow_run"):
        return False
    action = message.attributes.get("github_action")
    if action is None:  # not set by every sender (the receiver sets it; replays may not)
        try:
            action = json.loads(message.payload).get("action")
        except (ValueError, AttributeError):
            return False
    return action == "completed"


@dataclass
class BatchStats:
    builds: int = 0
    failures: int = 0
    build_seconds: list[float] = field(default_factory=list)
    published: int = 0


class BuildTrigger:
    def __init__(
        self,
        build: Callable[[str], BuildResult],
        publish: Callable[[], int],
        quiet_seconds: float = 0.5,
        max_wait_seconds: float = 3.0,
        full_every_seconds: float = WHOLE_RUN_EVERY_SECONDS,
        after_publish: Callable[[], None] = lambda: None,
        build_at_start: bool = False,
    ) -> None:
        self._after_publish = after_publish  # housekeeping off the latency path
        self._build = build  # called with a dbt selector
        self._full_every = full_every_seconds
        self._last_whole_run = time.monotonic()
        self._publish = publish
        self._quiet = quiet_seconds
        self._max_wait = max_wait_seconds
        self._pending = threading.Event()
        self._last_event = 0.0
        self._stop = threading.Event()
        self.stats = BatchStats()
        if build_at_start:
            # Catch up at once: deliveries landed while nothing watched (or recovered from the
            # journal at start) would otherwise wait for the next completed one, and the
            # first build, which also creates the finding path's views, is off the latency
            # path of the first event.
            self._pending.set()
        self._thread = threading.Thread(target=self._run, name="apoa-build-trigger", daemon=True)
        self._thread.start()

    def notify(self, messages: Sequence[RawMessage]) -> None:
        if any(is_completed_delivery(message) for message in messages):
            self._last_event = time.monotonic()
            self._pending.set()

    def stop(self) -> None:
        self._stop.set()
        self._pending.set()
        self._thread.join(timeout=600)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._pending.wait()
            if self._stop.is_set():
                return
            first = time.monotonic()
            # Debounce: wait until events stop for a moment, but not longer than max_wait.
            while (
                time.monotonic() - self._last_event < self._quiet
                and time.monotonic() - first < self._max_wait
            ):
                time.sleep(0.05)
            self._pending.clear()
            started = time.monotonic()
            whole = started - self._last_whole_run >= self._full_every
            select = WHOLE_RUN_SELECT if whole else MICRO_BATCH_SELECT
            try:
                result = self._build(select)
                elapsed = time.monotonic() - started
                self.stats.builds += 1
                self.stats.build_seconds.append(elapsed)
                if not result.success:
                    self.stats.failures += 1
                    log(
                        "ERROR",
                        "micro-batch build failed; the next event retries",
                        failures=result.failures[:3],
                    )
                    continue
                if whole:
                    self._last_whole_run = started
                published = self._publish()
                self.stats.published += published
                log(
                    "INFO",
                    "micro-batch built",
                    seconds=round(elapsed, 2),
                    published=published,
                    select=select,
                    slowest=[f"{name} {seconds:.2f}s" for name, seconds in result.slowest],
                )
                self._after_publish()
            except Exception as error:  # noqa: BLE001 - keep the trigger alive for the next event
                self.stats.failures += 1
                log("ERROR", "micro-batch failed", error=str(error))
