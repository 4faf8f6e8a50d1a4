"""The `amlguard` command line: what `audit` keeps between runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from amlguard.cli import _cache_dir, main
from amlguard.config import default_policies_dir
from amlguard.policy.documents import read_documents

from .reports.sample import repo_root


@pytest.mark.parametrize(("env", "expected"), [
    ({"XDG_CACHE_HOME": "/c", "HOME": "/h"}, "/c/amlguard/schema-checked"),
    ({"XDG_CACHE_HOME": "relative", "HOME": "/h"}, "/h/.cache/amlguard/schema-checked"),  # as the XDG spec says
    ({"HOME": "/h"}, "/h/.cache/amlguard/schema-checked"),
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
