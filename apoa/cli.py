"""The `apoa` command line (docs/cli.md).

Exit codes: 0 success; 1 the work ran but failed (a dbt failure, an injected
anomaly not found); 2 it could not run (warehouse held, emulator missing, no
warehouse yet, no credentials, port in use, bad input); 130 interrupted.
Errors a user can fix are one line saying what happened and what to do, never a
traceback (APOA_DEBUG=1 shows the traceback of an unexpected error).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from apoa.settings import Settings

EXIT_CODES = """exit codes:
  0    success
  1    the work ran and failed (a dbt build failure, an injected anomaly not found, ...)
  2    it could not run: a missing piece (no warehouse yet, no emulator, no credentials),
       the warehouse held by another process, a port in use, bad arguments
  130  interrupted (Ctrl-C)"""

SHORT_EXIT_CODES = "exit codes: 0 success, 1 the work ran and failed, 2 it could not run"

# Two: on the 2-core machine this was measured on, two processes answering pushes beside
# the owner kept up with the Pub/Sub emulator; one did not (README, "Reliability and security").
DEFAULT_PUSH_PROCESSES = 2
# Commands that read the local warehouse: without one (and without a running `apoa serve`)
# they say so instead of creating an empty one.
READS_WAREHOUSE = {"findings", "explain", "report", "publish"}


class CannotRun(Exception):
    """A missing piece the user can provide: printed as one line, exit code 2."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    settings = Settings.from_env()
    from apoa.emulator import EmulatorUnavailable
    from apoa.remote import OwnerUnreachable
    from apoa.report_browser import BrowserUnavailable
    from apoa.warehouse import WarehouseBusy

    try:
        if getattr(args, "command", None) in READS_WAREHOUSE:
            _require_warehouse(settings)
        return args.handler(settings, args)
    except EmulatorUnavailable as error:
        print(f"apoa: {error}. Install the Pub/Sub emulator (`gcloud components install "
              "pubsub-emulator`, or Debian's google-cloud-cli-pubsub-emulator) or point "
              "PUBSUB_EMULATOR_HOST at a running one.", file=sys.stderr)  # fmt: skip
        return 2
    except (CannotRun, WarehouseBusy, OwnerUnreachable, BrowserUnavailable,
            FileNotFoundError) as error:  # fmt: skip
        print(f"apoa: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            print(f"apoa: the port is already in use ({error}); pick another with --port",
                  file=sys.stderr)  # fmt: skip
            return 2
        return _unexpected(error)
    except Exception as error:
        return _unexpected(error)


def _unexpected(error: BaseException) -> int:
    if os.environ.get("APOA_DEBUG"):
        raise error
    print(f"apoa: unexpected error: {type(error).__name__}: {error}\n"
          "  (run again with APOA_DEBUG=1 for the traceback, and please report it)",
          file=sys.stderr)  # fmt: skip
    return 1


def _require_warehouse(settings: Settings) -> None:
    from apoa.warehouse import read_owner

    if read_owner(settings) is None and not settings.db_path.exists():
        raise CannotRun(
            f"no warehouse yet at {settings.db_path}. Try `apoa demo --fresh` (generated "
            "history), or land your own with `apoa replay FILE` or `apoa backfill ...` and "
            "run `apoa build`; or set APOA_HOME to where your warehouse is."
        )


def _require_table(owner, table: str) -> None:
    """For a command that owns the warehouse: the mart it reads must have been built."""
    from apoa.warehouse import LocalWarehouse

    if isinstance(owner, LocalWarehouse):
        rows = owner.query(
            "select count(*) as n from information_schema.tables "
            "where table_schema = 'main' and table_name = ?",
            [table],
        )
        if not rows[0]["n"]:
            owner.close()
            raise CannotRun(
                f"{table} is not built yet in {owner.settings.db_path}: run `apoa build` "
                "(or `apoa demo --fresh` for generated history)."
            )


def _check_port(host: str, port: int) -> None:
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise CannotRun(
                f"port {port} on {host} is already in use (another `apoa serve`, or another "
                f"program). Pick a free one, e.g. `--port {port + 1}`, or stop that program."
            ) from None


def _check_emulator_host() -> None:
    """PUBSUB_EMULATOR_HOST set but nothing listening: say so now, not after a long retry."""
    import socket

    host = os.environ.get("PUBSUB_EMULATOR_HOST")
    if not host:
        return
    name, _, port = host.rpartition(":")
    try:
        with socket.create_connection((name or "127.0.0.1", int(port)), timeout=2):
            return
    except (OSError, ValueError):
        raise CannotRun(
            f"nothing answers at PUBSUB_EMULATOR_HOST={host}. Start the emulator "
            f"(`gcloud beta emulators pubsub start --host-port={host}`) or unset the variable."
        ) from None


