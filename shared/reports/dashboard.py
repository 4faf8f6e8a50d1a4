"""The live compliance dashboard behind `GET /api/dashboard`: the HTML report plus what the state store knows.

It answers "are we compliant, where not, since when, who changed it, and are the models healthy":
the last sweep's findings, alerts with their timelines and who changed what, compliance over time
from stored sweep runs, and the latest monitor signals (latency against SLO, drift per feature).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from amlguard import __version__
from amlguard.armid import ArmId
from amlguard.model import AuditReport, severity_rank
from amlguard.timeparse import time_or_none as _parse

from . import svg
from .html import AlertNote, _time, compliance, render_page, resources_table, rule_cards, who_text

if TYPE_CHECKING:
    from amlguard.alerts import StateStoreProtocol
    from amlguard.alerts.types import AlertView
    from amlguard.monitor.evaluate import MonitorResult
    from amlguard.service import Service

__all__ = ["MONITOR_META", "DashboardData", "alert_state", "collect", "record_monitor_signals", "render_dashboard",
           "render_dashboard_data"]

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
_P_VALUE_METRICS = ("two_sample_kolmogorov_smirnov_test", "pearsons_chi_squared_test")


@dataclass(slots=True)
class DashboardData:
    """Everything one dashboard page shows, read from the service (or built by a test)."""

    report: AuditReport
    alerts: list[AlertView] = field(default_factory=list)  # AlertManager.list_alerts() items + "history"
    runs: list[dict[str, Any]] = field(default_factory=list)  # sweep runs, newest first
    monitor: dict[str, Any] | None = None  # {"at", "signals": [...]}
    problems: list[str] = field(default_factory=list)  # sources that could not be read
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    rules_path: str = ""


# ------------------------------------------------------------------------------------------ reading
def _monitor_from(store: StateStoreProtocol) -> dict[str, Any] | None:
    """The latest monitor signals the monitor run stored (record_monitor_signals)."""
    doc = store.get_meta(MONITOR_META)
    if doc is not None and isinstance(doc.body, Mapping) and doc.body.get("signals") is not None:
        return dict(doc.body)
    return None


def record_monitor_signals(store: StateStoreProtocol, result: MonitorResult | Iterable[Mapping[str, Any]],
                           at: datetime) -> dict[str, Any]:
    """Keep the latest monitor signals where the dashboard reads them (the monitor run calls this).

    `result` is a MonitorResult or a list of its `Evaluated.to_json()` dicts. Only the rules that
    were due are in one run, so signals merge by (rule, resource): a rule evaluated every hour
    stays on the page between its runs. Returns the stored document.
    """
    fresh = [ev.to_json() for ev in result.evaluated] if hasattr(result, "evaluated") else [dict(s) for s in result]
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


def collect(service: Service) -> DashboardData:
    """Read the dashboard's data from the service; a source that fails is named, not fatal."""
    problems: list[str] = []
    try:
        report = service.latest_report()
    except Exception as exc:  # the alert state and history are still worth showing
        log.warning("dashboard: no audit report", exc_info=True)
        report = AuditReport()
        problems.append(f"the audit could not run: {exc}")
    alerts: list[AlertView] = []
    try:
        alerts = list(service.alerts.list_alerts(include_resolved=True))
        for index, alert in enumerate(alerts):
            if index < _FULL_HISTORY:
                alert["history"] = list(service.alerts.history(alert["fingerprint"]))
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
        monitor = _monitor_from(service.store)
    except Exception as exc:
        log.warning("dashboard: could not read monitor signals", exc_info=True)
        problems.append(f"monitor signals could not be read: {exc}")
    return DashboardData(report=report, alerts=alerts, runs=runs, monitor=monitor, problems=problems,
                         generated_at=service.clock())


def render_dashboard(service: Service) -> str:
    """The dashboard page for `GET /api/dashboard` (HTML, self-contained)."""
    return render_dashboard_data(collect(service))


# ------------------------------------------------------------------------------------------ helpers
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


