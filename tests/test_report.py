"""`apoa report` on generated history, checked in a real headless Chromium.

One module-scoped warehouse, made the way a user makes one: `apoa replay` of generated
history (apoa.generator, two injected anomalies) and `apoa build --json`. Then the report is
written by the CLI (owning the warehouse itself, and through a running `apoa serve`), opened
in Debian's chromium over the DevTools protocol (no console error, every chart drew marks in
its SVG, no request left the machine, a screenshot written), and written again from
warehouses missing marts. The analyst docs are checked against the dbt project: `dbt docs
generate` on the local target, and every mart and file the docs name exists.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import duckdb
import pytest

from apoa.generator import generate_history
from apoa.report import collect
from apoa.report_browser import check_page, find_chromium
from apoa.settings import Settings, dbt_target_dir
from apoa.warehouse import LocalWarehouse

ROOT = Path(__file__).resolve().parent.parent
SEED = 7
RUNS = 60


def require_chromium() -> None:
    """Skip where chromium is absent, except where it is required (CI: `make test` installs it)."""
    if find_chromium() is None:
        if os.environ.get("APOA_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is required here but not installed (make chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")


def apoa(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "APOA_HOME": str(home), "NO_GCE_CHECK": "true"}
    result = subprocess.run(
        [sys.executable, "-m", "apoa.cli", *args],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def local_query(db_path: Path):
    con = duckdb.connect(str(db_path), read_only=True)

    def query(sql, params=None):
        cursor = con.cursor().execute(sql, params or [])
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    return con, query


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    home = tmp_path_factory.mktemp("report") / "home"
    history = generate_history(seed=SEED, runs_per_workflow=RUNS)
    history_file = home.parent / "history.jsonl"
    history_file.write_text(
        "\n".join(message.to_json_line() for message in history.messages) + "\n"
    )
    apoa(home, "replay", str(history_file))
    built = apoa(home, "build", "--json")
    result = json.loads(built.stdout)  # stdout is the result alone; dbt's log went to stderr
    assert result["success"], result["failures"]
    assert result["nodes"] > 100
    con, query = local_query(Settings(home=home).db_path)
    data = collect(query)
    con.close()
    return {"home": home, "history": history, "data": data}


# --------------------------------------------------------------------------- the page


def test_report_renders_in_chromium_with_every_chart_drawn(demo, tmp_path):
    require_chromium()
    page, shot = tmp_path / "report.html", tmp_path / "report.png"
    result = apoa(demo["home"], "report", "-o", str(page), "--screenshot", str(shot), "--json")
    written = json.loads(result.stdout)
    assert written["sections"] == {name: "ok" for name in demo["data"]["sections"]}
    browser = written["browser"]
    assert browser["console_errors"] == []
    assert browser["external_requests"] == []
    assert browser["empty_plots"] == []
    # One chart per regression, the health panels, flaky jobs, slowest steps.
    sections = demo["data"]["sections"]
    regressions = len(sections["regressions"]["items"])
    assert regressions >= 1
    expected = regressions + 1 + bool(sections["flaky"]["jobs"]) + bool(sections["steps"]["steps"])
    assert browser["plots"] == expected
    assert browser["ok"] is True
    width, height = png_size(shot)  # the top of the page, down to the regressions
    assert width == 1280 and 900 < height < 4000
    assert shot.stat().st_size > 50_000  # a blank page compresses to a few KB


def test_browser_check_catches_a_broken_page(tmp_path):
    """The check can fail: a console error, an uncaught exception, a request leaving the
    machine and a plot that never drew are each reported."""
    require_chromium()
    page = tmp_path / "broken.html"
    page.write_text(
        "<html><body data-plots='1'><div data-apoa-plot><div class='plotly-graph-div' "
        "id='plot-1'></div></div><script>console.error('boom'); undefined_function();"
        "</script><img src='http://192.0.2.1/x.png'></body></html>"
    )
    check = check_page(page, settle=0.5)
    assert any("boom" in error for error in check.console_errors)
    assert any("undefined_function" in error for error in check.console_errors)
    assert check.external_requests == ["http://192.0.2.1/x.png"]
    assert check.empty_plots == ["plot-1"]
    assert not check.ok


def test_the_browser_leaves_nothing_in_the_temporary_directory(tmp_path, monkeypatch):
    """Chromium keeps a singleton socket in a directory of $TMPDIR and a stopped browser
    leaves it there; 159 of them had piled up in /tmp before the check gave it a directory
    of its own. (Short: a socket's path may not exceed 107 bytes.)"""
    require_chromium()
    scratch = Path(tempfile.mkdtemp(prefix="apoa-t-", dir="/tmp"))
    try:
        monkeypatch.setenv("TMPDIR", str(scratch))
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))
        page = tmp_path / "page.html"
        page.write_text("<html><body data-plots='0'>nothing to draw</body></html>")
        assert check_page(page, settle=0.1).ok
        assert list(scratch.iterdir()) == []
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_page_is_self_contained_and_names_each_open_finding(demo, tmp_path):
    from plotly.offline import get_plotlyjs

    page = tmp_path / "report.html"
    apoa(demo["home"], "report", "-o", str(page))
    text = page.read_text()
    assert text.count(get_plotlyjs()[:400]) == 1  # plotly.js inlined exactly once
    assert not re.search(r"<script[^>]+src=", text)
    assert not re.search(r"<link[^>]+href=['\"]https?:", text)
    opened = demo["data"]["sections"]["findings"]["open"]
    assert opened
    for finding in opened:
        assert html.escape(finding["summary"], quote=True) in text
        assert f"apoa explain {finding['finding_id'][:8]}" in text
        for link in finding["links"]:
            assert f"href='{html.escape(link['url'], quote=True)}'" in text


