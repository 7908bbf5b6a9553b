"""The `apoa` command line.

Exit codes: 0 success; 1 the work ran but failed (a dbt failure, an injected
anomaly not found); 2 it could not run (warehouse held, emulator missing, bad input).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from pathlib import Path

from apoa.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    settings = Settings.from_env()
    from apoa.emulator import EmulatorUnavailable
    from apoa.remote import OwnerUnreachable
    from apoa.warehouse import WarehouseBusy

    try:
        return args.handler(settings, args)
    except (WarehouseBusy, EmulatorUnavailable, OwnerUnreachable, FileNotFoundError) as error:
        print(f"apoa: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            print(f"apoa: the port is already in use ({error}); pick another with --port",
                  file=sys.stderr)  # fmt: skip
            return 2
        raise


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="apoa",
        description="APOA observes CI/CD pipelines: it lands GitHub Actions, Cloud Logging and "
        "Cloud Monitoring events, builds baselines with dbt and publishes anomalies as findings. "
        "Local state lives in APOA_HOME (default ./.apoa).",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, help_text: str, example: str, handler):
        sub = commands.add_parser(name, help=help_text, description=help_text,
                                  epilog=f"example: {example}")  # fmt: skip
        sub.set_defaults(handler=handler)
        return sub

    serve = command("serve", "run the warehouse owner: ingest push endpoints, builds, publishing",
                    "apoa serve --port 8080", _serve)  # fmt: skip
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)

    watch = command("watch", "serve with real-time builds: findings within seconds, no polling",
                    "apoa watch --port 8080", _watch)  # fmt: skip
    watch.add_argument("--host", default="127.0.0.1")
    watch.add_argument("--port", type=int, default=8080)

    demo = command("demo", "run the whole loop on the Pub/Sub emulator with generated history",
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

    command("publish", "publish new findings to apoa-findings", "apoa publish", _publish)

    findings = command("findings", "list findings", "apoa findings --status all --json", _findings)
    findings.add_argument("--status", choices=["open", "resolved", "all"], default="open")
    findings.add_argument("--json", action="store_true", help="one JSON object per line")

    explain = command("explain", "print the full evidence of one finding",
                      "apoa explain 9ec4f034", _explain)  # fmt: skip
    explain.add_argument("finding_id", help="a finding id, or a unique prefix of one")
    explain.add_argument("--json", action="store_true", help="the explanation as JSON")
    return parser


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from apoa.server import serve
    from apoa.warehouse import LocalWarehouse

    serve(LocalWarehouse(settings), args.host, args.port)
    return 0


def _watch(settings: Settings, args: argparse.Namespace) -> int:
    from apoa.emulator import PubSubEmulator, create_topology
    from apoa.server import serve
    from apoa.warehouse import LocalWarehouse

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

        serve(warehouse, args.host, args.port, watch=True, on_listening=listening)
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
                print("apoa: --via emulator needs PUBSUB_EMULATOR_HOST", file=sys.stderr)
                return 2
            replay.publish_to_emulator(messages, settings.pubsub_project)
        elif args.via == "http":
            if not args.url:
                print("apoa: --via http needs the server URL", file=sys.stderr)
                return 2
            replay.deliver_http(messages, replay.url_poster(args.url))
        elif isinstance(owner, LocalWarehouse):
            from apoa.server import create_server_app

            os.environ.setdefault("APOA_LOG_LEVEL", "WARNING")  # a line per message is noise here
            app = create_server_app(owner)
            replay.deliver_http(messages, replay.test_client_poster(_flask_app(app)))
        else:
            print(f"apoa serve is running: sending to it at {owner.url}", flush=True)
            replay.deliver_http(messages, replay.url_poster(owner.url))
    finally:
        if isinstance(owner, LocalWarehouse):
            owner.close()
    return 0


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
    from apoa.owner import open_owner
    from apoa.warehouse import LocalWarehouse

    owner = open_owner(settings)
    if isinstance(owner, LocalWarehouse):
        with owner:
            result = owner.build(args.select, args.full_refresh).to_dict()
    else:
        result = owner.build(args.select, args.full_refresh)
    for failure in result["failures"]:
        print(f"failed: {failure}", file=sys.stderr)
    print(f"dbt build: {'ok' if result['success'] else 'FAILED'}, {result['nodes']} nodes")
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
        with owner:
            published = [event.body for event in owner.publish()]
    else:
        published = owner.publish()
    print(f"published {len(published)} finding events to apoa-findings")
    return 0


def _findings(settings: Settings, args: argparse.Namespace) -> int:
    from apoa.owner import open_owner
    from apoa.warehouse import LocalWarehouse

    owner = open_owner(settings)
    if isinstance(owner, LocalWarehouse):
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
