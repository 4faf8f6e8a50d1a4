"""The live compliance dashboard behind `GET /api/dashboard`: the HTML report plus what the state store knows.

It answers "are we compliant, where not, since when, who changed it, and are the models healthy":
the last sweep's findings, alerts with their timelines and who changed what, compliance over time
from stored sweep runs, and the latest monitor signals (latency against SLO, drift per feature).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from amlguard import __version__
from amlguard.model import AuditReport, severity_rank

from . import svg
from .html import (
    AlertNote,
    Section,
    _badge,
    _pct,
    _time,
    compliance,
    compliance_sections,
    diagnostics_section,
    e,
    md,
    overview_section,
    page,
    resources_section,
    rules_section,
    who_text,
)

__all__ = [
    "MONITOR_META",
    "DashboardData",
    "alert_state",
    "collect",
    "record_monitor_signals",
    "render_dashboard",
    "render_dashboard_data",
]

log = logging.getLogger(__name__)

# Where the latest monitor signals are kept in the state store: `{"at": ISO time, "signals":
# [Evaluated.to_json(), ...]}` (see amlguard.monitor.evaluate). Written by the monitor run.
MONITOR_META = "monitor-latest"
_MAX_ALERTS = 500  # alert rows drawn (most urgent first); counts and finding notes use every alert
_FULL_HISTORY = 200  # alerts whose whole history is read; the rest use the recent history in the list
_MAX_RUNS = 500  # sweep runs plotted
_STATE_ORDER = {"firing": 0, "pending": 1, "acknowledged": 2, "silenced": 3, "resolved": 4}
_METRIC_NAMES = {
    "jensen_shannon_distance": "Jensen-Shannon distance",
    "population_stability_index": "PSI",
    "normalized_wasserstein_distance": "Wasserstein (normalised)",
    "two_sample_kolmogorov_smirnov_test": "KS test p-value",
    "pearsons_chi_squared_test": "χ² test p-value",
}
_DASH = "\u2013"
_NOBODY = f'<span class="muted">{_DASH}</span>'
_P_VALUE_METRICS = ("two_sample_kolmogorov_smirnov_test", "pearsons_chi_squared_test")


@dataclass(slots=True)
class DashboardData:
    """Everything one dashboard page shows, read from the service (or built by a test)."""

    report: AuditReport
    alerts: list[dict[str, Any]] = field(default_factory=list)  # AlertManager.list_alerts() items + "history"
    runs: list[dict[str, Any]] = field(default_factory=list)  # sweep runs, newest first
    monitor: dict[str, Any] | None = None  # {"at", "signals": [...]}
    problems: list[str] = field(default_factory=list)  # sources that could not be read
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    rules_path: str = ""


# ------------------------------------------------------------------------------------------ reading
def _monitor_from(service: Any) -> dict[str, Any] | None:
    """The latest monitor signals: a service attribute if the runner keeps one, else the store's meta doc."""
    for name in ("last_monitor", "latest_monitor"):
        value = getattr(service, name, None)
        value = value() if callable(value) else value
        if isinstance(value, Mapping) and value.get("signals") is not None:
            return dict(value)
        if value is not None and hasattr(value, "evaluated"):  # a MonitorResult
            return {"at": None, "signals": [ev.to_json() for ev in value.evaluated]}
    getter = getattr(service.store, "get_meta", None)
    doc = getter(MONITOR_META) if getter is not None else None
    if doc is not None and isinstance(doc.body, Mapping) and doc.body.get("signals") is not None:
        return dict(doc.body)
    return None


