"""Bundled example signals for `amlguard monitor --example DIR`: metrics and logs read from JSON files
in the documented REST shapes (metrics:getBatch `{"values": [...]}`, a Logs query answer) and
served through the same evaluation code as Azure Monitor's answers.

DIR holds `example.yaml` (`now`, `snapshot`, `metrics`, `logs`, `rules`; paths relative to DIR); its
`rules` are the example's own monitor rules, evaluated on top of the pack in use (the policy pack or
AMLGUARD_MONITOR_RULES), by `amlguard monitor --example` and by the service replaying it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from amlguard.errors import ConfigError, SourceError
from amlguard.monitor.azure_monitor import (
    LogsAnswer,
    MetricsAnswer,
    parse_metric_values,
    parse_time,
    partial_error_text,
)

__all__ = ["Example", "ExampleSource", "example_rules", "load_example", "replay_source"]


class ExampleSource:
    """A MonitorSource answering from a metrics:getBatch-shaped file and a Logs-answer-shaped file."""

    def __init__(self, metrics: Mapping[str, Any] | None, logs: Mapping[str, Any] | None, *,
                 anchor: datetime | None = None) -> None:
        self.metrics = metrics or {"values": []}
        self.logs = logs
        # with an anchor, every window is moved to end at it: the recording replays at any clock
        # (evaluate reads a drift rule's collector files at it too)
        self.anchor = anchor
        self.calls: dict[str, int] = {"metrics_batch": 0, "logs": 0}

    def query_metrics(self, *, resource_ids: Sequence[str], namespace: str, metric_names: Sequence[str],
                      aggregations: Sequence[str], start: datetime, end: datetime, granularity: timedelta,
                      filter: str | None = None,
                      locations: Mapping[str, str] | None = None) -> MetricsAnswer:
        self.calls["metrics_batch"] += (len(resource_ids) + 49) // 50
        if self.anchor is not None:
            start, end = start + (self.anchor - end), self.anchor
        wanted = {rid.lower() for rid in resource_ids}
        names = {n.lower() for n in metric_names}
        answer = MetricsAnswer()
        for value in self.metrics.get("values") or []:
            rid = str(value.get("resourceid") or "")
            if rid.lower() not in wanted or str(value.get("namespace") or "").lower() != namespace.lower():
                continue
            series, errors = parse_metric_values(rid, [m for m in value.get("value") or []
                                                       if str((m.get("name") or {}).get("value", "")).lower() in names])
            for one in series:
                one.points = [p for p in one.points if p.timestamp is None or start <= p.timestamp < end]
            answer.series.extend(series)
            for metric, text in errors.items():
                answer.metric_errors[(rid.lower(), metric.lower())] = text
        return answer

    def query_logs(self, query: str, *, start: datetime, end: datetime,
                   workspace_id: str | None = None) -> LogsAnswer:
        self.calls["logs"] += 1
        if self.logs is None or "AmlOnlineEndpointTrafficLog" not in query:
            return LogsAnswer()
        tables = self.logs.get("tables") or []
        answer = LogsAnswer()
        if tables:
            columns = [c["name"] for c in tables[0].get("columns") or []]
            answer.columns = columns
            answer.rows = [dict(zip(columns, row, strict=False)) for row in tables[0].get("rows") or []]
        error = self.logs.get("error")
        if error:
            answer.partial = True
            answer.error = partial_error_text(error.get("code"), error.get("message"), error.get("details"))
        return answer


@dataclass(slots=True)
class Example:
    """A bundled example: the clock, the inventory snapshot, the signal source and the rules path."""

    folder: Path
    now: datetime
    snapshot: list[Path]
    rules: list[Path]
    source: ExampleSource


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}", source=str(path)) from exc
    except ValueError as exc:
        raise SourceError(f"{path}: not valid JSON ({exc}); expected the metrics:getBatch or Logs query "
                          "response shape", source=str(path)) from exc


def _manifest(folder: str | Path) -> tuple[Path, dict[str, Any]]:
    import yaml

    root = Path(folder)
    manifest = root / "example.yaml"
    if not manifest.is_file():
        raise ConfigError(f"{manifest}: not found; --example takes a folder holding example.yaml "
                          "(e.g. examples/monitoring)")
    try:
        spec = yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{manifest}: not valid YAML: {exc}") from exc
    if not isinstance(spec, dict):
        raise ConfigError(f"{manifest}: expected a mapping with now, snapshot, metrics, logs, rules")
    return root, spec


def _paths(root: Path, value: Any) -> list[Path]:
    return [root / p for p in ([value] if isinstance(value, str) else list(value or []))]


def example_rules(folder: str | Path) -> list[Path]:
    """The example's own monitor rules (`rules:`), evaluated on top of the pack in use."""
    root, spec = _manifest(folder)
    return _paths(root, spec.get("rules"))


def load_example(folder: str | Path) -> Example:
    """Read DIR/example.yaml and the files it names."""
    root, spec = _manifest(folder)
    manifest = root / "example.yaml"
    now = parse_time(str(spec.get("now") or "")) if spec.get("now") else datetime.now(UTC)
    if now is None:
        raise ConfigError(f"{manifest}: now: expected an ISO 8601 time such as 2026-11-26T11:00:00Z")
    metrics = _read_json(root / spec["metrics"]) if spec.get("metrics") else None
    logs = _read_json(root / spec["logs"]) if spec.get("logs") else None
    return Example(folder=root, now=now, snapshot=_paths(root, spec.get("snapshot")),
                   rules=_paths(root, spec.get("rules")), source=ExampleSource(metrics, logs))


def replay_source(folder: str | Path) -> ExampleSource:
    """The example's signals replayed at any clock (AMLGUARD_MONITOR_EXAMPLE: local `serve` demos
    and tests of the monitor timer without Azure)."""
    example = load_example(folder)
    return ExampleSource(example.source.metrics, example.source.logs, anchor=example.now)
