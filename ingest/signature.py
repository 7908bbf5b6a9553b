"""GitHub's X-Hub-Signature-256: HMAC-SHA256 of the raw request bytes, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

PREFIX = "sha256="


def verify_signature(body: bytes, header: str | None, secrets: Sequence[bytes]) -> bool:
    """True if `header` signs `body` with any of `secrets` (two during a rotation)."""
    if not header or not header.startswith(PREFIX) or not secrets:
        return False
    given = header[len(PREFIX) :].encode("utf-8", "replace")
    valid = False
    for secret in secrets:
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
        # Check every secret, so the time taken does not say which one matched.
        valid |= hmac.compare_digest(expected, given)
    return valid
