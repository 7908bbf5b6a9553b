"""Where the exporter remembers how far it got: one timestamp per metric type.

Two stores behind one small interface: a local JSON file (development, tests) and a JSON
object in Cloud Storage (production), replaced with a generation precondition so that a
concurrent or stale run fails instead of silently overwriting a newer checkpoint.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from exporter.monitoring import parse_rfc3339, rfc3339

STORAGE_API = "https://storage.googleapis.com/storage/v1"
UPLOAD_API = "https://storage.googleapis.com/upload/storage/v1"


class CheckpointConflict(RuntimeError):
    """Someone else wrote the checkpoint since this run read it."""


class CheckpointStore(Protocol):
    def load(self, key: str) -> datetime | None:
        """The end of the last exported window for `key`, or None before the first."""

    def save(self, key: str, value: datetime) -> None:
        """Record that everything up to `value` was published. Never moves backwards."""


class FileCheckpointStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text())

    def load(self, key: str) -> datetime | None:
        value = self._read().get(key)
        return parse_rfc3339(value) if value else None

    def save(self, key: str, value: datetime) -> None:
        document = self._read()
        current = document.get(key)
        if current and parse_rfc3339(current) >= value:
            return
        document[key] = rfc3339(value)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename: a crash leaves the old checkpoint, never half a file.
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".checkpoint-")
        with os.fdopen(handle, "w") as out:
            json.dump(document, out, indent=2, sort_keys=True)
        os.replace(temporary, self.path)


class Session(Protocol):
    def get(self, url: str, params: dict[str, str], timeout: float) -> Any: ...

    def post(
        self, url: str, params: dict[str, str], data: bytes, headers: dict[str, str], timeout: float
    ) -> Any: ...


class GcsCheckpointStore:
    """The checkpoint document as one Cloud Storage object (JSON API over a session)."""

    def __init__(self, session: Session, bucket: str, name: str) -> None:
        self._session = session
        self.bucket = bucket
        self.name = name
        self._document: dict[str, str] | None = None
        self._generation = "0"  # ifGenerationMatch=0: create only if absent

    def _read(self) -> dict[str, str]:
        if self._document is None:
            response = self._session.get(
                f"{STORAGE_API}/b/{self.bucket}/o/{quote(self.name, safe='')}",
                params={"alt": "media"},
                timeout=30,
            )
            if response.status_code == 404:
                self._document, self._generation = {}, "0"
            else:
                response.raise_for_status()
                self._document = json.loads(response.content)
                self._generation = response.headers["x-goog-generation"]
        return self._document

    def load(self, key: str) -> datetime | None:
        value = self._read().get(key)
        return parse_rfc3339(value) if value else None

    def save(self, key: str, value: datetime) -> None:
        document = dict(self._read())
        current = document.get(key)
        if current and parse_rfc3339(current) >= value:
            return
        document[key] = rfc3339(value)
        response = self._session.post(
            f"{UPLOAD_API}/b/{self.bucket}/o",
            params={
                "uploadType": "media",
                "name": self.name,
                "ifGenerationMatch": self._generation,
            },
            data=json.dumps(document, indent=2, sort_keys=True).encode(),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        if response.status_code == 412:
            raise CheckpointConflict(
                f"gs://{self.bucket}/{self.name} changed since it was read (generation "
                f"{self._generation}); another exporter run is active"
            )
        response.raise_for_status()
        self._document = document
        self._generation = str(response.json()["generation"])


def checkpoint_store(location: str, session: Session | None = None) -> CheckpointStore:
    """gs://bucket/object -> GcsCheckpointStore (needs a session); anything else is a path."""
    if location.startswith("gs://"):
        bucket, _, name = location.removeprefix("gs://").partition("/")
        if not bucket or not name:
            raise ValueError(f"checkpoint {location!r} is not gs://bucket/object")
        if session is None:
            raise ValueError("a Cloud Storage checkpoint needs an authorized session")
        return GcsCheckpointStore(session, bucket, name)
    return FileCheckpointStore(location)
