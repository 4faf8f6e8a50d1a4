"""alerting.yaml: the default file, validation errors with file/line/field, secrets refused,
loading rules (AMLGUARD_ALERTING), receivers built only when their settings are present."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from amlguard.alerts.config import (
    ALERTING_SCHEMA,
    AlertingConfig,
    build_notifiers,
    load_alerting,
    parse_alerting,
    receiver_status,
    validate_alerting,
)
from amlguard.alerts.notifiers import EventGridNotifier, SlackNotifier, TeamsNotifier, WebhookNotifier
from amlguard.errors import PolicyError
from amlguard.yamlsource import load_documents

REPO = Path(__file__).resolve().parents[2]

BASE = """\
apiVersion: amlguard/v1
kind: AlertRouting
route:
  receiver: teams
  routes:
    - matchers: ['severity="critical"']
      receiver: hook
receivers:
  - name: teams
    type: teams
    url_from_env: TEAMS_WEBHOOK_URL
  - name: hook
    type: webhook
    url_from_env: HOOK_URL
    secret_from_env: HOOK_SECRET
"""


def problems_of(text: str) -> list[tuple]:
    (doc,) = load_documents(textwrap.dedent(text))
    return validate_alerting(doc, "alerting.yaml")


def test_default_file_is_valid_and_routes_as_documented() -> None:
    config = load_alerting(REPO / "policies" / "alerting.yaml")
    assert set(config.receivers) == {"teams", "slack", "webhook", "eventgrid", "azure-monitor"}
    critical = [m.receiver for m in config.route({"severity": "critical", "rule": "AMLG-NET-001"})]
    assert critical == ["azure-monitor", "eventgrid", "teams", "slack", "webhook"]
    low = [m.receiver for m in config.route({"severity": "low", "rule": "AMLG-TAG-001"})]
    assert low == ["azure-monitor", "eventgrid"]
    rule = config.inhibit_rules[0]
    assert rule.source_matchers and rule.target_matchers and rule.equal


def test_default_path_and_env_override(tmp_path: Path) -> None:
    from amlguard.config import Settings

    assert load_alerting(Settings.from_env({}).alerting_file).file == str(REPO / "policies" / "alerting.yaml")
    custom = tmp_path / "mine.yaml"
    custom.write_text(BASE)
    assert set(load_alerting(Settings.from_env({"AMLGUARD_ALERTING": str(custom)}).alerting_file).receivers) == {
        "teams", "hook"}
    with pytest.raises(PolicyError, match=r"missing\.yaml.*not found"):
        load_alerting(Settings.from_env({"AMLGUARD_ALERTING": str(tmp_path / "missing.yaml")}).alerting_file)


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not found"):
        load_alerting(tmp_path / "nope.yaml")


# (yaml, field path, line, words in the message)
INVALID = [
    pytest.param(BASE.replace("receiver: hook", "receiver: hok"), "route.routes.0.receiver", 7,
                 "unknown receiver 'hok' (did you mean 'hook'?)", id="unknown-receiver"),
    pytest.param(BASE.replace('severity="critical"', 'severity=~"(crit"'), "route.routes.0.matchers.0", 6,
                 "invalid regular expression", id="bad-regex"),
    pytest.param(BASE.replace('severity="critical"', "severity"), "route.routes.0.matchers.0", 6,
                 "is not a matcher", id="bad-matcher"),
    pytest.param(BASE.replace("  receiver: teams\n", "  receiver: teams\n  group_wait: 30\n"),
                 "route.group_wait", 5, "expected a duration such as 30s", id="unitless-duration"),
    pytest.param(BASE.replace("  receiver: teams\n", "  receiver: teams\n  group_wiat: 30s\n"),
                 "route.group_wiat", 5, "unknown field 'group_wiat' (did you mean 'group_wait'?)",
                 id="typo-field"),
    pytest.param(BASE.replace("    type: teams", "    type: msteams"), "receivers.0.type", 10,
                 "expected one of azure_monitor, eventgrid, slack, teams, webhook", id="unknown-type"),
    pytest.param(BASE.replace("    secret_from_env: HOOK_SECRET\n", ""), "receivers.1.secret_from_env", 12,
                 "required field 'secret_from_env' is missing", id="webhook-needs-secret"),
    pytest.param(BASE.replace("    url_from_env: TEAMS_WEBHOOK_URL", "    url_from_env: https://x"),
                 "receivers.0.url_from_env", 11, "environment variable name", id="url-in-env-field"),
    pytest.param(BASE + "  - name: teams\n    type: slack\n    url_from_env: S\n", "receivers.2.name", 16,
                 "defined twice", id="duplicate-receiver"),
    pytest.param(BASE.replace("  receiver: teams\n", "  receiver: teams\n  repeat_interval: 1m\n"),
                 "route.repeat_interval", 5, "repeat_interval >= group_interval", id="repeat-below-interval"),
    pytest.param(BASE + "inhibit_rules:\n  - source_matchers: ['severity=\"critical\"']\n"
                        "    target_matchers: ['oops']\n", "inhibit_rules.0.target_matchers.0", 18,
                 "is not a matcher", id="inhibit-matcher"),
    pytest.param(BASE + "inhibit_rules:\n  - equal: [workspace]\n", "inhibit_rules.0.source_matchers", 17,
                 "required field 'source_matchers'", id="inhibit-shape"),
    pytest.param(BASE.replace("kind: AlertRouting", "kind: AlertRoute"), "kind", 2, "AlertRouting",
                 id="wrong-kind"),
]


@pytest.mark.parametrize(("text", "fieldpath", "line", "words"), INVALID)
def test_validation_names_file_line_field(text: str, fieldpath: str, line: int, words: str) -> None:
    problems = problems_of(text)
    assert problems, "expected a problem"
    match = [p for p in problems if p[2] == fieldpath]
    assert match, f"no problem on {fieldpath}: {problems}"
    file, got_line, _, message = match[0]
    assert file == "alerting.yaml" and got_line == line
    assert words in message, message


SECRETS = [
    pytest.param("  - name: x\n    type: webhook\n    url: https://hooks.example.com/in?sig=abc123\n"
                 "    secret_from_env: S\n", "receivers.2.url", "query parameter 'sig'", id="sig-query"),
    pytest.param("  - name: x\n    type: webhook\n    url: https://hooks.example.com/in?code=abc\n"
                 "    secret_from_env: S\n", "receivers.2.url", "query parameter 'code'", id="function-key"),
    pytest.param("  - name: x\n    type: webhook\n    url: https://user:pw@hooks.example.com/in\n"
                 "    secret_from_env: S\n", "receivers.2.url", "password", id="userinfo"),
    pytest.param("  - name: x\n    type: webhook\n    url: https://hooks.slack.com/services/T0/B0/XYZ\n"
                 "    secret_from_env: S\n", "receivers.2.url", "itself is the credential", id="slack-url"),
    pytest.param("  - name: x\n    type: webhook\n    url: https://hooks.example.com/in\n"
                 "    secret: hunter2\n", "receivers.2.secret", "secret_from_env", id="literal-secret"),
    pytest.param("  - name: x\n    type: eventgrid\n    endpoint_from_env: E\n    key: abc==\n",
                 "receivers.2.key", "key_from_env", id="literal-key"),
]


@pytest.mark.parametrize(("extra", "fieldpath", "words"), SECRETS)
def test_secrets_in_the_file_are_refused(extra: str, fieldpath: str, words: str) -> None:
    problems = problems_of(BASE + extra)
    match = [p for p in problems if p[2] == fieldpath]
    assert match and words in match[0][3], problems
    assert match[0][1] == 16 + extra[: extra.index(fieldpath.rsplit(".", 1)[1] + ":")].count("\n")
    # the secret is reported once, with the fix, not also as an "unknown field"
    assert len([p for p in problems if p[2] == fieldpath]) == 1


def test_a_plain_url_without_credentials_is_allowed() -> None:
    extra = "  - name: x\n    type: webhook\n    url: https://hooks.example.com/amlguard\n    secret_from_env: S\n"
    assert problems_of(BASE + extra) == []


def test_parse_alerting_raises_policy_error_with_every_problem() -> None:
    text = BASE.replace("receiver: hook", "receiver: nope").replace("    type: teams", "    type: msteams")
    (doc,) = load_documents(text)
    with pytest.raises(PolicyError) as info:
        parse_alerting(doc, "policies/alerting.yaml")
    rendered = str(info.value)
    assert "policies/alerting.yaml:10: receivers.0.type" in rendered


def test_load_reports_yaml_syntax_errors_with_line(tmp_path: Path) -> None:
    bad = tmp_path / "alerting.yaml"
    bad.write_text("apiVersion: amlguard/v1\nkind: AlertRouting\nroute: [unclosed\n")
    with pytest.raises(PolicyError) as info:
        load_alerting(bad)
    (problem,) = info.value.problems
    assert problem[0] == str(bad) and problem[1] is not None


def test_schema_is_generated_from_the_notifier_registry() -> None:
    receiver = ALERTING_SCHEMA["properties"]["receivers"]["items"]
    assert receiver["properties"]["type"]["enum"] == ["azure_monitor", "eventgrid", "slack", "teams", "webhook"]
    assert ALERTING_SCHEMA["properties"]["kind"] == {"const": "AlertRouting"}


def test_registered_with_the_policy_document_registry() -> None:
    documents = pytest.importorskip("amlguard.policy.documents")
    kind = documents.document_kind("AlertRouting")
    assert kind is not None and kind.schema_fn()["properties"]["kind"] == {"const": "AlertRouting"}
    problems: list = []
    docs = documents.read_documents(REPO / "policies" / "alerting.yaml", problems=problems)
    good = documents.validate_documents(docs, problems)
    assert problems == [] and isinstance(good[0][1], AlertingConfig)


def test_build_notifiers_skips_receivers_that_are_not_configured(caplog: pytest.LogCaptureFixture) -> None:
    config = load_alerting(REPO / "policies" / "alerting.yaml")
    env = {"TEAMS_WEBHOOK_URL": "https://127.0.0.1:9/teams", "SLACK_WEBHOOK_URL": "https://127.0.0.1:9/slack",
           "AMLGUARD_WEBHOOK_URL": "https://127.0.0.1:9/hook", "WEBHOOK_HMAC_SECRET": "a,b",
           "AMLGUARD_EVENTGRID_ENDPOINT": "https://127.0.0.1:9/api/events", "AMLGUARD_EVENTGRID_KEY": "k"}
    with caplog.at_level(logging.INFO, logger="amlguard.alerts.config"):
        built = build_notifiers(config, env)
    assert isinstance(built["teams"], TeamsNotifier) and isinstance(built["slack"], SlackNotifier)
    assert isinstance(built["webhook"], WebhookNotifier) and built["webhook"].secrets == ["a", "b"]
    assert isinstance(built["eventgrid"], EventGridNotifier)
    assert "azure-monitor" not in built
    assert any("azure-monitor" in r.getMessage() and "not configured" in r.getMessage()
               and "APPLICATIONINSIGHTS_CONNECTION_STRING" in r.getMessage() for r in caplog.records)
    assert not any("https://" in r.getMessage() for r in caplog.records)  # URLs are secrets
    for notifier in built.values():
        notifier.close()  # type: ignore[attr-defined]

    assert build_notifiers(config, {}) == {}
    status = receiver_status(config, {"TEAMS_WEBHOOK_URL": "x"})
    assert status["teams"] == "configured"
    assert status["webhook"] == ("not configured: AMLGUARD_WEBHOOK_URL is not set, "
                                 "WEBHOOK_HMAC_SECRET is not set")
    assert status["eventgrid"] == "not configured: AMLGUARD_EVENTGRID_ENDPOINT is not set"


def test_send_resolved_comes_from_the_receiver() -> None:
    (doc,) = load_documents(BASE.replace("    url_from_env: TEAMS_WEBHOOK_URL",
                                         "    url_from_env: TEAMS_WEBHOOK_URL\n    send_resolved: false"))
    config = parse_alerting(doc, "x.yaml")
    assert [(m.receiver, m.send_resolved) for m in config.route({"severity": "critical"})] == [("hook", True)]
    assert [(m.receiver, m.send_resolved) for m in config.route({"severity": "low"})] == [("teams", False)]


def test_routes_cli_shows_tree_tests_labels_and_sends(capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from amlguard.cli import main
    from tests.standins.receivers import ReceiverStandin

    def run(argv: list[str]) -> int:  # through the CLI's edge, which reads the environment
        return main(["routes", *argv])

    for name in ("TEAMS_WEBHOOK_URL", "SLACK_WEBHOOK_URL", "AMLGUARD_WEBHOOK_URL", "WEBHOOK_HMAC_SECRET",
                 "AMLGUARD_EVENTGRID_ENDPOINT", "APPLICATIONINSIGHTS_CONNECTION_STRING", "AMLGUARD_ALERTING"):
        monkeypatch.delenv(name, raising=False)
    assert run([]) == 0
    out = capsys.readouterr().out
    assert 'severity=~"critical|high" -> teams' in out
    assert "teams            teams          skipped, gets no messages: not configured: TEAMS_WEBHOOK_URL is not set" in out

    assert run(["--test", "severity=Sev1", "rule=AMLG-NET-001"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["azure-monitor", "eventgrid", "teams", "slack", "webhook"]
    assert lines[2].endswith("(skipped, gets no messages: not configured: TEAMS_WEBHOOK_URL is not set)")

    assert run(["--send-test", "teams"]) == 1
    assert "not configured" in capsys.readouterr().err

    with ReceiverStandin(webhook_secret="cli-secret") as server:
        monkeypatch.setenv("AMLGUARD_WEBHOOK_URL", server.url + "webhook")
        monkeypatch.setenv("WEBHOOK_HMAC_SECRET", "cli-secret")
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))  # httpx trusts the stand-in's CA
        assert run(["--send-test", "webhook"]) == 0
        (delivery,) = server.received("webhook")
    assert delivery.status == 200 and delivery.json()["alerts"][0]["data"]["essentials"]["alertRule"] == \
        "AMLG-TEST-000"

    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("receiver: hook", "receiver: nope"))
    assert run(["--file", str(bad)]) == 2
    assert f"{bad}:7: route.routes.0.receiver: unknown receiver 'nope'" in capsys.readouterr().err


def test_a_config_with_its_receivers_routes_only_to_them() -> None:
    config = load_alerting(REPO / "policies" / "alerting.yaml")
    active = config.with_receivers({"eventgrid", "teams"})
    assert [m.receiver for m in active.route({"severity": "high"})] == ["eventgrid", "teams"]
    assert [m.receiver for m in config.route({"severity": "low"})] == ["azure-monitor", "eventgrid"]  # unchanged



def test_inhibit_rules_are_parsed_when_the_file_is_read() -> None:
    """The alert manager gets InhibitRule objects, not raw mappings: what the schema lets through
    is built once, when the file is read."""
    text = textwrap.dedent("""\
        apiVersion: amlguard/v1
        kind: AlertRouting
        route: {receiver: teams}
        receivers: [{name: teams, type: teams, url_from_env: TEAMS_WEBHOOK_URL}]
        inhibit_rules:
          - source_matchers: ['rule=~"AMLG-NET-.*"']
            target_matchers: ['severity="low"']
            equal: [resource]
        """)
    (rule,) = parse_alerting(load_documents(text)[0], "alerting.yaml").inhibit_rules
    assert (rule.equal, [m.name for m in rule.source_matchers], [m.value for m in rule.target_matchers]) == (
        ("resource",), ["rule"], ["low"])
