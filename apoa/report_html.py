"""The HTML of `apoa report`: one file, Plotly's JavaScript inlined once, no network needed.

`render(data)` takes what `apoa.report.collect` returned. Every value from the warehouse is
escaped; links are drawn only for http(s) URLs.
"""

from __future__ import annotations

import html
import json
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

# Okabe-Ito, readable by people with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
BAND = "rgba(0, 114, 178, 0.14)"
ANOMALY = "#D55E00"
EPISODE = "rgba(213, 94, 0, 0.08)"
# No mode bar: drag zooms, double-click resets, hover shows the values.
PLOT_CONFIG = {"displayModeBar": False, "responsive": True}
MAX_HEALTH_SERIES = 10
HEALTH_PANELS = [
    ("failure_rate", "Failure rate (runs)", "percent"),
    ("rerun_rate", "Re-run rate", "percent"),
    ("duration_p50_seconds", "Run duration p50 (min)", "minutes"),
    ("duration_p95_seconds", "Run duration p95 (min)", "minutes"),
    ("queue_p95_seconds", "Job queue time p95 (s)", "seconds"),
    ("flaky_rate", "Flaky rate (job attempts)", "percent"),
]


def render(data: dict[str, Any]) -> str:
    page = _Page()
    sections = data["sections"]
    body = [
        _header(data),
        _overview(data),
        _section("findings", sections["findings"], _findings_body),
        _section("regressions", sections["regressions"], lambda s: _regressions_body(s, page)),
        _section("health", sections["health"], lambda s: _health_body(s, page)),
        _section("flaky", sections["flaky"], lambda s: _flaky_body(s, page)),
        _section("steps", sections["steps"], lambda s: _steps_body(s, page)),
        _footer(data),
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        "<title>APOA pipeline health</title>\n"
        f"<style>{CSS}</style>\n"
        # Plotly's library, inlined once: the page needs no network.
        f"<script type='text/javascript'>{get_plotlyjs()}</script>\n"
        "</head>\n"
        f"<body data-plots='{page.plots}'>\n<main>\n"
        + "\n".join(body)
        + "\n</main>\n</body>\n</html>\n"
    )


class _Page:
    """Numbers the plots of one page, so that each div id is unique."""

    def __init__(self) -> None:
        self.plots = 0

    def figure(self, fig: go.Figure, height: int) -> str:
        self.plots += 1
        fig.update_layout(
            template="plotly_white",
            height=height,
            margin={"l": 60, "r": 20, "t": 40, "b": 40},
            font={"family": FONT, "size": 12},
            hoverlabel={"font": {"family": FONT}},
        )
        markup = pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=False,
            div_id=f"plot-{self.plots}",
            config=PLOT_CONFIG,
            default_height=f"{height}px",
        )
        return f"<div class='plot' data-apoa-plot>{markup}</div>"


# --------------------------------------------------------------------------- page parts


def _header(data: dict[str, Any]) -> str:
    overview = data.get("overview") or {}
    span = ""
    if overview.get("first_completed_at"):
        span = (
            f" · runs completed {_day(overview['first_completed_at'])} to "
            f"{_day(overview['last_completed_at'])} (UTC)"
        )
    source = f" from <code>{_e(data['source'])}</code>" if data.get("source") else ""
    nav = "".join(
        f"<a href='#{name}'>{_e(section['title'])}</a>"
        for name, section in data["sections"].items()
    )
    return (
        "<header><h1>APOA pipeline health</h1>"
        f"<p class='meta'>Generated {_e(_when(data['generated_at']))} UTC{source}{span}</p>"
        f"<nav>{nav}</nav></header>"
    )


