"""`amlguard drift`: compare a current data window with a baseline and print, per feature, the drift
and data-quality metrics of Azure ML model monitoring, judged as one signal (data_drift by default).

Exit codes: 0 compared (or drift without --fail-on-drift), 1 drift with --fail-on-drift,
2 usage or input error (the message names the file and the fix).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amlguard.errors import AmlguardError, ConfigError
from amlguard.forked import keep_freed_memory
from amlguard.monitor.drift.thresholds import SIGNAL_KINDS

if TYPE_CHECKING:
    from amlguard.config import Settings
    from amlguard.monitor.drift.engine import DriftReport

__all__ = ["build_parser", "format_table", "run"]

_SHORT = {
    "jensen_shannon_distance": "js",
    "population_stability_index": "psi",
    "normalized_wasserstein_distance": "wasserstein",
    "two_sample_kolmogorov_smirnov_test": "ks_p",
    "pearsons_chi_squared_test": "chi2_p",
    "null_value_rate": "null",
    "data_type_error_rate": "type_err",
    "out_of_bounds_rate": "oob",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="amlguard drift",
        description="Per-feature data drift and data quality of a current window against a baseline, with "
                    "Azure ML model monitoring's metrics (JS distance, PSI, normalized Wasserstein, KS and "
                    "chi-squared p-values; null, data-type-error and out-of-bounds rates) and default "
                    "thresholds.",
    )
    p.add_argument("--baseline", required=True, metavar="FILE", help="baseline data: CSV, Parquet or JSONL")
    p.add_argument("--current", required=True, metavar="FILE|FOLDER|URL",
                   help="current data: CSV, Parquet or JSONL, or model data collector output: a folder or "
                        "the blob container URL it writes to (https://ACCOUNT.blob.core.windows.net/CONTAINER"
                        "/modelDataCollector; a SAS token in the URL, or DefaultAzureCredential)")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="output format (default: table)")
    p.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument("--features", metavar="A,B", help="compare only these columns (comma separated)")
    p.add_argument("--exclude", metavar="A,B", help="columns that are no features, never compared: the "
                                                    "baseline's label, ids (comma separated)")
    p.add_argument("--categorical", action="append", default=[], metavar="COL",
                   help="treat COL as categorical even if numeric (repeatable, or comma separated)")
    p.add_argument("--threshold", action="append", default=[], metavar="FEATURE.METRIC=VALUE",
                   help="override a threshold: FEATURE.METRIC=VALUE, METRIC=VALUE for all features, "
                        "VALUE 'off' drops one (repeatable)")
    p.add_argument("--signal", choices=[k for k, v in SIGNAL_KINDS.items() if v.per_feature], default="data_drift",
                   help="which signal's thresholds judge the features (default: data_drift; prediction_drift reads "
                        "the collection model_outputs; data_quality judges the null, type-error and "
                        "out-of-bounds rates, default threshold 0)")
    p.add_argument("--fail-on-drift", action="store_true", help="exit 1 when any feature breached a threshold")
    mdc = p.add_argument_group("model data collector (when --current is a folder or container URL)")
    mdc.add_argument("--endpoint", help="only this endpoint's files")
    mdc.add_argument("--deployment", help="only this deployment's files")
    mdc.add_argument("--collection", help="collection name (default: model_inputs; model_outputs for "
                                           "--signal prediction_drift)")
    mdc.add_argument("--start", metavar="TIME", help="window start, ISO 8601 (inclusive)")
    mdc.add_argument("--end", metavar="TIME", help="window end, ISO 8601 (exclusive)")
    return p


def _split(values: list[str] | str | None) -> list[str]:
    items = [values] if isinstance(values, str) else (values or [])
    return [x.strip() for v in items for x in v.split(",") if x.strip()]


def run(argv: list[str], settings: Settings | None = None) -> int:
    """Run `amlguard drift` with `argv` (arguments after `drift`); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage and the problem
        return int(exc.code) if isinstance(exc.code, int) else 2
    try:
        report, notes = _compute(args, settings.env if settings is not None else {})
        text = report.to_json() + "\n" if args.format == "json" else format_table(report, notes)
        if args.output:
            try:
                Path(args.output).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"--output {args.output}: cannot write: {exc.strerror or exc}; "
                                  "pass a writable file path") from exc
        else:
            sys.stdout.write(text)
    except AmlguardError as exc:
        print(f"amlguard drift: error: {exc}", file=sys.stderr)
        return 2
    for note in notes if args.format == "json" else []:
        print(f"amlguard drift: {note}", file=sys.stderr)
    if args.fail_on_drift and report.not_compared and not report.drifted:  # unknown is not "no drift"
        print(f"amlguard drift: --fail-on-drift: {', '.join(report.not_compared)} could not be compared "
              "(no values on one side); exit 1", file=sys.stderr)
        return 1
    return 1 if (args.fail_on_drift and report.drifted) else 0


_LARGE_INPUT = 64 << 20  # bytes of input files above which page-fault time starts to matter


