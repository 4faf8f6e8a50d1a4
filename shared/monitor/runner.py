"""Monitor runs: `run_monitors(service)` for the timer function (rules that are due, findings into
the same alert lifecycle as audit findings) and `amlguard monitor` for a one-off evaluation.

Exit codes of `amlguard monitor`: 0 nothing breached, 1 a rule breached or a signal could not be
read, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from amlguard.config import Settings
from amlguard.errors import AmlguardError, ConfigError, PolicyError
from amlguard.model import Finding, Resource, Status, severity_rank
from amlguard.monitor.evaluate import Evaluated, MonitorResult, MonitorSource, evaluate_rules
from amlguard.monitor.rules import NEVER_HEARD_SUFFIX, MonitorPack, MonitorRule, load_monitor_pack, monitor_rule_of
from amlguard.monitor.signals import format_value
from amlguard.timeparse import format_duration, next_cron, parse_time

if TYPE_CHECKING:
    from amlguard.alerts import AlertFacade, StateStoreProtocol, Transition
    from amlguard.service import Service

__all__ = ["MONITORED_KINDS", "due_rules", "feed_alerts", "render_table", "run", "run_monitors"]

log = logging.getLogger(__name__)

MONITORED_KINDS = ("online_deployment", "online_endpoint")
_SCHEDULE_META = "monitor-schedule"
_HEARD_META = "monitor-heard:"  # + rule id: {"heard": [key...], "watching": {key: since}} (see never_heard)
_lock = threading.Lock()
_last_good: dict[str, MonitorPack] = {}
_reported: set[str] = set()  # signals not run, logged once per process
_sources: dict[int, tuple[Service, MonitorSource]] = {}


def rules_paths(settings: Settings) -> list[Path]:
    """Where the service's monitor rules live: the pack in use (AMLGUARD_MONITOR_RULES, else the policy
    pack), plus the replayed example's own rules (AMLGUARD_MONITOR_EXAMPLE), which need its data."""
    if not settings.monitor_example:
        return [settings.monitor_rules_path]
    from amlguard.monitor.example import example_rules

    return [settings.monitor_rules_path, *example_rules(settings.monitor_example)]


def _load_rules(paths: Sequence[Path]) -> tuple[MonitorPack, str | None]:
    """The rules at `paths`, or the last good ones (and the problem) when the files are invalid.
    Signals of Azure ML monitor schedules that do not run are logged once each."""
    key = "|".join(str(p.resolve()) for p in paths)
    try:
        pack = load_monitor_pack(paths)
    except PolicyError as exc:
        log.error("monitor rules under %s are invalid; keeping the last good rules:\n%s",
                  ", ".join(map(str, paths)), exc.render())
        with _lock:
            return _last_good.get(key) or MonitorPack([]), exc.render()
    with _lock:
        _last_good[key] = pack
        fresh = [r.render() for r in pack.not_run if r.render() not in _reported]
        _reported.update(fresh)
    for text in fresh:
        log.warning("Azure ML monitor signal %s", text)
    return pack, None


def due_rules(rules: Sequence[MonitorRule], last_run: Mapping[str, str], now: datetime) -> list[MonitorRule]:
    """Rules whose `every` has elapsed since their last evaluation, or, for a rule with `cron`, one
    of whose times has come since then (a rule never run is due at once, as Azure ML's first run).

    A timer tick a few seconds early must not skip a run, so a rule is due once 90% of its
    interval (at most 30 s short of it) has passed, and a cron time 30 s ahead counts as come.
    """
    due = []
    for rule in rules:
        text = last_run.get(rule.id)
        if not text:
            due.append(rule)
            continue
        try:
            last = parse_time(text)
        except ValueError:
            due.append(rule)
            continue
        if rule.cron:
            early = timedelta(seconds=30)  # the run 30 s before a time was that time's run
            if next_cron(rule.cron, last + early) <= now + early:
                due.append(rule)
            continue
        slack = min(30.0, rule.every * 0.1)
        if (now - last).total_seconds() >= rule.every - slack:
            due.append(rule)
    return due