def _check_google_credentials(what: str) -> None:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        google.auth.default()
    except DefaultCredentialsError:
        raise CannotRun(
            f"{what} needs Google credentials and found none. Run `gcloud auth "
            "application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service "
            "account key file (on Cloud Run the service's own account is used)."
        ) from None


def _check_target(settings: Settings) -> None:
    """The bigquery target needs a project and credentials before dbt is started."""
    if settings.dbt_target != "bigquery":
        return
    if os.environ.get("APOA_BQ_METHOD", "oauth") == "oauth":
        _check_google_credentials("the bigquery target (APOA_DBT_TARGET=bigquery)")
    if not os.environ.get("APOA_BQ_PROJECT"):
        raise CannotRun(
            "the bigquery target needs APOA_BQ_PROJECT: the Google Cloud project that holds "
            "the pipeline_analytics dataset (see docs/deploy.md)."
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="apoa",
        description="APOA observes CI/CD pipelines: it lands GitHub Actions, Cloud Logging and "
        "Cloud Monitoring events, builds baselines with dbt and publishes anomalies as findings. "
        "Local state lives in APOA_HOME (default ./.apoa).",
        epilog="start here: apoa demo --fresh, then apoa report and apoa findings\n"
        "every command has --help with an example; docs/cli.md has them all\n\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, help_text: str, example: str, handler):
        sub = commands.add_parser(name, help=help_text, description=help_text,
                                  epilog=f"example: {example}\n\n{SHORT_EXIT_CODES}",
                                  formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
        sub.set_defaults(handler=handler, command=name)
        return sub

    serve = command("serve", "own the warehouse: ingest push endpoints, builds, publishing",
                    "apoa serve --port 8080", _serve)  # fmt: skip
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    _push_processes_option(serve)

    watch = command("watch", "serve with real-time builds: findings within seconds, no polling",
                    "apoa watch --port 8080", _watch)  # fmt: skip
    watch.add_argument("--host", default="127.0.0.1")
    watch.add_argument("--port", type=int, default=8080)
    _push_processes_option(watch)

    demo = command("demo", "the whole loop on the Pub/Sub emulator, on generated history",
                   "apoa demo --fresh", _demo)  # fmt: skip
    demo.add_argument("--fresh", action="store_true", help="start from an empty warehouse")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--runs", type=int, default=60, help="runs per workflow to generate")

    replay = command("replay", "send a JSON Lines file of Pub/Sub messages through ingest",
                     "apoa replay history.jsonl --via emulator", _replay)  # fmt: skip
    replay.add_argument("file", type=Path)
    replay.add_argument("--via", default="inprocess",
                        help="inprocess (default), emulator, or http")  # fmt: skip
    replay.add_argument("url", nargs="?", help="with --via http: the ingest server's base URL")

    backfill = command("backfill", "import history exported from the GitHub REST API",
                       "apoa backfill runs.json jobs/ --default-branch main",
                       _backfill)  # fmt: skip
    backfill.add_argument("paths", nargs="+", type=Path,
                          help="gh api --paginate output: runs, jobs, attempts, repository; "
                          "directories are searched for *.json")  # fmt: skip
    backfill.add_argument("--default-branch",
                          help="default branch of repositories whose `gh api repos/OWNER/REPO` "
                          "output is not among the inputs")  # fmt: skip
    backfill.add_argument("--restart", action="store_true",
                          help="forget an interrupted import's progress, start over")  # fmt: skip

    build = command("build", "dbt build on the configured target", "apoa build", _build)
    build.add_argument("--select", help="dbt selection, e.g. 'fct_findings+'")
    build.add_argument("--full-refresh", action="store_true")
    build.add_argument("--json", action="store_true",
                       help="print the result as JSON (dbt's log goes to stderr)")  # fmt: skip

    publish = command("publish", "publish new findings to apoa-findings",
                      "PUBSUB_EMULATOR_HOST=127.0.0.1:8085 apoa publish", _publish)  # fmt: skip
    publish.add_argument("--json", action="store_true",
                         help="the published events, one JSON object per line")  # fmt: skip

    findings = command("findings", "list findings (open ones unless --status says otherwise)",
                       "apoa findings --status all --json", _findings)  # fmt: skip
    findings.add_argument("--status", choices=["open", "resolved", "all"], default="open")
    findings.add_argument("--json", action="store_true", help="one JSON object per line")

    report = command("report", "write the pipeline-health report: one HTML file, works offline",
                     "apoa report -o report.html", _report)  # fmt: skip
    report.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="where to write it (default: $APOA_HOME/report.html)")  # fmt: skip
    report.add_argument("--screenshot", type=Path, metavar="PNG",
                        help="also open it in headless Chromium, check that every chart drew "
                        "with no console error, and save a PNG of its top")  # fmt: skip
    report.add_argument("--json", action="store_true",
                        help="print what was written (path, sections, checks) as JSON")  # fmt: skip

    explain = command("explain", "print the full evidence of one finding",
                      "apoa explain 9ec4f034", _explain)  # fmt: skip
    explain.add_argument("finding_id", help="a finding id, or a unique prefix of one")
    explain.add_argument("--json", action="store_true", help="the explanation as JSON")
    return parser


def _push_processes_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--push-processes", type=int, default=DEFAULT_PUSH_PROCESSES, metavar="N",
        help="processes that answer Pub/Sub pushes beside the owner "
        f"(default {DEFAULT_PUSH_PROCESSES}; 0: the owner answers them itself)",
    )  # fmt: skip


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from apoa.server import serve
    from apoa.warehouse import LocalWarehouse

    warehouse = LocalWarehouse(settings)  # first: "held by PID ..." says more than "port in use"
    try:
        _check_port(args.host, args.port)
    except CannotRun:
        warehouse.close()
        raise
    serve(warehouse, args.host, args.port, push_processes=args.push_processes)
    return 0


