"""dbt's Jinja context, as far as sqlfluff's jinja templater needs it to lint `models/`.

sqlfluff renders the models with plain Jinja (`templater = jinja`, `.sqlfluff`), which knows
neither `adapter.dispatch` nor dbt's `dbt.*` cross-database macros. These stand-ins render the
BigQuery flavour of every dispatched macro (`bigquery__<name>`, else `default__<name>`), the
BigQuery spelling of the few `dbt.*` macros APOA uses, and the project's real vars, so the SQL
that gets linted is the SQL BigQuery would run. Used only by sqlfluff, never by dbt.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jinja2
import yaml

_PROJECT_FILE = Path(__file__).resolve().parents[2] / "dbt_project.yml"
_VARS: dict[str, Any] = (yaml.safe_load(_PROJECT_FILE.read_text()) or {}).get("vars") or {}


def var(name: str, default: Any = None) -> Any:
    return _VARS.get(name, default)


def local_md5(value: str) -> str:
    return hashlib.md5(value.encode("utf-8")).hexdigest()  # noqa: S324 - a fingerprint, as dbt's


def env_var(name: str, default: str | None = None) -> str | None:
    return default  # lint the SQL as it runs with no unsafe switch set


class _Adapter:
    type = "bigquery"

    def dispatch(self, macro_name: str, macro_namespace: str | None = None) -> Any:
        @jinja2.pass_context
        def call(context: Any, *args: Any, **kwargs: Any) -> Any:
            for prefix in ("bigquery__", "default__"):
                macro = context.get(prefix + macro_name)
                if macro is not None:
                    return macro(*args, **kwargs)
            raise jinja2.TemplateRuntimeError(f"no bigquery__/default__ variant of {macro_name}")

        return call


class _Dbt:
    """BigQuery renderings of dbt's cross-database macros used in this project."""

    @staticmethod
    def type_string() -> str:
        return "string"

    @staticmethod
    def type_bigint() -> str:
        return "int64"

    @staticmethod
    def type_boolean() -> str:
        return "bool"

    @staticmethod
    def type_timestamp() -> str:
        return "timestamp"

    @staticmethod
    def type_float() -> str:
        return "float64"

    @staticmethod
    def safe_cast(field: str, type_: str) -> str:
        return f"safe_cast({field} as {type_})"

    @staticmethod
    def hash(field: str) -> str:
        return f"to_hex(md5(cast({field} as string)))"

    @staticmethod
    def concat(fields: list[str]) -> str:
        return f"concat({', '.join(fields)})"

    @staticmethod
    def datediff(first: str, second: str, datepart: str) -> str:
        return f"datetime_diff(cast({second} as datetime), cast({first} as datetime), {datepart})"


class _Exceptions:
    @staticmethod
    def raise_compiler_error(message: str) -> None:
        raise jinja2.TemplateRuntimeError(message)


adapter = _Adapter()
dbt = _Dbt()
exceptions = _Exceptions()
target = type("Target", (), {"type": "bigquery", "name": "bigquery"})()
