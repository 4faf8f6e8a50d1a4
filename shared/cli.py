"""The `amlguard` command line: audit, policy, drift, serve, silence, monitor.

Each subcommand parses its arguments and hands over to the area that owns the work; exit codes
follow DESIGN.md contract 2 (0 clean, 1 findings at or above --fail-on, 2 usage or config error).
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amlguard import __version__
from amlguard.errors import AmlguardError, ConfigError, PolicyError

if TYPE_CHECKING:
    from amlguard.config import Settings

__all__ = ["main"]

log = logging.getLogger("amlguard")

_FORMATS = ("table", "json", "sarif", "junit", "html")
_SEVERITIES = ("critical", "high", "medium", "low", "info", "none")


def _audit_parser(sub: Any) -> None:
    p = sub.add_parser("audit", help="audit Azure ML YAML / ARM JSON files, or live workspaces",
                       description="Audit endpoint, deployment and workspace definitions against the policy pack.")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="files or folders of Azure ML YAML or ARM JSON (omit to audit live Azure)")
    p.add_argument("--policies", metavar="DIR", help="policy pack folder (default: the bundled policies/)")
    p.add_argument("--format", choices=_FORMATS, default="table", help="report format (default: table)")
    p.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument("--fail-on", choices=_SEVERITIES, default="high", metavar="SEVERITY",
                   help="exit 1 when a failed or errored finding is at or above SEVERITY "
                        "(critical|high|medium|low|info|none; default: high)")
    p.add_argument("--fail-on-diagnostics", action=argparse.BooleanOptionalAction, default=True,
                   help="exit 1 when a file or folder could not be read or held nothing to audit "
                        "(default: on; --no-fail-on-diagnostics to only report them)")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.add_argument("--show-passed", action="store_true", help="list passing checks in the table")
    from amlguard.inventory.config import add_live_arguments
    from amlguard.policy import add_policy_arguments

    add_policy_arguments(p)
    add_live_arguments(p)
    # here, not in amlguard.remediation: every audit would import it (and socket) for three flags
    group = p.add_argument_group("remediation (opt-in; rules with effect: remediate)")
    group.add_argument("--remediate", action="store_true",
                       help="plan the remediation the policy asks for (a dry run unless --no-dry-run)")
    group.add_argument("--no-dry-run", action="store_true",
                       help="with --remediate: really change the resources (default: only report)")
    group.add_argument("--max-resources", metavar="N|N%",
                       help="with --remediate: refuse to act when more than N resources (or N%% of those "
                            "audited) would change")


def _serve_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the HTTP app locally (same routes as the Function App)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--snapshot", action="append", metavar="PATH",
                   help="files standing in for the live inventory (anything `audit` takes); repeatable")
    p.add_argument("--state", metavar="DIR", help="state folder (default: .amlguard)")
    p.add_argument("--policies", metavar="DIR")
    p.add_argument("--sweep-interval", type=float, metavar="SECONDS",
                   help="0 turns background sweeps off; otherwise they run at start and on AMLGUARD_SWEEP_SCHEDULE")
    p.add_argument("--monitor-example", metavar="DIR",
                   help="replay recorded Azure Monitor data from DIR (e.g. examples/monitoring) for monitor rules")
    p.add_argument("--insecure-no-auth", action="store_true",
                   help="serve without a bearer token (only allowed on a loopback address)")
    p.add_argument("--log-level", default="info")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amlguard",
        description="Policy-as-code governance and SLO / drift monitoring for Azure ML endpoints.")
    parser.add_argument("--version", action="version", version=f"amlguard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _audit_parser(sub)
    sub.add_parser("policy", help="validate a policy folder or run its policy tests", add_help=False)
    sub.add_parser("drift", help="compare a baseline and a current data set for drift", add_help=False)
    _serve_parser(sub)
    sub.add_parser("silence", help="add, list or expire alert silences", add_help=False)
    sub.add_parser("alerts", help="list, show, acknowledge or close alerts; the notification log", add_help=False)
    sub.add_parser("monitor", help="evaluate monitor rules (latency, errors, drift) once", add_help=False)
    sub.add_parser("inventory", help="show how amlguard reads files: kinds, ids, fields and their lines",
                   add_help=False)
    sub.add_parser("routes", help="show where an alert would be routed (policies/alerting.yaml)", add_help=False)
    return parser


# Subcommands owned by other areas take the rest of the command line as is.
_DELEGATED = {
    "policy": ("amlguard.policy", "run"),
    "drift": ("amlguard.monitor.drift", "run"),
    "silence": ("amlguard.alerts.cli", "run"),
    "alerts": ("amlguard.alerts.cli", "run_alerts"),
    "monitor": ("amlguard.monitor.runner", "run"),
    "routes": ("amlguard.alerts.config", "run"),
    "inventory": ("amlguard.inventory.cli", "run"),
}
# Those that read settings get the ones `main` read (the only place the environment is read).
_TAKES_SETTINGS = frozenset({"silence", "alerts", "monitor", "routes", "drift"})


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run one command; `env` is read into the one `Settings` every subcommand is handed
    (default: the process environment, read here and nowhere else)."""
    from amlguard.config import Settings

    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = Settings.from_env(env)
    except AmlguardError as exc:
        print(f"amlguard: {exc}", file=sys.stderr)
        return 2
    try:
        code = _dispatch(args_list, settings)
        sys.stdout.flush()  # a reader gone away shows here, where it is handled, not at exit
        return code
    except BrokenPipeError:  # the reader went away (`amlguard audit ... | head`): no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nor one when Python flushes at exit
        return 1
    except ModuleNotFoundError as exc:  # a command of an extra this install does not have
        from amlguard.extras import missing_extra_message

        message = missing_extra_message(exc, args_list[0] if args_list else "")
        if message is None:
            raise
        print(message, file=sys.stderr)
        return 2


