# PYTHON_ARGCOMPLETE_OK  (argcomplete looks for this line to complete `amlguard` in the shell)
"""The `amlguard` command line: audit, policy, drift, serve, silence, monitor.

Each subcommand parses its arguments and hands over to the area that owns the work; exit codes
follow DESIGN.md contract 2 (0 clean, 1 findings at or above --fail-on, 2 usage or config error).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import ipaddress
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from amlguard import __version__
from amlguard.errors import AmlguardError, ConfigError, PolicyError
from amlguard.projectconfig import COLORS, FAIL_ON_VALUES

if TYPE_CHECKING:
    from amlguard.config import Settings
    from amlguard.inventory.base import InventoryResult
    from amlguard.model import AuditReport

__all__ = ["main", "run"]

log = logging.getLogger("amlguard")

_EXIT_CODES = """exit codes:
  0  nothing at or above --fail-on and no diagnostic (or --soft-fail)
  1  a failed or errored finding at or above --fail-on, or a diagnostic: a file or folder not read,
     an inline suppression that is invalid or expired (unless --no-fail-on-diagnostics)
  2  usage or configuration error: a bad flag or config file, an invalid policy pack, no Azure credential,
     or nothing to audit: no Azure ML resource at all in the paths named"""


def _audit_parser(sub: Any) -> None:
    # Defaults of the flags a project config file may set are None (see projectconfig): a flag given
    # on the command line wins over the file, and `_AUDIT_DEFAULTS` fills in what neither set.
    p = sub.add_parser("audit", help="audit Azure ML YAML / ARM JSON files, or live workspaces",
                       description="Audit endpoint, deployment and workspace definitions against the policy pack.",
                       epilog=_EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="files or folders of Azure ML YAML or ARM JSON (omit to audit live Azure)")
    p.add_argument("--format", action="append", metavar="FMT[:PATH]",
                   help="report format: table, json, sarif, junit or html, written to PATH (- for stdout); "
                        "repeatable, one of them on stdout; with only FMT:PATH outputs the table still goes to "
                        "stdout (default: table)")
    p.add_argument("--output", "-o", metavar="FILE",
                   help="write the report of the --format given without :PATH to FILE")
    p.add_argument("--fail-on", type=str.lower, choices=FAIL_ON_VALUES, metavar="SEVERITY",
                   help="exit 1 when a failed or errored finding is at or above SEVERITY "
                        "(critical|high|medium|low|info|none; default: high)")
    p.add_argument("--fail-on-diagnostics", action=argparse.BooleanOptionalAction,
                   help="exit 1 when a file or folder could not be read or held nothing to audit "
                        "(default: on; --no-fail-on-diagnostics to only report them)")
    p.add_argument("--soft-fail", action="store_true", default=None,
                   help="exit 0 whatever is found (outputs are still written; usage errors still exit 2)")
    p.add_argument("--color", choices=COLORS)
    p.add_argument("--show-passed", action="store_true", default=None,
                   help="list passing and not-applicable checks in the table, not only their counts")
    p.add_argument("--show-fix", action="store_true", default=None,
                   help="print each failure's remediation whole in the table (default: its first sentence)")
    p.add_argument("--exclude", action="append", metavar="GLOB",
                   help="do not read files matching GLOB (relative to the audited folder, or as reported, e.g. "
                        "'legacy/**', '*.json'); repeatable")
    p.add_argument("--baseline", metavar="FILE", help="fail only on findings not recorded in this baseline file")
    p.add_argument("--write-baseline", metavar="FILE",
                   help="record today's failed findings in FILE (then they pass, as with --baseline FILE)")
    p.add_argument("--config", metavar="FILE",
                   help="project config file (default: the nearest .amlguard.yaml, or pyproject.toml with "
                        "[tool.amlguard], from the first PATH upward)")
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


_AUDIT_DEFAULTS = {"fail_on": "high", "fail_on_diagnostics": True, "color": "auto"}


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
        prog="amlguard", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Policy-as-code governance and SLO / drift monitoring for Azure ML endpoints.",
        epilog="exit codes: 0 success; 1 findings at or above --fail-on (audit), failed policy tests, breached "
               "monitor rules;\n            2 usage or configuration error. `amlguard audit --help` says more.")
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


def run() -> NoReturn:
    """The `amlguard` console script: `main()`, then exit with its code.

    When the command registered no exit work (`atexit`: telemetry exporters, for one), the
    process ends without the interpreter's teardown, which frees every value, resource and
    finding one by one: about 5% of an audit of 5,000 files, for a result already written.
    """
    import atexit

    count = getattr(atexit, "_ncallbacks", None)
    before = count() if count else None
    code = main()
    if before is None or count is None or count() != before:
        sys.exit(code)
    with contextlib.suppress(OSError, ValueError):  # a reader gone away: nothing left to tell it
        sys.stdout.flush()
        sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


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
    from amlguard.telemetry import secure_logging

    # every command: an SDK's WARNING can carry a URL whose query is a SAS token (`drift --current`)
    secure_logging(settings.http_log_level)
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
    if "_ARGCOMPLETE" in settings.env:  # the shell asks for completions (register-python-argcomplete amlguard)
        import argcomplete

        argcomplete.autocomplete(parser)
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
    from amlguard.policy import pack_roots, select_rules, settings_from_args
    from amlguard.reports import FORMATS, exit_code, render_chunks, use_color
    from amlguard.service.pipeline import evaluate, load_policy_pack

    _project_config(args)
    outputs = _outputs(args, FORMATS)
    settings = settings_from_args(args, settings)
    # the whole pack, as every trigger loads it, then the --rule / --skip-rule selection; an inline
    # suppression naming a rule left out is no unknown rule
    whole = load_policy_pack(settings, roots=pack_roots(args, settings), cache_dir=_cache_dir(settings.env))
    pack = select_rules(whole, args.rule or (), args.skip_rule or ())
    if len(pack.rules) < len(whole.rules):
        print(f"amlguard: auditing {len(pack.rules)} of the pack's {len(whole.rules)} rules (--rule / --skip-rule)",
              file=sys.stderr)
    excluded: list[str] = []
    workers = min(os.cpu_count() or 1, 8)  # a large audit is read and evaluated on every core
    if args.paths:
        from amlguard.forked import keep_freed_memory
        from amlguard.inventory import load_paths

        missing = [p for p in args.paths if not Path(p).exists()]
        if missing:
            raise ConfigError(f"no such file or folder: {', '.join(missing)}")
        keep_freed_memory()
        result = load_paths(args.paths, workers=workers,
                            exclude=_excluder(args.exclude, excluded) if args.exclude else None)
        if excluded:
            print(f"amlguard: {len(excluded)} file(s) not read (--exclude): {', '.join(excluded[:5])}"
                  + (", ..." if len(excluded) > 5 else ""), file=sys.stderr)
    else:
        try:
            result = _live_inventory(args, settings)
        except ModuleNotFoundError as exc:  # a core install, and no PATH: most likely a PATH forgotten
            from amlguard.extras import missing_extra_message

            if args.subscription or missing_extra_message(exc, "audit") is None:
                raise
            raise ConfigError("no PATH given: name the files or folders to audit (`amlguard audit infra/`); "
                              "without a PATH amlguard audits live Azure, which needs the `azure` extra: "
                              "pip install 'amlguard[azure]'") from exc
    report = evaluate(pack, result.resources, result.errors, result.diagnostics,
                      known_rules=[r.id for r in whole.rules], workers=workers)
    _waive(report, args)
    if getattr(args, "remediate", False):
        from amlguard.remediation import remediate_from_args

        remediate_from_args(args, report, pack, settings)
    color = {"always": True, "never": False}.get(args.color)
    for fmt, path in outputs:
        chunks = render_chunks(report, fmt, show_passed=bool(args.show_passed), show_fix=bool(args.show_fix),
                               color=False if path else use_color(sys.stdout, settings.env) if color is None else color)
        if path is None:
            sys.stdout.writelines(chunks)
            continue
        try:
            with open(path, "w", encoding="utf-8") as handle:
                handle.writelines(chunks)
        except OSError as exc:
            raise ConfigError(f"cannot write the {fmt} report to {path}: {exc.strerror or exc}") from exc
        summary = report.summary()
        print(f"amlguard: wrote {fmt} report to {path} ({summary['resources']} resources, "
              f"{summary['failed']} failed, {summary['errors']} errors)", file=sys.stderr)
    if args.paths and not result.resources and not result.errors and (result.diagnostics or not excluded):
        # the files named hold nothing to audit: a passing run would prove nothing (DESIGN contract 2);
        # a configuration error, so --soft-fail (which forgives findings) does not hide it. Paths
        # the user left out with --exclude are no such error: the run said so above
        print("amlguard: nothing was audited: no Azure ML resource in the paths named (the diagnostics say what "
              "each was read as); this is a configuration error (exit 2)", file=sys.stderr)
        return 2
    code = int(exit_code(report, None if args.fail_on == "none" else args.fail_on,
                         fail_on_diagnostics=args.fail_on_diagnostics))
    if code and args.soft_fail:
        print(f"amlguard: --soft-fail: exit 0, although findings at or above --fail-on {args.fail_on} or "
              "diagnostics would fail this audit", file=sys.stderr)
        return 0
    return code


def _project_config(args: argparse.Namespace) -> None:
    """Fill in what the project config file sets and the command line does not, then the defaults."""
    from amlguard.projectconfig import apply_config, find_config, read_config

    if args.config and not Path(args.config).is_file():
        raise ConfigError(f"--config {args.config}: no such file")
    path = Path(args.config) if args.config else find_config(Path(args.paths[0] if args.paths else "."))
    if path is not None:
        apply_config(args, read_config(path))
        print(f"amlguard: settings from {path}", file=sys.stderr)
    for key, value in _AUDIT_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def _outputs(args: argparse.Namespace, formats: Sequence[str]) -> list[tuple[str, str | None]]:
    """(format, file or None for stdout) of each report to write: `--format FMT[:PATH]` repeated,
    `--output FILE` for the one given without a path; with only FMT:PATH outputs, the table on stdout."""
    specs: list[tuple[str, str | None]] = []
    for text in args.format or ["table"]:
        fmt, _, path = text.partition(":")
        if fmt.strip().lower() not in formats:
            raise ConfigError(f"--format {text}: unknown format {fmt!r}; use one of {', '.join(formats)}, "
                              "optionally with :PATH (e.g. sarif:amlguard.sarif)")
        specs.append((fmt.strip().lower(), None if path in ("", "-") else path))
    to_stdout = [fmt for fmt, path in specs if path is None]
    if args.output:
        if len(to_stdout) != 1:
            raise ConfigError("--output FILE names the file of the one --format given without :PATH; with several "
                              "reports, give each its file: --format json:report.json --format sarif:report.sarif")
        return [(fmt, path or args.output) for fmt, path in specs]
    if len(to_stdout) > 1:
        raise ConfigError(f"only one report can go to standard output, not {', '.join(to_stdout)}: give the others "
                          "a file (--format sarif:amlguard.sarif)")
    return specs if to_stdout else [*specs, ("table", None)]


def _excluder(patterns: Sequence[str], excluded: list[str]) -> Callable[[Any], bool]:
    """Whether `--exclude` leaves a file out: a GLOB matched against its path relative to the
    folder named on the command line, or as reported (relative to the working folder), or, for a
    GLOB without `/`, against any one folder or file name on that path. Excluded files are listed."""
    import fnmatch

    globs = [pattern.replace(os.sep, "/").rstrip("/") for pattern in patterns]

    def excluded_file(file: Any) -> bool:
        relative = os.path.relpath(file.path, file.root).replace(os.sep, "/")
        shown = file.display.replace(os.sep, "/")
        names = relative.split("/")
        for glob in globs:
            if (fnmatch.fnmatch(relative, glob) or fnmatch.fnmatch(shown, glob)
                    or any(fnmatch.fnmatch("/".join(names[:n]), glob) for n in range(1, len(names)))
                    or ("/" not in glob and any(fnmatch.fnmatch(name, glob) for name in names))):
                excluded.append(file.display)
                return True
        return False

    return excluded_file


def _waive(report: AuditReport, args: argparse.Namespace) -> None:
    """The baseline, after the inline suppressions the pipeline applied: written from today's
    failures with --write-baseline, applied with --baseline (a run that writes one applies it too)."""
    if not (args.write_baseline or args.baseline):
        return
    from amlguard.policy.suppressions import apply_baseline, write_baseline

    if args.write_baseline:
        count = write_baseline(args.write_baseline, report)
        print(f"amlguard: wrote {count} failed finding(s) to the baseline {args.write_baseline}", file=sys.stderr)
    baseline = args.write_baseline or args.baseline
    if baseline:
        stale = apply_baseline(report, baseline)
        if stale:
            print(f"amlguard: {stale} entr{'y' if stale == 1 else 'ies'} of the baseline {baseline} match no finding "
                  "any more (fixed, or the resource changed): --write-baseline to drop them", file=sys.stderr)


def _live_inventory(args: argparse.Namespace, settings: Settings) -> InventoryResult:
    """Read the live estate: a credential that cannot get a token is one configuration error (exit
    2), not an error finding per resource; on a terminal, stderr shows how the sweep is going."""
    from azure.core.exceptions import ClientAuthenticationError

    from amlguard.inventory.config import inventory_from_args

    inventory = inventory_from_args(args, settings.env)
    clients = inventory.clients
    try:
        clients.credential.get_token(clients.options.token_scope)
    except ClientAuthenticationError as exc:
        raise ConfigError(f"no Azure credential for the live audit: {exc.message or exc}\nsign in with `az login`, "
                          "set AZURE_CLIENT_ID / AZURE_TENANT_ID / AZURE_CLIENT_SECRET, or run where a managed "
                          "identity is available") from exc
    if not sys.stderr.isatty():
        return inventory.list(None)
    last = [0.0]

    def show(text: str) -> None:
        if time.monotonic() - last[0] >= 0.1:  # a terminal redrawn 10 times a second at most
            last[0] = time.monotonic()
            sys.stderr.write(f"\r\x1b[K{text}")
            sys.stderr.flush()

    inventory.progress = show
    try:
        return inventory.list(None)
    finally:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()


def _cache_dir(env: Mapping[str, str]) -> Path | None:
    """Where the CLI remembers the policy pack's parsed files and the documents that passed the
    schema: amlguard's folder in the user's cache (XDG_CACHE_HOME, else ~/.cache, as pip does);
    None without a home."""
    xdg, home = env.get("XDG_CACHE_HOME", ""), env.get("HOME", "")
    root = xdg if os.path.isabs(xdg) else os.path.join(home, ".cache") if os.path.isabs(home) else None
    return Path(root, "amlguard") if root else None


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
    """Plain log lines for a person at a terminal, JSON lines for a log collector everywhere else."""
    from amlguard.telemetry import configure_logging

    configure_logging(json=not sys.stderr.isatty(), level=level.upper(), http_level=http_level)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
