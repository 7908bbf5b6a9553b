"""W3C trace context across the path: receiver -> Pub/Sub attribute -> ingest -> raw row and logs.

A delivery's `traceparent` starts at the webhook receiver (or is taken from the
caller), travels as a message attribute, is stored with the raw row, and is
written as the Cloud Logging `trace` field of every log line about it. When
`APOA_OTEL_EXPORTER=gcp` is set (and the optional `gcp-trace` extra installed),
spans are also exported to Cloud Trace; that needs the Cloud Trace agent role.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def parse(traceparent: str | None) -> tuple[str, str] | None:
    match = _TRACEPARENT.match(traceparent or "")
    if not match or match.group(1) == "0" * 32 or match.group(2) == "0" * 16:
        return None
    return match.group(1), match.group(2)


def new_traceparent(trace_id: str | None = None) -> str:
    return f"00-{trace_id or secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def continue_or_start(traceparent: str | None) -> str:
    """A child span of the caller's trace, or a new trace when there is none (or it is bad)."""
    parsed = parse(traceparent)
    return new_traceparent(parsed[0] if parsed else None)


def log_fields(traceparent: str | None) -> dict[str, str]:
    """The fields Cloud Logging reads from a structured log line to link it to a trace."""
    parsed = parse(traceparent)
    if not parsed:
        return {}
    project = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get(
        "APOA_PUBSUB_PROJECT", "apoa-local"
    )
    return {
        "logging.googleapis.com/trace": f"projects/{project}/traces/{parsed[0]}",
        "logging.googleapis.com/spanId": parsed[1],
        "logging.googleapis.com/trace_sampled": True,
    }


@contextlib.contextmanager
def span(name: str, traceparent: str | None) -> Iterator[None]:
    """An OpenTelemetry span under the given trace context (a no-op without a tracer provider)."""
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    context = TraceContextTextMapPropagator().extract({"traceparent": traceparent or ""})
    with trace.get_tracer("apoa").start_as_current_span(name, context=context):
        yield


def configure_exporter() -> None:
    """Export spans to Cloud Trace when asked to (production); otherwise leave OTel unset."""
    if os.environ.get("APOA_OTEL_EXPORTER") != "gcp":
        return
    from opentelemetry import trace
    from opentelemetry.exporter.cloud_trace import CloudTraceSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(CloudTraceSpanExporter()))
    trace.set_tracer_provider(provider)