def test_each_injected_anomaly_is_an_open_finding_and_a_drawn_regression(demo):
    history, sections = demo["history"], demo["data"]["sections"]
    opened = {
        (f["kind"], f["repository"], f["workflow_name"], f["job_name"])
        for f in sections["findings"]["open"]
    }
    for anomaly in history.injected:
        assert (anomaly.kind, anomaly.repository, anomaly.workflow, anomaly.job) in opened
    injected = next(a for a in history.injected if a.kind == "duration_regression")
    item = next(
        i
        for i in sections["regressions"]["items"]
        if (i["finding"]["repository"], i["finding"]["job_name"])
        == (injected.repository, injected.job)
    )
    runs = item["runs"]
    banded = [run for run in runs if run["upper_bound"] is not None]
    anomalous = [run for run in runs if run["is_anomaly"]]
    assert item["has_band"] and banded and anomalous
    # What the chart says: red points lie above the band, inside the episode.
    for run in anomalous:
        assert run["duration_seconds"] > run["upper_bound"]
        assert run["completed_at"] >= item["finding"]["started_at"]
    for run in banded:
        assert run["lower_bound"] <= run["expected_value"] <= run["upper_bound"]
    times = [run["completed_at"] for run in runs]
    assert times == sorted(times)


def test_health_totals_agree_with_the_daily_mart(demo):
    con, query = local_query(Settings(home=demo["home"]).db_path)
    try:
        expected = {
            (row["repository"], row["workflow_name"]): row
            for row in query(
                "select repository, workflow_name, sum(runs) as runs, "
                "sum(failed_runs) * 1.0 / sum(runs) as failure_rate "
                "from fct_pipeline_health_daily group by all"
            )
        }
        job_runs = query("select count(*) as n from fct_job_runs")[0]["n"]
    finally:
        con.close()
    totals = demo["data"]["sections"]["health"]["totals"]
    assert {(t["repository"], t["workflow_name"]) for t in totals} == set(expected)
    for total in totals:
        row = expected[(total["repository"], total["workflow_name"])]
        assert total["runs"] == row["runs"]
        assert total["failure_rate"] == pytest.approx(float(row["failure_rate"]))
    assert demo["data"]["overview"]["job_runs"] == job_runs


