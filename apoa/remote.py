"""Talk to a running `apoa serve` (the warehouse owner) over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class OwnerUnreachable(RuntimeError):
    pass


class RemoteWarehouse:
    def __init__(self, url: str, timeout: float = 3600) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raw = error.read()
            if error.code >= 500 and raw.startswith(b"{"):
                return json.loads(raw)
            raise OwnerUnreachable(
                f"{method} {path} answered {error.code}: {raw[:300]!r}"
            ) from None
        except (urllib.error.URLError, OSError) as error:
            raise OwnerUnreachable(f"cannot reach apoa serve at {self.url}: {error}") from None
        return json.loads(raw) if raw else None

    def status(self) -> dict[str, Any]:
        return self._call("GET", "/admin/status")

    def build(self, select: str | None = None, full_refresh: bool = False) -> dict[str, Any]:
        return self._call("POST", "/admin/build", {"select": select, "full_refresh": full_refresh})

    def publish(self) -> list[dict[str, Any]]:
        return self._call("POST", "/admin/publish", {})["published"]

    def findings(self, status: str = "open") -> list[dict[str, Any]]:
        return self._call("GET", f"/admin/findings?status={status}")["findings"]

    def explain(self, finding_id: str) -> dict[str, Any]:
        """Raises publisher.explain.FindingNotFound when the owner knows no such finding."""
        from urllib.parse import quote

        from publisher.explain import FindingNotFound

        try:
            return self._call("GET", f"/admin/findings/{quote(finding_id, safe='')}/explain")
        except OwnerUnreachable as error:
            if " answered 404: " in str(error):
                raise FindingNotFound(f"no finding {finding_id!r} (or several match it)") from None
            raise

    def report_data(self) -> dict[str, Any]:
        """What `apoa report` draws, collected by the owner (apoa.report.collect)."""
        return self._call("GET", "/admin/report-data")

    def mart_hashes(self) -> dict[str, str]:
        return self._call("GET", "/admin/mart-hashes")

    def land_dead_letters(self, letters: list[dict[str, Any]]) -> None:
        self._call("POST", "/admin/dead-letters", letters)

    def dead_letters(self) -> list[dict[str, Any]]:
        return self._call("GET", "/admin/dead-letters/list")

    def raw_rows(self, table: str, after_seq: int = -1) -> list[dict[str, Any]]:
        return self._call("GET", f"/admin/raw/{table}?after_seq={after_seq}")

    def integrity(self) -> dict[str, dict[str, int]]:
        return self._call("GET", "/admin/integrity")

    def ingest_progress(self) -> dict[str, int]:
        return self._call("GET", "/admin/ingest-progress")

    def push_latency(self, reset: bool = False) -> dict[str, float]:
        return self._call("GET", "/admin/push-latency" + ("?reset=1" if reset else ""))
