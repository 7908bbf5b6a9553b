"""Reading Cloud Monitoring: one `projects.timeSeries.list` page per call.

Plain authorized HTTP (REST v3) rather than the gRPC client: responses stay the protojson
the recorded fixtures have (camelCase, int64 as strings), and that JSON is what goes to
Pub/Sub unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

MONITORING_API = "https://monitoring.googleapis.com/v3"


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 UTC timestamp with 0 to 9 fractional digits (as the API writes)."""
    base, _, fraction = text.rstrip("Z").partition(".")
    moment = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    if fraction:
        moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    return moment


@dataclass(frozen=True)
class ListRequest:
    """One page of timeSeries.list for one metric type over (start, end]."""

    project: str
    metric_type: str
    start: datetime
    end: datetime
    page_size: int
    page_token: str = ""
    extra_filter: str = ""

    @property
    def filter(self) -> str:
        metric = f'metric.type = "{self.metric_type}"'
        return f"{metric} AND ({self.extra_filter})" if self.extra_filter else metric

    def params(self) -> dict[str, str]:
        params = {
            "filter": self.filter,
            "interval.startTime": rfc3339(self.start),
            "interval.endTime": rfc3339(self.end),
            "view": "FULL",
            "pageSize": str(self.page_size),
        }
        if self.page_token:
            params["pageToken"] = self.page_token
        return params


# A fetcher returns the ListTimeSeriesResponse JSON: {"timeSeries": [...], "nextPageToken": ...}.
FetchPage = Callable[[ListRequest], dict[str, Any]]


class Session(Protocol):
    def get(self, url: str, params: dict[str, str], timeout: float) -> Any: ...


def http_fetcher(session: Session) -> FetchPage:
    """A FetchPage over an authorized session (google.auth.transport.requests.AuthorizedSession)."""

    def fetch(request: ListRequest) -> dict[str, Any]:
        response = session.get(
            f"{MONITORING_API}/projects/{request.project}/timeSeries",
            params=request.params(),
            timeout=60,
        )
        response.raise_for_status()
        return response.json()

    return fetch