def test_report_through_a_running_apoa_serve(demo, tmp_path):
    """With `apoa serve` up, the report is read through GET /admin/report-data: same page."""
    from apoa.server import RunningServer

    server = RunningServer(LocalWarehouse(Settings(home=demo["home"])), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page = tmp_path / "remote.html"
        result = apoa(demo["home"], "report", "-o", str(page), "--json")
        assert json.loads(result.stdout)["sections"]["findings"] == "ok"
        from apoa.remote import RemoteWarehouse

        data = RemoteWarehouse(server.url).report_data()
    finally:
        server.stop()
        thread.join(timeout=30)
    assert data["sections"] == demo["data"]["sections"]
    assert "via apoa serve" in page.read_text()


def test_publish_json_prints_each_event(demo):
    from apoa.emulator import create_topology
    from tests.emulator_fixtures import start_emulator

    emulator = start_emulator(demo["home"].parent / "emulator.log")  # sets PUBSUB_EMULATOR_HOST
    try:
        create_topology("apoa-local", None)
        result = apoa(demo["home"], "publish", "--json")
    finally:
        emulator.stop()
    events = [json.loads(line) for line in result.stdout.splitlines()]
    opened = demo["data"]["sections"]["findings"]["open"]
    assert {event["finding_id"] for event in events} >= {f["finding_id"] for f in opened}
    assert all(event["event_id"] and event["summary"] for event in events)


# --------------------------------------------------------------------------- missing marts


def copy_warehouse(demo, tmp_path: Path, *statements: str) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(Settings(home=demo["home"]).db_path, Settings(home=home).db_path)
    with duckdb.connect(str(Settings(home=home).db_path)) as con:
        for statement in statements:
            con.execute(statement)
    return home


def test_sections_say_which_mart_is_missing(demo, tmp_path):
    require_chromium()
    home = copy_warehouse(
        demo, tmp_path,
        "drop table main.fct_step_runs", "drop table main.fct_pipeline_health_daily",
        "drop view main.ml_job_run_scores",
    )  # fmt: skip
    page, shot = tmp_path / "report.html", tmp_path / "shot.png"
    result = apoa(home, "report", "-o", str(page), "--screenshot", str(shot), "--json")
    written = json.loads(result.stdout)
    assert written["sections"]["steps"] == "missing fct_step_runs"
    assert written["sections"]["health"] == "missing fct_pipeline_health_daily"
    assert written["sections"]["regressions"] == "ok"  # drawn without its band
    assert written["sections"]["flaky"] == "ok"
    text = page.read_text()
    assert "This section reads <code>fct_step_runs</code>" in text
    assert "<code>ml_job_run_scores</code> is not built: the baseline band" in text
    assert written["browser"]["ok"] and written["browser"]["console_errors"] == []
    human = apoa(home, "report", "-o", str(page)).stdout
    assert "Slowest steps: missing fct_step_runs (run `apoa build`)" in human


def test_a_warehouse_with_no_marts_gets_a_page_that_says_what_to_run(tmp_path):
    require_chromium()
    home = tmp_path / "home"
    LocalWarehouse(Settings(home=home)).close()  # raw tables only, as before any build
    page = tmp_path / "report.html"
    result = apoa(home, "report", "-o", str(page), "--screenshot", str(tmp_path / "s.png"),
                  "--json")  # fmt: skip
    written = json.loads(result.stdout)
    assert all(state.startswith("missing") for state in written["sections"].values())
    assert written["browser"]["plots"] == 0
    assert written["browser"]["ok"]
    assert "No job runs in this warehouse yet." in page.read_text()


def test_a_mart_that_cannot_be_read_costs_only_its_section_and_fails_the_command(demo, tmp_path):
    home = copy_warehouse(
        demo, tmp_path, "alter table main.fct_step_runs rename column step_name to name"
    )
    page = tmp_path / "report.html"
    result = apoa(home, "report", "-o", str(page), "--json", check=False)
    assert result.returncode == 1
    sections = json.loads(result.stdout)["sections"]
    assert sections["steps"].startswith("error: BinderException")
    assert [name for name, state in sections.items() if state != "ok"] == ["steps"]
    assert "This section could not be read" in page.read_text()


# --------------------------------------------------------------------------- analyst docs


def test_dbt_docs_generate_on_the_local_target(demo):
    """As an analyst runs it, after the build: the project's own target/ (its parse reused)."""
    from dbt.cli.main import dbtRunner

    saved = os.environ.get("APOA_HOME")
    os.environ["APOA_HOME"] = str(demo["home"])
    try:
        outcome = dbtRunner().invoke([
            "docs", "generate", "--project-dir", str(ROOT),
            "--profiles-dir", str(ROOT / "dbt_project"), "--target", "local",
        ])  # fmt: skip
    finally:
        if saved is None:
            os.environ.pop("APOA_HOME", None)
        else:
            os.environ["APOA_HOME"] = saved
    assert outcome.success, outcome.exception
    target = dbt_target_dir()
    catalog = json.loads((target / "catalog.json").read_text())
    manifest = json.loads((target / "manifest.json").read_text())
    columns = catalog["nodes"]["model.apoa.fct_job_runs"]["columns"]
    assert {"job_run_id", "duration_seconds", "is_flaky_attempt"} <= set(columns)
    described = manifest["nodes"]["model.apoa.fct_job_runs"]["columns"]["duration_seconds"]
    assert described["description"]
    assert (target / "index.html").exists()

    # docs/looker-studio.md names only marts that exist, and every dashboard exposure's mart.
    guide = (ROOT / "docs" / "looker-studio.md").read_text()
    models = {node["name"] for node in manifest["nodes"].values()}
    named = set(re.findall(r"\b((?:fct|dim)_[a-z_]+)\b", guide))
    assert named and named <= models, named - models
    for exposure in manifest["exposures"].values():
        if exposure["type"] != "dashboard":
            continue
        assert f"`{exposure['name']}`" in guide, exposure["name"]
        for node in exposure["depends_on"]["nodes"]:
            assert node.split(".")[-1] in guide, (exposure["name"], node)
    assert "raw_finding_events" in guide


def test_adding_a_signal_names_real_files():
    """Every file the guide points at exists; the ones it tells you to create are the
    example's (named after `approval_wait`)."""
    guide = (ROOT / "docs" / "adding-a-signal.md").read_text()
    roots = "models|macros|publisher|ingest|apoa|tests|dbt_project|benchmarks|docs|\\.\\./shared"
    paths = set(re.findall(rf"`((?:{roots})/[^`*<]+)`", guide))
    assert len(paths) >= 20
    missing = [path for path in paths if not (ROOT / path).exists()]
    assert [path for path in missing if "approval_wait" not in path] == []
    assert len(missing) == 2  # the series and the scores the example adds