def record_monitor_signals(store: Any, result: Any, at: datetime) -> dict[str, Any]:
    """Keep the latest monitor signals where the dashboard reads them (the monitor run calls this).

    `result` is a amlguard.monitor MonitorResult (or a list of its `Evaluated.to_json()` dicts). Only the
    rules that were due are in one run, so signals merge by (rule, resource): a rule evaluated every hour
    stays on the page between its runs. Returns the stored document.
    """
    evaluated = getattr(result, "evaluated", None)
    fresh = [ev.to_json() for ev in evaluated] if evaluated is not None else [dict(s) for s in result]
    stamp = at.isoformat()
    for signal in fresh:
        signal.setdefault("at", stamp)
    doc = store.get_meta(MONITOR_META)
    previous = list(doc.body.get("signals") or []) if doc is not None and isinstance(doc.body, Mapping) else []
    replaced = {(str(s.get("rule")), str(s.get("resource")).lower()) for s in fresh}
    rules_now = {str(s.get("rule")) for s in fresh}
    kept = [s for s in previous if isinstance(s, Mapping)
            and (str(s.get("rule")), str(s.get("resource")).lower()) not in replaced
            and str(s.get("rule")) not in rules_now]  # a due rule's old resources are gone or deselected
    body = {"at": stamp, "signals": [*kept, *fresh]}
    store.put_meta(MONITOR_META, body)
    return body


def collect(service: Any) -> DashboardData:
    """Read the dashboard's data from a amlguard.service.Service; a source that fails is named, not fatal."""
    problems: list[str] = []
    latest = getattr(service, "latest_report", None)
    try:
        report = latest() if callable(latest) else service.sweep(record=False)
    except Exception as exc:  # the alert state and history are still worth showing
        log.warning("dashboard: no audit report", exc_info=True)
        report = AuditReport()
        problems.append(f"the audit could not run: {exc}")
    alerts: list[dict[str, Any]] = []
    try:
        alerts = list(service.alerts.list_alerts(include_resolved=True))
        history = getattr(service.alerts, "history", None)
        for index, alert in enumerate(alerts):
            if history is not None and index < _FULL_HISTORY:
                alert["history"] = list(history(alert["fingerprint"]))
            else:
                alert["history"] = list(alert.get("recent_history") or [])
    except Exception as exc:  # the page still shows compliance without the alert state
        log.warning("dashboard: could not read alerts", exc_info=True)
        problems.append(f"alerts could not be read: {exc}")
    runs: list[dict[str, Any]] = []
    try:
        runs = list(service.store.runs(_MAX_RUNS, kind="sweep"))
    except Exception as exc:
        log.warning("dashboard: could not read the run history", exc_info=True)
        problems.append(f"audit history could not be read: {exc}")
    monitor: dict[str, Any] | None = None
    try:
        monitor = _monitor_from(service)
    except Exception as exc:
        log.warning("dashboard: could not read monitor signals", exc_info=True)
        problems.append(f"monitor signals could not be read: {exc}")
    clock = getattr(service, "clock", None)
    now = clock() if callable(clock) else datetime.now(UTC)
    return DashboardData(report=report, alerts=alerts, runs=runs, monitor=monitor, problems=problems,
                         generated_at=now)


def render_dashboard(service: Any) -> str:
    """The dashboard page for `GET /api/dashboard` (HTML, self-contained)."""
    return render_dashboard_data(collect(service))


