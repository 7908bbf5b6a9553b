"""Open a report in headless Chromium and say what a person would see.

Debian's `chromium`, driven over the Chrome DevTools Protocol (its websocket, with the
`websockets` package): load the file, collect console errors, uncaught exceptions and every
request that left the machine, check that each plot drew marks into its SVG, and write a
screenshot. `apoa report --screenshot` and tests/test_report.py use it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apoa.process_group import stop_process_group

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
]

# What each plot drew: plotly marks its div `js-plotly-plot` once drawn; the marks are the
# SVG paths of its traces (lines, markers, bars) with a non-empty outline.
PLOTS_JS = """
JSON.stringify(Array.from(document.querySelectorAll('[data-apoa-plot] .plotly-graph-div'))
  .map(function (div) {
    var marks = Array.from(div.querySelectorAll(
        'svg.main-svg .scatterlayer .trace path, svg.main-svg .scatterlayer .trace .point,'
        + ' svg.main-svg .barlayer .point path'))
      .filter(function (p) { var d = p.getAttribute('d'); return d && d.length > 2; });
    var box = div.getBoundingClientRect();
    return {id: div.id, drawn: div.classList.contains('js-plotly-plot'),
            svgs: div.querySelectorAll('svg.main-svg').length,
            canvases: div.querySelectorAll('canvas').length,
            marks: marks.length, width: Math.round(box.width), height: Math.round(box.height)};
  }))
"""


class BrowserUnavailable(RuntimeError):
    pass


@dataclass
class PageCheck:
    """What the browser saw."""

    title: str = ""
    console_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    plots: list[dict[str, Any]] = field(default_factory=list)
    declared_plots: int = 0
    screenshot: Path | None = None

    @property
    def empty_plots(self) -> list[str]:
        return [plot["id"] for plot in self.plots if not plot["drawn"] or plot["marks"] == 0]

    @property
    def ok(self) -> bool:
        return (
            not self.console_errors
            and not self.external_requests
            and len(self.plots) == self.declared_plots
            and not self.empty_plots
        )


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def check_page(
    page: Path,
    screenshot: Path | None = None,
    width: int = 1280,
    height: int = 900,
    screenshot_height: int | None = None,
    timeout: float = 60,
    settle: float = 10,
    screenshot_until: str | None = None,
) -> PageCheck:
    """Load `page` (a local file) and report what happened.

    The screenshot runs from the top of the page down to the bottom of the element matching
    the CSS selector `screenshot_until` when there is one, else `screenshot_height` pixels
    (None: the whole page). `settle`: how long to wait after `load` for every plot to draw.
    """
    binary = find_chromium()
    if binary is None:
        raise BrowserUnavailable(
            "no Chromium found (looked for " + ", ".join(CHROMIUM_NAMES) + "); on Debian or "
            "Ubuntu: apt-get install chromium"
        )
    page = Path(page).resolve()
    # Chromium keeps its singleton socket in a directory of $TMPDIR that a stopped browser
    # leaves behind: in a directory of our own it goes with it (a short path: a socket's
    # path may not exceed 107 bytes).
    with (
        tempfile.TemporaryDirectory(prefix="apoa-chromium-") as profile,
        tempfile.TemporaryDirectory(prefix="apoa-cr-") as scratch,
    ):
        log = open(Path(profile) / "chromium.log", "wb")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "TMPDIR": scratch},
        )  # fmt: skip
        try:
            port = _devtools_port(Path(profile), process, timeout)
            with _Session(_page_websocket(port, timeout), timeout) as session:
                return _inspect(
                    session, page, screenshot, width, height, screenshot_height, settle,
                    screenshot_until,
                )  # fmt: skip
        finally:
            stop_process_group(process)
            log.close()


def _devtools_port(profile: Path, process: subprocess.Popen, timeout: float) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = (profile / "chromium.log").read_text(errors="replace")[-2000:]
            raise BrowserUnavailable(f"chromium exited with {process.returncode}: {output}")
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(marker.read_text().splitlines()[0])
        time.sleep(0.05)
    raise BrowserUnavailable(f"chromium did not open its DevTools port within {timeout}s")


def _page_websocket(port: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as answer:
                targets = json.loads(answer.read())
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
        time.sleep(0.1)
    raise BrowserUnavailable("chromium opened no page to drive")


class _Session:
    """One DevTools websocket: commands wait for their answer; events are kept in order."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self._next_id = 0

    def __enter__(self) -> _Session:
        from websockets.sync.client import connect

        self._connection = connect(self.url, max_size=None, open_timeout=self.timeout)
        self._socket = self._connection.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._connection.__exit__(*exc_info)

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next_id += 1
        message_id = self._next_id
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + self.timeout
        while True:
            message = json.loads(self._socket.recv(timeout=max(deadline - time.monotonic(), 0)))
            if message.get("id") == message_id:
                if "error" in message:
                    raise BrowserUnavailable(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            for event in self.events:
                if event["method"] == method:
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserUnavailable(f"no {method} within {self.timeout}s")
            message = json.loads(self._socket.recv(timeout=remaining))
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result.get("result", {}).get("value")


def _inspect(
    session: _Session,
    page: Path,
    screenshot: Path | None,
    width: int,
    height: int,
    screenshot_height: int | None,
    settle: float,
    screenshot_until: str | None = None,
) -> PageCheck:
    for domain in ("Page", "Runtime", "Log", "Network"):
        session.send(f"{domain}.enable")
    session.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    session.send("Page.navigate", {"url": page.as_uri()})
    session.wait_for("Page.loadEventFired")
    check = PageCheck(title=session.evaluate("document.title") or "")
    check.declared_plots = int(session.evaluate("Number(document.body.dataset.plots || 0)") or 0)
    # Plotly draws in the scripts that run before `load`; give late frames a moment.
    deadline = time.monotonic() + settle
    while True:
        check.plots = json.loads(session.evaluate(PLOTS_JS) or "[]")
        if (len(check.plots) == check.declared_plots and not check.empty_plots) or (
            time.monotonic() > deadline
        ):
            break
        time.sleep(0.2)
    session.evaluate("1")  # drain events that arrived meanwhile
    check.console_errors = _errors(session.events)
    check.external_requests = [
        event["params"]["request"]["url"]
        for event in session.events
        if event["method"] == "Network.requestWillBeSent"
        and not event["params"]["request"]["url"].startswith(("file:", "data:", "about:", "blob:"))
    ]
    if screenshot is not None:
        full = session.send("Page.getLayoutMetrics")["cssContentSize"]
        clip_height = full["height"] if screenshot_height is None else screenshot_height
        if screenshot_until:
            bottom = session.evaluate(
                f"(function () {{ var e = document.querySelector({json.dumps(screenshot_until)});"
                " return e ? e.getBoundingClientRect().bottom + window.scrollY : null; })()"
            )
            if bottom:
                clip_height = int(bottom) + 16
        shot = session.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": clip_height, "scale": 1},
            },
        )
        screenshot = Path(screenshot)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        check.screenshot = screenshot
    return check


def _errors(events: list[dict[str, Any]]) -> list[str]:
    errors = []
    for event in events:
        params = event.get("params", {})
        if event["method"] == "Runtime.consoleAPICalled" and params.get("type") in (
            "error",
            "assert",
        ):
            texts = [str(arg.get("value", arg.get("description", ""))) for arg in params["args"]]
            errors.append("console." + params["type"] + ": " + " ".join(texts))
        elif event["method"] == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            description = details.get("exception", {}).get("description") or details.get("text")
            errors.append(f"uncaught: {description}")
        elif event["method"] == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}")
    return errors
