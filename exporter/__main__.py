"""`python -m exporter`: one export run (the Cloud Run job's task)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from exporter.checkpoint import checkpoint_store
from exporter.config import ExporterConfig
from exporter.export import run_export
from exporter.log import log
from exporter.monitoring import http_fetcher
from exporter.publish import pubsub_publisher

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def main() -> int:
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    config = ExporterConfig.from_env()
    credentials, _ = google.auth.default(scopes=SCOPES)
    session = AuthorizedSession(credentials)
    results, failed = run_export(
        config,
        fetch=http_fetcher(session),
        publish=pubsub_publisher(config.project, config.topic),
        store=checkpoint_store(config.checkpoint, session),
        now=datetime.now(UTC),
    )
    log(
        "ERROR" if failed else "INFO",
        "export run finished",
        windows=len(results),
        series=sum(result.series for result in results),
        failed_metric_types=failed,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
