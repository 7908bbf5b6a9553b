"""Checks over infra/ (Terraform): HCL invariants on the parsed configuration, and checkov.

Nothing here applies Terraform. The invariants are small functions over the configuration
python-hcl2 parses; each returns a list of problems, and each is also run on the broken
case in tests/infra_cases/ to show it can fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 is not installed (make install)")

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
CASES = ROOT / "tests" / "infra_cases"
CHECKOV_VENV = ROOT / ".tools" / "checkov" / "bin" / "checkov"

# Roles no project-, folder- or organization-level binding may grant.
PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
PROJECT_IAM_TYPES = {
    "google_project_iam_member",
    "google_project_iam_binding",
    "google_folder_iam_member",
    "google_folder_iam_binding",
    "google_organization_iam_member",
    "google_organization_iam_binding",
}
# Authoritative policies replace every binding on the project: never from APOA.
AUTHORITATIVE_POLICY_TYPES = {
    "google_project_iam_policy",
    "google_folder_iam_policy",
    "google_organization_iam_policy",
}


# --- Parsed configuration ------------------------------------------------------------------


@dataclass
class Config:
    """The blocks of every *.tf file in one directory, labels unquoted."""

    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    providers: list[dict[str, Any]] = field(default_factory=list)
    provider_prefixes: set[str] = field(default_factory=lambda: {"google"})


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def load_config(directory: Path) -> Config:
    config = Config()
    files = sorted(directory.glob("*.tf"))
    assert files, f"no .tf files in {directory}"
    for path in files:
        with path.open() as handle:
            parsed = hcl2.load(handle)
        for entry in parsed.get("resource", []):
            for rtype, named in entry.items():
                for name, body in named.items():
                    key = (_unquote(rtype), _unquote(name))
                    assert key not in config.resources, f"{key} declared twice"
                    config.resources[key] = body
        for entry in parsed.get("data", []):
            for dtype, named in entry.items():
                for name, body in named.items():
                    config.data[(_unquote(dtype), _unquote(name))] = body
        for entry in parsed.get("variable", []):
            for name, body in entry.items():
                config.variables[_unquote(name)] = body
        for entry in parsed.get("locals", []):
            for name, value in entry.items():
                if not name.startswith("__"):
                    assert name not in config.locals, f"local.{name} declared twice"
                    config.locals[name] = value
        for entry in parsed.get("module", []):
            for name, body in entry.items():
                config.modules[_unquote(name)] = body
        for entry in parsed.get("output", []):
            for name, body in entry.items():
                config.outputs[_unquote(name)] = body
        for entry in parsed.get("provider", []):
            config.providers.extend(entry.values())
        for entry in parsed.get("terraform", []):
            for required in entry.get("required_providers", []):
                config.provider_prefixes |= {
                    _unquote(name) for name in required if not name.startswith("__")
                }
    return config


def strings(value: Any) -> Iterator[str]:
    """Every string inside a parsed value (attributes, nested blocks, lists, maps)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key.startswith("__"):
                continue
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def literal(value: Any) -> str | None:
    """The text of a plain string literal ("roles/x"), or None for an expression."""
    if isinstance(value, str) and value.startswith('"') and value.endswith('"'):
        inner = value[1:-1]
        return None if "${" in inner else inner
    return None


