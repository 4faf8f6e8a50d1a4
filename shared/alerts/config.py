"""policies/alerting.yaml (`kind: AlertRouting`): load, validate with file/line/field errors, route
alerts through the tree, and build the configured receivers.

Secrets never live in the file: receivers name the app setting / environment variable that holds
a URL, key or HMAC secret (`url_from_env: TEAMS_WEBHOOK_URL`), and the validator rejects a
literal secret or a URL that carries a token. A receiver whose variable is unset is "not
configured" and skipped with one log line.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from amlguard.alerts.inhibit import InhibitRule, parse_inhibit_rules
from amlguard.alerts.notifiers.base import BaseNotifier, NotConfigured, notifier_kinds
from amlguard.alerts.routing import Route, RouteMatch, parse_matcher
from amlguard.alerts.types import Notifier
from amlguard.config import Settings
from amlguard.errors import PolicyError
from amlguard.timeparse import duration_pattern, parse_duration
from amlguard.yamlsource import LocatedDocument, YamlSourceError, load_documents

if TYPE_CHECKING:  # httpx costs ~0.2 s at import; only senders need it
    import httpx

__all__ = [
    "ALERTING_SCHEMA",
    "API_VERSION",
    "KIND",
    "AlertingConfig",
    "ReceiverConfig",
    "alerting_schema",
    "build_notifiers",
    "default_alerting_path",
    "load_alerting",
    "parse_alerting",
    "receiver_status",
    "run",
    "validate_alerting",
]

_log = logging.getLogger(__name__)

API_VERSION = "amlguard/v1"
KIND = "AlertRouting"
ENV_OVERRIDE = "AMLGUARD_ALERTING"
Problem = tuple[str | None, int | None, str, str]
LineOf = Callable[[str], int]  # a dotted field path -> its line in the file

_DURATION = {"type": "string", "pattern": duration_pattern("prometheus"),
             "x-expected": "a duration such as 30s, 5m, 4h or 1h30m"}
_MATCHERS = {"type": "array", "items": {"type": "string", "minLength": 3,
                                        "x-expected": 'a matcher such as severity=~"critical|high"'}}
_COMMON_RECEIVER = {
    "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$",
             "x-expected": "a receiver name (letters, digits, - _ .)"},
    "type": {"type": "string"},
    "send_resolved": {"type": "boolean"},
    "description": {"type": "string"},
}


def _route_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "receiver": {"type": "string", "minLength": 1},
            "matchers": _MATCHERS,
            "group_by": {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True},
            "group_wait": _DURATION,
            "group_interval": _DURATION,
            "repeat_interval": _DURATION,
            "continue": {"type": "boolean"},
            "description": {"type": "string"},
            "routes": {"type": "array", "items": {"$ref": "#/$defs/route"}},
        },
    }


def alerting_schema() -> dict[str, Any]:
    """JSON Schema of alerting.yaml, with each receiver type's settings from the notifier registry."""
    kinds = notifier_kinds()
    receiver: dict[str, Any] = {
        "type": "object",
        "required": ["name", "type"],
        "properties": {**_COMMON_RECEIVER, "type": {"enum": sorted(kinds)}},
        "allOf": [],
    }
    for kind, cls in sorted(kinds.items()):
        receiver["allOf"].append({
            "if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
            "then": {
                "properties": {**_COMMON_RECEIVER, **cls.settings_schema},
                "additionalProperties": False,
                **({"required": list(cls.required_settings)} if cls.required_settings else {}),
            },
        })
    receiver["allOf"].append({  # a webhook needs a URL from somewhere
        "if": {"properties": {"type": {"const": "webhook"}}, "required": ["type"]},
        "then": {"anyOf": [{"required": ["url_from_env"]}, {"required": ["url"]}]},
    })
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://amlguard.dev/schemas/alerting.json",
        "title": "amlguard alert routing (policies/alerting.yaml)",
        "type": "object",
        "required": ["apiVersion", "kind", "route", "receivers"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": API_VERSION},
            "kind": {"const": KIND},
            "metadata": {"type": "object"},
            "route": {"allOf": [{"$ref": "#/$defs/route"}], "required": ["receiver"]},
            "receivers": {"type": "array", "items": receiver},
            "inhibit_rules": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "source_matchers": _MATCHERS,
                        "target_matchers": _MATCHERS,
                        "equal": {"type": "array", "items": {"type": "string"}},
                        "description": {"type": "string"},
                    },
                    "required": ["source_matchers", "target_matchers"],
                },
            },
        },
        "$defs": {"route": _route_schema()},
    }


