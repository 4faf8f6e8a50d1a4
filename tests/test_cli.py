"""The `amlguard` command line: what `audit` keeps between runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from amlguard.cli import _cache_dir, main
from amlguard.config import default_policies_dir
from amlguard.policy.documents import read_documents

from .reports.sample import repo_root


@pytest.mark.parametrize(("env", "expected"), [
    ({"XDG_CACHE_HOME": "/c", "HOME": "/h"}, "/c/amlguard"),
    ({"XDG_CACHE_HOME": "relative", "HOME": "/h"}, "/h/.cache/amlguard"),  # as the XDG spec says
    ({"HOME": "/h"}, "/h/.cache/amlguard"),
    ({"HOME": ""}, None),
    ({}, None),
])
def test_the_cache_folder_is_the_users(env: dict[str, str], expected: str | None) -> None:
    assert _cache_dir(env) == (Path(expected) if expected else None)


def test_audit_remembers_the_policy_documents_that_passed_the_schema(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    example = str(repo_root() / "examples" / "workspace")
    args = ["audit", example, "--format", "json", "--fail-on", "none"]
    assert main(args, env={"XDG_CACHE_HOME": str(tmp_path)}) == 0
    marks = sorted(p.name for p in (tmp_path / "amlguard" / "schema-checked").iterdir())
    bundled = read_documents(default_policies_dir(), problems=[])
    assert len(marks) == len([d for d in bundled if d.kind == "AuditRules"])  # one per rules document
    report = capsys.readouterr().out
    assert main(args, env={"XDG_CACHE_HOME": str(tmp_path)}) == 0
    assert capsys.readouterr().out == report
    assert sorted(p.name for p in (tmp_path / "amlguard" / "schema-checked").iterdir()) == marks


def test_audit_pauses_the_garbage_collector_and_restores_it(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    import gc

    import amlguard.inventory as inventory

    seen: list[bool] = []
    real = inventory.load_paths

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(inventory, "load_paths", recording)
    example = str(repo_root() / "examples" / "workspace")
    assert gc.isenabled()
    assert main(["audit", example, "--fail-on", "none"], env={}) == 0
    assert seen == [False] and gc.isenabled()
    assert "resources" in capsys.readouterr().out
    gc.disable()  # a caller that had paused it finds it paused
    try:
        main(["audit", example, "--fail-on", "none"], env={})
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_audit_of_files_loads_no_service_or_telemetry_machinery() -> None:
    """A file audit is a short-lived process: what only the service uses (OpenTelemetry, the
    alert state, event parsing) stays unloaded, so it does not add to every CI run's start-up."""
    import subprocess
    import sys

    code = ("import sys\nfrom amlguard.cli import main\n"
            "rc = main(['audit', sys.argv[1], '--format', 'json', '--output', sys.argv[2]])\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'opentelemetry'\n"
            "                or m in ('amlguard.service.core', 'amlguard.alerts', 'amlguard.events'))\n"
            "print(rc, loaded)\n")
    root = repo_root()
    result = subprocess.run([sys.executable, "-c", code, str(root / "examples" / "workspace"), "/dev/null"],
                            capture_output=True, text=True, timeout=120, check=False, cwd=root)
    assert result.stdout.strip() == "1 []", result.stderr


ENDPOINT = ("$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\n"
            "name: ep\nauth_mode: key\npublic_network_access: enabled\n")


@pytest.fixture
def endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository (`.git` bounds the config search) holding one failing endpoint, the working folder."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "ep.yml").write_text(ENDPOINT)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "ep.yml"


def test_several_reports_in_one_run_and_the_table_on_stdout(endpoint: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["audit", "ep.yml", "--format", "sarif:out/a.sarif", "--format", "junit:out/a.xml"], env={}) == 2
    assert "cannot write the sarif report to out/a.sarif: No such file or directory" in capsys.readouterr().err
    (endpoint.parent / "out").mkdir()
    assert main(["audit", "ep.yml", "--format", "sarif:out/a.sarif", "--format", "junit:out/a.xml"], env={}) == 1
    out, err = capsys.readouterr()
    assert out.startswith("online_endpoint  ep  (ep.yml:1)") and "FAIL" in out  # the table
    assert "wrote sarif report to out/a.sarif" in err and "wrote junit report to out/a.xml" in err
    assert json.loads((endpoint.parent / "out" / "a.sarif").read_text())["version"] == "2.1.0"
    assert (endpoint.parent / "out" / "a.xml").read_text().startswith("<?xml")
    # one report may go to stdout (no :PATH, or :-) instead of the table; --output keeps its meaning
    assert main(["audit", "ep.yml", "--format", "json:-", "--format", "junit:out/b.xml"], env={}) == 1
    assert json.loads(capsys.readouterr().out)["summary"]["failed"] == 3
    assert main(["audit", "ep.yml", "--format", "json", "-o", "out/c.json"], env={}) == 1
    assert capsys.readouterr().out == "" and (endpoint.parent / "out" / "c.json").is_file()


