"""The apoa-findings subscribers: Slack, Teams, GitHub issues and the dashboard sink.

Each subscriber runs as the functions-framework function it is deployed as, and talks to a
local HTTP server that records requests (tests/fake_services.py; its GitHub part keeps
issues and comments the way GitHub does). The end-to-end part publishes real finding events
through the real Pub/Sub emulator to push subscriptions on subscriber servers and on
`apoa serve` (the dashboard sink), and loses the first acknowledgement of every message so
that the emulator redelivers each one: no second post, card, issue or comment may follow.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from werkzeug.serving import make_server

from publisher.events import event_from_row
from publisher.subscribers import base, github_issues, slack, teams
from publisher.subscribers.base import Subscriber
from publisher.subscribers.dedup import Claim, SQLiteDedupStore
from publisher.subscribers.filters import AttributeFilter, FilterSyntaxError
from publisher.validation import schema_errors
from tests.fake_services import FakeServices
from tests.finding_rows import finding_row

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = {
    "slack": ("publisher/subscribers/slack.py", "slack_subscriber"),
    "teams": ("publisher/subscribers/teams.py", "teams_subscriber"),
    "github-issues": ("publisher/subscribers/github_issues.py", "github_issues_subscriber"),
}
GITHUB_FILTER = 'attributes.severity = "critical"'


@pytest.fixture(scope="module")
def services():
    services = FakeServices().start()
    yield services
    services.stop()


@pytest.fixture
def fresh(services, monkeypatch):
    services.clear()
    services.github.issues.clear()
    services.github.comments.clear()
    monkeypatch.setenv("APOA_FINDING_URL_TEMPLATE", "https://dash.example/findings/{finding_id}")
    yield services
    for name in FUNCTIONS:
        base.uninstall(name)


def make(name: str, services: FakeServices, store_path: Path, **options: Any) -> Subscriber:
    store = SQLiteDedupStore(store_path)
    if name == "slack":
        act = slack.poster(f"{services.url}/slack/hook")
        expression = slack.DEFAULT_FILTER
    elif name == "teams":
        act = teams.poster(f"{services.url}/teams/hook")
        expression = teams.DEFAULT_FILTER
    else:
        config = github_issues.GitHubConfig(
            token="ghs_test", api_url=f"{services.url}/github", **options.pop("config", {})
        )
        client = github_issues.GitHubClient(config, sleep=options.pop("sleep", time.sleep))
        act = github_issues.IssueKeeper(client)
        expression = GITHUB_FILTER
    return Subscriber(name, act, store, AttributeFilter.parse(options.pop("filter", expression)),
                      **options)  # fmt: skip


def client_for(subscriber: Subscriber):
    base.install(subscriber)
    source, target = FUNCTIONS[subscriber.name]
    return functions_framework.create_app(target, str(ROOT / source), "http").test_client()


def envelope(event, message_id: str = "m-1", attributes: dict | None = None) -> bytes:
    data = event.data if hasattr(event, "data") else json.dumps(event).encode()
    attrs = attributes if attributes is not None else getattr(event, "attributes", {})
    return json.dumps({
        "message": {"data": base64.b64encode(data).decode(), "attributes": attrs,
                    "messageId": message_id, "publishTime": "2026-10-01T12:00:00Z"},
        "subscription": "projects/apoa-test/subscriptions/apoa-findings-test",
    }).encode()  # fmt: skip


def deliver(client, event, message_id: str = "m-1") -> int:
    return client.post("/", data=envelope(event, message_id)).status_code


def event(revision: int = 1, **overrides):
    return event_from_row(finding_row(**overrides), revision=revision)


# --------------------------------------------------------------------------- Slack


def test_slack_posts_a_block_kit_message_with_summary_evidence_and_buttons(fresh, tmp_path):
    client = client_for(make("slack", fresh, tmp_path / "slack.sqlite3"))
    finding = event()
    assert deliver(client, finding) == 204
    [request] = fresh.received("/slack/hook", "POST")
    blocks = request.body["blocks"]
    assert blocks[0]["type"] == "header" and "duration regression" in blocks[0]["text"]["text"]
    assert blocks[1]["text"]["text"] == finding.body["summary"]
    assert "*Probable cause:* step `Run pytest` grew most" in json.dumps(blocks)
    fields = next(block["fields"] for block in blocks if block.get("fields"))
    assert {"type": "mrkdwn", "text": "*First bad run*\n#4812 (commit abc1234)"} in fields
    buttons = next(block["elements"] for block in blocks if block["type"] == "actions")
    assert [button["url"] for button in buttons] == [
        finding.body["evidence"]["last_bad_run"]["url"],
        f"https://dash.example/findings/{finding.finding_id}",
    ]
    assert request.body["text"].endswith(finding.body["summary"])


def test_slack_posts_each_event_once_and_applies_its_own_filter(fresh, tmp_path):
    subscriber = make("slack", fresh, tmp_path / "slack.sqlite3")
    client = client_for(subscriber)
    finding = event()
    assert deliver(client, finding, "m-1") == 204
    assert deliver(client, finding, "m-1") == 204  # a redelivery
    assert deliver(client, finding, "m-2") == 204  # the publisher repeating the event
    quiet = event(finding_id="b" * 32, severity="info")
    assert deliver(client, quiet, "m-3") == 204
    assert len(fresh.received("/slack/hook", "POST")) == 1
    assert subscriber.counts["duplicates"] == 2
    assert subscriber.counts["filtered"] == 1
    # A new state of the same finding is news.
    assert deliver(client, event(status="resolved"), "m-4") == 204
    assert len(fresh.received("/slack/hook", "POST")) == 2


def test_slack_refusal_is_logged_once_and_not_retried(fresh, tmp_path, capfd):
    subscriber = make("slack", fresh, tmp_path / "slack.sqlite3")
    client = client_for(subscriber)
    fresh.script("/slack/", (404, {"Content-Type": "text/plain"}, b"no_service"))
    finding = event()
    assert deliver(client, finding) == 204  # acknowledged: Pub/Sub must not loop on it
    assert len(fresh.received("/slack/")) == 1
    line = next(json.loads(x) for x in capfd.readouterr().err.splitlines() if "refused" in x)
    assert line["severity"] == "ERROR" and "no_service" in line["reason"]
    # It was not marked delivered: once the webhook is fixed, a redelivery posts it.
    assert deliver(client, finding) == 204
    assert len(fresh.received("/slack/")) == 2 and subscriber.counts["acted"] == 1


def test_slack_server_errors_are_retried_then_left_to_pubsub(fresh, tmp_path):
    client = client_for(make("slack", fresh, tmp_path / "slack.sqlite3"))
    fresh.script("/slack/", *[(503, {}, b"unavailable")] * 3)
    finding = event()
    assert deliver(client, finding) == 503  # the SDK retried twice; now Pub/Sub redelivers
    assert len(fresh.received("/slack/")) == 3
    assert deliver(client, finding) == 204
    assert len(fresh.received("/slack/")) == 4


# --------------------------------------------------------------------------- Teams


def test_teams_posts_an_adaptive_card_for_critical_findings_only(fresh, tmp_path):
    subscriber = make("teams", fresh, tmp_path / "teams.sqlite3")
    client = client_for(subscriber)
    critical = event()
    assert deliver(client, critical, "m-1") == 204
    assert deliver(client, event(finding_id="c" * 32, severity="warning"), "m-2") == 204
    assert deliver(client, critical, "m-3") == 204
    [request] = fresh.received("/teams/hook", "POST")
    [attachment] = request.body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][1] == {"type": "TextBlock", "text": critical.body["summary"], "wrap": True}
    facts = next(item["facts"] for item in card["body"] if item["type"] == "FactSet")
    assert {"title": "Step", "value": "`Run pytest`"} in facts
    assert [action["title"] for action in card["actions"]] == ["Open the run", "Open the finding"]
    assert (subscriber.counts["filtered"], subscriber.counts["duplicates"]) == (1, 1)


def test_teams_rate_limit_is_transient(fresh, tmp_path):
    client = client_for(make("teams", fresh, tmp_path / "teams.sqlite3"))
    fresh.script("/teams/", (429, {"Retry-After": "1"}, b"slow down"))
    assert deliver(client, event()) == 503
    assert deliver(client, event()) == 204
    assert len(fresh.received("/teams/hook", "POST")) == 2


# --------------------------------------------------------------------------- GitHub issues


def _issue_requests(services: FakeServices, method: str, suffix: str = "/issues"):
    return [r for r in services.received("/github/", method) if r.path.endswith(suffix)]


def test_github_one_issue_per_episode_comment_on_news_close_on_resolved(fresh, tmp_path):
    client = client_for(make("github-issues", fresh, tmp_path / "gh.sqlite3"))
    opened = event()
    assert deliver(client, opened, "m-1") == 204
    [created] = _issue_requests(fresh, "POST")
    assert created.body["labels"] == ["apoa", f"apoa:{opened.finding_id}"]
    assert created.body["title"] == (
        "APOA: duration regression in build / test (ubuntu, 3.12) on main"
    )
    assert opened.body["summary"] in created.body["body"]
    assert "**Probable cause:** step `Run pytest` grew most" in created.body["body"]
    assert created.headers["Authorization"] == "Bearer ghs_test"
    # Found again by listing issues with the fingerprint label, never by search.
    lookup = fresh.received("/github/repos/octo/app/issues", "GET")[0]
    assert lookup.query["labels"] == [f"apoa:{opened.finding_id}"]
    assert lookup.query["state"] == ["all"]
    assert not fresh.received("/github/search")

    update = event(observed_value=1300.0, revision=2)
    assert deliver(client, update, "m-2") == 204
    resolved = event(observed_value=1300.0, revision=2, status="resolved")
    assert deliver(client, resolved, "m-3") == 204
    issue = fresh.github.issues["octo/app"][0]
    comments = fresh.github.comments[("octo/app", 1)]
    assert len(fresh.github.issues["octo/app"]) == 1
    assert [c["body"].split(" ", 1)[0] for c in comments] == ["**New", "**Resolved.**"]
    assert (issue["state"], issue["state_reason"]) == ("closed", "completed")


def test_github_redelivery_opens_no_second_issue_even_when_the_store_forgot(fresh, tmp_path):
    first = client_for(make("github-issues", fresh, tmp_path / "a.sqlite3"))
    opened = event()
    update = event(observed_value=1300.0, revision=2)
    assert deliver(first, opened, "m-1") == 204
    assert deliver(first, update, "m-2") == 204
    assert deliver(first, opened, "m-1") == 204  # de-duplicated by the store
    # A subscriber with an empty store (a lost Firestore document, a new region) sees the
    # same events again: the fingerprint label and the event markers keep GitHub unchanged.
    second = client_for(make("github-issues", fresh, tmp_path / "b.sqlite3"))
    assert deliver(second, opened, "m-1") == 204
    assert deliver(second, update, "m-2") == 204
    assert len(_issue_requests(fresh, "POST")) == 1
    assert len(fresh.github.comments[("octo/app", 1)]) == 1


def test_github_retries_server_errors_and_secondary_rate_limits(fresh, tmp_path):
    waits: list[float] = []
    client = client_for(make("github-issues", fresh, tmp_path / "gh.sqlite3", sleep=waits.append))
    secondary = {"message": "You have exceeded a secondary rate limit. Please wait."}
    fresh.script(
        "/github/",
        (502, {}, {"message": "Bad Gateway"}),
        (503, {}, {"message": "Service Unavailable"}),
        (403, {"Retry-After": "7"}, secondary),
    )
    assert deliver(client, event()) == 204
    assert len(fresh.github.issues["octo/app"]) == 1
    assert len(waits) == 3
    assert 1 <= waits[0] < 2 and 2 <= waits[1] < 3  # exponential backoff with jitter
    assert waits[2] == 7  # Retry-After honoured


def test_github_a_create_that_failed_after_it_was_applied_is_not_repeated(fresh, tmp_path):
    waits: list[float] = []
    client = client_for(make("github-issues", fresh, tmp_path / "gh.sqlite3", sleep=waits.append))
    # GitHub created the issue and then answered 502: not retried in place ...
    fresh.script("/github/repos/octo/app/issues", (200, {}, []), (502, {}, {}, "after"))
    assert deliver(client, event()) == 503
    assert len(fresh.github.issues["octo/app"]) == 1 and waits == []
    # ... and the redelivery finds the issue by its label instead of opening a second one.
    assert deliver(client, event()) == 204
    assert len(fresh.github.issues["octo/app"]) == 1


def test_github_rate_limit_longer_than_a_push_may_wait_goes_back_to_pubsub(fresh, tmp_path):
    waits: list[float] = []
    client = client_for(make("github-issues", fresh, tmp_path / "gh.sqlite3", sleep=waits.append))
    reset = str(int(time.time()) + 3600)
    fresh.script(
        "/github/", (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
                     {"message": "API rate limit exceeded"}),
    )  # fmt: skip
    assert deliver(client, event()) == 503
    assert waits == []  # no hour-long sleep inside a push request
    fresh.script("/github/", (429, {}, {"message": "secondary rate limit"}))
    assert deliver(client, event()) == 503  # 60 s without Retry-After: more than a push waits
    assert deliver(client, event()) == 204
    assert len(fresh.github.issues["octo/app"]) == 1


def test_github_client_errors_are_logged_once_and_not_retried(fresh, tmp_path, capfd):
    waits: list[float] = []
    subscriber = make("github-issues", fresh, tmp_path / "gh.sqlite3", sleep=waits.append)
    client = client_for(subscriber)
    fresh.script("/github/", (401, {}, {"message": "Bad credentials"}))
    assert deliver(client, event()) == 204
    assert len(fresh.received("/github/")) == 1 and waits == []
    lines = [json.loads(x) for x in capfd.readouterr().err.splitlines() if x.startswith("{")]
    refusal = next(line for line in lines if line["message"].startswith("GitHub refused"))
    assert (refusal["severity"], refusal["status"]) == ("ERROR", 401)
    assert refusal["github_message"] == "Bad credentials"
    # A finding that names no repository cannot be filed anywhere (none configured).
    runner_level = event(finding_id="d" * 32, kind="queue_spike", repository=None,
                         workflow_name=None, job_name=None, entity=None,
                         runner_label="ubuntu-latest")  # fmt: skip
    assert deliver(client, runner_level, "m-2") == 204
    assert subscriber.counts["refused"] == 2 and subscriber.counts["acted"] == 0


def test_github_files_every_issue_in_a_configured_repository(fresh, tmp_path):
    client = client_for(make("github-issues", fresh, tmp_path / "gh.sqlite3",
                             config={"repository": "octo/ci-findings"}))  # fmt: skip
    assert deliver(client, event()) == 204
    assert list(fresh.github.issues) == ["octo/ci-findings"]


def test_github_does_not_open_an_issue_for_an_episode_already_over(fresh, tmp_path):
    client = client_for(make("github-issues", fresh, tmp_path / "gh.sqlite3"))
    assert deliver(client, event(status="resolved")) == 204
    assert _issue_requests(fresh, "POST") == []


# --------------------------------------------------------------------------- the common path


def test_what_is_not_a_finding_event_is_acknowledged_without_acting(fresh, tmp_path):
    subscriber = make("slack", fresh, tmp_path / "slack.sqlite3")
    client = client_for(subscriber)
    broken = dict(event().body, severity="apocalyptic")
    assert client.post("/", data=envelope(broken, attributes={})).status_code == 204
    not_json = json.dumps({"message": {"data": base64.b64encode(b"{nope").decode(),
                                       "messageId": "x"}}).encode()  # fmt: skip
    assert client.post("/", data=not_json).status_code == 204
    assert client.post("/", data=b"[]").status_code == 400
    assert fresh.received("/slack/") == []
    assert subscriber.counts["invalid"] == 2


def test_the_filter_reads_the_event_not_only_the_attributes(fresh, tmp_path):
    # A message whose attributes claim "critical" for an info event is judged by the event.
    client = client_for(make("teams", fresh, tmp_path / "teams.sqlite3"))
    quiet = event(severity="info")
    body = envelope(quiet, attributes={**quiet.attributes, "severity": "critical"})
    assert client.post("/", data=body).status_code == 204
    assert fresh.received("/teams/") == []


def test_push_authentication_is_enforced_when_configured(fresh, tmp_path):
    from ingest.push_auth import PushAuthConfig

    subscriber = make("slack", fresh, tmp_path / "slack.sqlite3",
                      auth=PushAuthConfig(audience="apoa-slack"))  # fmt: skip
    client = client_for(subscriber)
    assert deliver(client, event()) == 401
    assert fresh.received("/slack/") == []


@pytest.mark.parametrize(
    ("expression", "attributes", "accepted"),
    [
        ('attributes.severity = "critical" OR attributes.severity = "warning"',
         {"severity": "warning"}, True),
        ('attributes.severity = "critical" OR attributes.severity = "warning"',
         {"severity": "info"}, False),
        ('attributes.severity = "critical" AND attributes.kind = "failure_rate"',
         {"severity": "critical", "kind": "duration_regression"}, False),
        ('attributes.severity = "critical" AND attributes.kind = "failure_rate"',
         {"severity": "critical", "kind": "failure_rate"}, True),
        ('NOT attributes:repository', {"kind": "queue_spike"}, True),
        ('hasPrefix(attributes.repository, "octo/") AND -attributes.status = "resolved"',
         {"repository": "octo/app", "status": "open"}, True),
        ('(attributes.kind != "flaky_job") AND attributes:"status"',
         {"kind": "flaky_job", "status": "open"}, False),
        ("", {}, True),
    ],
)  # fmt: skip
def test_the_pubsub_filter_language(expression, attributes, accepted):
    assert AttributeFilter.parse(expression).accepts(attributes) is accepted


@pytest.mark.parametrize(
    "expression", ["attributes.kind = flaky", 'kind = "x"', 'attributes.kind = "x" AND', "("]
)
def test_a_broken_filter_is_refused_at_start(expression):
    with pytest.raises(FilterSyntaxError):
        AttributeFilter.parse(expression)


def test_the_infra_default_filters_parse():
    import re

    variables = (ROOT / "infra" / "variables.tf").read_text()
    block = variables.split('variable "subscriber_filters"', 1)[1].split("\n}\n", 1)[0]
    defaults = block.split("default = {", 1)[1]
    pattern = r'^\s*[\w-]+\s*=\s*"((?:[^"\\]|\\.)*)"\s*$'
    filters = [json.loads(f'"{text}"') for text in re.findall(pattern, defaults, re.MULTILINE)]
    assert filters, "no default filters found in infra/variables.tf"
    for expression in filters:
        AttributeFilter.parse(expression)


def test_dashboard_sink_function_lands_the_event_through_the_owner(settings):
    from apoa.warehouse import LocalWarehouse
    from ingest.handler import set_sink
    from publisher.subscribers.dashboard_sink import landed_events

    finding = event()
    with LocalWarehouse(settings) as owned:
        set_sink(owned.sink, owned.config)
        try:
            source = str(ROOT / "publisher" / "subscribers" / "dashboard_sink.py")
            client = functions_framework.create_app("dashboard_sink", source, "http").test_client()
            assert client.post("/", data=envelope(finding, "m-1")).status_code == 204
            assert client.post("/", data=envelope(finding, "m-1")).status_code == 204
        finally:
            set_sink(None)
        rows = owned.query("select * from raw.raw_finding_events")
    assert [body["event_id"] for body in landed_events(rows)] == [finding.event_id]
    assert json.loads(rows[0]["attributes"])["kind"] == "duration_regression"


# --------------------------------------------------------------------------- de-dup stores


def test_sqlite_store_claims_once_across_threads_and_takes_over_a_dead_lease(tmp_path):
    store = SQLiteDedupStore(tmp_path / "d.sqlite3", lease_seconds=60)
    results: list[Claim] = []
    barrier = threading.Barrier(8)

    def claim():
        barrier.wait()
        results.append(SQLiteDedupStore(tmp_path / "d.sqlite3").claim("e1"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.value for r in results) == ["busy"] * 7 + ["new"]
    store.complete("e1", "posted")
    assert store.claim("e1") is Claim.DONE and store.note("e1") == "posted"
    # A holder that died: its lease expires and another delivery takes the event over.
    expired = SQLiteDedupStore(tmp_path / "d.sqlite3", lease_seconds=0)
    assert expired.claim("e2") is Claim.NEW
    assert expired.claim("e2") is Claim.NEW
    expired.release("e2")
    assert store.claim("e2") is Claim.NEW


def test_firestore_store_on_the_firestore_emulator(tmp_path):
    with firestore_emulator(tmp_path / "firestore.log") as client:
        from publisher.subscribers.dedup import FirestoreDedupStore

        store = FirestoreDedupStore(client, "dedup-test", lease_seconds=60)
        assert store.claim("e1") is Claim.NEW
        assert store.claim("e1") is Claim.BUSY
        store.complete("e1", "posted")
        assert store.claim("e1") is Claim.DONE and store.note("e1") == "posted"
        document = client.collection("dedup-test").document("e1").get().to_dict()
        assert document["state"] == "done" and document["expire_at"] > document["completed_at"]
        assert store.claim("e2") is Claim.NEW
        store.release("e2")
        assert store.claim("e2") is Claim.NEW
        dead = FirestoreDedupStore(client, "dedup-test", lease_seconds=0)
        assert dead.claim("e2") is Claim.NEW


@contextlib.contextmanager
def firestore_emulator(log: Path):
    """`gcloud beta emulators firestore start` on a free port; a client on it."""
    import os

    from apoa.emulator import EmulatorTimeout, EmulatorUnavailable, GcloudEmulator

    emulator = GcloudEmulator("firestore", "FIRESTORE_EMULATOR_HOST", log=log)
    previous = os.environ.get("FIRESTORE_EMULATOR_HOST")
    try:
        emulator.start()
    except EmulatorTimeout as error:
        pytest.fail(f"the Firestore emulator did not answer: {error} ({log})")
    except EmulatorUnavailable as error:
        pytest.skip(f"no Firestore emulator: {error} ({log})")
    try:
        from google.cloud import firestore

        yield firestore.Client(project="apoa-test")
    finally:
        emulator.stop()
        if previous is not None:
            os.environ["FIRESTORE_EMULATOR_HOST"] = previous


# --------------------------------------------------------------------------- end to end


class LoseFirstAck:
    """WSGI middleware: lets the subscriber handle every delivery, but answers 500 to the
    first delivery of each message, as if the acknowledgement had been lost. Pub/Sub then
    delivers the same message (same message_id) again."""

    def __init__(self, app) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.deliveries: dict[str, int] = {}
        self.acked: set[str] = set()
        self.bodies: dict[str, dict] = {}

    def __call__(self, environ, start_response):
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(raw)
        message = json.loads(raw)["message"]
        message_id = message["messageId"]
        captured: dict[str, Any] = {}

        def capture(status, headers, exc_info=None):
            captured["status"] = status
            return lambda data: None

        chunks = list(self.app(environ, capture))
        with self.lock:
            self.deliveries[message_id] = self.deliveries.get(message_id, 0) + 1
            self.bodies[message_id] = json.loads(base64.b64decode(message["data"]))
            first = self.deliveries[message_id] == 1
            if not first and captured["status"].startswith("2"):
                self.acked.add(message_id)
        if first:
            start_response("500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")])
            return [b"ack lost"]
        start_response(captured["status"], [("Content-Type", "text/plain")])
        return chunks


@pytest.fixture(scope="module")
def loop(services, tmp_path_factory):
    """Emulator, three subscriber servers, `apoa serve` in this process, push subscriptions."""
    from apoa.emulator import create_topology, free_port
    from apoa.server import create_server_app
    from apoa.settings import Settings
    from apoa.warehouse import LocalWarehouse
    from ingest.handler import set_sink
    from tests.emulator_fixtures import PROJECT, start_emulator

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per push is noise here
    work = tmp_path_factory.mktemp("subscribers")
    emulator = start_emulator(work / "emulator.log")
    warehouse = LocalWarehouse(Settings(home=work / "home", pubsub_project=PROJECT))
    servers, apps, subscribers = [], {}, {}
    try:
        owner = make_server("127.0.0.1", free_port(), create_server_app(warehouse), threaded=True)
        servers.append(owner)
        owner_url = f"http://127.0.0.1:{owner.server_port}"
        filters = {"slack": slack.DEFAULT_FILTER, "teams": teams.DEFAULT_FILTER,
                   "github-issues": GITHUB_FILTER}  # fmt: skip
        for name, (source, target) in FUNCTIONS.items():
            subscriber = make(name, services, work / f"{name}.sqlite3", filter=filters[name])
            base.install(subscriber)
            app = LoseFirstAck(functions_framework.create_app(target, str(ROOT / source), "http"))
            server = make_server("127.0.0.1", free_port(), app, threaded=True)
            servers.append(server)
            apps[name], subscribers[name] = app, subscriber
        for server in servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        create_topology(PROJECT, owner_url)  # topics, and the dashboard sink's subscription
        _push_subscriptions(servers[1:], list(FUNCTIONS), filters)
        yield {"apps": apps, "subscribers": subscribers, "warehouse": warehouse}
    finally:
        for server in servers:
            server.shutdown()
        for name in FUNCTIONS:
            base.uninstall(name)
        set_sink(None)
        warehouse.close()
        emulator.stop()


def _push_subscriptions(servers, names, filters) -> None:
    from google.cloud import pubsub_v1

    from apoa.settings import FINDINGS_TOPIC
    from tests.emulator_fixtures import PROJECT

    subscriber = pubsub_v1.SubscriberClient()
    try:
        for server, name in zip(servers, names, strict=True):
            # The production filter is set too; the emulator ignores it, the subscriber does not.
            subscriber.create_subscription(request={
                "name": subscriber.subscription_path(PROJECT, f"apoa-findings-{name}"),
                "topic": f"projects/{PROJECT}/topics/{FINDINGS_TOPIC}",
                "push_config": {"push_endpoint": f"http://127.0.0.1:{server.server_port}/"},
                "ack_deadline_seconds": 10,
                "filter": filters[name],
            })  # fmt: skip
    finally:
        subscriber.close()


def _wait(condition, timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.mark.emulator
def test_findings_reach_every_subscriber_through_pubsub_once_each(loop, services):
    from apoa.settings import FINDINGS_TOPIC
    from publisher.publish import PublishConfig, publish_new_findings, pubsub_publisher
    from tests.emulator_fixtures import PROJECT
    from tests.finding_rows import replace_findings, warehouse_with

    services.clear()
    rows = [
        finding_row(finding_id="a" * 32),  # critical regression: everyone acts
        finding_row(finding_id="b" * 32, kind="failure_rate", severity="warning",
                    job_key="k2", unit="failures_per_10_runs", observed_value=5.0,
                    expected_value=0.3),  # Slack only
        finding_row(finding_id="c" * 32, kind="flaky_job", severity="info", job_key="k3"),
        finding_row(finding_id="d" * 32, kind="new_failure_signature", repository="octo/lib",
                    job_key="k4", entity="octo/lib / build / test"),
    ]  # fmt: skip
    findings = warehouse_with(rows)
    config = PublishConfig(min_severity="info", cooldown_seconds=0)
    publish = pubsub_publisher(PROJECT, FINDINGS_TOPIC)
    first = publish_new_findings(findings, publish, config)
    # The publisher crashed before writing its ledger: it sends the same events again.
    message_ids = {event.event_id: [publish(event)] for event in first}
    replace_findings(findings, [{**rows[0], "observed_value": 1300.0}, rows[1], rows[2],
                                {**rows[3], "status": "resolved"}])  # fmt: skip
    second = publish_new_findings(findings, publish, config)
    assert [(e.finding_id[0], e.status, e.revision) for e in second] == [
        ("a", "open", 2), ("d", "resolved", 1),
    ]  # fmt: skip
    events = first + second
    messages = len(first) * 2 + len(second)
    for event_id, message_id in findings.execute(
        "select event_id, pubsub_message_id from apoa_state.published_finding_events"
    ).fetchall():
        message_ids.setdefault(event_id, []).append(message_id)
    assert sum(len(ids) for ids in message_ids.values()) == messages

    def accepted(name: str) -> list:
        expression = AttributeFilter.parse(loop["subscribers"][name].filter.expression)
        return [event for event in events if expression.accepts(event.attributes)]

    for name, app in loop["apps"].items():
        wanted = {m for event in accepted(name) for m in message_ids[event.event_id]}

        def all_acked(app=app, wanted=wanted) -> bool:
            with app.lock:
                return wanted <= app.acked

        assert _wait(all_acked), f"{name}: not every delivery arrived: {app.deliveries}"
        # Every message the subscriber received validates against the schema.
        assert all(schema_errors(body) == [] for body in app.bodies.values())
        assert loop["subscribers"][name].counts["invalid"] == 0

    def ids(prefix):
        posted = [json.dumps(r.body) for r in services.received(prefix, "POST")]
        return sorted(e.event_id for e in events if any(e.event_id in text for text in posted))

    slack_posts = services.received("/slack/hook", "POST")
    assert len(slack_posts) == len(accepted("slack")) == 5
    assert ids("/slack/hook") == sorted(e.event_id for e in accepted("slack"))
    teams_posts = services.received("/teams/hook", "POST")
    assert len(teams_posts) == len(accepted("teams")) == 4
    created = [r for r in services.received("/github/", "POST") if r.path.endswith("/issues")]
    assert sorted(r.path for r in created) == [
        "/github/repos/octo/app/issues", "/github/repos/octo/lib/issues",
    ]  # fmt: skip
    [app_issue] = services.github.issues["octo/app"]
    [lib_issue] = services.github.issues["octo/lib"]
    assert len(services.github.comments[("octo/app", app_issue["number"])]) == 1  # revision 2
    assert lib_issue["state"] == "closed"  # resolved: commented and closed
    for name in ("slack", "teams", "github-issues"):
        counts = loop["subscribers"][name].counts
        assert counts["acted"] == len(accepted(name)), (name, counts)
        assert counts["duplicates"] >= 2 * len(accepted(name)), (name, counts)

    # The dashboard sink: every published message landed through `apoa serve`.
    warehouse = loop["warehouse"]

    def landed():
        return warehouse.query("select * from raw.raw_finding_events")

    assert _wait(lambda: len(landed()) >= messages)
    from publisher.subscribers.dashboard_sink import landed_events

    bodies = landed_events(landed())
    assert len(bodies) == messages
    assert {body["event_id"] for body in bodies} == {event.event_id for event in events}
    assert all(schema_errors(body) == [] for body in bodies)
    build = warehouse.build("stg_apoa__finding_events")
    assert build.success, build.failures
    staged = warehouse.query(
        "select event_id, finding_id, status, revision from main.stg_apoa__finding_events"
    )
    assert sorted((r["finding_id"][0], r["status"], r["revision"]) for r in staged) == sorted(
        (e.finding_id[0], e.status, e.revision) for e in events
    )