def _source_for(service: Service) -> MonitorSource:
    """The signal source of this service, built once from its settings: Azure Monitor, or the
    recorded example named by AMLGUARD_MONITOR_EXAMPLE replayed at the service's clock."""
    settings = service.settings
    with _lock:
        held = _sources.get(id(service))
        # the entry holds the service itself, so its id cannot be reused by another one
        source = held[1] if held is not None and held[0] is service else None
        if source is None:
            if settings.monitor_example:
                from amlguard.monitor.example import replay_source

                source = replay_source(settings.monitor_example)
            else:
                from amlguard.monitor.azure_monitor import AzureMonitor

                source = AzureMonitor.from_env(settings.env)
            _sources[id(service)] = (service, source)
        return source


def _timers(rules: Sequence[MonitorRule]) -> dict[str, dict[str, float]]:
    """`for_seconds` (and `keep_firing_for` when a rule sets it) for AlertManager.process."""
    timers = {"for_seconds": {r.id: r.for_seconds for r in rules}}
    if any(r.keep_firing_for for r in rules):
        timers["keep_firing_for"] = {r.id: r.keep_firing_for for r in rules}
    return timers


def _for_alerts(alerts: AlertFacade, rules: Sequence[MonitorRule], due: Sequence[MonitorRule],
                result: MonitorResult, extra: Sequence[Finding] = ()) -> list[Finding]:
    """The findings to hand to the alert manager: every failing one, the clear ones that can resolve
    an open alert (a clear finding without an alert changes nothing, and costs a state read each),
    and resolving findings for stale monitor alerts."""
    open_alerts = alerts.list_alerts(include_resolved=False)
    findings = [*result.findings, *extra]
    opened = {(str(a.get("rule")), str(a.get("resource")).lower()) for a in open_alerts}
    kept = [f for f in findings if f.status in (Status.FAIL.value, Status.ERROR.value)
            or (f.rule, f.resource.lower()) in opened]
    return kept + _stale_alert_findings(open_alerts, rules, due, result)


def _stale_alert_findings(open_alerts: Sequence[Mapping[str, Any]], rules: Sequence[MonitorRule],
                          due: Sequence[MonitorRule], result: MonitorResult) -> list[Finding]:
    """Resolving findings for open monitor alerts that no rule evaluation will touch again: the rule
    was removed or disabled, or a due rule no longer selects the resource (gone, re-tagged).

    Monitor runs pass AlertManager.process no `audited` list (only failing findings and those for
    open alerts, so healthy pairs cost no state reads) and resolve their own stale alerts here,
    rule by rule; `no_data: keep_state` pairs are selected, so they stay untouched.
    """
    known = {r.id for r in rules}
    due_ids = {r.id for r in due}
    selected = {(e.rule.id, e.resource.id.lower()) for e in result.evaluated}
    out = []
    for alert in open_alerts:
        rule_id, resource = str(alert.get("rule", "")), str(alert.get("resource", ""))
        base = monitor_rule_of(rule_id)
        if base is None:
            continue
        if base not in known:
            why = f"monitor rule {base} was removed or disabled"
        elif base in due_ids and (base, resource.lower()) not in selected:
            why = f"monitor rule {base} no longer selects this resource"
        else:
            continue
        out.append(Finding(rule=rule_id, resource=resource, status=Status.NOT_APPLICABLE.value,
                           severity=str(alert.get("severity") or "info"), message=why, effect="alert"))
    return out


def _record_signals(store: StateStoreProtocol, result: MonitorResult, now: datetime) -> None:
    """Keep the latest signals where the dashboard reads them (amlguard.reports.dashboard)."""
    from amlguard.reports.dashboard import record_monitor_signals

    try:
        record_monitor_signals(store, result, now)
    except Exception:  # the page is a view; the alerts are already updated
        log.warning("could not record the monitor signals for the dashboard", exc_info=True)


