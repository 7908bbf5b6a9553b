"""Exporter configuration, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class ExporterConfig:
    project: str
    metric_types: tuple[str, ...]
    topic: str = "pipeline-metrics"
    # A gs://bucket/object URI in production, a local file path otherwise.
    checkpoint: str = ".apoa/exporter-checkpoint.json"
    # Extra Monitoring filter AND-ed to each metric.type (e.g. a resource label).
    extra_filter: str = ""
    # First run (no checkpoint): how far back to start.
    initial_lookback: timedelta = timedelta(hours=1)
    # Points become readable a few minutes after their end time: never read that close to now.
    settle: timedelta = timedelta(minutes=4)
    # Longest interval one list call covers; a long outage is caught up window by window.
    max_window: timedelta = timedelta(hours=1)
    page_size: int = 1000

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ExporterConfig:
        project = env.get("APOA_EXPORTER_PROJECT") or env.get("GOOGLE_CLOUD_PROJECT", "")
        if not project:
            raise ValueError("set APOA_EXPORTER_PROJECT (or GOOGLE_CLOUD_PROJECT)")
        metric_types = tuple(
            metric.strip()
            for metric in env.get("APOA_EXPORTER_METRIC_TYPES", "").split(",")
            if metric.strip()
        )
        if not metric_types:
            raise ValueError("set APOA_EXPORTER_METRIC_TYPES (comma-separated metric types)")
        return cls(
            project=project,
            metric_types=metric_types,
            topic=env.get("APOA_EXPORTER_TOPIC", cls.topic),
            checkpoint=env.get("APOA_EXPORTER_CHECKPOINT", cls.checkpoint),
            extra_filter=env.get("APOA_EXPORTER_FILTER", ""),
            initial_lookback=_seconds(env, "APOA_EXPORTER_INITIAL_LOOKBACK_SECONDS", 3600),
            settle=_seconds(env, "APOA_EXPORTER_SETTLE_SECONDS", 240),
            max_window=_seconds(env, "APOA_EXPORTER_MAX_WINDOW_SECONDS", 3600),
            page_size=int(env.get("APOA_EXPORTER_PAGE_SIZE", cls.page_size)),
        )


def _seconds(env: Mapping[str, str], name: str, default: int) -> timedelta:
    return timedelta(seconds=float(env.get(name, default)))