def _overview(data: dict[str, Any]) -> str:
    overview = data.get("overview")
    if not overview:
        return (
            "<section class='missing'><p><strong>No job runs in this warehouse yet.</strong> "
            "Land some history and build the marts: <code>apoa demo --fresh</code> for "
            "generated history, or <code>apoa replay FILE</code> / <code>apoa backfill</code> "
            "followed by <code>apoa build</code>.</p></section>"
        )
    findings = data["sections"]["findings"]
    opened = findings.get("open") or []
    critical = sum(1 for f in opened if f["severity"] == "critical")
    cards = [
        ("open findings", f"{len(opened)}", f"{critical} critical" if opened else "none open"),
        ("repositories", f"{overview['repositories']}", f"{overview['workflows']} workflows"),
        ("job runs", f"{overview['job_runs']:,}", f"{overview['jobs']} distinct jobs"),
        ("job failure rate", _percent(overview["failure_rate"]), "failed or timed out"),
        ("runner time", _hours(overview["runner_seconds"]), "summed job durations"),
    ]
    return (
        "<section class='cards'>"
        + "".join(
            f"<div class='card'><div class='value'>{_e(value)}</div>"
            f"<div class='label'>{_e(label)}</div><div class='sub'>{_e(sub)}</div></div>"
            for label, value, sub in cards
        )
        + "</section>"
    )


def _section(name: str, section: dict[str, Any], body) -> str:
    title = f"<h2>{_e(section['title'])}</h2>"
    if section["missing"]:
        tables = ", ".join(f"<code>{_e(t)}</code>" for t in section["missing"])
        content = (
            f"<div class='missing'>This section reads {tables}, which this warehouse does not "
            "have yet. Build the marts with <code>apoa build</code> (or try "
            "<code>apoa demo --fresh</code>), then run <code>apoa report</code> again.</div>"
        )
    elif section["error"]:
        content = (
            f"<div class='missing'>This section could not be read: <code>{_e(section['error'])}"
            "</code>. The marts may be from an older build: run <code>apoa build</code>.</div>"
        )
    else:
        content = body(section)
    return f"<section id='{name}' class='report-section'>{title}{content}</section>"


def _footer(data: dict[str, Any]) -> str:
    return (
        "<footer>Written by <code>apoa report</code> from the marts (docs/cli.md). "
        "Charts are interactive: hover for details, drag to zoom, double-click to reset. "
        "For a finding's full evidence run <code>apoa explain FINDING_ID</code>.</footer>"
    )


# --------------------------------------------------------------------------- findings


def _findings_body(section: dict[str, Any]) -> str:
    opened = section["open"]
    parts = []
    if not opened:
        parts.append("<p class='empty'>No open findings: nothing is slower or failing more "
                     "than its baseline allows.</p>")  # fmt: skip
    for finding in opened:
        parts.append(_finding_card(finding))
    if section["resolved_count"]:
        rows = "".join(
            f"<tr><td>{_badge(f['severity'])}</td><td>{_e(f['kind'])}</td>"
            f"<td>{_e(f['entity'])}</td><td>{_e(f['resolution'] or '')}</td>"
            f"<td>{_e(_when(f['ended_at']))}</td><td>{_e(f['summary'])}</td></tr>"
            for f in section["resolved"]
        )
        shown = len(section["resolved"])
        parts.append(
            f"<details><summary>{section['resolved_count']} resolved "
            f"finding{'s' if section['resolved_count'] != 1 else ''}"
            f"{f' (latest {shown})' if shown < section['resolved_count'] else ''}</summary>"
            "<table><thead><tr><th>severity</th><th>kind</th><th>what</th><th>resolution</th>"
            f"<th>ended (UTC)</th><th>summary</th></tr></thead><tbody>{rows}</tbody></table>"
            "</details>"
        )
    landed = section.get("landed_events")
    if landed and landed.get("events"):
        parts.append(
            f"<p class='note'>{landed['events']} finding events came back from "
            "<code>apoa-findings</code> through the dashboard sink (raw_finding_events), the "
            f"latest published {_e(_when(landed['latest_publish_time']))} UTC.</p>"
        )
    return "".join(parts)


LINK_NAMES = {
    "first_bad_run": "first bad run",
    "latest_bad_run": "latest bad run",
    "last_good_run": "last good run",
    "compare": "commits in between",
    "first_seen": "first seen",
}


