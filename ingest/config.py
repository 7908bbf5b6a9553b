"""Ingest configuration, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

# Pub/Sub's message limit is 10 MB; stay below it so an oversized body is a clear dead letter.
DEFAULT_MAX_PAYLOAD_BYTES = 9 * 1024 * 1024


@dataclass(frozen=True)
class IngestConfig:
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    batch_rows: int = 200
    batch_wait_ms: float = 0.0

    @classmethod
    def from_env(cls) -> IngestConfig:
        return cls(
            max_payload_bytes=int(
                os.environ.get("APOA_MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES)
            ),
            batch_rows=int(os.environ.get("APOA_BATCH_ROWS", 200)),
            batch_wait_ms=float(os.environ.get("APOA_BATCH_WAIT_MS", 0.0)),
        )
