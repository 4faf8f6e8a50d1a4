"""Checkov scan of infra/ (Bicep and ARM frameworks, settings in .checkov.yaml): zero failed
checks, and every skipped check carries a written reason next to the resource it skips."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from ._repo import INFRA, REPO

CHECKOV = Path(sys.executable).parent / "checkov"
SKIP_RE = re.compile(r"checkov:skip=([A-Za-z_\d]+)(?::([^\n]*))?")

# Every skip, the resource it applies to, and why it cannot be met (the reason text itself is in
# the Bicep file). A new skip must be added here on purpose. Newer Checkov releases run more
# checks than 3.2.10; a skip for a check the installed Checkov does not have is simply unused.
EXPECTED_SKIPS = {
    # Flex Consumption without VNet integration needs the storage public endpoint...
    "CKV_AZURE_59": "Microsoft.Storage/storageAccounts.storage",
    # ...and therefore cannot default-deny the storage firewall.
    "CKV_AZURE_35": "Microsoft.Storage/storageAccounts.storage",
    # The account name is a module parameter; Checkov reads the identifier, not the value.
    "CKV_AZURE_43": "Microsoft.Storage/storageAccounts.storage",
    # Callers authenticate with function keys / Entra ID; Event Grid cannot present a client cert.
    "CKV_AZURE_17": "Microsoft.Web/sites.functionApp",
    # Event Grid and API callers reach the app over its public endpoint.
    "CKV_AZURE_222": "Microsoft.Web/sites.functionApp",
    # Flex Consumption: no FTP endpoint, no worker count, platform-managed instances.
    "CKV_AZURE_78": "Microsoft.Web/sites.functionApp",
    "CKV_AZURE_212": "Microsoft.Web/sites.functionApp",
    "CKV_AZURE_213": "Microsoft.Web/sites.functionApp",
    # Zone redundancy is an opt-in parameter (regional availability).
    "CKV_AZURE_225": "Microsoft.Web/serverfarms.plan",
}

pytestmark = pytest.mark.skipif(not CHECKOV.is_file(), reason=f"checkov not installed at {CHECKOV}")


@cache
def scan() -> list[dict[str, Any]]:
    """Run Checkov once, offline, and return its per-framework JSON reports."""
    env = {
        **os.environ,
        # No platform mapping/policy download.
        "BC_SKIP_MAPPING": "TRUE",
        # Checkov asks PyPI for a newer version at import; send that to a closed loopback port so
        # it fails at once and the scan never leaves the machine.
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
        "NO_PROXY": "",
        "no_proxy": "",
    }
    result = subprocess.run(
        [str(CHECKOV), "--config-file", str(REPO / ".checkov.yaml"), "--skip-download", "--output", "json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode in (0, 1), f"checkov crashed ({result.returncode}): {result.stderr[-2000:]}"
    reports = json.loads(result.stdout)
    return reports if isinstance(reports, list) else [reports]


def _checks(kind: str) -> list[dict[str, Any]]:
    return [check for report in scan() for check in report["results"].get(kind, [])]


def test_bicep_framework_scanned_the_templates() -> None:
    reports = {report["check_type"]: report["summary"] for report in scan()}
    assert "bicep" in reports, reports
    assert reports["bicep"]["parsing_errors"] == 0
    assert reports["bicep"]["resource_count"] >= 40
    assert reports["bicep"]["passed"] >= 10


def test_zero_failed_checks() -> None:
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in _checks("failed_checks")]
    assert failed == []
    for report in scan():
        assert report["summary"]["failed"] == 0, report["check_type"]


def test_arm_framework_finds_no_failing_template() -> None:
    # No Bicep compiler is available offline, so infra/ holds no compiled ARM JSON; Checkov's
    # ARM checks still run through the Bicep framework (they register there too).
    for report in scan():
        if report["check_type"] == "arm":
            assert report["summary"]["failed"] == 0


@cache
def known_check_ids() -> frozenset[str]:
    """Ids of the checks the installed Checkov runs on Bicep (its own and the ARM ones)."""
    code = (
        "import json\n"
        "from checkov.bicep.checks.resource.registry import registry\n"
        "import checkov.arm.checks.resource, checkov.bicep.checks.resource\n"
        "checks = [c for group in (registry.checks, registry.wildcard_checks) for cs in group.values() for c in cs]\n"
        "print(json.dumps(sorted({c.id for c in checks})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return frozenset(json.loads(result.stdout))


def test_every_skip_is_expected_and_has_a_reason() -> None:
    skipped = _checks("skipped_checks")
    expected = {(check_id, resource) for check_id, resource in EXPECTED_SKIPS.items()
                if check_id in known_check_ids()}
    assert {(c["check_id"], c["resource"]) for c in skipped} == expected
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert reason != "No comment provided" and len(reason) >= 40, (check["check_id"], reason)


def test_every_skip_comment_in_infra_is_listed_used_and_explained() -> None:
    used = {c["check_id"] for c in _checks("skipped_checks")}
    found = set()
    for path in sorted(INFRA.rglob("*.bicep")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = SKIP_RE.search(line)
            if match is None:
                continue
            check_id, where = match.group(1), f"{path.relative_to(REPO)}:{number}"
            found.add(check_id)
            assert line.lstrip().startswith("//"), f"{where}: a skip must be a Bicep comment"
            assert match.group(2) and len(match.group(2).strip()) >= 40, f"{where}: skip without a reason"
            assert check_id in EXPECTED_SKIPS, f"{where}: {check_id} is not in EXPECTED_SKIPS"
            if check_id in known_check_ids():
                assert check_id in used, f"{where}: {check_id} skips nothing (stale)"
    assert found == set(EXPECTED_SKIPS)