def _finding_card(finding: dict[str, Any]) -> str:
    links = " · ".join(
        f"<a href='{_e(link['url'])}'>{_e(LINK_NAMES.get(link['rel'], link['rel']))}</a>"
        for link in finding["links"]
        if _safe_url(link.get("url"))
    )
    facts = [f"detected {_when(finding['detected_at'])} UTC"]
    if finding.get("first_run_number") is not None:
        facts.append(f"since run #{finding['first_run_number']}")
    if finding.get("episode_runs"):
        facts.append(f"{finding['anomalous_runs']} anomalous of {finding['episode_runs']} runs")
    short_id = str(finding["finding_id"])[:8]
    return (
        f"<article class='finding {_e(finding['severity'])}'>"
        f"<div class='finding-head'>{_badge(finding['severity'])}"
        f"<span class='kind'>{_e(str(finding['kind']).replace('_', ' '))}</span>"
        f"<span class='entity'>{_e(finding['entity'])}</span></div>"
        f"<p class='summary'>{_e(finding['summary'])}</p>"
        f"<p class='facts'>{_e(' · '.join(facts))}"
        f"{' · ' + links if links else ''} · <code>apoa explain {_e(short_id)}</code></p>"
        "</article>"
    )


# --------------------------------------------------------------------------- regressions


def _regressions_body(section: dict[str, Any], page: _Page) -> str:
    items = section["items"]
    if not items:
        return (
            "<p class='empty'>No duration regression found: every job runs within its "
            "baseline band.</p>"
        )
    parts = [
        "<p class='lead'>Each job's duration run by run, on the branch class of the finding. "
        "The shaded band is the scorer's normal range for each run (its lower and upper "
        "bound in <code>ml_job_run_scores</code>), red points are runs above it, and the "
        "tinted area is the episode.</p>"
    ]
    if "ml_job_run_scores" in section["missing_optional"]:
        parts.append(
            "<div class='missing'><code>ml_job_run_scores</code> is not built: the baseline "
            "band and the anomalous runs are not drawn. Run <code>apoa build</code>.</div>"
        )
    for item in items:
        finding = item["finding"]
        parts.append(
            f"<div class='regression'><h3>{_badge(finding['severity'])} {_e(finding['entity'])}"
            f"{'' if finding['status'] == 'open' else ' (resolved)'}</h3>"
            f"<p class='summary'>{_e(finding['summary'])}</p>"
            + page.figure(_regression_figure(item), 380)
            + "</div>"
        )
    return "".join(parts)


def _regression_figure(item: dict[str, Any]) -> go.Figure:
    finding, runs = item["finding"], item["runs"]
    fig = go.Figure()
    banded = [run for run in runs if run["upper_bound"] is not None]
    if banded:
        x = [run["completed_at"] for run in banded]
        fig.add_trace(go.Scatter(
            x=x, y=[_minutes(run["lower_bound"]) for run in banded], mode="lines",
            line={"width": 0}, hoverinfo="skip", showlegend=False,
        ))  # fmt: skip
        fig.add_trace(go.Scatter(
            x=x, y=[_minutes(run["upper_bound"]) for run in banded], mode="lines",
            line={"width": 0}, fill="tonexty", fillcolor=BAND, name="normal band",
            hoverinfo="skip",
        ))  # fmt: skip
        fig.add_trace(go.Scatter(
            x=x, y=[_minutes(run["expected_value"]) for run in banded], mode="lines",
            line={"color": PALETTE[0], "dash": "dot", "width": 1}, name="expected",
            hovertemplate="expected %{y:.1f} min<extra></extra>",
        ))  # fmt: skip
    succeeded = [run for run in runs if run["conclusion"] == "success"]
    others = [run for run in runs if run["conclusion"] != "success"]
    fig.add_trace(_runs_trace(succeeded, "successful run", {"color": "#4D4D4D", "size": 5},
                              mode="lines+markers"))  # fmt: skip
    if others:
        fig.add_trace(_runs_trace(others, "failed or cancelled (not scored)",
                                  {"color": "#999999", "size": 7, "symbol": "x"}))  # fmt: skip
    anomalous = [run for run in runs if run["is_anomaly"]]
    if anomalous:
        fig.add_trace(_runs_trace(anomalous, "anomalous run (above the band)",
                                  {"color": ANOMALY, "size": 10, "line": {"width": 1,
                                   "color": "white"}}))  # fmt: skip
    if finding.get("started_at") and runs:
        end = finding.get("ended_at") or runs[-1]["completed_at"]
        fig.add_vrect(x0=finding["started_at"], x1=end, fillcolor=EPISODE, line_width=0,
                      layer="below")  # fmt: skip
        fig.add_annotation(
            x=finding["started_at"], y=1, yref="paper", xanchor="left", yanchor="bottom",
            text=f"episode since run #{finding.get('first_run_number')}", showarrow=False,
            font={"color": ANOMALY, "size": 11},
        )  # fmt: skip
    fig.update_layout(
        yaxis={"title": {"text": "duration (min)"}, "rangemode": "tozero"},
        xaxis={"title": {"text": "completed (UTC)"}},
        legend={"orientation": "h", "y": -0.22, "x": 0},
        hovermode="closest",
    )
    return fig