def _watch(settings: Settings, args: argparse.Namespace) -> int:
    from apoa.emulator import PubSubEmulator, create_topology
    from apoa.server import serve
    from apoa.warehouse import LocalWarehouse

    _check_port(args.host, args.port)
    _check_emulator_host()
    emulator = None
    if not os.environ.get("PUBSUB_EMULATOR_HOST") and not os.environ.get("GOOGLE_CLOUD_PROJECT"):
        emulator = PubSubEmulator(settings.pubsub_project, log=settings.home / "emulator.log")
        settings.home.mkdir(parents=True, exist_ok=True)
        emulator.start()
        print(f"apoa watch: Pub/Sub emulator on {emulator.host}", flush=True)
    try:
        warehouse = LocalWarehouse(settings)

        def listening(url: str) -> None:
            if os.environ.get("PUBSUB_EMULATOR_HOST"):
                create_topology(settings.pubsub_project, url)
                print("apoa watch: push subscriptions point here; Ctrl-C stops", flush=True)

        serve(warehouse, args.host, args.port, watch=True, on_listening=listening,
              push_processes=args.push_processes)  # fmt: skip
    finally:
        if emulator is not None:
            emulator.stop()
    return 0


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from apoa.demo import run_demo

    return run_demo(settings, fresh=args.fresh, seed=args.seed, runs=args.runs)


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    from apoa import replay
    from apoa.owner import open_owner
    from apoa.warehouse import LocalWarehouse

    messages, dead = replay.read_file(args.file)
    print(f"{args.file}: {len(messages)} messages, {len(dead)} lines not messages", flush=True)
    owner = open_owner(settings)
    try:
        if dead:
            if isinstance(owner, LocalWarehouse):
                owner.land([], dead)
            else:
                owner.land_dead_letters([_letter_dict(letter) for letter in dead])
        if args.via == "emulator":
            if not os.environ.get("PUBSUB_EMULATOR_HOST"):
                print("apoa: --via emulator needs PUBSUB_EMULATOR_HOST (the host:port of a "
                      "running Pub/Sub emulator; `apoa demo` starts one for you)",
                      file=sys.stderr)  # fmt: skip
                return 2
            _check_emulator_host()
            replay.publish_to_emulator(messages, settings.pubsub_project)
        elif args.via == "http":
            if not args.url:
                print("apoa: --via http needs the server URL", file=sys.stderr)
                return 2
            replay.deliver_http(messages, replay.url_poster(args.url))
        elif isinstance(owner, LocalWarehouse):
            from apoa.server import create_server_app

            app = create_server_app(owner)
            with _log_level_unless_set("WARNING"):  # a line per message is noise here
                replay.deliver_http(messages, replay.test_client_poster(_flask_app(app)))
        else:
            print(f"apoa serve is running: sending to it at {owner.url}", flush=True)
            replay.deliver_http(messages, replay.url_poster(owner.url))
    finally:
        if isinstance(owner, LocalWarehouse):
            owner.close()
    return 0


