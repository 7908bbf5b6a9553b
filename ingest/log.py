"""One structured JSON log line per event, in the shape Cloud Logging parses."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


def log(severity: str, message: str, **fields: Any) -> None:
    threshold = _LEVELS.get(os.environ.get("APOA_LOG_LEVEL", "INFO").upper(), 20)
    if _LEVELS.get(severity, 20) < threshold:
        return
    entry = {"severity": severity, "message": message, **fields}
    sys.stderr.write(json.dumps(entry, default=str) + "\n")
