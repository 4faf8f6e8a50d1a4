"""`amlguard silence ...` and `amlguard alerts ...`: manage silences and acknowledge alerts from a shell.

Works on the same state store as the service (`--state DIR` for SQLite, or the
AMLGUARD_STATE_* settings for Table storage).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amlguard.alerts.manager import AlertManager
from amlguard.alerts.silences import SilenceError
from amlguard.alerts.store import open_store
from amlguard.config import Settings
from amlguard.errors import ConfigError
from amlguard.timeparse import parse_duration, parse_time

if TYPE_CHECKING:
    from amlguard.alerts.config import AlertingConfig

__all__ = ["run", "run_alerts"]


def _when(text: str, now: datetime) -> datetime:
    """A duration from now (`2h`, `30m`, `1d`) or an ISO 8601 time (UTC when no offset is given)."""
    try:
        return now + parse_duration(text, "prometheus")
    except OverflowError:
        raise argparse.ArgumentTypeError(f"{text!r} from now is after the year 9999; pick a shorter time") from None
    except ValueError:
        pass
    try:
        return parse_time(text)
    except ValueError as exc:
        if "outside" in str(exc):  # a well-formed time that UTC cannot hold
            raise argparse.ArgumentTypeError(str(exc)) from None
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (2h, 30m, 1d) nor an ISO time (2026-03-01T18:00:00Z)") from None


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return ""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state", help="state folder (SQLite; default .amlguard)")
    common.add_argument("--backend", choices=["sqlite", "table"],
                        help="state backend (default: $AMLGUARD_STATE_BACKEND or sqlite)")
    common.add_argument("--format", choices=["table", "json"], default="table")

    parser = argparse.ArgumentParser(prog="amlguard", description="Silences and alert acknowledgement.")
    groups = parser.add_subparsers(dest="group", required=True)

    silence = groups.add_parser("silence", help="mute alerts by label matchers until an expiry")
    ops = silence.add_subparsers(dest="op", required=True)
    add = ops.add_parser("add", parents=[common], help="create a silence")
    add.add_argument("matchers", nargs="+", metavar="MATCHER",
                     help='label matchers: rule="AMLG-NET-001" workspace=~"prod-.*" (=, !=, =~, !~)')
    add.add_argument("--expires", required=True, metavar="WHEN", help="duration (2h) or ISO time; required")
    add.add_argument("--starts", metavar="WHEN", help="start later: duration or ISO time (default now)")
    add.add_argument("--by", default=_user(), help="who creates it (default: the OS user)")
    add.add_argument("--comment", required=True, help="why (shown with every muted alert)")
    lst = ops.add_parser("list", parents=[common], help="list silences (active and pending; --all for expired)")
    lst.add_argument("--all", action="store_true", help="include expired silences")
    exp = ops.add_parser("expire", parents=[common], help="end silences now (idempotent)")
    exp.add_argument("ids", nargs="+", metavar="ID")
    exp.add_argument("--by", default=_user())
    edit = ops.add_parser("edit", parents=[common],
                          help="change a silence (a started one is replaced by a new id; history is kept)")
    edit.add_argument("id", metavar="ID")
    edit.add_argument("--matcher", action="append", dest="matchers", help="replace the matchers (repeatable)")
    edit.add_argument("--expires", metavar="WHEN")
    edit.add_argument("--comment")
    edit.add_argument("--by", default=_user())

    alerts = groups.add_parser("alerts", help="list, show and acknowledge alerts")
    aops = alerts.add_subparsers(dest="op", required=True)
    alist = aops.add_parser("list", parents=[common], help="current alerts (firing first)")
    alist.add_argument("--status", choices=["pending", "firing", "resolved"])
    alist.add_argument("--open", action="store_true", help="leave out resolved alerts")
    show = aops.add_parser("show", parents=[common], help="one alert with its full history")
    show.add_argument("fingerprint")
    ack = aops.add_parser("ack", parents=[common], help="acknowledge an alert (cleared if it fires again)")
    ack.add_argument("fingerprint")
    ack.add_argument("--by", default=_user())
    ack.add_argument("--comment")
    close = aops.add_parser("close", parents=[common],
                            help="close an alert (Azure's Closed: stops repeats; a re-fire reopens it)")
    close.add_argument("fingerprint")
    close.add_argument("--by", default=_user())
    close.add_argument("--comment")
    log = aops.add_parser("log", parents=[common], help="the notification log, newest first")
    log.add_argument("--limit", type=int, default=50)
    return parser


def _print(rows: Any, fmt: str, columns: Sequence[str] = ()) -> None:
    if fmt == "json" or not columns:
        print(json.dumps(rows, indent=2, default=str))
        return
    items = rows if isinstance(rows, list) else [rows]
    from amlguard.reports.table import text_table

    print("\n".join(text_table([[c.upper() for c in columns], *([_cell(item.get(c)) for c in columns]
                                                                for item in items)])))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def _alerting_config(path: Path | None) -> AlertingConfig | None:
    """The alerting config (for inhibition in listings); without a valid one, listings skip inhibition."""
    try:
        from amlguard.alerts.config import load_alerting

        return load_alerting(path)
    except Exception:  # a broken alerting.yaml is reported by `amlguard routes`, not here
        return None


def run(argv: list[str], settings: Settings | None = None) -> int:
    """`amlguard silence ...`: argv is what follows `silence` (`add ...`, `list`, `expire ID`, `edit ID`).
    `settings` come from the command line's edge (`amlguard.cli.main`).

    Also accepts argv starting with `silence` or `alerts` (`alerts list|show|ack|close|log ...`).
    Exit 0 on success; 2 on a usage, validation or configuration error (the message says what to fix).
    """
    argv = list(argv)
    if not argv or argv[0] not in ("silence", "alerts"):
        argv = ["silence", *argv]
    parser = _parser()
    args = parser.parse_args(argv)
    now = datetime.now(UTC)
    settings = settings or Settings()
    try:
        store = open_store(args.state or settings.state_dir, backend=args.backend or settings.state_backend,
                           settings=settings.env)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return _dispatch(args, AlertManager(store, config=_alerting_config(settings.alerting_file)), now)
    except (SilenceError, KeyError, ValueError, argparse.ArgumentTypeError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2
    finally:
        store.close()


def _dispatch(args: argparse.Namespace, mgr: AlertManager, now: datetime) -> int:
    if args.group == "silence":
        if args.op == "add":
            starts = _when(args.starts, now) if args.starts else None
            sid = mgr.add_silence(args.matchers, ends_at=_when(args.expires, now), starts_at=starts,
                                  created_by=args.by, comment=args.comment, now=now)
            if args.format == "json":
                _print({"id": sid}, "json")
            else:
                print(sid)
            return 0
        if args.op == "list":
            rows = mgr.list_silences(include_expired=args.all, now=now)
            _print(rows, args.format, ("id", "status", "matchers", "starts_at", "ends_at", "created_by", "comment"))
            return 0
        if args.op == "expire":
            rows = [mgr.expire_silence(sid, by=args.by, now=now) for sid in args.ids]
            _print(rows, args.format, ("id", "status", "ends_at"))
            return 0
        new_id = mgr.edit_silence(args.id, by=args.by, matchers=args.matchers, comment=args.comment,
                                  ends_at=_when(args.expires, now) if args.expires else None, now=now)
        _print({"id": new_id, "replaces": args.id if new_id != args.id else None}, "json")
        return 0
    if args.op == "list":
        alerts = mgr.list_alerts(status=args.status, include_resolved=not args.open, now=now)
        _print(alerts, args.format, ("fingerprint", "status", "severity", "rule", "resource", "since",
                                   "user_state", "silenced_by", "inhibited_by"))
        return 0
    if args.op == "show":
        alert = mgr.get_alert(args.fingerprint, now=now)
        if alert is None:
            raise KeyError(f"no alert with fingerprint {args.fingerprint!r}; `amlguard alerts list` shows them")
        _print(alert, "json")
        return 0
    if args.op == "ack":
        _print(mgr.acknowledge(args.fingerprint, args.by, args.comment, now=now), args.format,
               ("fingerprint", "status", "acknowledged_by", "acknowledged_at"))
        return 0
    if args.op == "close":
        _print(mgr.close(args.fingerprint, args.by, args.comment, now=now), args.format,
               ("fingerprint", "status", "user_state", "closed_by", "closed_at"))
        return 0
    _print(mgr.notification_log(args.limit), args.format,
           ("at", "receiver", "reason", "status", "outcome", "attempts", "rules"))
    return 0


def run_alerts(argv: list[str], settings: Settings | None = None) -> int:
    """`amlguard alerts list|show|ack|close|log ...` (argv after `alerts`)."""
    return run(["alerts", *argv], settings=settings)