@contextlib.contextmanager
def _log_level_unless_set(level: str) -> Iterator[None]:
    """APOA_LOG_LEVEL for the block only: main() also runs inside other processes (tests)."""
    if "APOA_LOG_LEVEL" in os.environ:
        yield
        return
    os.environ["APOA_LOG_LEVEL"] = level
    try:
        yield
    finally:
        os.environ.pop("APOA_LOG_LEVEL", None)


def _flask_app(app):
    # create_server_app wraps the Flask app in a dispatcher; the test client needs the Flask app.
    while not hasattr(app, "test_client"):
        app = app.app
    return app


def _letter_dict(letter) -> dict:
    return {
        "source": letter.source, "reason": letter.reason, "body": letter.body,
        "topic": letter.topic, "message_id": letter.message_id,
        "attributes": letter.attributes, "line_number": letter.line_number,
    }  # fmt: skip


def _backfill(settings: Settings, args: argparse.Namespace) -> int:
    from apoa import backfill
    from apoa.owner import open_owner
    from apoa.warehouse import LocalWarehouse

    progress_file = backfill.ProgressFile(settings.home / "backfill" / "progress.json")
    if args.restart:
        progress_file.clear()
    owner = open_owner(settings)
    try:
        if isinstance(owner, LocalWarehouse):
            deliver = backfill.local_deliver(owner.land)
        else:
            print(f"apoa serve is running: sending to it at {owner.url}", flush=True)
            deliver = backfill.http_deliver(owner.url)
        result = backfill.backfill(args.paths, deliver, progress_file, args.default_branch)
    except backfill.BackfillError as error:
        print(f"apoa: {error}", file=sys.stderr)
        return 2
    finally:
        if isinstance(owner, LocalWarehouse):
            owner.close()
    resumed = f", {result.skipped} landed before the interruption" if result.skipped else ""
    print(f"backfill: {result.messages} messages from {result.files} files{resumed}; "
          f"{result.dead_letters} dead letters. Run `apoa build` to update the marts.")  # fmt: skip
    return 1 if result.dead_letters else 0


def _build(settings: Settings, args: argparse.Namespace) -> int:
    import contextlib
    import time

    from apoa.owner import open_owner
    from apoa.warehouse import LocalWarehouse

    _check_target(settings)
    owner = open_owner(settings)
    started = time.monotonic()
    where = "in this process" if isinstance(owner, LocalWarehouse) else f"in apoa serve {owner.url}"
    print(f"dbt build on target {settings.dbt_target} {where} (about half a minute on the demo "
          "history; dbt prints each model as it goes)", file=sys.stderr, flush=True)  # fmt: skip
    # With --json, stdout carries only the result: dbt's own progress goes to stderr.
    quiet = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with quiet:
        if isinstance(owner, LocalWarehouse):
            with owner:
                result = owner.build(args.select, args.full_refresh).to_dict()
        else:
            result = owner.build(args.select, args.full_refresh)
    for failure in result["failures"]:
        print(f"failed: {failure}", file=sys.stderr)
    if args.json:
        print(json.dumps({**result, "seconds": round(time.monotonic() - started, 1)}))
    else:
        print(f"dbt build: {'ok' if result['success'] else 'FAILED'}, {result['nodes']} nodes "
              f"in {time.monotonic() - started:.0f}s")  # fmt: skip
    return 0 if result["success"] else 1


def _publish(settings: Settings, args: argparse.Namespace) -> int:
    from apoa.owner import open_owner
    from apoa.warehouse import LocalWarehouse

    owner = open_owner(settings)
    if isinstance(owner, LocalWarehouse):
        if not os.environ.get("PUBSUB_EMULATOR_HOST") and not os.environ.get(
            "GOOGLE_CLOUD_PROJECT"
        ):
            owner.close()
            print("apoa: publishing needs Pub/Sub: set PUBSUB_EMULATOR_HOST (local emulator) "
                  "or GOOGLE_CLOUD_PROJECT with credentials", file=sys.stderr)  # fmt: skip
            return 2
        try:
            _check_emulator_host()
            if not os.environ.get("PUBSUB_EMULATOR_HOST"):
                _check_google_credentials(f"publishing to {os.environ['GOOGLE_CLOUD_PROJECT']}")
            _require_table(owner, "fct_findings")
        except CannotRun:
            owner.close()
            raise
        with owner:
            published = [event.body for event in owner.publish()]
    else:
        published = owner.publish()
    if args.json:
        for body in published:
            print(json.dumps(body, default=str, sort_keys=True))
        return 0
    print(f"published {len(published)} finding events to apoa-findings")
    return 0


