"""The `apoa` command line as a person meets it: help, examples, and the errors for missing
pieces (one line saying what happened and what to do, no traceback, exit code 2)."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys

import pytest

from apoa.cli import _parser, main
from apoa.warehouse import LocalWarehouse, read_owner


def commands() -> dict[str, str]:
    """name -> its --help text."""
    parser = _parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return {name: sub.format_help() for name, sub in action.choices.items()}


def run_apoa(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "apoa.cli", *args],
        env={**os.environ, "COLUMNS": "80", **(env or {})},  # a classic terminal
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def assert_one_line_error(captured, *phrases: str) -> None:
    """captured: pytest's capsys result, or a CompletedProcess."""
    err = getattr(captured, "err", None) or getattr(captured, "stderr", "")
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("apoa: ")]
    assert len(lines) == 1, err
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


# --------------------------------------------------------------------------- help


def test_help_lists_each_command_on_one_line_and_the_exit_codes():
    result = run_apoa("--help")
    assert result.returncode == 0
    block = result.stdout.split("commands:", 1)[1].split("\n\n", 1)[0]
    listed = {}
    for line in block.splitlines()[2:]:
        match = re.match(r"^    (\w+)\s{2,}(\S.*)$", line)
        assert match, f"a command's help wraps onto a second line: {line!r}"
        listed[match.group(1)] = match.group(2)
    assert set(listed) == set(commands())
    for code in ("0 ", "1 ", "2 ", "130 "):
        assert f"\n  {code}" in result.stdout
    assert "apoa demo --fresh" in result.stdout


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_has_help_with_an_example_that_parses(name, capsys):
    with pytest.raises(SystemExit) as exited:
        main([name, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    example = re.search(r"^example: (.+)$", text, re.MULTILINE)
    assert example, text
    words = [w for w in shlex.split(example.group(1)) if not re.match(r"^[A-Z_]+=", w)]
    assert words[:2] == ["apoa", name]
    args = _parser().parse_args(words[1:])  # the example is a valid command line
    assert args.command == name
    assert "exit codes:" in text


# --------------------------------------------------------------------------- missing pieces


@pytest.mark.parametrize("command", [["findings"], ["report"], ["explain", "abc"], ["publish"]])
def test_no_warehouse_yet(command, settings, capsys):
    assert main(command) == 2
    assert_one_line_error(capsys.readouterr(), "no warehouse yet", "apoa demo --fresh")
    assert not settings.db_path.exists()  # reading created nothing


def test_marts_not_built_yet(settings, capsys):
    LocalWarehouse(settings).close()  # raw tables, no build
    assert main(["findings", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_one_line_error(captured, "fct_findings is not built yet", "apoa build")


def test_warehouse_held_by_another_apoa_process(settings, capsys):
    with LocalWarehouse(settings):
        assert main(["build"]) == 2
        assert_one_line_error(capsys.readouterr(), f"held by PID {os.getpid()}")


def test_warehouse_file_open_in_another_program(settings, capsys):
    LocalWarehouse(settings).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; "
         f"c = duckdb.connect({str(settings.db_path)!r}); print('ready', flush=True); "
         "sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert main(["findings"]) == 2
        assert_one_line_error(capsys.readouterr(), f"open in PID {holder.pid}", "Stop that")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert read_owner(settings) is None  # the failed attempt left no lock behind


def test_port_in_use(settings, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
        assert_one_line_error(capsys.readouterr(), f"port {port}", "already in use", "--port")
    assert read_owner(settings) is None  # the warehouse it opened first was let go


def test_no_emulator_for_watch(settings, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no gcloud anywhere
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    assert main(["watch", "--port", "0"]) == 2
    assert_one_line_error(capsys.readouterr(), "gcloud is not installed", "PUBSUB_EMULATOR_HOST")


def test_emulator_host_set_but_nothing_listening(settings, capsys, monkeypatch):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{port}")
    LocalWarehouse(settings).close()
    assert main(["publish"]) == 2
    assert_one_line_error(capsys.readouterr(), "nothing answers at PUBSUB_EMULATOR_HOST")
    history = settings.home / "empty.jsonl"
    history.write_text("")
    assert main(["replay", str(history), "--via", "emulator"]) == 2
    assert_one_line_error(capsys.readouterr(), "nothing answers at PUBSUB_EMULATOR_HOST")


def test_publish_without_pubsub(settings, capsys, monkeypatch):
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    LocalWarehouse(settings).close()
    assert main(["publish"]) == 2
    assert_one_line_error(capsys.readouterr(), "PUBSUB_EMULATOR_HOST")


def test_bigquery_target_without_credentials(tmp_path):
    """In a subprocess: google-auth must look only at files and the environment here
    (NO_GCE_CHECK, and a metadata host on loopback in case it still looks)."""
    env = {
        "APOA_HOME": str(tmp_path / "home"),
        "APOA_DBT_TARGET": "bigquery",
        "HOME": str(tmp_path),
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "GOOGLE_APPLICATION_CREDENTIALS": "",
        "NO_GCE_CHECK": "true",
        "GCE_METADATA_HOST": "127.0.0.1:9",
        "GCE_METADATA_IP": "127.0.0.1:9",
    }
    result = run_apoa("build", env=env)
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result, "needs Google credentials", "gcloud auth application-default")
    assert "Running with dbt" not in result.stdout + result.stderr  # stopped before dbt

    # Credentials as `gcloud auth application-default login` writes them (never used here).
    adc = tmp_path / "adc.json"
    adc.write_text('{"type": "authorized_user", "client_id": "c", "client_secret": "s", '
                   '"refresh_token": "r"}')  # fmt: skip
    result = run_apoa("build", env={**env, "GOOGLE_APPLICATION_CREDENTIALS": str(adc)})
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result, "needs APOA_BQ_PROJECT")


def test_an_unexpected_error_is_one_line_unless_debugging(settings, capsys, monkeypatch):
    """A bug still says what happened without a traceback; APOA_DEBUG=1 shows the traceback."""
    LocalWarehouse(settings).close()
    monkeypatch.setattr(LocalWarehouse, "findings", lambda self, status: 1 / 0)
    from apoa import cli

    monkeypatch.setattr(cli, "_require_table", lambda owner, table: None)
    assert main(["findings"]) == 1
    assert_one_line_error(capsys.readouterr(), "unexpected error: ZeroDivisionError")
    monkeypatch.setenv("APOA_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["findings"])