ALERTING_SCHEMA: dict[str, Any] = alerting_schema()


# ----------------------------------------------------------------------------------- validation

_SECRET_KEYS = {"secret", "password", "passwd", "token", "key", "api_key", "apikey", "access_key",
                "access_token", "sas", "sas_token", "connection_string", "client_secret", "hmac_secret",
                "signing_secret", "webhook_url", "auth", "authorization", "bearer"}
_SECRET_QUERY = {"sig", "signature", "token", "access_token", "code", "key", "api-key", "apikey", "api_key",
                 "secret", "password", "sv", "se", "sp", "skoid", "client_secret", "auth", "x-api-key"}
_SECRET_PATH = re.compile(r"hooks\.slack\.com/(services|workflows|triggers)/|webhook\.office\.com/|"
                          r"outlook\.office(365)?\.com/webhook", re.I)


def _url_secret(text: str) -> str | None:
    """Why a literal URL looks like it carries a credential, else None."""
    if not re.match(r"^[a-z][a-z0-9+.-]*://", text, re.I):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.password or (parts.username and "@" in parts.netloc):
        return "it carries a user name / password"
    for name, _ in parse_qsl(parts.query, keep_blank_values=True):
        if name.lower() in _SECRET_QUERY:
            return f"its query parameter '{name}' is a token or signature"
    if _SECRET_PATH.search(text):
        return "the webhook URL itself is the credential"
    return None


def _secret_problems(value: Any, path: str, file: str | None, line_of: LineOf) -> list[Problem]:
    out: list[Problem] = []
    if isinstance(value, Mapping):
        for key, child in value.items():
            child_path = f"{path}.{key}" if path else str(key)
            name = str(key).lower()
            if name in _SECRET_KEYS and isinstance(child, (str, int, float)) and str(child).strip():
                out.append((file, line_of(child_path), child_path,
                            f"a literal secret is not allowed in alerting.yaml; put it in an app setting / "
                            f"environment variable and reference it with {key}_from_env: NAME"
                            if name not in ("webhook_url",) else
                            "a literal webhook URL is a secret; use url_from_env: NAME"))
                continue
            out.extend(_secret_problems(child, child_path, file, line_of))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out.extend(_secret_problems(child, f"{path}.{index}" if path else str(index), file, line_of))
    elif isinstance(value, str) and (why := _url_secret(value)):
        out.append((file, line_of(path), path,
                    f"URL not allowed in the file because {why}; store the URL in an app setting / "
                    "environment variable and reference it with url_from_env: NAME"))
    return out


def validate_alerting(located: LocatedDocument, file: str | None = None) -> list[Problem]:
    """Every problem in an alerting document: (file, line, field, message); [] when valid.

    Checks structure (JSON Schema), literal secrets, matchers, durations, receiver references
    and timer sanity (repeat_interval >= group_interval).
    """
    from amlguard.policy.documents import schema_errors

    doc, line_of = located.value, located.line_of
    problems = _secret_problems(doc, "", file, line_of)
    flagged = {p[2] for p in problems}
    problems.extend((file, line_of(path), path, message) for path, message in schema_errors(doc, ALERTING_SCHEMA)
                    if path not in flagged)
    if problems or not isinstance(doc, Mapping):
        return sorted(problems, key=lambda p: p[1] or 0)
    return sorted(_meaning_problems(doc, file, line_of), key=lambda p: p[1] or 0)