_NEVER_HEARD_HINT = {
    "metrics": "check that Azure Monitor has the metric for this resource (the rule's namespace and "
               "dimension) and that amlguard's identity has Monitoring Reader on it",
    "logs": "check that the endpoint's diagnostic setting sends AmlOnlineEndpointTrafficLog to the workspace "
            "AMLGUARD_MONITOR_WORKSPACE_ID names",
    "drift": "check that the deployment's data collector is on and writes where the rule's `current` reads",
}


def _resource_key(resource_id: str) -> str:
    # short keys keep a rule's record small when it watches thousands of deployments
    return hashlib.sha256(resource_id.lower().encode()).hexdigest()[:16]


def never_heard(store: StateStoreProtocol, due: Sequence[MonitorRule], result: MonitorResult, now: datetime,
                after: float) -> list[Finding]:
    """`no_data` warnings: a (rule, resource) whose signal has returned no data since amlguard started
    watching it for `after` seconds fails `<rule>:no-data`; its first data passes it (resolving the warning).

    Without this, `no_data: ignore` on a signal that never existed (a wrong dimension, a missing
    diagnostic setting, a collector that is off) looked exactly like an idle, healthy endpoint.
    A resource heard from once is idle when quiet, not broken: it never warns again. Failed queries
    are already `error` findings and rules with `no_data: alert` already alert, so neither warns.
    """
    if after <= 0:
        return []
    out: list[Finding] = []
    by_rule: dict[str, list[Evaluated]] = {}
    for e in result.evaluated:
        by_rule.setdefault(e.rule.id, []).append(e)
    for rule in due:
        doc = store.get_meta(_HEARD_META + rule.id)
        body = dict(doc.body) if doc is not None else {}
        heard, watching = set(body.get("heard") or ()), dict(body.get("watching") or {})
        now_watching: dict[str, str] = {}
        for e in by_rule.get(rule.id, []):
            key = _resource_key(e.resource.id)
            if e.observation.value is not None:
                if key not in heard:
                    heard.add(key)  # a pass resolves a warning if one is open (the caller sends it only then)
                    out.append(_never_heard_finding(e, Status.PASS, f"{rule.signal.name} returned data for "
                                                                    f"{e.resource.name}", None))
                continue
            if key in heard:
                continue
            since = watching.get(key) or now.isoformat()
            now_watching[key] = since
            waited = (now - parse_time(since)).total_seconds()
            if waited >= after and e.observation.error is None and rule.no_data != "alert":
                out.append(_never_heard_finding(e, Status.FAIL, f"{rule.signal.name} has returned no data for "
                                                f"{e.resource.name} since amlguard started watching it "
                                                f"{format_duration(waited)} ago ({since}); a rule that has never "
                                                "seen data cannot tell a healthy endpoint from a missing signal",
                                                _NEVER_HEARD_HINT.get(rule.signal.source)))
        updated = {"heard": sorted(heard), "watching": now_watching}
        if updated != {"heard": sorted(body.get("heard") or ()), "watching": watching}:
            store.put_meta(_HEARD_META + rule.id, updated)
    return out


def _never_heard_finding(e: Evaluated, status: Status, message: str, hint: str | None) -> Finding:
    # a warning (Sev2, medium) at most: the rule's own severity is for its breaches
    severity = max(e.rule.severity, "medium", key=severity_rank)
    return Finding(rule=e.rule.id + NEVER_HEARD_SUFFIX, resource=e.resource.id, status=status.value,
                   severity=severity, message=message, title=f"{e.rule.title}: never heard from",
                   kind=e.resource.kind, resource_name=e.resource.name, remediation=hint or "",
                   effect="alert", workspace=e.resource.workspace, tags=dict(e.resource.tags))


