"""The export loop: window by window, page by page, checkpoint last."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exporter.checkpoint import CheckpointStore
from exporter.config import ExporterConfig
from exporter.log import log
from exporter.monitoring import FetchPage, ListRequest, rfc3339
from exporter.publish import Message, PublishBatch

SOURCE = "cloud-monitoring-exporter"


@dataclass(frozen=True)
class WindowResult:
    metric_type: str
    start: datetime
    end: datetime
    pages: int
    series: int
    points: int


def export_id(metric_type: str, start: datetime, end: datetime, series: dict[str, Any]) -> str:
    """The same series in the same window always gets the same id: a repeated window (after a
    failed run) publishes messages a consumer can recognise as repeats."""
    identity = json.dumps(
        [
            metric_type,
            rfc3339(start),
            rfc3339(end),
            series.get("metric", {}).get("labels", {}),
            series.get("resource", {}),
        ],
        sort_keys=True,
    )
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def to_message(metric_type: str, start: datetime, end: datetime, series: dict[str, Any]) -> Message:
    attributes = {
        "source": SOURCE,
        "metric_type": metric_type,
        "resource_type": str(series.get("resource", {}).get("type", "")),
        "window_start": rfc3339(start),
        "window_end": rfc3339(end),
        "export_id": export_id(metric_type, start, end, series),
    }
    data = json.dumps(series, separators=(",", ":"), sort_keys=True).encode()
    return Message(data=data, attributes=attributes)


def export_window(
    config: ExporterConfig,
    metric_type: str,
    start: datetime,
    end: datetime,
    fetch: FetchPage,
    publish: PublishBatch,
) -> WindowResult:
    """Publish every series with points in (start, end]. Raises if any page fails."""
    token = ""
    pages = series_count = points = 0
    while True:
        response = fetch(
            ListRequest(
                project=config.project,
                metric_type=metric_type,
                start=start,
                end=end,
                page_size=config.page_size,
                page_token=token,
                extra_filter=config.extra_filter,
            )
        )
        pages += 1
        page = response.get("timeSeries", [])
        if page:
            publish([to_message(metric_type, start, end, series) for series in page])
        series_count += len(page)
        points += sum(len(series.get("points", [])) for series in page)
        token = response.get("nextPageToken", "")
        if not token:
            return WindowResult(metric_type, start, end, pages, series_count, points)


def export_metric(
    config: ExporterConfig,
    metric_type: str,
    fetch: FetchPage,
    publish: PublishBatch,
    store: CheckpointStore,
    now: datetime,
) -> Iterator[WindowResult]:
    """Catch one metric type up to now - settle, saving the checkpoint after each window."""
    start = store.load(metric_type) or now - config.initial_lookback
    limit = now - config.settle
    while start < limit:
        end = min(start + config.max_window, limit)
        result = export_window(config, metric_type, start, end, fetch, publish)
        store.save(metric_type, end)
        log(
            "INFO",
            "exported window",
            metric_type=metric_type,
            window_start=rfc3339(start),
            window_end=rfc3339(end),
            pages=result.pages,
            series=result.series,
            points=result.points,
        )
        yield result
        start = end


def run_export(
    config: ExporterConfig,
    fetch: FetchPage,
    publish: PublishBatch,
    store: CheckpointStore,
    now: datetime,
) -> tuple[list[WindowResult], list[str]]:
    """Export every configured metric type. A failing type is logged and the others still
    run; returns the exported windows and the metric types that failed."""
    results: list[WindowResult] = []
    failed: list[str] = []
    for metric_type in config.metric_types:
        try:
            for result in export_metric(config, metric_type, fetch, publish, store, now):
                results.append(result)
        except Exception as error:  # one type's failure must not stop the others
            failed.append(metric_type)
            log("ERROR", "export failed; checkpoint kept", metric_type=metric_type,
                error=f"{type(error).__name__}: {error}")  # fmt: skip
    return results, failed