def blocks(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    found = body.get(name, [])
    return [block for block in found if isinstance(block, dict)]


# --- References ----------------------------------------------------------------------------

# Where a reference starts: not inside a longer name, attribute chain or path.
_START = r"(?<![\w.\-/:@])"


def interpolations(text: str) -> list[str]:
    """The expression parts of a parsed string: all of "${...}", only the ${} inside a literal."""
    if text.startswith("${") and text.endswith("}"):
        return [text]
    return re.findall(r"\$\{.*?\}", text)


def find_references(text: str, prefixes: set[str]) -> Iterator[tuple[str, ...]]:
    types = "|".join(re.escape(prefix) for prefix in sorted(prefixes))
    for part in interpolations(text):
        for match in re.finditer(_START + r"var\.([A-Za-z_][\w-]*)", part):
            yield ("var", match.group(1))
        for match in re.finditer(_START + r"local\.([A-Za-z_][\w-]*)", part):
            yield ("local", match.group(1))
        for match in re.finditer(_START + r"module\.([A-Za-z_][\w-]*)", part):
            yield ("module", match.group(1))
        for match in re.finditer(_START + r"data\.([a-z][\w]*)\.([A-Za-z_][\w-]*)", part):
            yield ("data", match.group(1), match.group(2))
        resource = _START + rf"((?:{types})_[a-z0-9_]+)\.([A-Za-z_][\w-]*)(\[\"([^\"]+)\"\])?"
        for match in re.finditer(resource, part.replace('\\"', '"')):
            yield ("resource", match.group(1), match.group(2), match.group(4) or "")


def _literal_keys(config: Config, for_each: Any) -> set[str] | None:
    """Keys of a for_each that is a local map or a literal toset([...]); None if not literal."""
    if not isinstance(for_each, str):
        return None
    local = re.fullmatch(r"\$\{local\.(\w+)\}", for_each)
    if local and isinstance(config.locals.get(local.group(1)), dict):
        return {_unquote(key) for key in config.locals[local.group(1)]}
    literal_set = re.fullmatch(r'\$\{toset\(\[((?:\s*"[^"]*"\s*,?)*)\]\)\}', for_each)
    if literal_set:
        return set(re.findall(r'"([^"]*)"', literal_set.group(1)))
    return None


def check_references(config: Config) -> list[str]:
    """Every var., local., module., data. and resource reference names something declared;
    every variable and local is used; literal for_each keys exist."""
    problems = []
    used_vars: set[str] = set()
    used_locals: set[str] = set()
    everything = {
        **{("resource", *key): body for key, body in config.resources.items()},
        **{("data", *key): body for key, body in config.data.items()},
        **{("output", name): body for name, body in config.outputs.items()},
        **{("module", name): body for name, body in config.modules.items()},
        **{("variable", name): body for name, body in config.variables.items()},
        ("locals",): config.locals,
        ("provider",): config.providers,
    }
    for where, body in everything.items():
        label = ".".join(where)
        for text in strings(body):
            for ref in find_references(text, config.provider_prefixes):
                kind = ref[0]
                if kind == "var":
                    used_vars.add(ref[1])
                    if ref[1] not in config.variables:
                        problems.append(f"{label}: var.{ref[1]} is not declared")
                elif kind == "local":
                    used_locals.add(ref[1])
                    if ref[1] not in config.locals:
                        problems.append(f"{label}: local.{ref[1]} is not declared")
                elif kind == "module":
                    if ref[1] not in config.modules:
                        problems.append(f"{label}: module.{ref[1]} is not declared")
                elif kind == "data":
                    if (ref[1], ref[2]) not in config.data:
                        problems.append(f"{label}: data.{ref[1]}.{ref[2]} is not declared")
                else:
                    _, rtype, name, key = ref
                    target = config.resources.get((rtype, name))
                    if target is None:
                        problems.append(f"{label}: {rtype}.{name} is not declared")
                    elif key:
                        keys = _literal_keys(config, target.get("for_each"))
                        if keys is not None and key not in keys:
                            problems.append(f'{label}: {rtype}.{name}["{key}"] has no such key')
    for name in sorted(set(config.variables) - used_vars):
        problems.append(f"variable {name} is declared but never used")
    for name in sorted(set(config.locals) - used_locals):
        problems.append(f"local.{name} is declared but never used")
    return problems


# --- Security invariants -------------------------------------------------------------------


def check_push_subscriptions(config: Config) -> list[str]:
    """Every push subscription: OIDC token, dead-letter policy, retry policy."""
    problems = []
    for (rtype, name), body in config.resources.items():
        if rtype != "google_pubsub_subscription":
            continue
        label = f"{rtype}.{name}"
        dynamic_names = {_unquote(key) for block in blocks(body, "dynamic") for key in block}
        if "push_config" in dynamic_names:
            problems.append(f"{label}: push_config is dynamic, so OIDC cannot be verified")
        push = blocks(body, "push_config")
        if not push:
            continue
        oidc = [token for config_block in push for token in blocks(config_block, "oidc_token")]
        if not oidc or not all(token.get("service_account_email") for token in oidc):
            problems.append(f"{label}: push subscription without push_config.oidc_token")
        dead_letter = blocks(body, "dead_letter_policy")
        if not dead_letter or not all(block.get("dead_letter_topic") for block in dead_letter):
            problems.append(f"{label}: push subscription without a dead_letter_policy")
        if not blocks(body, "retry_policy"):
            problems.append(f"{label}: push subscription without a retry_policy")
    return problems


def _possible_roles(config: Config, body: dict[str, Any]) -> list[str | None]:
    """The roles a binding can grant: a literal, each literal for_each value, or a custom
    role's id; None when the role is an expression this check cannot see through."""
    role = body.get("role")
    text = literal(role)
    if text is not None:
        return [text]
    if role in ("${each.value}", "${each.key}"):
        for_each = body.get("for_each")
        keys = _literal_keys(config, for_each)
        if keys is None:
            return [None]
        local = re.fullmatch(r"\$\{local\.(\w+)\}", str(for_each))
        if role == "${each.value}" and local:  # a map: each.value is the map's values
            return [literal(value) for value in config.locals[local.group(1)].values()]
        return sorted(keys)
    custom = re.fullmatch(r"\$\{google_project_iam_custom_role\.(\w+)\.(id|name)\}", str(role))
    if custom and ("google_project_iam_custom_role", custom.group(1)) in config.resources:
        return [f"custom:{custom.group(1)}"]
    return [None]


def check_project_iam(config: Config) -> list[str]:
    """No project-wide (or folder/org) binding of a primitive role or any Pub/Sub role, and
    no custom role carrying Pub/Sub permissions or wildcards."""
    problems = []
    for (rtype, name), body in config.resources.items():
        label = f"{rtype}.{name}"
        if rtype in AUTHORITATIVE_POLICY_TYPES:
            problems.append(f"{label}: authoritative IAM policy on the project")
            continue
        if rtype == "google_project_iam_custom_role":
            for permission in strings(body.get("permissions", [])):
                text = _unquote(permission)
                if text.startswith("pubsub.") or "*" in text:
                    problems.append(f"{label}: custom role carries {text}")
            continue
        if rtype not in PROJECT_IAM_TYPES:
            continue
        for role in _possible_roles(config, body):
            if role is None:
                problems.append(f"{label}: role is an expression this check cannot verify")
            elif role in PRIMITIVE_ROLES:
                problems.append(f"{label}: primitive role {role} at project level")
            elif role.startswith("roles/pubsub."):
                problems.append(f"{label}: Pub/Sub role {role} at project level")
    return problems


def check_workload_identity(config: Config) -> list[str]:
    """Every WIF provider has an attribute_condition restricting owner or repository."""
    problems = []
    for (rtype, name), body in config.resources.items():
        if rtype != "google_iam_workload_identity_pool_provider":
            continue
        condition = body.get("attribute_condition")
        if not condition:
            problems.append(f"{rtype}.{name}: no attribute_condition")
        elif not re.search(r"assertion\.repository(_owner|_id|_owner_id)?\b", condition):
            problems.append(
                f"{rtype}.{name}: attribute_condition restricts neither owner nor repository"
            )
    return problems


def check_no_keys(config: Config) -> list[str]:
    """No service-account keys, and no provider reading a key file."""
    problems = [
        f"{rtype}.{name}: service-account key"
        for (rtype, name) in [*config.resources, *config.data]
        if rtype == "google_service_account_key"
    ]
    problems += [
        "provider block sets credentials (use ADC or federation, not a key file)"
        for provider in config.providers
        if isinstance(provider, dict) and "credentials" in provider
    ]
    return problems


INVARIANTS = {
    "references": check_references,
    "push_subscriptions": check_push_subscriptions,
    "project_iam": check_project_iam,
    "workload_identity": check_workload_identity,
    "no_keys": check_no_keys,
}


# --- Tests on infra/ -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def infra() -> Config:
    return load_config(INFRA)


@pytest.mark.parametrize("name", sorted(INVARIANTS))
def test_invariant_holds_on_infra(infra, name):
    assert INVARIANTS[name](infra) == []


def test_everything_the_design_lists_is_declared(infra):
    resources = infra.resources
    assert infra.locals["findings_topic"] == '"apoa-findings"'
    assert {_unquote(key) for key in infra.locals["raw_tables"]} == {
        "github-events",
        "pipeline-logs",
        "pipeline-metrics",
    }
    for key in [
        ("google_pubsub_topic", "ingest"),
        ("google_pubsub_topic", "findings"),
        ("google_pubsub_topic", "dead_letter"),
        ("google_pubsub_subscription", "ingest"),
        ("google_pubsub_subscription", "build_trigger"),
        ("google_pubsub_subscription", "subscriber"),
        ("google_pubsub_subscription", "findings_bigquery"),
        ("google_bigquery_dataset", "analytics"),
        ("google_bigquery_table", "raw"),
        ("google_bigquery_table", "dead_letters"),
        ("google_bigquery_table", "finding_events"),
        ("google_cloud_run_v2_service", "receiver"),
        ("google_cloud_run_v2_service", "ingest"),
        ("google_cloud_run_v2_service", "build_trigger"),
        ("google_cloud_run_v2_service", "subscriber"),
        ("google_cloud_run_v2_job", "build"),
        ("google_cloud_run_v2_job", "exporter"),
        ("google_firestore_database", "dedup"),
        ("google_logging_project_sink", "ci_logs"),
        ("google_iam_workload_identity_pool", "github"),
        ("google_iam_workload_identity_pool_provider", "github"),
        ("google_cloud_scheduler_job", "build_tick"),
        ("google_cloud_scheduler_job", "exporter"),
    ]:
        assert key in resources, f"{key} missing"
    assert literal(resources[("google_bigquery_dataset", "analytics")]["dataset_id"]) == (
        "pipeline_analytics"
    )


def test_build_trigger_is_single_instance_and_scheduler_calls_it_not_the_job(infra):
    service = infra.resources[("google_cloud_run_v2_service", "build_trigger")]
    scaling = blocks(blocks(service, "template")[0], "scaling")[0]
    assert scaling["max_instance_count"] == 1
    tick = infra.resources[("google_cloud_scheduler_job", "build_tick")]
    uri = blocks(tick, "http_target")[0]["uri"]
    assert "google_cloud_run_v2_service.build_trigger.uri" in uri
    assert "google_cloud_run_v2_job.build" not in uri
    subscription = infra.resources[("google_pubsub_subscription", "build_trigger")]
    assert "github_action" in subscription["filter"]
    assert "workflow_run" in subscription["filter"] and "workflow_job" in subscription["filter"]


def test_log_sink_writer_may_publish_to_pipeline_logs(infra):
    grant = infra.resources[("google_pubsub_topic_iam_member", "sink_publishes_logs")]
    assert grant["member"] == "${google_logging_project_sink.ci_logs.writer_identity}"
    assert grant["topic"] == '${google_pubsub_topic.ingest["pipeline-logs"].id}'
    assert literal(grant["role"]) == "roles/pubsub.publisher"


def test_federated_identity_gets_exactly_metrics_publisher_and_log_writer(infra):
    member = "${google_service_account.ci.member}"
    grants = sorted(
        (rtype, literal(body.get("role")), body.get("topic"))
        for (rtype, _), body in infra.resources.items()
        if body.get("member") == member
    )
    assert grants == [
        ("google_project_iam_member", "roles/logging.logWriter", None),
        (
            "google_pubsub_topic_iam_member",
            "roles/pubsub.publisher",
            '${google_pubsub_topic.ingest["pipeline-metrics"].id}',
        ),
    ]


def test_raw_table_schemas_match_the_ingest_columns():
    from ingest import raw_tables

    def columns(ddl: str) -> list[str]:
        return [line.split()[0] for line in ddl.strip().splitlines()]

    message = json.loads((INFRA / "schemas" / "raw_message.json").read_text())
    dead = json.loads((INFRA / "schemas" / "raw_dead_letters.json").read_text())
    assert [column["name"] for column in message] == columns(raw_tables._MESSAGE_COLUMNS)
    assert [column["name"] for column in dead] == columns(raw_tables._DEAD_LETTER_COLUMNS)
    findings = json.loads((INFRA / "schemas" / "raw_finding_events.json").read_text())
    # The columns a BigQuery subscription writes with write_metadata = true.
    assert [column["name"] for column in findings] == [
        "subscription_name",
        "message_id",
        "publish_time",
        "data",
        "attributes",
    ]


def test_terraform_fmt_is_clean():
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed; formatting is not checked")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-list=true", str(INFRA)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"terraform fmt would change: {result.stdout}"


# --- The invariants fail on the broken case ------------------------------------------------


@pytest.fixture(scope="module")
def broken() -> Config:
    return load_config(CASES / "hcl_invariants_broken")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "references",
            [
                "var.environment is not declared",
                "google_pubsub_topic.missing is not declared",
                "local.owner is not declared",
            ],
        ),
        (
            "push_subscriptions",
            ["without push_config.oidc_token", "without a dead_letter_policy", "retry_policy"],
        ),
        ("project_iam", ["primitive role roles/editor", "Pub/Sub role roles/pubsub.publisher"]),
        ("workload_identity", ["no attribute_condition"]),
        ("no_keys", ["google_service_account_key.ci: service-account key"]),
    ],
)
def test_invariant_fails_on_broken_case(broken, name, expected):
    problems = INVARIANTS[name](broken)
    for fragment in expected:
        assert any(fragment in problem for problem in problems), (fragment, problems)