# ------------------------------------------------------------------------------------------ helpers
def _parse(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _num(value: Any) -> float | None:
    """A finite float, or None for anything else (stored documents are data, not trusted types)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int:
    number = _num(value)
    return int(number) if number is not None else 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _compact(x: float) -> str:
    """Short axis numbers: 90k, 1.2M, 0.35."""
    size = abs(x)
    if size >= 1e6:
        return f"{x / 1e6:.3g}M"
    if size >= 1e3:
        return f"{x / 1e3:.3g}k"
    return f"{x:.3g}"


def _short_id(resource_id: str) -> str:
    """`endpoint/deployment` or the last name of an ARM id."""
    parts = [p for p in resource_id.split("/") if p]
    low = [p.lower() for p in parts]
    if ("deployments" in low and "onlineendpoints" in low) or ("batchendpoints" in low and "deployments" in low):
        i = low.index("deployments")
        return f"{parts[i - 1]}/{parts[i + 1]}" if i + 1 < len(parts) else parts[-1]
    return parts[-1] if parts else resource_id


def alert_state(alert: Mapping[str, Any]) -> str:
    """What a person sees: silenced or acknowledged win over pending / firing; resolved stays resolved."""
    status = str(alert.get("status") or "")
    if status == "resolved":
        return status
    if alert.get("silenced_by"):
        return "silenced"
    if alert.get("acknowledged_by"):
        return "acknowledged"
    return status


def _notes(alerts: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], AlertNote]:
    notes: dict[tuple[str, str], AlertNote] = {}
    for alert in alerts:
        if alert.get("status") == "resolved":
            continue
        since = alert.get("active_since") or alert.get("since")
        notes[(str(alert.get("rule")), str(alert.get("resource", "")).lower())] = AlertNote(
            status=alert_state(alert), since=_time(since), changed_by=who_text(alert.get("changed_by")),
            acknowledged_by=str(alert.get("acknowledged_by") or ""), silenced=bool(alert.get("silenced_by")))
    return notes


# ------------------------------------------------------------------------------------------ sections
def _trend_section(data: DashboardData) -> Section:
    points: list[tuple[datetime, float]] = []
    failing: list[tuple[datetime, float]] = []
    rows = []
    for run in reversed(data.runs):  # oldest first
        at = _parse(run.get("at"))
        summary = run.get("summary") or {}
        if at is None or not isinstance(summary, Mapping):
            continue
        ok = _int(summary.get("passed")) + _int(summary.get("exempt"))
        bad = _int(summary.get("failed")) + _int(summary.get("errors"))
        if ok + bad:
            points.append((at, 100.0 * ok / (ok + bad)))
        failing.append((at, float(bad)))
        rows.append(f"<tr><td>{e(_time(at))}</td><td class=\"num\">{_int(summary.get('resources'))}</td>"
                    f"<td class=\"num\">{_int(summary.get('passed'))}</td>"
                    f"<td class=\"num\">{_int(summary.get('failed'))}</td>"
                    f"<td class=\"num\">{_int(summary.get('exempt'))}</td>"
                    f"<td class=\"num\">{_int(summary.get('errors'))}</td>"
                    f"<td class=\"num\">{_pct(ok / (ok + bad) if ok + bad else None)}</td></tr>")
    if not rows:
        body = ('<div class="panel"><p class="empty">No audit history yet: every full sweep (the timer, '
                "<code>POST /api/audit</code>) adds a point here.</p></div>")
        return Section("trend", "Compliance over time", body)
    chart = svg.line_chart(points, label=f"Compliance over {len(rows)} sweeps", second=failing,
                           second_label="failing checks")
    table = ("<details><summary>Show the sweeps as a table</summary><div class=\"table-wrap short\"><table>"
             "<caption class=\"visually-hidden\">Sweep history, oldest first</caption><thead><tr>"
             "<th scope=\"col\">Sweep</th><th scope=\"col\" class=\"num\">Resources</th>"
             "<th scope=\"col\" class=\"num\">Passed</th><th scope=\"col\" class=\"num\">Failed</th>"
             "<th scope=\"col\" class=\"num\">Exempt</th><th scope=\"col\" class=\"num\">Errors</th>"
             "<th scope=\"col\" class=\"num\">Compliant</th></tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table></div></details>")
    legend = ('<div class="legend"><span><span class="key ok"></span>compliant checks (%, left axis)</span>'
              '<span><span class="key bad"></span>failing checks (count, right axis)</span></div>')
    body = f'<div class="panel" id="trend-chart" data-runs="{len(rows)}">{legend}{chart}{table}</div>'
    return Section("trend", "Compliance over time", body,
                   lead=f"{len(rows)} stored sweeps, from {e(_time(_parse(data.runs[-1].get('at'))))} "
                        f"to {e(_time(_parse(data.runs[0].get('at'))))}.")


def _alert_timeline(alert: Mapping[str, Any], now: datetime) -> tuple[str, str]:
    """The alert's states over time as a strip and as an ordered list (oldest first)."""
    events: list[tuple[datetime, str, str]] = []
    items = []
    for entry in alert.get("history") or []:
        at = _parse(entry.get("at"))
        if at is None:
            continue
        kind = entry.get("event") or "transition"
        if kind == "acknowledged":
            who = str(entry.get("by") or "")
            events.append((at, "acknowledged", f"acknowledged by {who}"))
            comment = f" — {e(entry['comment'])}" if entry.get("comment") else ""
            items.append(f"<li><time>{e(_time(at))}</time> {_badge('a-acknowledged', 'acknowledged')} by "
                         f"<b>{e(who)}</b>{comment}</li>")
            continue
        to = str(entry.get("to") or entry.get("status") or "")
        frm = str(entry.get("from") or "")
        who = who_text(entry.get("changed_by"))
        events.append((at, to, f"{frm} → {to}: {entry.get('reason') or ''}"))
        items.append(f"<li><time>{e(_time(at))}</time> {e(frm)} → {_badge('a-' + to, to)} "
                     f"<span class=\"muted\">{e(entry.get('reason') or '')}</span>"
                     + (f" · changed by <b>{e(who)}</b>" if who else "") + "</li>")
    if alert.get("silenced_by") and alert.get("status") != "resolved":
        items.append(f"<li>{_badge('a-silenced', 'silenced')} now, by silence "
                     f"{e(', '.join(str(s) for s in alert['silenced_by']))}</li>")
    events.sort(key=lambda ev: ev[0])
    if not events:
        return "", ""
    start = events[0][0].timestamp()
    end = max(now.timestamp(), events[-1][0].timestamp() + 1)
    span = end - start
    segments = []
    for i, (at, state, tip) in enumerate(events):
        stop = events[i + 1][0].timestamp() if i + 1 < len(events) else end
        if i + 1 == len(events) and alert_state(alert) == "silenced":
            state = "silenced"
        segments.append(((at.timestamp() - start) / span, (stop - start) / span, state,
                         f"{_time(at)}: {tip}"))
    strip = svg.timeline(segments, label=f"alert states from {_time(events[0][0])} to now")
    return strip, f'<ol class="history small">{"".join(items)}</ol>'


def _alerts_section(data: DashboardData) -> Section:
    alerts = data.alerts
    if not alerts:
        why = "; ".join(p for p in data.problems if p.startswith("alerts"))
        body = f'<div class="panel"><p class="empty">{e(why) if why else "No alerts: nothing has failed."}</p></div>'
        return Section("alerts", "Alerts", body)
    states = [alert_state(a) for a in alerts]
    counts = {s: states.count(s) for s in ("firing", "pending", "acknowledged", "silenced", "resolved")}
    rows = []
    rules = data.report.rules
    order = sorted(range(len(alerts)), key=lambda i: (_STATE_ORDER.get(states[i], 5),
                                                      severity_rank(str(alerts[i].get("severity") or "")), i))
    for i in order[:_MAX_ALERTS]:
        alert, state = alerts[i], states[i]
        strip, history = _alert_timeline(alert, data.generated_at)
        rule = str(alert.get("rule") or "")
        annotations = alert.get("annotations") or {}
        title = str(annotations.get("title") or (rules.get(rule) or {}).get("title") or "")
        sev = str(alert.get("severity") or "")
        who = who_text(alert.get("changed_by"))
        acked = alert.get("acknowledged_by")
        events = _plural(len(alert.get("history") or []), "event")
        history_html = (f"<details><summary>{events}</summary>{history}</details>"
                        if history else '<span class="muted">no history</span>')
        rows.append(
            f'<tr data-state="{e(state)}" data-fingerprint="{e(alert.get("fingerprint"))}">'
            f'<td>{_badge("a-" + state, state)}</td><td>{_badge("sev-" + sev, sev)}</td>'
            f'<td><code class="rid">{e(rule)}</code><div class="small">{e(title)}</div></td>'
            f'<td><span class="rname">{e(_short_id(str(alert.get("resource") or "")))}</span></td>'
            f"<td>{e(_time(alert.get('since')))}</td>"
            f"<td>{e(who) if who else _NOBODY}"
            + (f'<div class="small muted">ack: {e(acked)}</div>' if acked else "") + "</td>"
            f"<td>{strip}{history_html}</td></tr>")
    summary = " · ".join(f'<span data-alerts="{k}">{v}</span> {k}' for k, v in counts.items())
    chips = "".join(f'<button type="button" class="chip" data-alert-state="{k}" aria-pressed="false">{k}</button>'
                    for k, v in counts.items() if v)
    toggles = (f'<fieldset class="chips alert-filter"><legend>Show only</legend>{chips}</fieldset>' if chips else "")

    legend = ('<div class="legend"><span><span class="key warn"></span>pending</span>'
              '<span><span class="key bad"></span>firing</span><span><span class="key accent"></span>'
              'acknowledged</span><span><span class="key exempt"></span>silenced</span>'
              '<span><span class="key ok"></span>resolved</span></div>')
    table = ('<div class="table-wrap"><table id="alert-table"><caption class="visually-hidden">Alerts, firing first'
             '</caption><thead><tr><th scope="col">State</th><th scope="col">Severity</th><th scope="col">Rule</th>'
             '<th scope="col">Resource</th><th scope="col">Since</th><th scope="col">Changed by</th>'
             f'<th scope="col">Timeline</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>')
    if len(alerts) > _MAX_ALERTS:
        summary += (f" · showing the {_MAX_ALERTS} most urgent of {len(alerts)}; <code>GET /api/alerts</code> "
                    "lists them all")
    return Section("alerts", "Alerts", f'<p class="count">{summary}</p>{toggles}{legend}{table}',
                   lead="Alert state from the store: pending until a rule's <code>for</code> has passed, firing, "
                        "acknowledged or silenced by a person, resolved when the resource passes or is deleted. "
                        "<em>Changed by</em> is who made the change that the event reported.")


def _fmt(value: Any, unit: str) -> str:
    number = _num(value)
    if number is None:
        return _DASH if value is None else str(value)
    if unit == "ratio":
        return f"{number * 100:.2f}%"
    if unit == "ms":
        return f"{number:,.0f} ms"
    if unit == "%":
        return f"{number:.1f}%"
    return f"{number:,.3g} {unit}".strip()


def _health_section(data: DashboardData) -> Section:
    monitor = data.monitor
    if not monitor or not monitor.get("signals"):
        why = "; ".join(p for p in data.problems if p.startswith("monitor"))
        body = ('<div class="panel"><p class="empty" id="no-monitoring">No monitoring data yet. '
                + (e(why) + ". " if why else "")
                + "Latency against SLO and drift per feature appear here after the first monitor run "
                  "(the monitor timer, or <code>amlguard monitor</code> against a state folder).</p></div>")
        return Section("health", "Model health", body)
    signals = [s for s in monitor["signals"] if isinstance(s, Mapping)]
    latency = [s for s in signals if str(s.get("unit")) == "ms"]
    other = [s for s in signals if str(s.get("unit")) != "ms" and s.get("signal") != "data_drift"]
    drift = [s for s in signals if s.get("signal") == "data_drift" or s.get("features")]
    parts = []
    if latency:
        rows = []
        for s in sorted(latency, key=lambda s: (_short_id(str(s.get("resource"))), str(s.get("signal")))):
            value, limit = _num(s.get("value")), _num(s.get("threshold"))
            status = str(s.get("status") or "")
            breached = status == "fail"
            scale = max(value or 0.0, limit or 0.0) * 1.25 or 1.0
            bar = svg.threshold_bar(value, limit,
                                    scale_max=scale, breached=breached,
                                    label=f"{s.get('signal')} {_fmt(value, 'ms')} against SLO {_fmt(limit, 'ms')}")
            flag = ' <span class="small muted">(partial)</span>' if s.get("partial") else ""
            rows.append(
                f'<tr data-status="{e(status)}"><td class="rname">{e(_short_id(str(s.get("resource"))))}</td>'
                f"<td><code>{e(s.get('signal'))}</code></td><td>{e(s.get('window') or '')}</td>"
                f'<td class="num">{e(_fmt(value, "ms"))}{flag}</td><td class="num">{e(_fmt(limit, "ms"))}</td>'
                f'<td>{_badge("s-" + status, "breached" if breached else status)}</td><td>{bar}</td></tr>')
        parts.append(
            '<div class="panel" id="latency"><h3>Latency against SLO</h3>'
            '<div class="legend"><span><span class="key ok">'
            '</span>within SLO</span><span><span class="key bad"></span>breached</span><span><span class="key line">'
            '</span>SLO</span></div><div class="table-wrap short"><table><caption class="visually-hidden">Latency per '
            'deployment against its SLO</caption><thead><tr><th scope="col">Deployment</th><th scope="col">Signal</th>'
            '<th scope="col">Window</th><th scope="col" class="num">Value</th><th scope="col" class="num">SLO</th>'
            f'<th scope="col">Status</th><th scope="col">Against SLO</th></tr></thead><tbody>{"".join(rows)}'
            "</tbody></table></div></div>")
    if other:
        rows = []
        for s in sorted(other, key=lambda s: (str(s.get("signal")), _short_id(str(s.get("resource"))))):
            unit = str(s.get("unit") or "")
            status = str(s.get("status") or "")
            rows.append(
                f'<tr data-status="{e(status)}"><td class="rname">{e(_short_id(str(s.get("resource"))))}</td>'
                f"<td><code>{e(s.get('signal'))}</code></td><td>{e(s.get('window') or '')}</td>"
                f'<td class="num">{e(_fmt(s.get("value"), unit))}</td>'
                f'<td class="num">{e(_fmt(s.get("threshold"), unit))}</td>'
                f'<td>{_badge("s-" + status, status.replace("_", " "))}</td></tr>')
        parts.append(
            '<details class="panel"><summary>Other signals (errors, utilisation, capacity): '
            f'{sum(1 for s in other if s.get("status") == "fail")} breached of {len(other)}</summary>'
            '<div class="table-wrap short"><table><thead><tr><th scope="col">Deployment</th><th scope="col">Signal</th>'
            '<th scope="col">Window</th><th scope="col" class="num">Value</th>'
            '<th scope="col" class="num">Threshold</th>'
            f'<th scope="col">Status</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div></details>')
    for s in drift:
        parts.append(_drift_panel(s))
    at = _time(monitor.get("at")) if monitor.get("at") else ""
    return Section("health", "Model health", "".join(parts),
                   lead=(f"Latest monitor run{' at ' + e(at) if at else ''}: latency per deployment against its SLO, "
                         "and drift of each model input between the baseline and the current window."))


def _drift_panel(signal: Mapping[str, Any]) -> str:
    features = [f for f in signal.get("features") or [] if isinstance(f, Mapping)]
    name = _short_id(str(signal.get("resource") or ""))
    drifted = [f for f in features if f.get("drifted")]
    cards = []
    for feature in sorted(features, key=lambda f: (not f.get("drifted"), str(f.get("name")))):
        hist = feature.get("histogram") or {}
        if hist.get("edges"):
            edges = [_num(x) or 0.0 for x in hist["edges"]]
            labels = [f"{_compact(edges[i])}\u2013{_compact(edges[i + 1])}" for i in range(len(edges) - 1)]
        else:
            labels = [str(c) for c in hist.get("categories") or []]
        base = [max(_num(x) or 0.0, 0.0) for x in hist.get("baseline") or []]
        cur = [max(_num(x) or 0.0, 0.0) for x in hist.get("current") or []]
        size = min(len(labels), len(base), len(cur))
        chart = (svg.histogram(labels[:size], base[:size], cur[:size],
                               label=f"{feature.get('name')}: baseline and current distribution")
                 if size else '<p class="empty">no histogram</p>')
        thresholds = feature.get("thresholds") or {}
        breaches = set(feature.get("breaches") or [])
        rows = []
        for metric, raw in (feature.get("metrics") or {}).items():
            limit = _num(thresholds.get(metric))
            value = _num(raw)
            shown = _DASH if value is None else f"{value:.4g}"
            sign = "" if limit is None else ("≥ " if metric in _P_VALUE_METRICS else "≤ ")
            css = ' class="breach"' if metric in breaches else ""
            rows.append(f'<tr{css}><td title="{e(metric)}">{e(_METRIC_NAMES.get(metric, metric))}</td>'
                        f'<td class="num">{e(shown)}</td>'
                        f"<td class=\"num\">{e(sign + format(limit, 'g')) if limit is not None else _DASH}</td>"
                        f"<td>{'breached' if metric in breaches else ''}</td></tr>")
        status = "drifted" if feature.get("drifted") else "stable"
        note = f'<p class="small muted">{e(feature["note"])}</p>' if feature.get("note") else ""
        cards.append(
            f'<div class="feature" data-feature="{e(feature.get("name"))}" '
            f'data-drifted="{str(bool(feature.get("drifted"))).lower()}">'
            f'<h4>{e(feature.get("name"))} {_badge("s-fail" if feature.get("drifted") else "s-pass", status)}'
            f'<span class="small muted">{e(feature.get("type") or "")} · {_int(feature.get("baseline_count"))} '
            f'baseline / {_int(feature.get("current_count"))} current</span></h4>{chart}'
            '<table class="metrics"><thead><tr><th scope="col">Metric</th><th scope="col" class="num">Value</th>'
            f'<th scope="col" class="num">Threshold</th><th scope="col"><span class="visually-hidden">Breached</span>'
            f'</th></tr></thead><tbody>{"".join(rows)}'
            f"</tbody></table>{note}</div>")
    body = "".join(cards) or f'<p class="empty">{md(str(signal.get("error") or "no features compared"))}</p>'
    return (f'<div class="panel drift" data-resource="{e(signal.get("resource"))}"><h3>Drift: {e(name)} '
            f'<span class="small muted">{len(drifted)} of {len(features)} features drifted over '
            f'{e(signal.get("window") or "")} ({_int(signal.get("samples"))} current rows)</span></h3>'
            '<div class="legend"><span><span class="key base"></span>baseline</span><span><span class="key cur">'
            f'</span>current</span></div><div class="grid cols-3">{body}</div></div>')


# ------------------------------------------------------------------------------------------ page
def render_dashboard_data(data: DashboardData) -> str:
    """The dashboard page from already-collected data."""
    report = data.report
    numbers = compliance(report)
    states = [alert_state(a) for a in data.alerts]
    firing, pending = states.count("firing"), states.count("pending")
    handled = states.count("acknowledged") + states.count("silenced")
    # Firing and nobody on it yet: acknowledged and silenced alerts are counted apart.
    extra = (f'<div class="card {"bad" if firing else "ok"}"><div class="label">Alerts firing</div>'
             f'<div class="value" data-count="firing">{firing:,}</div><div class="sub">{pending:,} pending · '
             f'{handled:,} acknowledged or silenced · <a href="#alerts">see alerts</a></div></div>')
    sections = [overview_section(report, numbers, extra_cards=extra), _trend_section(data),
                compliance_sections(report, numbers), _alerts_section(data), _health_section(data),
                resources_section(report, numbers, _notes(data.alerts)), rules_section(report, numbers)]
    diag = diagnostics_section(report)
    if diag is not None:
        sections.append(diag)
    problems = "".join(f"<li>{e(p)}</li>" for p in data.problems)
    notice = f"<b>Part of this page could not be read:</b><ul>{problems}</ul>" if problems else ""
    subtitle = (f"Live dashboard · {e(_time(data.generated_at))} · last sweep: {report.summary()['resources']} "
                "resources")
    footer = f"amlguard {e(__version__)} · data from the state store and the last sweep; reload to refresh."
    return page("amlguard compliance dashboard", sections, subtitle=subtitle, footer=footer, notice=notice)