def feed_alerts(alerts: AlertFacade, store: StateStoreProtocol, rules: Sequence[MonitorRule],
                due: Sequence[MonitorRule], result: MonitorResult, now: datetime,
                no_data_after: float = 0.0) -> list[Transition]:
    """Monitor findings into the alert lifecycle, signals where the dashboard reads them: what the
    timer and `amlguard monitor --state` both do with an evaluation. With `no_data_after` (seconds),
    rules never heard from for a resource that long raise their `no_data` warning (never_heard)."""
    warnings = never_heard(store, due, result, now, no_data_after)
    result.never_heard = sum(f.status == Status.FAIL.value for f in warnings)
    findings = _for_alerts(alerts, rules, due, result, warnings)
    # no `audited` (see _stale_alert_findings): a pass / not_applicable finding resolves its own
    # alert, and no finding keeps it as it is
    transitions = alerts.process(findings, audited=[], now=now, **_timers(due))
    _record_signals(store, result, now)
    return list(transitions or [])


def run_monitors(service: Service, *, source: MonitorSource | None = None,
                 rules: Sequence[MonitorRule] | None = None, now: datetime | None = None,
                 force: bool = False) -> dict[str, Any]:
    """Evaluate the monitor rules that are due on the service's inventory and feed the alerts.

    `service` gives the inventory, alerts, store, settings and clock. Findings go
    to `service.alerts.process` with each rule's `for` and `keep_firing_for`: the same lifecycle
    and notification routes as audit findings. A (rule, resource) without data under
    `no_data: keep_state` gets no finding, so its alert stays as it is. Rules run on their own
    `every` (last runs are kept in the state store); `force` runs them all. Invalid rule files
    keep the last good rules (`rules_error` in the summary); signals of Azure ML monitor schedules
    that cannot run are listed in `not_run`. Returns a summary for the log.
    """
    now = now or service.clock()
    problem: str | None = None
    not_run: list[str] = []
    if rules is None:
        try:
            pack, problem = _load_rules(rules_paths(service.settings))
        except AmlguardError as exc:  # an unreadable example.yaml: the pack's rules, and say why
            pack, problem = _load_rules([service.settings.monitor_rules_path])[0], str(exc)
        rules, not_run = pack.rules, [r.render() for r in pack.not_run]
        service.monitor_rules_error = problem  # /api/health shows it, as it shows an invalid audit pack
    store = service.store
    meta = store.get_meta(_SCHEDULE_META)
    last_run: dict[str, str] = dict(meta.body) if meta is not None else {}
    due = list(rules) if force else due_rules(rules, last_run, now)
    summary: dict[str, Any] = {"at": now.isoformat(), "rules": len(rules), "due": [r.id for r in due]}
    if problem:
        summary["rules_error"] = problem
    if not_run:  # signals of Azure ML monitor schedules amlguard cannot run, each with the reason
        summary["not_run"] = not_run
    if not due:
        return summary
    listing = service.inventory.list(None)
    resources = [r for r in listing.resources if r.kind in MONITORED_KINDS]
    source = source or _source_for(service)
    calls_before = dict(getattr(source, "calls", None) or {})
    result = evaluate_rules(due, resources, source, now=now, env=service.settings.env)
    transitions = feed_alerts(service.alerts, store, rules, due, result, now, service.settings.monitor_no_data_after)
    for rule in due:
        last_run[rule.id] = now.isoformat()
    store.put_meta(_SCHEDULE_META, last_run)
    summary.update(result.summary())
    summary["transitions"] = len(transitions)
    if listing.errors:
        summary["inventory_errors"] = len(listing.errors)  # the sweep reports them as audit errors
    calls = {k: v - calls_before.get(k, 0) for k, v in (getattr(source, "calls", None) or {}).items()}
    if any(calls.values()):
        summary["calls"] = {k: v for k, v in calls.items() if v}
    try:
        store.record_run("monitor", now, {k: v for k, v in summary.items() if isinstance(v, int)})
    except Exception:  # the run history is a nicety; the alerts are already updated
        log.warning("could not record the monitor run", exc_info=True)
    return summary


