"""`run_audit`, the one audit behind every CI integration: every report format asked for comes
from a single run of `amlguard audit`, so the reports agree and a large estate is read once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from amlguard.ci import run_audit

REPO = Path(__file__).resolve().parents[2]


def test_every_format_from_one_audit(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(REPO / "examples" / "workspace", tmp_path / "workspace")
    formats = {"sarif": str(tmp_path / "out" / "amlguard.sarif"), "junit": str(tmp_path / "out" / "junit.xml")}

    outcome = run_audit(["audit", str(tmp_path / "workspace"), "--fail-on", "high"], formats)

    out = capfd.readouterr().out
    assert outcome.exit_code == 1 and outcome.usable
    assert out.count(" resources, ") == 1, "the table (and so the audit) ran more than once"
    assert outcome.written == formats
    sarif = json.loads(Path(formats["sarif"]).read_text())
    failed = [f for f in outcome.report["findings"] if f["status"] == "fail"]
    assert len(sarif["runs"][0]["results"]) == len(failed) > 0
    assert Path(formats["junit"]).read_text().count("<failure") == len(failed)


def test_a_refused_format_stops_the_run(tmp_path: Path) -> None:
    outcome = run_audit(["audit", str(REPO / "examples" / "workspace")], {"yaml": str(tmp_path / "r.yaml")})

    assert outcome.exit_code == 2 and not outcome.usable and not outcome.written


def test_fail_on_comes_from_the_project_config_when_the_input_is_empty(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The annotations and the summary use the level the audit used: the project config file's, as
    the CLI reads it, when the runner gives no fail-on input."""
    import argparse

    from amlguard.ci import add_audit_options, audit_from_options

    shutil.copytree(REPO / "examples" / "workspace", tmp_path / "ws")
    (tmp_path / "ws" / ".amlguard.yaml").write_text("fail_on: medium\n")
    monkeypatch.chdir(tmp_path)
    parser = argparse.ArgumentParser()
    add_audit_options(parser)

    _, outcome = audit_from_options(parser, ["--paths", "ws"], lambda options: {})
    assert outcome.usable and outcome.fail_on == "medium"
    _, given = audit_from_options(parser, ["--paths", "ws", "--fail-on", "critical"], lambda options: {})
    assert given.fail_on == "critical"