@pytest.mark.parametrize(("argv", "message"), [
    (["--format", "json", "--format", "sarif"], "only one report can go to standard output, not json, sarif"),
    (["--format", "json", "--format", "sarif", "-o", "x"], "--output FILE names the file of the one --format"),
    (["--format", "yaml:x.yml"], "--format yaml:x.yml: unknown format 'yaml'; use one of table, json, sarif"),
])
def test_output_mistakes_are_usage_errors(endpoint: Path, capsys: pytest.CaptureFixture[str],
                                          argv: list[str], message: str) -> None:
    assert main(["audit", "ep.yml", *argv], env={}) == 2
    assert message in capsys.readouterr().err


def test_show_fix_prints_the_remediation_whole(endpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["audit", "ep.yml"], env={})
    short = capsys.readouterr().out
    main(["audit", "ep.yml", "--show-fix"], env={})
    whole = capsys.readouterr().out
    assert "give callers the AzureML Data Scientist role" in whole  # the AUTH-001 remediation's last clause
    assert "give callers the AzureML Data Scientist role" not in short


def test_soft_fail_exits_0_and_still_writes_the_reports(endpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "ep.yml", "--soft-fail", "--format", "sarif:a.sarif"], env={}) == 0
    assert (endpoint.parent / "a.sarif").is_file()
    assert "--soft-fail: exit 0, although findings at or above --fail-on high" in capsys.readouterr().err
    assert main(["audit", "ep.yml", "--soft-fail", "--format", "nope"], env={}) == 2  # usage errors stay errors


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["audit", "--help"], env={})
    out = capsys.readouterr().out
    assert "exit codes:\n  0  nothing at or above --fail-on" in out and "\n  2  usage or configuration error" in out
    with pytest.raises(SystemExit):
        main(["--help"], env={})
    assert "exit codes: 0 success; 1 findings" in capsys.readouterr().out


def test_the_shell_completes_audit_flags(tmp_path: Path) -> None:
    """What `eval "$(register-python-argcomplete amlguard)"` does on TAB: run amlguard with the
    completion variables set and read the candidates it writes."""
    import os
    import subprocess
    import sys

    out = tmp_path / "completions"
    line = "amlguard audit --skip"
    env = {**os.environ, "_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": str(len(line)),
           "_ARGCOMPLETE_STDOUT_FILENAME": str(out), "_ARGCOMPLETE_IFS": "\n"}
    subprocess.run([sys.executable, "-m", "amlguard.cli"], env=env, timeout=60, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert out.read_text().split() == ["--skip-rule"]


def test_logs_are_plain_on_a_terminal_and_json_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import json
    import logging
    import sys

    from amlguard.cli import _configure_logging

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        for stream, is_json in ((Terminal(), False), (io.StringIO(), True)):
            monkeypatch.setattr(sys, "stderr", stream)
            _configure_logging("info", "warning")
            logging.getLogger("amlguard.test").info("sweep started")
            line = stream.getvalue().strip()
            assert line.startswith("{") is is_json and "sweep started" in line
            if is_json:
                assert json.loads(line)["message"] == "sweep started"
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


def test_every_command_redacts_credentials_in_sdk_warnings() -> None:
    """A CLI command has no log handler, so an SDK's WARNING goes through `logging.lastResort`; a
    SAS URL in it (`drift --current https://...?sig=`) must not reach the terminal or a CI log."""
    import subprocess
    import sys

    code = ("import logging, sys\nfrom amlguard.cli import main\nmain(['policy', 'validate'])\n"
            "logging.getLogger('azure.storage.blob').warning(\n"
            "    'Retrying GET https://acct.blob.core.windows.net/mdc?sv=2024&sig=s3cr3tSAS after 503')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            check=False, cwd=repo_root())
    assert "Retrying GET https://acct.blob.core.windows.net/mdc?REDACTED after 503" in result.stderr
    assert "s3cr3tSAS" not in result.stderr


@pytest.mark.parametrize("registers_exit_work", [False, True])
def test_the_console_script_exits_with_the_code_and_complete_output(tmp_path: Path, registers_exit_work: bool) -> None:
    """`run()` skips the interpreter's teardown only when the command left no exit work; either
    way the exit code is main()'s and every byte written reaches its file and stdout."""
    import subprocess
    import sys

    hook = ("import atexit, amlguard.cli as c\nreal = c.main\n"
            "def main():\n    atexit.register(lambda: print('exit work ran'))\n    return real()\nc.main = main\n"
            if registers_exit_work else "")
    code = (f"import sys\n{hook}from amlguard.cli import run\n"
            "sys.argv = ['amlguard', 'audit', sys.argv[1], '--format', 'json:' + sys.argv[2], '--format', 'table']\n"
            "run()\n")
    report = tmp_path / "report.json"
    result = subprocess.run([sys.executable, "-c", code, str(repo_root() / "examples" / "workspace"), str(report)],
                            capture_output=True, text=True, timeout=120, check=False, cwd=repo_root())
    assert result.returncode == 1, result.stderr
    assert json.loads(report.read_text(encoding="utf-8"))["summary"]["resources"] == 10
    assert result.stdout.rstrip().endswith("exit work ran" if registers_exit_work else "low 14")