def _compact(x: float) -> str:
    """Short axis numbers: 90k, 1.2M, 0.35."""
    size = abs(x)
    if size >= 1e6:
        return f"{x / 1e6:.3g}M"
    if size >= 1e3:
        return f"{x / 1e3:.3g}k"
    return f"{x:.3g}"


def _short_id(resource: Any) -> str:
    """`endpoint/deployment` or the resource's name; other text as it is."""
    parsed = ArmId.parse(str(resource or ""))
    return parsed.short if parsed is not None else str(resource or "")


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
def _trend(data: DashboardData) -> dict[str, Any]:
    """Stored sweeps, oldest first, and the compliance chart over them."""
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
        rows.append({"at": at, "resources": _int(summary.get("resources")), "passed": _int(summary.get("passed")),
                     "failed": _int(summary.get("failed")), "exempt": _int(summary.get("exempt")),
                     "errors": _int(summary.get("errors")), "share": ok / (ok + bad) if ok + bad else None})
    if not rows:
        return {"rows": []}
    return {"rows": rows, "first": _parse(data.runs[-1].get("at")), "last": _parse(data.runs[0].get("at")),
            "chart": svg.line_chart(points, label=f"Compliance over {len(rows)} sweeps", second=failing,
                                    second_label="failing checks")}


def _alert_timeline(alert: Mapping[str, Any], now: datetime) -> tuple[str, list[dict[str, Any]]]:
    """The alert's states over time as a strip and as history entries (oldest first)."""
    events: list[tuple[datetime, str, str]] = []
    items: list[dict[str, Any]] = []
    for entry in alert.get("history") or []:
        at = _parse(entry.get("at"))
        if at is None:
            continue
        if (entry.get("event") or "transition") == "acknowledged":
            who = str(entry.get("by") or "")
            events.append((at, "acknowledged", f"acknowledged by {who}"))
            items.append({"event": "acknowledged", "at": at, "by": who, "comment": entry.get("comment")})
            continue
        to = str(entry.get("to") or entry.get("status") or "")
        frm = str(entry.get("from") or "")
        events.append((at, to, f"{frm} → {to}: {entry.get('reason') or ''}"))
        items.append({"event": "transition", "at": at, "from": frm, "to": to, "reason": entry.get("reason") or "",
                      "by": who_text(entry.get("changed_by"))})
    if not events:
        return "", []
    if alert.get("silenced_by") and alert.get("status") != "resolved":
        items.append({"event": "silenced", "by": ", ".join(str(s) for s in alert["silenced_by"])})
    events.sort(key=lambda ev: ev[0])
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
    return svg.timeline(segments, label=f"alert states from {_time(events[0][0])} to now"), items


def _alerts(data: DashboardData) -> dict[str, Any]:
    """Alert rows, most urgent first (at most _MAX_ALERTS), and the count in each state."""
    alerts = data.alerts
    states = [alert_state(a) for a in alerts]
    counts = {s: states.count(s) for s in ("firing", "pending", "acknowledged", "silenced", "resolved")}
    order = sorted(range(len(alerts)), key=lambda i: (_STATE_ORDER.get(states[i], 5),
                                                      severity_rank(str(alerts[i].get("severity") or "")), i))
    rows = []
    for i in order[:_MAX_ALERTS]:
        alert = alerts[i]
        strip, history = _alert_timeline(alert, data.generated_at)
        rule = str(alert.get("rule") or "")
        annotations = alert.get("annotations") or {}
        rows.append({"state": states[i], "fingerprint": alert.get("fingerprint"), "rule": rule,
                     "severity": str(alert.get("severity") or ""),
                     "title": str(annotations.get("title") or (data.report.rules.get(rule) or {}).get("title") or ""),
                     "resource": _short_id(alert.get("resource")), "since": alert.get("since"),
                     "who": who_text(alert.get("changed_by")), "acked": alert.get("acknowledged_by"),
                     "strip": strip, "history": history, "events": len(alert.get("history") or [])})
    return {"rows": rows, "counts": counts, "total": len(alerts),
            "why": "; ".join(p for p in data.problems if p.startswith("alerts"))}


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