def _runs_trace(runs: list[dict[str, Any]], name: str, marker: dict, mode: str = "markers"):
    return go.Scatter(
        x=[run["completed_at"] for run in runs],
        y=[_minutes(run["duration_seconds"]) for run in runs],
        mode=mode,
        name=name,
        marker=marker,
        line={"color": "#B0B0B0", "width": 1},
        customdata=[
            [
                run["run_number"],
                run["run_attempt"],
                _duration(run["duration_seconds"]),
                str(run["head_sha"] or "")[:7],
                run["head_branch"],
                run["conclusion"],
            ]
            for run in runs
        ],  # fmt: skip
        hovertemplate=(
            "run #%{customdata[0]} (attempt %{customdata[1]}) on %{customdata[4]}<br>"
            "%{customdata[2]}, %{customdata[5]}<br>commit %{customdata[3]}<br>"
            "%{x}<extra></extra>"
        ),
    )


# --------------------------------------------------------------------------- health


def _health_body(section: dict[str, Any], page: _Page) -> str:
    series = section["series"]
    if not series:
        return "<p class='empty'>No completed runs yet.</p>"
    totals = sorted(section["totals"], key=lambda t: (-t["runs"], t["repository"]))
    shown = {(t["repository"], t["workflow_name"]) for t in totals[:MAX_HEALTH_SERIES]}
    drawn = [s for s in series if (s["repository"], s["workflow_name"]) in shown]
    parts = [
        "<p class='lead'>Day by day (UTC), per repository and workflow, from "
        "<code>fct_pipeline_health_daily</code>. Click a legend entry to hide that workflow "
        "in every panel.</p>",
        page.figure(_health_figure(drawn), 820),
    ]
    if len(series) > len(drawn):
        parts.append(f"<p class='note'>The charts show the {len(drawn)} busiest of "
                     f"{len(series)} workflows; the table lists all.</p>")  # fmt: skip
    notes = []
    if "fct_workflow_runs" in section["missing_optional"]:
        notes.append("run duration percentiles need <code>fct_workflow_runs</code>")
    if "fct_job_runs" in section["missing_optional"]:
        notes.append("queue time percentiles need <code>fct_job_runs</code>")
    if notes:
        parts.append(f"<div class='missing'>Not shown: {'; '.join(notes)}.</div>")
    rows = "".join(
        f"<tr><td>{_e(t['repository'])}</td><td>{_e(t['workflow_name'])}</td>"
        f"<td class='n'>{t['runs']}</td><td class='n'>{_percent(t['failure_rate'])}</td>"
        f"<td class='n'>{_duration(t['duration_p50_seconds'])}</td>"
        f"<td class='n'>{_duration(t['duration_p95_seconds'])}</td>"
        f"<td class='n'>{_duration(t['queue_p95_seconds'])}</td>"
        f"<td class='n'>{_percent(t['rerun_rate'])}</td>"
        f"<td class='n'>{_percent(t['flaky_rate'])}</td>"
        f"<td class='n'>{_duration(t['mean_time_to_restore_seconds'])}</td></tr>"
        for t in totals
    )
    parts.append(
        "<table><thead><tr><th>repository</th><th>workflow</th><th class='n'>runs</th>"
        "<th class='n'>failure rate</th><th class='n'>duration p50</th>"
        "<th class='n'>duration p95</th><th class='n'>job queue p95</th>"
        "<th class='n'>re-run rate</th><th class='n'>flaky rate</th>"
        "<th class='n'>time to restore green</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
    return "".join(parts)


def _health_figure(series: list[dict[str, Any]]) -> go.Figure:
    fig = make_subplots(
        rows=3, cols=2, shared_xaxes=True, vertical_spacing=0.09, horizontal_spacing=0.08,
        subplot_titles=[title for _, title, _ in HEALTH_PANELS],
    )  # fmt: skip
    for index, entry in enumerate(series):
        name = f"{entry['repository']} · {entry['workflow_name']}"
        color = PALETTE[index % len(PALETTE)]
        days = entry["days"]
        for panel, (column, _, unit) in enumerate(HEALTH_PANELS):
            values = [_scale(day.get(column), unit) for day in days]
            fig.add_trace(
                go.Scatter(
                    x=[day["day"] for day in days], y=values, mode="lines+markers",
                    name=name, legendgroup=name, showlegend=panel == 0,
                    line={"color": color, "width": 1.5}, marker={"size": 4},
                    connectgaps=False,
                    hovertemplate=f"{_e(name)}<br>%{{x}}: %{{y:.1f}}"
                    f"{'%' if unit == 'percent' else ''}<extra></extra>",
                ),
                row=panel // 2 + 1, col=panel % 2 + 1,
            )  # fmt: skip
    for panel, (_, _, unit) in enumerate(HEALTH_PANELS):
        fig.update_yaxes(rangemode="tozero", row=panel // 2 + 1, col=panel % 2 + 1,
                         ticksuffix="%" if unit == "percent" else "")  # fmt: skip
    fig.update_layout(legend={"orientation": "h", "y": -0.08, "x": 0}, hovermode="closest")
    return fig


# --------------------------------------------------------------------------- flaky


def _flaky_body(section: dict[str, Any], page: _Page) -> str:
    jobs = section["jobs"]
    summary = section["summary"]
    if not jobs:
        return (
            "<p class='empty'>No flaky jobs: no job both failed and passed on the same commit.</p>"
        )
    parts = [
        f"<p class='lead'>A flaky failure is a failed attempt of a job that passed on the same "
        f"commit in another attempt: {summary['flaky_failures']} of {summary['attempts']:,} job "
        f"attempts, in {summary['flaky_jobs']} jobs. Each one cost a re-run.</p>",
        page.figure(_flaky_figure(jobs), 80 + 30 * len(jobs)),
    ]
    rows = "".join(
        f"<tr><td>{_e(j['repository'])}</td><td>{_e(j['workflow_name'])}</td>"
        f"<td>{_e(j['job_name'])}</td><td class='n'>{j['attempts']}</td>"
        f"<td class='n'>{j['flaky_failures']}</td><td class='n'>{_percent(j['flaky_rate'])}</td>"
        f"<td class='n'>{_duration(j['flaky_failure_seconds'])}</td>"
        f"<td>{_link(j['last_flaky_failure_url'], _when(j['last_flaky_failure_at']))}</td></tr>"
        for j in jobs
    )
    parts.append(
        "<table><thead><tr><th>repository</th><th>workflow</th><th>job</th>"
        "<th class='n'>attempts</th><th class='n'>flaky failures</th>"
        "<th class='n'>flaky rate</th><th class='n'>runner time lost</th>"
        f"<th>latest flaky failure (UTC)</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    return "".join(parts)


def _flaky_figure(jobs: list[dict[str, Any]]) -> go.Figure:
    ordered = list(reversed(jobs))  # the worst at the top
    repositories = sorted({job["repository"] for job in jobs})
    fig = go.Figure()
    for index, repository in enumerate(repositories):
        mine = [job for job in ordered if job["repository"] == repository]
        fig.add_trace(go.Bar(
            y=[f"{job['workflow_name']} / {job['job_name']} " for job in mine],
            x=[job["flaky_failures"] for job in mine], orientation="h", name=repository,
            marker={"color": PALETTE[index % len(PALETTE)]},
            customdata=[[_percent(job["flaky_rate"]), job["attempts"]] for job in mine],
            hovertemplate="%{y}<br>%{x} flaky failures in %{customdata[1]} attempts "
            "(flaky rate %{customdata[0]})<extra>" + _e(repository) + "</extra>",
        ))  # fmt: skip
    labels = [f"{job['workflow_name']} / {job['job_name']} " for job in ordered]
    fig.update_layout(
        barmode="stack",
        xaxis={"title": {"text": "flaky failures"}, "dtick": 1},
        yaxis={"categoryorder": "array", "categoryarray": labels, "automargin": True},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        margin={"t": 60},
    )
    return fig


# --------------------------------------------------------------------------- steps


def _steps_body(section: dict[str, Any], page: _Page) -> str:
    steps = section["steps"]
    if not steps:
        return "<p class='empty'>No steps recorded yet.</p>"
    total = section["summary"]["total_seconds"] or 0
    top = sum(step["total_seconds"] or 0 for step in steps)
    parts = [
        f"<p class='lead'>Where runner time goes: the {len(steps)} steps that took the most "
        f"time in all, {_hours(top)} of {_hours(total)} "
        f"({_percent(top / total if total else None)}) of all step time.</p>",
        page.figure(_steps_figure(steps), 80 + 28 * len(steps)),
    ]
    rows = "".join(
        f"<tr><td>{_e(s['repository'])}</td><td>{_e(s['workflow_name'])} / "
        f"{_e(s['job_name'])}</td><td>{_e(s['step_name'])}</td><td class='n'>{s['runs']}</td>"
        f"<td class='n'>{_duration(s['p50_seconds'])}</td>"
        f"<td class='n'>{_duration(s['p95_seconds'])}</td>"
        f"<td class='n'>{_duration(s['max_seconds'])}</td>"
        f"<td class='n'>{_hours(s['total_seconds'])}</td></tr>"
        for s in steps
    )
    parts.append(
        "<table><thead><tr><th>repository</th><th>workflow / job</th><th>step</th>"
        "<th class='n'>runs</th><th class='n'>p50</th><th class='n'>p95</th>"
        "<th class='n'>longest</th><th class='n'>total</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
    return "".join(parts)


def _steps_figure(steps: list[dict[str, Any]]) -> go.Figure:
    ordered = list(reversed(steps))
    repositories = sorted({step["repository"] for step in steps})
    labels = [f"{s['job_name']} › {s['step_name']} ({s['repository'].split('/')[-1]}) "
              for s in ordered]  # fmt: skip
    fig = go.Figure()
    for index, repository in enumerate(repositories):
        mine = [(label, s) for label, s in zip(labels, ordered, strict=True)
                if s["repository"] == repository]  # fmt: skip
        fig.add_trace(go.Bar(
            y=[label for label, _ in mine], x=[(s["total_seconds"] or 0) / 3600 for _, s in mine],
            orientation="h", name=repository, marker={"color": PALETTE[index % len(PALETTE)]},
            customdata=[[_duration(s["p50_seconds"]), _duration(s["p95_seconds"]), s["runs"]]
                        for _, s in mine],
            hovertemplate="%{y}<br>%{x:.2f} h in %{customdata[2]} runs<br>"
            "p50 %{customdata[0]}, p95 %{customdata[1]}<extra>" + _e(repository) + "</extra>",
        ))  # fmt: skip
    fig.update_layout(
        barmode="stack",
        xaxis={"title": {"text": "total runner time (hours)"}},
        yaxis={"categoryorder": "array", "categoryarray": labels, "automargin": True},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        margin={"t": 60},
    )
    return fig


# --------------------------------------------------------------------------- formatting


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _safe_url(url: Any) -> bool:
    return isinstance(url, str) and url.startswith(("https://", "http://"))


def _link(url: Any, text: str) -> str:
    return f"<a href='{_e(url)}'>{_e(text)}</a>" if _safe_url(url) else _e(text)


def _badge(severity: Any) -> str:
    return f"<span class='badge {_e(severity)}'>{_e(severity)}</span>"


def _when(value: Any) -> str:
    return "" if not value else str(value).replace("T", " ")[:16]


def _day(value: Any) -> str:
    return str(value)[:10]


def _percent(value: Any) -> str:
    return "–" if value is None else f"{float(value) * 100:.1f}%"


def _duration(seconds: Any) -> str:
    if seconds is None:
        return "–"
    seconds = round(float(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _hours(seconds: Any) -> str:
    if seconds is None:
        return "–"
    hours = float(seconds) / 3600
    return f"{hours:,.1f} h" if hours >= 1 else _duration(seconds)


def _minutes(seconds: Any) -> float | None:
    return None if seconds is None else round(float(seconds) / 60, 2)


def _scale(value: Any, unit: str) -> float | None:
    if value is None:
        return None
    if unit == "percent":
        return round(float(value) * 100, 2)
    if unit == "minutes":
        return round(float(value) / 60, 2)
    return round(float(value), 1)


def plot_count(page_html: str) -> int:
    """How many plots a rendered page declares (the browser test checks each one drew)."""
    start = page_html.index("<body data-plots='") + len("<body data-plots='")
    return json.loads(page_html[start : page_html.index("'", start)])


FONT = "-apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"

CSS = """
:root { --ink: #1d2733; --muted: #5b6776; --line: #dfe4ea; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.5 -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
header h1 { margin: 0 0 2px; font-size: 24px; }
.meta { margin: 0 0 10px; color: var(--muted); }
nav a { margin-right: 16px; color: #0b5cad; text-decoration: none; font-weight: 500; }
nav a:hover { text-decoration: underline; }
h2 { font-size: 18px; margin: 0 0 10px; }
h3 { font-size: 15px; margin: 6px 0 2px; }
code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  background: #eef1f4; padding: 1px 5px; border-radius: 4px; }
.cards { display: grid; grid-template-columns: repeat(5, 1fr); gap: 12px; margin: 16px 0; }
.card { background: white; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card .value { font-size: 24px; font-weight: 600; }
.card .label { font-weight: 500; }
.card .sub { color: var(--muted); font-size: 12px; }
.report-section { background: white; border: 1px solid var(--line); border-radius: 8px;
  padding: 18px 20px; margin: 16px 0; }
.lead, .note, .empty { color: var(--muted); margin: 0 0 10px; }
.missing { background: #fff8e6; border: 1px solid #f0d9a0; border-radius: 6px; padding: 10px 12px;
  margin: 8px 0; }
.finding { border: 1px solid var(--line); border-left: 4px solid #999; border-radius: 6px;
  padding: 10px 14px; margin: 10px 0; }
.finding.critical { border-left-color: #c0392b; }
.finding.warning { border-left-color: #e69f00; }
.finding-head { display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap; }
.finding .kind { font-weight: 600; }
.finding .entity { color: var(--muted); }
.summary { margin: 6px 0 4px; font-size: 15px; }
.facts { margin: 0; color: var(--muted); font-size: 13px; }
.facts a, td a { color: #0b5cad; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px;
  font-weight: 600; text-transform: uppercase; letter-spacing: .03em; background: #e5e8eb; }
.badge.critical { background: #fbe3e0; color: #a4281b; }
.badge.warning { background: #fdf0d5; color: #8a5a00; }
.badge.info { background: #e1eefb; color: #0b5cad; }
.regression { border-top: 1px solid var(--line); padding-top: 8px; margin-top: 12px; }
.plot { margin: 6px 0 12px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { color: var(--muted); font-weight: 500; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
details summary { cursor: pointer; color: var(--muted); margin: 8px 0; }
footer { color: var(--muted); font-size: 12px; margin-top: 20px; }
@media (max-width: 900px) { .cards { grid-template-columns: repeat(2, 1fr); } }
"""
