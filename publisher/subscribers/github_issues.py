"""GitHub issues subscriber: one issue per episode, kept up to date, closed when resolved.

    functions-framework --source publisher/subscribers/github_issues.py \
        --target github_issues_subscriber

- The issue is found again by listing the repository's issues with the finding's
  fingerprint label (`apoa:<finding_id>`), never through the search API (its index lags,
  so a redelivery seconds later would not see the issue and open a second one).
- First event of a finding: a new issue with labels `apoa` and the fingerprint.
  Later revisions: a comment with the new evidence. `resolved`: a comment, then closed.
- Every text carries `<!-- apoa-event: EVENT_ID -->`; an event whose marker is already on
  the issue is not written again, even when the de-dup store forgot it.
- REST calls retry 5xx and rate limits with backoff, honouring `Retry-After` (secondary
  rate limits) and `x-ratelimit-reset` (primary), up to a bounded wait; any other 4xx
  is logged once, clearly, and not retried.

Environment: APOA_GITHUB_TOKEN (or GITHUB_TOKEN, or APOA_SUBSCRIBER_CREDENTIAL),
APOA_GITHUB_API_URL (default https://api.github.com), APOA_GITHUB_ISSUES_REPOSITORY
(file every issue in this one repository instead of the finding's), APOA_SUBSCRIBER_FILTER.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import functions_framework
import requests
from flask import Request

from ingest.log import log
from ingest.push_auth import PushAuthConfig
from publisher.subscribers import render
from publisher.subscribers.base import (
    PermanentFailure,
    Subscriber,
    TransientFailure,
    credential,
    filter_from_env,
    instance,
)
from publisher.subscribers.dedup import store_from_env

NAME = "github-issues"
DEFAULT_FILTER = 'attributes.severity = "critical" OR attributes.severity = "warning"'
API_VERSION = "2022-11-28"
MARKER = "<!-- apoa-event: {event_id} -->"


@dataclass(frozen=True)
class GitHubConfig:
    token: str
    api_url: str = "https://api.github.com"
    repository: str | None = None
    label: str = "apoa"
    max_attempts: int = 5
    max_wait_seconds: float = 30.0  # one push must answer within its ack deadline
    timeout_seconds: float = 15.0

    @classmethod
    def from_env(cls) -> GitHubConfig:
        token = credential("APOA_GITHUB_TOKEN", "GITHUB_TOKEN")
        if not token:
            raise RuntimeError(
                "set APOA_GITHUB_TOKEN (or GITHUB_TOKEN, APOA_SUBSCRIBER_CREDENTIAL)"
            )
        return cls(
            token=token,
            api_url=os.environ.get("APOA_GITHUB_API_URL", "https://api.github.com").rstrip("/"),
            repository=os.environ.get("APOA_GITHUB_ISSUES_REPOSITORY") or None,
        )


class GitHubClient:
    """GitHub's REST API with the retry rules GitHub documents for integrators."""

    def __init__(
        self,
        config: GitHubConfig,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.session = session or requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {config.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "apoa-github-issues",
            }
        )
        self.sleep = sleep

    def request(
        self, method: str, path: str, *, idempotent: bool | None = None, **kwargs: Any
    ) -> requests.Response:
        """One REST call with retries. A POST is not repeated after a 5xx or a network error
        (GitHub may have applied it): the failure goes back to Pub/Sub, and the redelivery
        looks for the issue and the event's marker before writing anything."""
        if idempotent is None:
            idempotent = method.upper() != "POST"
        url = self.config.api_url + path
        waited = 0.0
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                response = self.session.request(
                    method, url, timeout=self.config.timeout_seconds, **kwargs
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                wait, reason = _backoff(attempt), f"network: {error}"
            else:
                if response.status_code < 400:
                    return response
                wait, reason = _retry_wait(response, attempt)
                if wait is None:
                    log(
                        "ERROR",
                        "GitHub refused the request; not retrying",
                        method=method,
                        path=path,
                        status=response.status_code,
                        github_message=_message(response),
                    )
                    raise PermanentFailure(
                        f"{method} {path}: {response.status_code} {_message(response)}"
                    )
            rate_limited = "rate limit" in reason or "Retry-After" in reason
            if not idempotent and not rate_limited:
                raise TransientFailure(f"{method} {path}: {reason}; left to a redelivery")
            if attempt == self.config.max_attempts or waited + wait > self.config.max_wait_seconds:
                raise TransientFailure(f"{method} {path}: {reason}; giving up for now")
            log(
                "WARNING",
                "GitHub asked to retry",
                method=method,
                path=path,
                reason=reason,
                attempt=attempt,
                wait_seconds=round(wait, 2),
            )
            self.sleep(wait)
            waited += wait
        raise TransientFailure(f"{method} {path}: no attempts left")  # pragma: no cover

    def paginate(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        url_path, query = path, {**params, "per_page": 100}
        for _page in range(50):
            response = self.request("GET", url_path, params=query)
            items.extend(response.json())
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                break
            url_path, query = next_url.removeprefix(self.config.api_url), None
        return items


def _backoff(attempt: int) -> float:
    return min(2 ** (attempt - 1), 16) + random.random() / 2


def _retry_wait(response: requests.Response, attempt: int) -> tuple[float | None, str]:
    """How long to wait before retrying this response, or None when retrying cannot help."""
    status = response.status_code
    retry_after = response.headers.get("Retry-After")
    if retry_after is not None:
        try:
            return max(float(retry_after), 0.0), f"{status}, Retry-After {retry_after}s"
        except ValueError:
            pass
    if status >= 500:
        return _backoff(attempt), f"{status} server error"
    if status in (403, 429):
        if response.headers.get("x-ratelimit-remaining") == "0":
            reset = float(response.headers.get("x-ratelimit-reset", time.time() + 60))
            return max(reset - time.time(), 1.0), f"{status} primary rate limit"
        if status == 429 or "rate limit" in _message(response).lower():
            # GitHub: without Retry-After, wait at least a minute, longer each time.
            return 60.0 * attempt, f"{status} secondary rate limit"
    return None, f"{status}"


def _message(response: requests.Response) -> str:
    try:
        return str(response.json().get("message", ""))[:300]
    except ValueError:
        return response.text[:300]


# --------------------------------------------------------------------------- issues


def fingerprint_label(finding_id: str) -> str:
    """A label per finding; GitHub labels hold at most 50 characters."""
    if re.fullmatch(r"[0-9A-Za-z_-]{1,40}", finding_id):
        return f"apoa:{finding_id}"
    return "apoa:" + hashlib.sha256(finding_id.encode()).hexdigest()[:32]


def issue_title(event: dict[str, Any]) -> str:
    entity = event["entity"]
    where = " / ".join(str(p) for p in (entity.get("workflow"), entity.get("job")) if p)
    where = where or entity.get("runner_label") or entity.get("metric_series") or entity["display"]
    branch = entity.get("branch") if entity.get("is_default_branch") else "non-default branches"
    suffix = f" on {branch}" if branch else ""
    return f"APOA: {event['kind'].replace('_', ' ')} in {where}{suffix}"[:250]


def evidence_markdown(event: dict[str, Any]) -> str:
    lines = [event["summary"], ""]
    cause = render.cause_text(event)
    if cause:
        lines += [f"**Probable cause:** {cause}", ""]
    facts = render.evidence_facts(event)
    if facts:
        lines += ["| | |", "|---|---|"]
        lines += [f"| {label} | {_cell(text)} |" for label, text in facts]
        lines.append("")
    links = [
        f"[{target['rel'].replace('_', ' ')}]({target['url']})"
        for target in event["action"]["targets"]
    ]
    finding = render.finding_url(event)
    if finding:
        links.append(f"[finding]({finding})")
    lines.append(
        f"**Action:** `{event['action']['type']}`" + (" · " + " · ".join(links) if links else "")
    )
    lines += [
        "",
        f"<sub>finding `{event['finding_id']}` · revision {event['revision']} · "
        f"severity {event['severity']} · event `{event['event_id']}`</sub>",
        MARKER.format(event_id=event["event_id"]),
    ]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


class IssueKeeper:
    """The act() of the GitHub subscriber."""

    def __init__(self, client: GitHubClient) -> None:
        self.client = client

    def __call__(self, event: dict[str, Any]) -> str:
        repository = self.client.config.repository or event["entity"].get("repository")
        if not repository:
            raise PermanentFailure("the finding names no repository and none is configured")
        label = fingerprint_label(event["finding_id"])
        issue = self.find_issue(repository, label)
        marker = MARKER.format(event_id=event["event_id"])
        if issue is None:
            if event["status"] == "resolved":
                # An episode that was over before anyone was told needs no issue.
                return "resolved; no issue was open for it"
            created = self.client.request(
                "POST",
                f"/repos/{repository}/issues",
                json={
                    "title": issue_title(event),
                    "body": evidence_markdown(event),
                    "labels": [self.client.config.label, label],
                },
            ).json()
            return f"created {created['html_url']}"
        number = issue["number"]
        if not self._has_marker(repository, issue, marker):
            heading = "**Resolved.**" if event["status"] == "resolved" else "**New evidence.**"
            self.client.request(
                "POST",
                f"/repos/{repository}/issues/{number}/comments",
                json={"body": f"{heading} {evidence_markdown(event)}"},
            )
        if event["status"] == "resolved" and issue["state"] != "closed":
            self._close(repository, number)
            return f"commented and closed {issue['html_url']}"
        if event["status"] == "open" and issue["state"] == "closed":
            self.client.request(
                "PATCH", f"/repos/{repository}/issues/{number}", json={"state": "open"}
            )
        return f"commented on {issue['html_url']}"

    def find_issue(self, repository: str, label: str) -> dict[str, Any] | None:
        items = self.client.paginate(
            f"/repos/{repository}/issues",
            {"labels": label, "state": "all", "sort": "created", "direction": "asc"},
        )
        issues = [item for item in items if "pull_request" not in item]
        return issues[0] if issues else None

    def _has_marker(self, repository: str, issue: dict[str, Any], marker: str) -> bool:
        if marker in (issue.get("body") or ""):
            return True
        comments = self.client.paginate(
            f"/repos/{repository}/issues/{issue['number']}/comments", {}
        )
        return any(marker in (comment.get("body") or "") for comment in comments)

    def _close(self, repository: str, number: int) -> None:
        self.client.request(
            "PATCH",
            f"/repos/{repository}/issues/{number}",
            json={"state": "closed", "state_reason": "completed"},
        )


def from_env() -> Subscriber:
    keeper = IssueKeeper(GitHubClient(GitHubConfig.from_env()))
    return Subscriber(
        NAME,
        keeper,
        store_from_env(NAME),
        filter_from_env(DEFAULT_FILTER),
        PushAuthConfig.from_env(),
    )


@functions_framework.http
def github_issues_subscriber(request: Request):
    return instance(NAME, from_env).handle(
        request.get_data(cache=False), request.headers.get("Authorization")
    )
