"""`apoa backfill`: import GitHub Actions history exported from the REST API.

Baselines need history, and webhooks only bring what happens from the day they are set up.
The REST API has the rest; export it with the GitHub CLI:

    gh api --paginate repos/OWNER/REPO/actions/runs > runs.json
    gh api --paginate repos/OWNER/REPO/actions/runs/RUN_ID/jobs > jobs-RUN_ID.json
    gh api --paginate repos/OWNER/REPO/actions/runs/RUN_ID/attempts/N/jobs > jobs-RUN_ID-N.json
    gh api repos/OWNER/REPO/actions/runs/RUN_ID/attempts/N > run-RUN_ID-N.json   # re-runs
    gh api repos/OWNER/REPO > repo.json                                          # default branch

and `apoa backfill runs.json jobs-*.json ...` (files or directories of *.json). A REST workflow
run or job object is the object a `workflow_run` / `workflow_job` webhook carries, so each one
becomes the webhook delivery GitHub would have sent for its current state and goes through the
same landing path as webhooks (push envelope -> ingest decode -> raw_github_events): there is
no second schema. Each message id is derived from (run_id, run_attempt) or (job_id,
run_attempt) and the state, so importing the same export twice lands nothing new; staging
prefers a webhook's copy of a state over a backfilled one, so importing runs that webhooks
already delivered changes no mart. Progress is saved after every batch in
$APOA_HOME/backfill/progress.json: an interrupted import resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apoa.progress import Progress
from apoa.replay import ReplayMessage
from ingest.envelope import DeadLetter, RawMessage, decode_push

TOPIC = "github-events"
SOURCE = "backfill"
BATCH = 500
_REPOSITORY_IN_URL = re.compile(r"/repos/(?P<full_name>[^/]+/[^/]+)/actions/")
_JOB_ACTIONS = {"queued": "queued", "waiting": "waiting", "in_progress": "in_progress"}
_RUN_ACTIONS = {"completed": "completed", "in_progress": "in_progress"}
# The webhook's `workflow` object, from the fields a REST run carries.
_WORKFLOW_FIELDS = (("id", "workflow_id"), ("name", "name"), ("path", "path"))


class BackfillError(ValueError):
    """The input cannot be imported (not JSON, unknown shape, default branch unknown)."""


@dataclass(frozen=True)
class ExportFile:
    """One input file: its records, in file order, and a content hash for resuming."""

    path: Path
    digest: str
    runs: list[dict[str, Any]]
    jobs: list[dict[str, Any]]
    repositories: list[dict[str, Any]]


@dataclass
class BackfillResult:
    files: int = 0
    messages: int = 0
    skipped: int = 0  # already landed by an earlier, interrupted import
    dead_letters: int = 0
    per_file: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- reading exports


def json_documents(text: str) -> Iterator[Any]:
    """The JSON documents of `gh api --paginate` output: one, several back to back (one per
    page), or one array of pages (`--slurp`)."""
    decoder = json.JSONDecoder()
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return
        try:
            document, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise BackfillError(f"not JSON at character {position}: {error.msg}") from None
        yield document


def _classify(item: Any, runs: list, jobs: list, repositories: list, where: str) -> None:
    if isinstance(item, list):
        for element in item:
            _classify(element, runs, jobs, repositories, where)
        return
    if not isinstance(item, dict):
        raise BackfillError(f"{where}: expected JSON objects, found {type(item).__name__}")
    if "workflow_runs" in item:
        _classify(item["workflow_runs"], runs, jobs, repositories, where)
    elif "jobs" in item and isinstance(item["jobs"], list):
        _classify(item["jobs"], runs, jobs, repositories, where)
    elif "steps" in item and "run_id" in item:
        jobs.append(item)
    elif "run_attempt" in item and "workflow_id" in item:
        runs.append(item)
    elif "full_name" in item and "default_branch" in item:
        repositories.append(item)
    else:
        keys = ", ".join(sorted(item)[:8])
        raise BackfillError(
            f"{where}: not a workflow run, job, page of them, or repository (keys: {keys})"
        )


def read_export(path: Path) -> ExportFile:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BackfillError(f"{path}: not UTF-8 text") from None
    runs: list[dict[str, Any]] = []
    jobs: list[dict[str, Any]] = []
    repositories: list[dict[str, Any]] = []
    try:
        for document in json_documents(text):
            _classify(document, runs, jobs, repositories, str(path))
    except BackfillError as error:
        raise BackfillError(f"{path}: {error}") from None
    return ExportFile(path, hashlib.sha256(data).hexdigest(), runs, jobs, repositories)


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Files as given; directories as their *.json files, sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.json") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    return files


# --------------------------------------------------------------------------- REST -> webhook


def _repository_of(record: dict[str, Any]) -> str | None:
    repository = record.get("repository")
    if isinstance(repository, dict) and repository.get("full_name"):
        return str(repository["full_name"])
    for key in ("url", "run_url", "html_url"):
        match = _REPOSITORY_IN_URL.search(str(record.get(key) or ""))
        if match:
            return match.group("full_name")
    return None


def run_message(
    run: dict[str, Any], default_branch: str, repository: dict[str, Any] | None = None
) -> ReplayMessage:
    """The workflow_run delivery GitHub would have sent for this run attempt's state."""
    full_name = _repository_of(run)
    if not full_name:
        raise BackfillError(f"workflow run {run.get('id')} names no repository")
    status = str(run.get("status") or "")
    action = _RUN_ACTIONS.get(status, "requested")
    repo = dict(run.get("repository") or {}, **(repository or {}))
    repo.update(full_name=full_name, default_branch=default_branch)
    payload = {
        "action": action,
        "workflow_run": run,
        "workflow": {
            "id": run.get("workflow_id"),
            "name": run.get("name"),
            "path": run.get("path"),
        },
        "repository": repo,
    }
    message_id = f"backfill-workflow_run-{run['id']}-{run.get('run_attempt') or 1}-{status}"
    return _message(message_id, "workflow_run", action, full_name, payload)