def _findings(settings: Settings, args: argparse.Namespace) -> int:
    from apoa.owner import open_owner
    from apoa.warehouse import LocalWarehouse

    owner = open_owner(settings)
    if isinstance(owner, LocalWarehouse):
        _require_table(owner, "fct_findings")
        with owner:
            rows = owner.findings(args.status)
    else:
        rows = owner.findings(args.status)
    if args.json:
        for row in rows:
            print(json.dumps(row, default=str, sort_keys=True))
        return 0
    if not rows:
        print(f"no {args.status if args.status != 'all' else ''} findings".replace("  ", " "))
        return 0
    print(f"{'severity':<9} {'status':<9} {'kind':<20} {'detected':<20} summary")
    for row in rows:
        print(f"{row['severity']:<9} {row['status']:<9} {row['kind']:<20} "
              f"{str(row['detected_at'])[:19]:<20} {row['summary']}")  # fmt: skip
    return 0


def _report(settings: Settings, args: argparse.Namespace) -> int:
    import contextlib

    from apoa.owner import open_owner
    from apoa.report import collect, section_status, write_report
    from apoa.warehouse import LocalWarehouse

    if settings.dbt_target != "local":
        print(f"apoa report reads the local warehouse; the {settings.dbt_target} target's marts "
              "are for Looker Studio (docs/looker-studio.md)", file=sys.stderr)  # fmt: skip
    source = settings.db_path
    with contextlib.suppress(ValueError):
        source = source.relative_to(Path.cwd())  # shorter, and no home directory in the page
    owner = open_owner(settings)
    if isinstance(owner, LocalWarehouse):
        with owner:
            data = collect(owner.query, source=str(source))
    else:
        data = owner.report_data()
        data["source"] = f"{source} via apoa serve {owner.url}"
    path = write_report(data, args.output or settings.home / "report.html")
    status = section_status(data)
    opened = data["sections"]["findings"].get("open") or []
    result: dict = {
        "path": str(path.resolve()),
        "bytes": path.stat().st_size,
        "open_findings": len(opened),
        "sections": status,
    }
    if args.screenshot:
        from apoa.report_browser import check_page

        # The top of the page: overview, open findings and the regressions when there are some.
        check = check_page(path, screenshot=args.screenshot, screenshot_height=1500,
                           screenshot_until="#regressions")  # fmt: skip
        result["browser"] = {
            "ok": check.ok,
            "screenshot": str(check.screenshot),
            "plots": len(check.plots),
            "empty_plots": check.empty_plots,
            "console_errors": check.console_errors,
            "external_requests": check.external_requests,
        }
    failed = any(value.startswith("error") for value in status.values()) or (
        "browser" in result and not result["browser"]["ok"]
    )
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return 1 if failed else 0
    print(f"wrote {path} ({result['bytes'] / 1e6:.1f} MB): {len(opened)} open findings; "
          f"open {path.resolve().as_uri()} in a browser (no network needed)")  # fmt: skip
    for name, state in status.items():
        if state != "ok":
            hint = " (run `apoa build`)" if state.startswith("missing") else ""
            print(f"  {data['sections'][name]['title']}: {state}{hint}")
    if "browser" in result:
        browser = result["browser"]
        print(f"chromium: {browser['plots']} charts drawn, {len(browser['empty_plots'])} empty, "
              f"{len(browser['console_errors'])} console errors, "
              f"{len(browser['external_requests'])} network requests; screenshot "
              f"{browser['screenshot']}")  # fmt: skip
        for problem in browser["console_errors"] + browser["external_requests"]:
            print(f"  {problem}", file=sys.stderr)
    return 1 if failed else 0


def _explain(settings: Settings, args: argparse.Namespace) -> int:
    from apoa.owner import open_owner
    from apoa.warehouse import LocalWarehouse
    from publisher.explain import FindingNotFound, explain, format_explanation

    owner = open_owner(settings)
    try:
        if isinstance(owner, LocalWarehouse):
            with owner:
                data = explain(owner.con.cursor(), args.finding_id)
        else:
            data = owner.explain(args.finding_id)
    except FindingNotFound as error:
        print(f"apoa: {error}", file=sys.stderr)
        return 1
    print(json.dumps(data, indent=2, sort_keys=True) if args.json else format_explanation(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