def _meaning_problems(doc: Mapping[str, Any], file: str | None, line_of: LineOf) -> list[Problem]:
    problems: list[Problem] = []
    names: dict[str, int] = {}
    for index, receiver in enumerate(doc.get("receivers") or ()):
        name = receiver["name"]
        if name in names:
            problems.append((file, line_of(f"receivers.{index}.name"), f"receivers.{index}.name",
                             f"receiver '{name}' is defined twice (first at receivers.{names[name]}); "
                             "receiver names must be unique"))
        names.setdefault(name, index)

    def check_matchers(items: Any, path: str) -> None:
        for i, text in enumerate(items or ()):
            try:
                parse_matcher(text)
            except ValueError as exc:
                problems.append((file, line_of(f"{path}.{i}"), f"{path}.{i}", str(exc)))

    def check_route(route: Mapping[str, Any], path: str, inherited: dict[str, Any]) -> None:
        receiver = route.get("receiver")
        if receiver is not None and receiver not in names:
            close = difflib.get_close_matches(receiver, list(names), n=1)
            problems.append((file, line_of(f"{path}.receiver"), f"{path}.receiver",
                             f"unknown receiver '{receiver}'" + (f" (did you mean '{close[0]}'?)" if close else "")
                             + f"; define it under receivers (known: {', '.join(names) or 'none'})"))
        check_matchers(route.get("matchers"), f"{path}.matchers")
        timers = dict(inherited)
        for timer in ("group_wait", "group_interval", "repeat_interval"):
            if route.get(timer) is not None:
                try:
                    timers[timer] = parse_duration(route[timer], "prometheus")
                except ValueError as exc:
                    problems.append((file, line_of(f"{path}.{timer}"), f"{path}.{timer}", str(exc)))
        if ("repeat_interval" in route or "group_interval" in route) and \
                timers["repeat_interval"] < timers["group_interval"]:
            where = f"{path}.repeat_interval" if "repeat_interval" in route else f"{path}.group_interval"
            problems.append((file, line_of(where), where,
                             "repeat_interval is shorter than group_interval; repeats are only checked on "
                             "group_interval ticks, so set repeat_interval >= group_interval"))
        for i, child in enumerate(route.get("routes") or ()):
            check_route(child, f"{path}.routes.{i}", timers)

    from amlguard.alerts.routing import DEFAULT_GROUP_INTERVAL, DEFAULT_GROUP_WAIT, DEFAULT_REPEAT_INTERVAL

    check_route(doc["route"], "route", {"group_wait": DEFAULT_GROUP_WAIT, "group_interval": DEFAULT_GROUP_INTERVAL,
                                        "repeat_interval": DEFAULT_REPEAT_INTERVAL})
    for i, rule in enumerate(doc.get("inhibit_rules") or ()):
        check_matchers(rule.get("source_matchers"), f"inhibit_rules.{i}.source_matchers")
        check_matchers(rule.get("target_matchers"), f"inhibit_rules.{i}.target_matchers")
    return problems


# --------------------------------------------------------------------------------------- config


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    """One receiver as written: name, type, send_resolved and the type's settings."""

    name: str
    type: str
    send_resolved: bool = True
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class AlertingConfig:
    """A validated alerting.yaml: the routing tree, the receivers and the inhibit rules."""

    root: Route
    receivers: dict[str, ReceiverConfig]
    inhibit_rules: list[InhibitRule] = field(default_factory=list)
    file: str | None = None
    # The receivers that exist (`with_receivers`); None routes to every receiver in the file.
    configured: frozenset[str] | None = None

    def route(self, labels: Mapping[str, str]) -> list[RouteMatch]:
        """Where an alert with these labels goes: one RouteMatch per matching route, in tree order,
        leaving out receivers that are not `configured`."""
        matches = []
        for node in self.root.match(labels):
            if not node.receiver or (self.configured is not None and node.receiver not in self.configured):
                continue
            receiver = self.receivers.get(node.receiver)
            matches.append(node.to_match(receiver.send_resolved if receiver else True))
        return matches

    def with_receivers(self, names: Collection[str]) -> AlertingConfig:
        """This config routing only to `names` (the receivers `build_notifiers` built): a receiver
        whose settings are missing is skipped, so no group or outbox message is made for it."""
        return replace(self, configured=frozenset(names))

    def describe(self) -> str:
        """The routing tree as indented text."""
        return self.root.describe()