def job_message(
    job: dict[str, Any], full_name: str, default_branch: str, repository: dict[str, Any] | None
) -> ReplayMessage:
    """The workflow_job delivery GitHub would have sent for this job attempt's state."""
    status = str(job.get("status") or "")
    action = "completed" if status == "completed" else _JOB_ACTIONS.get(status, "queued")
    repo = dict(repository or {})
    repo.update(full_name=full_name, default_branch=default_branch)
    payload = {"action": action, "workflow_job": job, "repository": repo}
    message_id = f"backfill-workflow_job-{job['id']}-{job.get('run_attempt') or 1}-{status}"
    return _message(message_id, "workflow_job", action, full_name, payload)


def _message(
    message_id: str, event: str, action: str, full_name: str, payload: dict[str, Any]
) -> ReplayMessage:
    attributes = {
        "github_event": event,
        "github_action": action,
        # staging de-duplicates deliveries on this: the same state imported twice is one
        "github_delivery": message_id,
        "repository": full_name,
        "apoa_source": SOURCE,
    }
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return ReplayMessage(0, TOPIC, attributes, body, message_id)


@dataclass
class _Catalog:
    """What every file contributes to every other: repositories and the run of each job."""

    default_branch: str | None
    branches: dict[str, str] = field(default_factory=dict)
    repositories: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_repositories: dict[int, str] = field(default_factory=dict)

    def add(self, export: ExportFile) -> None:
        for repository in export.repositories:
            name = str(repository["full_name"])
            self.branches[name] = str(repository["default_branch"])
            self.repositories[name] = {
                key: repository[key]
                for key in ("id", "node_id", "name", "full_name", "private", "html_url")
                if key in repository
            }
        for run in export.runs:
            name = _repository_of(run)
            if name:
                self.run_repositories[int(run["id"])] = name

    def branch(self, full_name: str) -> str:
        branch = self.branches.get(full_name) or self.default_branch
        if not branch:
            raise BackfillError(
                f"the default branch of {full_name} is unknown: add the output of "
                f"`gh api repos/{full_name}` to the inputs, or pass --default-branch"
            )
        return branch

    def messages(self, export: ExportFile) -> list[ReplayMessage]:
        messages = []
        for run in export.runs:
            name = _repository_of(run) or ""
            messages.append(run_message(run, self.branch(name), self.repositories.get(name)))
        for job in export.jobs:
            name = self.run_repositories.get(int(job["run_id"])) or _repository_of(job)
            if not name:
                raise BackfillError(f"{export.path}: job {job.get('id')} names no repository")
            messages.append(job_message(job, name, self.branch(name), self.repositories.get(name)))
        return messages


