"""A local HTTP server that records every request: Slack and Teams incoming webhooks, and
the part of GitHub's REST API the issues subscriber uses (issues by label, create, comment,
list comments, close), kept in memory so that it answers the way GitHub does.

Failures are scripted per path prefix: `services.script("/github", (503, {}, {...}))` makes
the next request under /github answer that, once; the following ones are served normally.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int


@dataclass
class FakeGitHub:
    issues: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # repo -> issues
    comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    next_id: int = 1000

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any, base: str):
        parts = path.strip("/").split("/")  # repos/{owner}/{repo}/issues[/{n}[/comments]]
        if len(parts) < 4 or parts[0] != "repos" or parts[3] != "issues":
            return 404, {"message": "Not Found"}
        repo = f"{parts[1]}/{parts[2]}"
        issues = self.issues.setdefault(repo, [])
        if len(parts) == 4 and method == "GET":
            labels = set(query.get("labels", [""])[0].split(",")) - {""}
            state = query.get("state", ["open"])[0]
            found = [
                issue
                for issue in issues
                if labels <= {label["name"] for label in issue["labels"]}
                and (state == "all" or issue["state"] == state)
            ]
            return 200, found
        if len(parts) == 4 and method == "POST":
            self.next_id += 1
            number = len(issues) + 1
            issue = {
                "id": self.next_id,
                "number": number,
                "title": body["title"],
                "body": body.get("body"),
                "state": "open",
                "labels": [{"name": name} for name in body.get("labels", [])],
                "html_url": f"{base}/{repo}/issues/{number}",
            }
            issues.append(issue)
            return 201, issue
        number = int(parts[4])
        issue = next((item for item in issues if item["number"] == number), None)
        if issue is None:
            return 404, {"message": "Not Found"}
        if len(parts) == 5 and method == "PATCH":
            issue.update({key: body[key] for key in ("state", "state_reason") if key in body})
            return 200, issue
        if len(parts) == 6 and parts[5] == "comments":
            comments = self.comments.setdefault((repo, number), [])
            if method == "POST":
                self.next_id += 1
                comment = {"id": self.next_id, "body": body["body"]}
                comments.append(comment)
                return 201, comment
            return 200, comments
        return 404, {"message": "Not Found"}


class FakeServices:
    """Start with `start()`; base URL in `url`. Thread-safe; stop with `stop()`."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.github = FakeGitHub()
        self._scripts: dict[str, deque] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    def start(self) -> FakeServices:
        services = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, headers, payload = services.answer(
                    self.command, self.path, dict(self.headers), raw
                )
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def script(self, prefix: str, *answers: tuple) -> None:
        """Answer the next requests under `prefix` with these, one each, instead of serving;
        an answer with a fourth element "after" is given after serving the request."""
        with self._lock:
            self._scripts.setdefault(prefix, deque()).extend(answers)

    def answer(self, method: str, target: str, headers: dict[str, str], raw: bytes):
        split = urlsplit(target)
        query = parse_qs(split.query)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        with self._lock:
            status, reply_headers, payload = self._route(method, split.path, query, body)
            self.requests.append(Recorded(method, split.path, query, headers, body, status))
        return status, reply_headers, payload

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any):
        for prefix, answers in self._scripts.items():
            if path.startswith(prefix) and answers:
                answer = answers.popleft()
                if len(answer) == 4 and answer[3] == "after":
                    # Do the work, then answer as if it failed (a 502 after the write).
                    self._serve(method, path, query, body)
                return answer[:3]
        return self._serve(method, path, query, body)

    def _serve(self, method: str, path: str, query: dict[str, list[str]], body: Any):
        if path.startswith("/slack/"):
            return 200, {"Content-Type": "text/plain"}, b"ok"
        if path.startswith("/teams/"):
            return 200, {"Content-Type": "text/plain"}, b"1"
        if path.startswith("/github/"):
            status, payload = self.github.handle(
                method, path.removeprefix("/github"), query, body, f"{self.url}/web"
            )
            return status, {"Content-Type": "application/json"}, payload
        return 404, {}, b"not found"

    def received(self, prefix: str, method: str | None = None) -> list[Recorded]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path.startswith(prefix) and (method is None or r.method == method)
            ]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self._scripts.clear()