def _dispatch(args_list: list[str], settings: Settings) -> int:
    if args_list and args_list[0] in _DELEGATED:
        import importlib

        module_name, attr = _DELEGATED[args_list[0]]
        runner = getattr(importlib.import_module(module_name), attr)
        if args_list[0] in _TAKES_SETTINGS:
            return int(runner(args_list[1:], settings=settings))
        return int(runner(args_list[1:]))
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "audit":
            return _cmd_audit(args, settings)
        if args.command == "serve":
            return _cmd_serve(args, settings)
    except PolicyError as exc:
        print(f"amlguard: the policy pack is invalid:\n{exc.render()}", file=sys.stderr)
        return 2
    except AmlguardError as exc:
        print(f"amlguard: {exc}", file=sys.stderr)
        return 2
    parser.print_help()
    return 2


def _cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    """The service's pipeline over files or a live scope, with no state: same pack, same verdicts.

    The cyclic garbage collector is paused meanwhile: an audit allocates about a million objects
    (values, lines, resources, findings) and keeps every one of them to the end, so each pass the
    collector makes finds nothing, and on 5,000 small files those passes cost a tenth of the run.
    Reference counting still frees everything; the few cycles made are collected afterwards.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _audit(args, settings)
    finally:
        if collecting:
            gc.enable()


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    from amlguard.policy import settings_from_args
    from amlguard.reports import exit_code, render_chunks, use_color
    from amlguard.service.pipeline import evaluate, load_policy_pack

    settings = settings_from_args(args, settings)
    pack = load_policy_pack(settings, cache_dir=_cache_dir(settings.env))
    if args.paths:
        from amlguard.inventory import load_paths

        missing = [p for p in args.paths if not Path(p).exists()]
        if missing:
            raise ConfigError(f"no such file or folder: {', '.join(missing)}")
        result = load_paths(args.paths, workers=min(os.cpu_count() or 1, 8))
    else:
        from amlguard.inventory.config import inventory_from_args

        result = inventory_from_args(args, settings.env).list(None)
    report = evaluate(pack, result.resources, result.errors, result.diagnostics)
    if getattr(args, "remediate", False):
        from amlguard.remediation import remediate_from_args

        remediate_from_args(args, report, pack, settings)
    color = {"always": True, "never": False}.get(args.color)
    if args.output:
        color = False
    chunks = render_chunks(report, args.format, show_passed=args.show_passed,
                           color=use_color(sys.stdout, settings.env) if color is None else color)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.writelines(chunks)
        summary = report.summary()
        print(f"amlguard: wrote {args.format} report to {args.output} ({summary['resources']} resources, "
              f"{summary['failed']} failed, {summary['errors']} errors)", file=sys.stderr)
    else:
        sys.stdout.writelines(chunks)
    return int(exit_code(report, None if args.fail_on == "none" else args.fail_on,
                         fail_on_diagnostics=args.fail_on_diagnostics))


def _cache_dir(env: Mapping[str, str]) -> Path | None:
    """Where the CLI remembers the policy documents that passed the schema: the user's cache
    folder (XDG_CACHE_HOME, else ~/.cache, as pip does); None without a home."""
    xdg, home = env.get("XDG_CACHE_HOME", ""), env.get("HOME", "")
    root = xdg if os.path.isabs(xdg) else os.path.join(home, ".cache") if os.path.isabs(home) else None
    return Path(root, "amlguard", "schema-checked") if root else None


MIN_TOKEN_LENGTH = 16  # a guessable token guards remediation and alert acknowledgement


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import dataclasses

    import uvicorn

    from amlguard.alerts.scheduler import start_timers
    from amlguard.api.app import create_app, with_body_limit

    changes: dict[str, Any] = {}
    if args.snapshot:
        changes["snapshot"] = tuple(args.snapshot)
    if args.state:
        changes["state_dir"] = Path(args.state)
    if args.policies:
        changes["policies_dir"] = Path(args.policies)
    if args.sweep_interval is not None:
        changes["sweep_interval_seconds"] = args.sweep_interval
    if args.monitor_example:
        changes["monitor_example"] = args.monitor_example
    settings = dataclasses.replace(settings, **changes)
    if args.insecure_no_auth:
        if not _is_loopback(args.host):
            raise ConfigError(f"--insecure-no-auth is only allowed on a loopback address, not {args.host}")
    elif not settings.api_token:
        raise ConfigError("set AMLGUARD_API_TOKEN to the bearer token clients must send "
                          "(or pass --insecure-no-auth on 127.0.0.1 for local experiments)")
    elif len(settings.api_token) < MIN_TOKEN_LENGTH or any(c.isspace() for c in settings.api_token):
        raise ConfigError(f"AMLGUARD_API_TOKEN must be at least {MIN_TOKEN_LENGTH} characters with no whitespace; "
                          "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    _configure_logging(args.log_level, settings.http_log_level)
    app = create_app(settings, require_auth=not args.insecure_no_auth)
    service = app.state.get_service()  # fail fast on a bad policy pack or state folder
    timers = start_timers(service, settings)  # the Function App's timers, on their NCRONTAB schedules
    log.info("amlguard %s serving on http://%s:%d (snapshot: %s, state: %s)", __version__, args.host, args.port,
             ", ".join(settings.snapshot) or "live Azure", settings.state_dir)
    try:
        uvicorn.run(with_body_limit(app, settings.max_body_bytes), host=args.host, port=args.port,
                    log_config=None, access_log=False, timeout_graceful_shutdown=5)
    finally:
        timers.stop()
        service.close()
    return 0


def _configure_logging(level: str, http_level: str) -> None:
    from amlguard.telemetry import configure_logging

    configure_logging(json=True, level=level.upper(), http_level=http_level)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