# --- checkov -------------------------------------------------------------------------------


def _checkov() -> str:
    for candidate in (CHECKOV_VENV, shutil.which("checkov")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    if os.environ.get("CI"):
        pytest.fail("checkov is not installed (make install puts it in .tools/checkov)")
    pytest.skip("checkov is not installed (make install puts it in .tools/checkov)")


def run_checkov(directory: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            _checkov(),
            "--directory",
            str(directory),
            "--framework",
            "terraform",
            "--quiet",
            "--compact",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def _skips_in_code(directory: Path) -> dict[str, str]:
    skips = {}
    for path in sorted(directory.glob("*.tf")):
        for match in re.finditer(r"#checkov:skip=(CKV2?_\w+):(.+)", path.read_text()):
            skips[match.group(1)] = match.group(2).strip()
    return skips


@pytest.fixture(scope="module")
def checkov_report() -> dict[str, Any]:
    return run_checkov(INFRA)


def test_checkov_passes_on_infra(checkov_report):
    failed = checkov_report["results"].get("failed_checks", [])
    assert checkov_report["summary"]["parsing_errors"] == 0
    assert failed == [], [(check["check_id"], check["resource"]) for check in failed]
    assert checkov_report["summary"]["passed"] > 50


def test_checkov_skips_are_few_reasoned_and_documented():
    skips = _skips_in_code(INFRA)
    assert len(skips) <= 3, skips
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    for check_id, reason in skips.items():
        assert len(reason) > 40, f"{check_id} needs a real reason"
        assert check_id in deploy, f"{check_id} is skipped but not listed in docs/deploy.md"


def test_checkov_fails_on_broken_case():
    report = run_checkov(CASES / "checkov_broken")
    failed = {check["check_id"] for check in report["results"].get("failed_checks", [])}
    assert {"CKV_GCP_15", "CKV_GCP_29", "CKV_GCP_99"} <= failed, failed


# --- docs/deploy.md ------------------------------------------------------------------------


def test_cost_table_in_docs_matches_the_cost_model():
    import runpy

    model = runpy.run_path(str(INFRA / "tools" / "cost_model.py"))
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    table = re.search(r"<!-- cost-table:start -->\n(.*?)\n<!-- cost-table:end -->", deploy, re.S)
    assert table, "docs/deploy.md lost its cost table markers"
    assert table.group(1) == model["table"](), "rerun infra/tools/cost_model.py and paste"