def _signal_row(s: Mapping[str, Any], unit: str) -> dict[str, Any]:
    return {"status": str(s.get("status") or ""), "resource": _short_id(s.get("resource")), "signal": s.get("signal"),
            "window": s.get("window") or "", "value": _fmt(s.get("value"), unit),
            "limit": _fmt(s.get("threshold"), unit), "partial": s.get("partial")}


def _health(data: DashboardData) -> dict[str, Any]:
    """Latency against SLO, the other signals, and drift per feature from the latest monitor run."""
    monitor = data.monitor
    if not monitor or not monitor.get("signals"):
        return {"present": False, "why": "; ".join(p for p in data.problems if p.startswith("monitor"))}
    signals = [s for s in monitor["signals"] if isinstance(s, Mapping)]
    latency = []
    for s in sorted((s for s in signals if str(s.get("unit")) == "ms"),
                    key=lambda s: (_short_id(s.get("resource")), str(s.get("signal")))):
        row = _signal_row(s, "ms")
        value, limit = _num(s.get("value")), _num(s.get("threshold"))
        row["bar"] = svg.threshold_bar(value, limit, scale_max=max(value or 0.0, limit or 0.0) * 1.25 or 1.0,
                                       breached=row["status"] == "fail",
                                       label=f"{s.get('signal')} {row['value']} against SLO {row['limit']}")
        latency.append(row)
    other = [_signal_row(s, str(s.get("unit") or "")) for s in sorted(
        (s for s in signals if str(s.get("unit")) != "ms" and s.get("signal") != "data_drift"),
        key=lambda s: (str(s.get("signal")), _short_id(s.get("resource"))))]
    drift = [_drift(s) for s in signals if s.get("signal") == "data_drift" or s.get("features")]
    return {"present": True, "at": monitor.get("at"), "latency": latency, "other": other, "drift": drift}


def _drift(signal: Mapping[str, Any]) -> dict[str, Any]:
    """One drift panel: per feature its histogram, metrics against thresholds and note."""
    features = [f for f in signal.get("features") or [] if isinstance(f, Mapping)]
    shown = []
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
        thresholds = feature.get("thresholds") or {}
        breaches = set(feature.get("breaches") or [])
        metrics = []
        for metric, raw in (feature.get("metrics") or {}).items():
            limit, value = _num(thresholds.get(metric)), _num(raw)
            sign = "≥ " if metric in _P_VALUE_METRICS else "≤ "
            metrics.append({"id": metric, "name": _METRIC_NAMES.get(metric, metric), "breached": metric in breaches,
                            "value": _DASH if value is None else f"{value:.4g}",
                            "limit": _DASH if limit is None else sign + format(limit, "g")})
        shown.append({"name": feature.get("name"), "drifted": bool(feature.get("drifted")), "type": feature.get("type"),
                      "baseline": _int(feature.get("baseline_count")), "current": _int(feature.get("current_count")),
                      "note": feature.get("note"), "metrics": metrics,
                      "chart": svg.histogram(labels[:size], base[:size], cur[:size],
                                             label=f"{feature.get('name')}: baseline and current distribution")
                      if size else None})
    return {"resource": signal.get("resource"), "name": _short_id(signal.get("resource")), "features": shown,
            "drifted": sum(1 for f in features if f.get("drifted")), "window": signal.get("window") or "",
            "samples": _int(signal.get("samples")), "error": str(signal.get("error") or "no features compared")}


# ------------------------------------------------------------------------------------------ page
def render_dashboard_data(data: DashboardData) -> str:
    """The dashboard page from already-collected data."""
    report = data.report
    numbers = compliance(report)
    states = [alert_state(a) for a in data.alerts]
    alert_counts = {s: states.count(s) for s in ("firing", "pending", "acknowledged", "silenced")}
    return render_page("dashboard.html.j2", title="amlguard compliance dashboard", report=report, numbers=numbers,
                       generated=data.generated_at, version=__version__, problems=data.problems,
                       alert_counts=alert_counts, trend=_trend(data), alerts=_alerts(data), health=_health(data),
                       table=resources_table(report, numbers, _notes(data.alerts)),
                       cards=rule_cards(report, numbers))
