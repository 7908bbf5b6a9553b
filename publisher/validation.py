"""The finding event schema (publisher/schema/finding.v1.json) and its validation."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
SCHEMA_FILES = {"1": SCHEMA_DIR / "finding.v1.json"}


class InvalidFinding(ValueError):
    """A finding event that does not match its schema version."""


@cache
def load_schema(version: str = "1") -> dict[str, Any]:
    return json.loads(SCHEMA_FILES[version].read_text())


@cache
def _validator(version: str) -> Draft202012Validator:
    schema = load_schema(version)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(body: Any) -> list[str]:
    """Every way `body` breaks the schema its schema_version names; [] when it is valid."""
    version = body.get("schema_version") if isinstance(body, dict) else None
    if version not in SCHEMA_FILES:
        return [f"unknown schema_version {version!r}; known: {sorted(SCHEMA_FILES)}"]
    errors = sorted(_validator(version).iter_errors(body), key=lambda error: list(error.path))
    return [
        f"{'/'.join(str(p) for p in error.path) or '(root)'}: {error.message}" for error in errors
    ]


def validate_finding(body: Any) -> None:
    errors = schema_errors(body)
    if errors:
        raise InvalidFinding("; ".join(errors[:5]))