# ----------------------------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="amlguard monitor",
        description="Evaluate monitor rules (latency, errors, utilisation, capacity, drift) once against "
                    "Azure Monitor, or against bundled example data with --example.")
    p.add_argument("--rules", metavar="FILE|DIR",
                   help="monitor rules (default: AMLGUARD_MONITOR_RULES or policies/, plus the example's own)")
    p.add_argument("--snapshot", action="append", metavar="PATH",
                   help="files standing in for the live inventory (anything `audit` takes); repeatable")
    p.add_argument("--example", metavar="DIR", help="read signals from a bundled example (e.g. examples/monitoring)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--state", metavar="DIR", help="feed the alert state under DIR and show the transitions")
    p.add_argument("--now", metavar="TIME", help="evaluate as of this ISO 8601 time (default: now)")
    return p


def _parse_now(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError as exc:
        raise ConfigError(f"--now {text!r}: expected an ISO 8601 time such as 2026-11-26T11:00:00Z") from exc


def _inventory(paths: Sequence[Path | str] | None, settings: Settings) -> list[Resource]:
    if paths:
        from amlguard.inventory import load_paths

        missing = [str(p) for p in paths if not Path(p).exists()]
        if missing:
            raise ConfigError(f"--snapshot: no such file or folder: {', '.join(missing)}")
        return list(load_paths(list(paths)).resources)
    from amlguard.service import build_inventory

    return list(build_inventory(settings).list(None).resources)


def run(argv: list[str], *, stdout: TextIO | None = None, stderr: TextIO | None = None,
        settings: Settings | None = None) -> int:
    """Entry point of `amlguard monitor`; returns the exit code. `settings` come from the command
    line's edge (`amlguard.cli.main`)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    try:
        return _run(args, out, settings or Settings())
    except PolicyError as exc:
        print(f"amlguard monitor: the monitor rules are invalid:\n{exc.render()}", file=err)
        return 2
    except AmlguardError as exc:
        print(f"amlguard monitor: {exc}", file=err)
        return 2


def _run(args: argparse.Namespace, out: TextIO, settings: Settings) -> int:
    now = _parse_now(args.now)
    source: MonitorSource
    snapshot: Sequence[Path | str] | None = args.snapshot
    rules_path: list[Path] | None = [Path(args.rules)] if args.rules else None
    if args.example:
        from amlguard.monitor.example import load_example

        example = load_example(args.example)
        source = example.source
        now = now or example.now
        snapshot = snapshot or example.snapshot
        rules_path = rules_path or [settings.monitor_rules_path, *example.rules]
    else:
        from amlguard.monitor.azure_monitor import AzureMonitor

        source = AzureMonitor.from_env(settings.env)
    now = now or datetime.now(UTC)
    where = rules_path if rules_path is not None else settings.monitor_rules_path
    pack = load_monitor_pack(where)
    rules = pack.rules
    if not rules:  # a run that checks nothing must not pass (as `amlguard audit` of nothing does not)
        shown = ", ".join(str(p) for p in where) if isinstance(where, list) else str(where)
        raise ConfigError(f"no monitor rules in {shown}: point --rules (or AMLGUARD_MONITOR_RULES) at a folder "
                          "holding MonitorRules files or Azure ML monitor schedules")
    resources = [r for r in _inventory(snapshot, settings) if r.kind in MONITORED_KINDS]
    try:
        result = evaluate_rules(rules, resources, source, now=now, env=settings.env)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
    transitions: list[Transition] = []
    if args.state:  # `amlguard serve --state DIR` then shows the alerts and the signals
        from amlguard.alerts import AlertManager, open_store

        store = open_store(args.state)
        try:
            transitions = feed_alerts(AlertManager(store), store, rules, rules, result, now,
                                      settings.monitor_no_data_after)
        finally:
            store.close()
    if args.format == "json":
        payload = {"now": now.isoformat(), "summary": result.summary(),
                   "signals": [e.to_json() for e in result.evaluated],
                   "findings": [f.to_json() for f in result.findings],
                   "transitions": [t.to_json() for t in transitions],
                   "azureml_signals": [r.to_json() for r in pack.signals]}
        out.write(json.dumps(payload, indent=2, default=str) + "\n")
    else:
        out.write(render_table(result, now, transitions))
        if pack.signals:
            out.write("\nAzure ML monitor signals:\n" + "".join(f"  {r.render()}\n" for r in pack.signals))
    summary = result.summary()
    if not result.evaluated:
        raise ConfigError(f"nothing was checked: none of the {len(resources)} resource(s) is selected by any of "
                          f"the {len(rules)} monitor rule(s) (their kinds and `select`); this is a configuration "
                          "error (exit 2)")
    return 1 if summary["failed"] or summary["errors"] else 0


_LABEL = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "not_applicable": "N/A"}


def _short_name(resource: Resource) -> str:
    if resource.kind == "online_deployment" and resource.endpoint_name:
        return f"{resource.endpoint_name}/{resource.name}"
    return resource.name


def render_table(result: MonitorResult, now: datetime, transitions: Sequence[Transition] = ()) -> str:
    """The terminal report: one line per (rule, resource), the message under failures and errors."""
    rows: list[tuple[str, str, str, str, str, str, str]] = []
    items: list[Evaluated] = []
    order = {"fail": 0, "error": 1, "kept": 2, "pass": 3, "not_applicable": 4}
    evaluated = sorted(result.evaluated, key=lambda e: (order.get(e.finding.status if e.finding else "kept", 5),
                                                        e.rule.id, e.resource.id))
    for e in evaluated:
        status = e.finding.status if e.finding else "kept"
        obs = e.observation
        value = format_value(obs.value, obs.unit or e.rule.signal.unit) if obs.error is None or obs.partial \
            else "error"
        limit = "" if obs.threshold is None else format_value(obs.threshold, obs.unit or e.rule.signal.unit)
        if e.rule.signal.source == "drift" and obs.value is not None:
            value = f"{obs.value:.0f} drifted"
            limit = ""
        rows.append((_LABEL.get(status, "KEPT"), e.rule.id, _short_name(e.resource), e.rule.signal.name,
                     value + (" *" if obs.partial else ""), limit, format_duration(e.rule.window)))
        items.append(e)
    header = ("STATUS", "RULE", "RESOURCE", "SIGNAL", "VALUE", "THRESHOLD", "WINDOW")
    from amlguard.reports.table import text_table

    table = text_table([header, *rows])
    lines = [f"amlguard monitor at {now.strftime('%Y-%m-%d %H:%M:%SZ')}", "", table[0]]
    for line, e in zip(table[1:], items, strict=True):
        lines.append(line)
        if e.finding is not None and e.finding.status in ("fail", "error"):
            lines.append(f"    {e.finding.message}")
    summary = result.summary()
    lines += ["", f"{summary['evaluated']} checks on {summary['resources']} resources: {summary['failed']} breached, "
                  f"{summary['passed']} healthy, {summary['errors']} errors, {summary['not_applicable']} no data "
                  f"(ignored), {summary['kept']} no data (state kept)"
              + (f", {summary['partial']} from partial results (*)" if summary["partial"] else "")
              + (f", {summary['never_heard']} never heard from (no_data warning)" if summary["never_heard"] else "")]
    if transitions:
        lines.append("alerts: " + ", ".join(f"{t.rule} on {t.resource.rsplit('/', 1)[-1]} -> {t.to_status}"
                                            for t in transitions))
    return "\n".join(lines) + "\n"

