"""One structured JSON log line per event, with `severity` (what Cloud Logging reads)."""

from __future__ import annotations

import json
import sys
from typing import Any


def log(severity: str, message: str, **fields: Any) -> None:
    line = {"severity": severity, "message": message, "component": "exporter", **fields}
    print(json.dumps(line, default=str), file=sys.stdout, flush=True)