def parse_alerting(doc: LocatedDocument, file: str | None = None) -> AlertingConfig:
    """Validate one located YAML document and build the config; PolicyError lists every problem."""
    problems = validate_alerting(doc, file)
    if problems:
        raise PolicyError(problems)
    value = doc.value
    receivers = {}
    for item in value.get("receivers") or ():
        settings = {k: v for k, v in item.items() if k not in ("name", "type", "send_resolved", "description")}
        receivers[item["name"]] = ReceiverConfig(item["name"], item["type"],
                                                 bool(item.get("send_resolved", True)), settings)
    # the schema and check_matchers above have refused any rule that cannot be built
    return AlertingConfig(root=Route.from_dict(value["route"]), receivers=receivers,
                          inhibit_rules=parse_inhibit_rules(list(value.get("inhibit_rules") or ())), file=file)


def default_alerting_path() -> Path:
    """The bundled pack's alerting.yaml (AMLGUARD_ALERTING, `Settings.alerting_file`, replaces it)."""
    from amlguard.config import default_policies_dir

    return default_policies_dir() / "alerting.yaml"


def load_alerting(path: str | Path | None = None) -> AlertingConfig:
    """Read and validate alerting.yaml (None: the bundled policies/alerting.yaml; callers pass
    `Settings.alerting_file`, set by AMLGUARD_ALERTING).

    Raises PolicyError (file, line, field, message for every problem) when it is invalid. With
    path None and no file present, returns an empty config (alerts are kept, nothing is sent).
    """
    explicit = path is not None
    file = Path(path) if path is not None else default_alerting_path()
    if not file.exists():
        if explicit:
            raise PolicyError([(str(file), None, "", "alerting file not found; pass an existing file or "
                                                     f"unset {ENV_OVERRIDE} to use policies/alerting.yaml")])
        _log.warning("no alerting file at %s: alerts are recorded but no receiver is notified", file)
        return AlertingConfig(root=Route(receiver=""), receivers={}, file=None)
    try:
        documents = load_documents(file.read_text(encoding="utf-8"))
    except YamlSourceError as exc:
        raise PolicyError([(str(file), exc.line, "", str(exc))]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([(str(file), None, "", f"cannot read the alerting file: {exc}")]) from exc
    routing = [d for d in documents if isinstance(d.value, dict) and d.value.get("kind") == KIND]
    if len(routing) != 1:
        line = routing[1].line if len(routing) > 1 else (documents[0].line if documents else 1)
        raise PolicyError([(str(file), line, "kind",
                            f"expected exactly one document with kind: {KIND} (found {len(routing)})")])
    return parse_alerting(routing[0], str(file))


# ------------------------------------------------------------------------------------ receivers


def _instantiate(receiver: ReceiverConfig, env: Mapping[str, str],
                 http_client: httpx.Client | None) -> BaseNotifier:
    cls = notifier_kinds()[receiver.type]
    return cls.from_settings(receiver.name, receiver.settings, env, http_client=http_client)


def build_notifiers(config: AlertingConfig, env: Mapping[str, str], *,
                    http_client: httpx.Client | None = None) -> dict[str, Notifier]:
    """The configured receivers by name. One whose environment variable is unset is skipped with
    an INFO log line ("not configured"); one that fails to build is skipped with a WARNING."""
    built: dict[str, Notifier] = {}
    for name, receiver in config.receivers.items():
        try:
            built[name] = _instantiate(receiver, env, http_client)
        except NotConfigured as exc:
            _log.info("receiver %s (%s) not configured: %s; skipped", name, receiver.type, exc,
                      extra={"receiver": name, "receiver_type": receiver.type})
        except Exception as exc:
            _log.warning("receiver %s (%s) could not be built: %s; skipped", name, receiver.type, exc,
                         extra={"receiver": name, "receiver_type": receiver.type})
    return built


def _report(state: str) -> str:
    """A receiver's status as the routing report says it: skipped ones get no messages."""
    return state if state == "configured" else f"skipped, gets no messages: {state}"


def receiver_status(config: AlertingConfig, env: Mapping[str, str]) -> dict[str, str]:
    """`configured` or `not configured: <why>` per receiver, without building any client."""
    out = {}
    for name, receiver in config.receivers.items():
        cls = notifier_kinds()[receiver.type]
        missing = []
        for key in cls.env_settings:
            var = receiver.settings.get(key)
            if key == "connection_string_from_env" and var is None:
                var = "APPLICATIONINSIGHTS_CONNECTION_STRING"
            optional = key in ("key_from_env",) or (key == "url_from_env" and "url" in receiver.settings)
            if var and not str(env.get(var, "")).strip() and not optional:
                missing.append(f"{var} is not set")
        out[name] = "configured" if not missing else "not configured: " + ", ".join(missing)
    return out


def _register() -> None:
    from amlguard.policy.documents import register_document_kind

    register_document_kind(KIND, alerting_schema, parse_alerting)


_register()


# ------------------------------------------------------------------------------------------- CLI


def _test_notification(receiver: str) -> Any:
    import uuid
    from datetime import UTC, datetime

    from amlguard.alerts.types import Alert, Notification, NotifyReason, fingerprint

    now = datetime.now(UTC)
    labels = {"rule": "AMLG-TEST-000", "resource": "amlguard://routes/send-test", "severity": "info"}
    alert = Alert(fingerprint=fingerprint(labels), rule=labels["rule"], resource=labels["resource"],
                  status="firing", severity="info", since=now, labels=dict(labels),
                  annotations={"title": "amlguard test notification",
                               "message": f"Sent by `amlguard routes --send-test {receiver}`.",
                               "remediation": "Nothing to fix: this checks that the receiver is reachable."})
    key = f"send-test-{uuid.uuid4().hex[:12]}"
    return Notification(id=key, receiver=receiver, group_key="{}:{send-test}", group_labels={"rule": alert.rule},
                        reason=NotifyReason.FIRST.value, status="firing", alerts=[alert], created_at=now,
                        idempotency_key=key)


def run(argv: list[str], settings: Settings | None = None) -> int:
    """`amlguard routes`: show the routing tree and receivers, test labels, or send a test message.
    `settings` come from the command line's edge (`amlguard.cli.main`).

    Exit 0 on success, 1 when a test send failed, 2 when alerting.yaml is invalid.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="amlguard routes", description=(
        "Show where alerts go (policies/alerting.yaml), which receivers are configured, and test them."))
    parser.add_argument("--file", help="alerting file (default: $AMLGUARD_ALERTING or policies/alerting.yaml)")
    parser.add_argument("--test", nargs="+", metavar="LABEL=VALUE",
                        help="print the receivers an alert with these labels is routed to")
    parser.add_argument("--send-test", metavar="RECEIVER", help="send one test notification to RECEIVER")
    args = parser.parse_args(argv)
    settings = settings or Settings()
    env = settings.env
    try:
        config = load_alerting(args.file or settings.alerting_file)
    except PolicyError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    if args.test:
        labels = dict(item.partition("=")[::2] for item in args.test)
        status = receiver_status(config, env)
        for match in config.route(labels):
            print(f"{match.receiver:<16} group_by={list(match.group_by)} group_wait={match.group_wait_s:g}s "
                  f"group_interval={match.group_interval_s:g}s repeat_interval={match.repeat_interval_s:g}s "
                  f"send_resolved={str(match.send_resolved).lower()} "
                  f"({_report(status.get(match.receiver, 'unknown'))})")
        return 0
    if args.send_test:
        if args.send_test not in config.receivers:
            print(f"unknown receiver '{args.send_test}'; known: {', '.join(config.receivers)}", file=sys.stderr)
            return 2
        notifiers = build_notifiers(config, env)
        notifier = notifiers.get(args.send_test)
        if notifier is None:
            print(f"{args.send_test}: {receiver_status(config, env)[args.send_test]}", file=sys.stderr)
            return 1
        try:
            notifier.send(_test_notification(args.send_test))
        except Exception as exc:
            print(f"{args.send_test}: failed: {exc}", file=sys.stderr)
            return 1
        finally:
            for built in notifiers.values():
                getattr(built, "close", lambda: None)()
        print(f"{args.send_test}: delivered")
        return 0
    print(f"# {config.file}")
    print(config.describe())
    print("\nreceivers:")
    for name, state in receiver_status(config, env).items():
        print(f"  {name:<16} {config.receivers[name].type:<14} {_report(state)}")
    return 0
