"""axe-core (the accessibility engine behind Lighthouse and Accessibility Insights) on the report and the
dashboard, in both colour themes: no violations of WCAG 2.x A / AA rules or of axe best practices.

axe-core comes from npm (`node_modules/axe-core/axe.min.js`, or the file named by AXE_CORE_JS); the test
skips when it is not installed.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from .helpers import REPO_ROOT, console_errors, open_page

pytestmark = pytest.mark.browser

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def _axe_source() -> str:
    candidates = [Path(os.environ["AXE_CORE_JS"])] if os.environ.get("AXE_CORE_JS") else []
    candidates.append(REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js")
    for path in candidates:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    pytest.skip("axe-core is not installed (npm install axe-core, or set AXE_CORE_JS)")


def _violations(driver: Any, source: str) -> list[dict[str, Any]]:
    driver.execute_script(source)  # WebDriver scripts are not subject to the page's CSP
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))), e => done([{id: 'axe-error', help: String(e)}]));",
        TAGS)
    return list(result)


def _open_everything(driver: Any) -> None:
    """Open every row's findings and every folded section, so their content is checked too."""
    driver.execute_script("document.querySelectorAll('details').forEach(d => { d.open = true; });")
    driver.execute_async_script("const done = arguments[arguments.length - 1]; setTimeout(done, 200);")


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from amlguard.monitor.evaluate import evaluate_rules
    from amlguard.monitor.example import load_example
    from amlguard.monitor.rules import load_monitor_rules
    from amlguard.reports import render_html
    from amlguard.reports.dashboard import DashboardData, render_dashboard_data

    from ..reports.sample import build_report

    folder = tmp_path_factory.mktemp("a11y")
    report = build_report()
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    (folder / "report.html").write_text(render_html(report), encoding="utf-8")
    example = load_example(REPO_ROOT / "examples" / "monitoring")
    from amlguard.inventory import load_paths

    snapshot = example.snapshot if isinstance(example.snapshot, (list, tuple)) else [example.snapshot]
    resources = [r for r in load_paths(list(snapshot)).resources if r.kind in ("online_deployment", "online_endpoint")]
    result = evaluate_rules(load_monitor_rules(example.rules), resources, example.source, now=example.now)
    finding = next(f for f in report.findings if f.status == "fail")
    alerts = [{"fingerprint": "f1", "rule": finding.rule, "resource": finding.resource, "status": "firing",
               "severity": finding.severity, "since": now.isoformat(), "changed_by": {"upn": "ana@contoso.com"},
               "acknowledged_by": "ben@contoso.com",
               "history": [{"at": (now - timedelta(hours=2)).isoformat(), "event": "transition", "from": "inactive",
                            "to": "pending", "reason": "failed"},
                           {"at": (now - timedelta(hours=1)).isoformat(), "event": "transition", "from": "pending",
                            "to": "firing", "reason": "failed for 1h"},
                           {"at": now.isoformat(), "event": "acknowledged", "by": "ben@contoso.com"}]}]
    runs = [{"kind": "sweep", "at": (now - timedelta(days=d)).isoformat(),
             "summary": {"resources": 5, "passed": 4 + d % 3, "failed": 6, "exempt": 2, "errors": 1}} for d in range(7)]
    data = DashboardData(report=report, alerts=alerts, runs=runs, generated_at=now,
                         monitor={"at": now.isoformat(), "signals": [e.to_json() for e in result.evaluated]})
    (folder / "dashboard.html").write_text(render_dashboard_data(data), encoding="utf-8")
    return {"report": folder / "report.html", "dashboard": folder / "dashboard.html"}


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
@pytest.mark.parametrize("name", ["report", "dashboard"])
def test_no_axe_violations(browser: Any, pages: dict[str, Path], name: str, dark: bool) -> None:
    source = _axe_source()
    open_page(browser, pages[name].as_uri(), dark=dark)
    _open_everything(browser)
    violations = _violations(browser, source)
    assert violations == [], "\n".join(f"{v['id']} ({v.get('impact')}): {v['help']} at {v.get('nodes')}"
                                       for v in violations)
    assert console_errors(browser) == []
