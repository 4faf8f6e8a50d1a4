"""One settings object: read only in amlguard.config, every app setting in the README's table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from amlguard.config import SETTINGS, Settings

REPO = Path(__file__).resolve().parents[1]
_ENV_NAMES = ("environ", "environb", "getenv", "getenvb", "putenv")
_NAME = re.compile(r"`([A-Za-z][A-Za-z0-9_]*)`")
_SETTING_NAME = re.compile(r"\b(AMLGUARD_[A-Z0-9_]*[A-Z0-9])\b")


def _reads_environment(tree: ast.AST) -> list[int]:
    """Lines that touch os.environ / os.getenv / os.putenv or import them by name."""
    def reads(node: ast.AST) -> bool:
        if isinstance(node, ast.Attribute):
            return node.attr in _ENV_NAMES and isinstance(node.value, ast.Name) and node.value.id == "os"
        return isinstance(node, ast.ImportFrom) and node.module == "os" and any(
            alias.name in _ENV_NAMES for alias in node.names)

    return sorted(node.lineno for node in ast.walk(tree) if reads(node))


def test_only_config_reads_the_environment() -> None:
    offenders = []
    for root in ("shared", "functions"):
        for path in sorted((REPO / root).rglob("*.py")):
            if path == REPO / "shared" / "config.py":
                continue
            for line in _reads_environment(ast.parse(path.read_text(encoding="utf-8"))):
                offenders.append(f"{path.relative_to(REPO)}:{line}")
    assert offenders == [], "read settings from amlguard.config.Settings instead of os.environ"


def test_the_setting_scan_sees_a_name_inside_a_template() -> None:
    assert _SETTING_NAME.findall('MDC = "{env:AMLGUARD_MDC_ROOT}"; f"set AMLGUARD_X_Y or AMLGUARD_*_SCHEDULE"') == [
        "AMLGUARD_MDC_ROOT", "AMLGUARD_X_Y"]


def test_the_scan_sees_an_environment_read() -> None:
    assert _reads_environment(ast.parse("import os\nx = os.environ.get('A')\ny = os.getenv('B')")) == [2, 3]
    assert _reads_environment(ast.parse("from os import environ")) == [1]


def _readme_table() -> dict[str, str]:
    """setting name -> default cell, from the README's Configuration table."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Configuration"):]
    section = section[:section.index("\n## ", 1)]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("setting", "---"):
            continue
        for name in _NAME.findall(cells[0]):
            rows[name] = cells[1]
    return rows


def _receiver_variables() -> set[str]:
    """The variables the bundled alerting.yaml names for receiver secrets."""
    doc = yaml.safe_load((REPO / "policies" / "alerting.yaml").read_text(encoding="utf-8"))
    return {str(v) for r in doc["receivers"] for k, v in r.items() if k.endswith("_from_env")}


def test_readme_table_lists_every_setting_and_nothing_else() -> None:
    table = set(_readme_table())
    known = {s.name for s in SETTINGS} | _receiver_variables()
    assert sorted(known - table) == [], "add these settings to the README's Configuration table"
    assert sorted(table - known) == [], "the README lists settings amlguard does not read"


def test_readme_defaults_match_the_catalogue() -> None:
    table = _readme_table()
    shown = {setting.name: table[setting.name].replace("`", "") for setting in SETTINGS}
    assert shown == {setting.name: setting.default or "—" for setting in SETTINGS}


def test_every_setting_named_in_the_code_is_in_the_catalogue() -> None:
    """A new `AMLGUARD_*` name anywhere in the code (a string of its own, `{env:AMLGUARD_X}` in a
    rule template, a message) without a catalogue entry (and a README row) fails."""
    named = {m for root in ("shared", "functions") for path in (REPO / root).rglob("*.py")
             for m in _SETTING_NAME.findall(path.read_text(encoding="utf-8"))}
    receivers = _receiver_variables()
    assert sorted(named - {s.name for s in SETTINGS} - receivers) == []


def test_from_env_reads_every_group() -> None:
    settings = Settings.from_env({
        "AMLGUARD_ENVIRONMENT": "prod", "AMLGUARD_SCOPE_SUBSCRIPTIONS": "s1; s2", "AZURE_SUBSCRIPTION_ID": "s0",
        "AZURE_RESOURCE_GROUP": "rg", "AMLGUARD_REMEDIATION_ENABLED": "true",
        "AMLGUARD_REMEDIATION_MAX_RESOURCES": "5%", "AMLGUARD_ACTOR": "bot", "AMLGUARD_SWEEP_INTERVAL": "60",
        "AMLGUARD_MONITOR_RULES": "rules/", "AMLGUARD_MONITOR_EXAMPLE": "examples/monitoring"})
    assert settings.environment == "prod"
    assert settings.subscriptions == ("s1", "s2") and settings.resource_group == "rg"
    assert (settings.remediation.enabled, settings.remediation.max_resources, settings.remediation.actor) == (
        True, "5%", "bot")
    assert settings.sweep_interval_seconds == 60.0
    assert settings.monitor_rules_path == Path("rules/") and settings.monitor_example == "examples/monitoring"
    defaults = Settings.from_env({})
    assert defaults.remediation.enabled is False and defaults.monitor_rules_path == defaults.policies_dir


def test_a_bad_number_names_the_setting_and_the_fix() -> None:
    from amlguard.errors import ConfigError

    with pytest.raises(ConfigError, match=r"AMLGUARD_SWEEP_INTERVAL='soon' is not a number; unset it or give"):
        Settings.from_env({"AMLGUARD_SWEEP_INTERVAL": "soon"})


@pytest.mark.parametrize("value", ["lots", "-1", "150%", "5 %x"])
def test_a_bad_brake_is_refused_where_the_settings_are_read(value: str) -> None:
    from amlguard.errors import ConfigError

    with pytest.raises(ConfigError, match=r"AMLGUARD_REMEDIATION_MAX_RESOURCES=.* is not a count"):
        Settings.from_env({"AMLGUARD_REMEDIATION_MAX_RESOURCES": value})


def test_http_log_level_and_outbox_caps() -> None:
    from amlguard.errors import ConfigError

    defaults = Settings.from_env({})
    assert (defaults.http_log_level, defaults.outbox_max_messages, defaults.dead_letter_max) == ("WARNING", 5000, 1000)
    chosen = Settings.from_env({"AMLGUARD_HTTP_LOG_LEVEL": "info", "AMLGUARD_OUTBOX_MAX_MESSAGES": "10",
                                "AMLGUARD_DEAD_LETTER_MAX": "3"})
    assert (chosen.http_log_level, chosen.outbox_max_messages, chosen.dead_letter_max) == ("INFO", 10, 3)
    with pytest.raises(ConfigError, match=r"AMLGUARD_HTTP_LOG_LEVEL='LOUD' is not a log level"):
        Settings.from_env({"AMLGUARD_HTTP_LOG_LEVEL": "loud"})
    with pytest.raises(ConfigError, match=r"AMLGUARD_OUTBOX_MAX_MESSAGES=0 is not a positive whole number"):
        Settings.from_env({"AMLGUARD_OUTBOX_MAX_MESSAGES": "0"})