def _compute(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[Any, list[str]]:
    from amlguard.monitor.drift.engine import DriftReport
    from amlguard.monitor.drift.io import is_container_url
    from amlguard.monitor.drift.signals import Collector, run_signal
    from amlguard.monitor.drift.thresholds import parse_threshold_overrides

    overrides = parse_threshold_overrides(args.threshold)
    baseline_path, current_path = Path(args.baseline), Path(args.current)
    current_is_url = is_container_url(args.current)
    if not baseline_path.exists():
        raise ConfigError(f"--baseline {baseline_path}: file not found; pass a CSV or Parquet file")
    if not current_is_url and not current_path.exists():
        raise ConfigError(f"--current {current_path}: file or folder not found; pass a CSV or Parquet "
                          "file, or a model data collector folder")
    current: Any = current_path
    collector = current_is_url or current_path.is_dir()
    filters = [f"--{name}" for name in ("endpoint", "deployment", "collection", "start", "end")
               if getattr(args, name)]
    if filters and not collector:  # a file is compared whole: a window asked for must not be ignored
        raise ConfigError(f"{', '.join(filters)} select rows of a model data collector folder, but --current "
                          f"{current_path} is a file, compared whole; pass the collector folder (or container "
                          "URL), or drop them")
    if collector:
        current = Collector(args.current if current_is_url else current_path, endpoint=args.endpoint,
                            deployment=args.deployment, collection=args.collection, start=args.start, end=args.end,
                            env=env)
    elif sum(p.stat().st_size for p in (baseline_path, current_path) if p.is_file()) > _LARGE_INPUT:
        keep_freed_memory(1 << 30, 1 << 30)
    report = run_signal(args.signal, baseline_path, current, features=_split(args.features) or None,
                        exclude=_split(args.exclude), categorical=_split(args.categorical), thresholds=overrides)
    assert isinstance(report, DriftReport)  # --signal offers the per-feature signals only
    if collector and not report.current_rows:
        raise ConfigError(f"--current {current_path}: no model data collector rows found "
                          f"(collection {args.collection or 'default'!r}, endpoint {args.endpoint or 'any'}, "
                          f"deployment {args.deployment or 'any'}, window {args.start or '-'}..{args.end or '-'}); "
                          "check the folder (or container URL) and filters")
    if not report.features:
        raise ConfigError(f"{baseline_path} and {current_path} share no columns; pass files with the same "
                          "feature columns, or name them with --features")
    if report.nothing_compared:
        raise ConfigError(f"no feature could be compared: {', '.join(report.not_compared)} "
                          f"{'has' if len(report.not_compared) == 1 else 'have'} no values in {baseline_path} or in "
                          f"{current_path} once empty values (and values of another type) are dropped; check that "
                          "the two hold the same features, with values")
    notes = list(report.notes)
    extra = [s["name"] for s in report.skipped]
    if extra:
        notes.append(f"columns not on both sides, not compared: {', '.join(extra)}")
    return report, notes


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if v == 0:
        return "0"
    return f"{v:.4g}" if abs(v) >= 1e-4 else f"{v:.2e}"


def format_table(report: DriftReport, notes: list[str] | None = None) -> str:
    """A readable table: one row per feature, breached metrics marked with `*`."""
    metrics = list(_SHORT)
    header = ["feature", "type", "baseline", "current", *(_SHORT[m] for m in metrics), "drifted"]
    rows = [header]
    for f in report.features:
        cells = [f.name, f.type, str(f.baseline_count), str(f.current_count)]
        for m in metrics:
            if m not in f.metrics:
                cells.append("")
                continue
            mark = "*" if m in f.breaches else ""
            cells.append(_fmt(f.metrics[m]) + mark)
        cells.append("yes" if f.drifted else "no")
        rows.append(cells)
    from amlguard.reports.table import text_table

    lines = text_table(rows, right=range(2, len(header)))
    missing = report.not_compared
    n, k = len(report.features) - len(missing), len(report.drifted_features)
    lines.append("")
    verb = "breached data-quality thresholds" if report.signal == "data_quality" else "drifted"
    lines.append(f"{k} of {n} feature(s) {verb}" + (f": {', '.join(report.drifted_features)}" if k else "")
                 + "  (* = breached threshold; p-values breach below, distances and rates above)")
    if missing:
        lines.append(f"not compared (no values on one side): {', '.join(missing)}")
    from amlguard.monitor.drift.thresholds import BREACH_BELOW

    used = sorted({f"{m}{'<' if m in BREACH_BELOW else '>'}{t:g}"
                   for f in report.features for m, t in f.thresholds.items()})
    if used:
        lines.append("thresholds: " + ", ".join(used))
    for f in report.features:
        if f.note:
            lines.append(f"{f.name}: {f.note}")
    for note in notes or []:
        lines.append(f"note: {note}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Console entry for running this module directly (python -m amlguard.monitor.drift.cli)."""
    from amlguard.config import Settings

    return run(sys.argv[1:] if argv is None else argv, settings=Settings.from_env())


if __name__ == "__main__":
    raise SystemExit(main())