# --------------------------------------------------------------------------- resuming


class ProgressFile:
    """How many messages of each input (by content hash) an unfinished import has landed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.done: dict[str, int] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.done = {}

    def landed(self, digest: str) -> int:
        return int(self.done.get(digest, 0))

    def record(self, digest: str, count: int) -> None:
        self.done[digest] = count
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.done, sort_keys=True))
        temporary.replace(self.path)

    def clear(self) -> None:
        self.done = {}
        self.path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- landing

# Lands one batch through ingest's landing path, or raises; returns the dead letters.
Deliver = Callable[[list[ReplayMessage]], int]


def local_deliver(land: Callable[[list[RawMessage], list[DeadLetter]], None]) -> Deliver:
    """Through this process's warehouse writer, decoding each message exactly as the push
    endpoint does (size limit, JSON check) first."""
    from ingest.config import IngestConfig

    limit = IngestConfig.from_env().max_payload_bytes

    def deliver(batch: list[ReplayMessage]) -> int:
        messages: list[RawMessage] = []
        dead: list[DeadLetter] = []
        for message in batch:
            decoded = decode_push(message.push_envelope(_SUBSCRIPTION), TOPIC, limit)
            (messages if isinstance(decoded, RawMessage) else dead).append(decoded)
        land(messages, dead)
        return len(dead)

    return deliver


def http_deliver(base_url: str) -> Deliver:
    """To a running `apoa serve`, as push deliveries to /push/github-events."""
    from apoa.replay import deliver_http, url_poster

    poster = url_poster(base_url)

    def deliver(batch: list[ReplayMessage]) -> int:
        deliver_http(batch, poster, workers=8, show_progress=False)
        return 0

    return deliver


_SUBSCRIPTION = "projects/apoa-local/subscriptions/apoa-backfill"


def backfill(
    paths: Sequence[Path],
    deliver: Deliver,
    progress_file: ProgressFile,
    default_branch: str | None = None,
    show_progress: bool = True,
    batch_size: int = BATCH,
) -> BackfillResult:
    """Import the exports at `paths`; resumable through `progress_file`."""
    exports = [read_export(path) for path in expand_paths(paths)]
    catalog = _Catalog(default_branch)
    for export in exports:
        catalog.add(export)
    planned = [(export, catalog.messages(export)) for export in exports]
    result = BackfillResult(files=len(exports))
    starts = [
        min(progress_file.landed(export.digest), len(messages)) for export, messages in planned
    ]
    remaining = sum(len(messages) for _, messages in planned) - sum(starts)
    progress = Progress("backfill", remaining, enabled=show_progress)
    for (export, messages), start in zip(planned, starts, strict=True):
        result.skipped += start
        for first in range(start, len(messages), batch_size):
            batch = messages[first : first + batch_size]
            result.dead_letters += deliver(batch)
            result.messages += len(batch)
            progress_file.record(export.digest, first + len(batch))
            progress.advance(len(batch))
        result.per_file[str(export.path)] = len(messages)
    progress.finish()
    # finished: a later import of the same files sends everything again (landing is idempotent)
    progress_file.clear()
    return result
