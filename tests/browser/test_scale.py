"""A 5,000-resource report in headless Chromium: how long it takes to load and to filter.

The numbers are written to test-artifacts/html-scale.json and printed; the assertions use generous
bounds (shared CI machines are slow and noisy), the targets are < 2 s load and < 300 ms per filter.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from amlguard.reports import render_html

from .helpers import console_errors, open_page, shown_count, visible_rows
from .large import large_alerts, large_report

pytestmark = pytest.mark.browser

N = 5000
PAGE = 200


def _filter_ms(driver: Any, script: str) -> float:
    """Milliseconds from changing a filter until the next frame is painted (filtering, style, layout)."""
    return float(driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; const t0 = performance.now();" + script +
        "requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0)));"))


def test_5000_resources_load_and_filter_quickly(browser: Any, tmp_path: Path, artifacts: Path) -> None:
    report = large_report()
    started = time.perf_counter()
    text = render_html(report)
    render_s = time.perf_counter() - started
    page = tmp_path / "large.html"
    page.write_text(text, encoding="utf-8")
    statuses: dict[str, set[str]] = {}
    for f in report.findings:
        statuses.setdefault(f.resource, set()).add(f.status)

    wall_s = open_page(browser, page.as_uri())
    timing = browser.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd};")
    assert console_errors(browser) == []
    assert shown_count(browser) == N
    assert visible_rows(browser) == PAGE  # the first page; filters search all rows

    expected_fail = sum(1 for r in report.resources if "error" not in statuses.get(r.id, set())
                        and "fail" in statuses.get(r.id, set()))
    status_ms = _filter_ms(browser, "const s = document.getElementById('f-status'); s.value = 'fail';"
                                    "s.dispatchEvent(new Event('change'));")
    assert shown_count(browser) == expected_fail
    assert visible_rows(browser) == min(expected_fail, PAGE)
    more_ms = _filter_ms(browser, "document.getElementById('f-more').click();")
    assert visible_rows(browser) == min(expected_fail, 2 * PAGE)
    search_ms = _filter_ms(browser, "const q = document.getElementById('f-search'); q.value = 'mlw-07 ep-01';"
                                    "q.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}));")
    expected_search = sum(1 for r in report.resources
                          if "fail" in statuses.get(r.id, set()) and "error" not in statuses.get(r.id, set())
                          and "mlw-07" in r.id and "ep-01" in r.id)
    assert shown_count(browser) == expected_search == visible_rows(browser)
    chip_ms = _filter_ms(browser, "document.querySelector('button.chip[data-sev=\"high\"]').click();")
    reset_ms = _filter_ms(browser, "document.getElementById('f-reset').click();")
    assert visible_rows(browser) == PAGE and shown_count(browser) == N
    sort_ms = _filter_ms(browser, "document.querySelectorAll('#resource-table th button.sort')[5].click();")
    counts = browser.execute_script(
        "return Array.from(document.querySelectorAll('#resource-table tbody tr')).filter(r => !r.hidden)"
        ".map(r => +r.cells[5].dataset.v)")
    assert len(counts) == PAGE and counts == sorted(counts)  # the first page of the sorted order
    browser.save_screenshot(str(artifacts / "report-5000.png"))

    # Warm timings: each filter three times from the reset state (the first run above also styled rows
    # for the first time); the median is what a user feels once the page is open.
    warm: dict[str, float] = {}
    for name, script in (
        ("status", "const s = document.getElementById('f-status'); s.value = 'fail'; s.dispatchEvent(new Event('change'));"),
        ("search", "const q = document.getElementById('f-search'); q.value = 'mlw-07 ep-01';"
                   "q.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}));"),
        ("severity", "document.querySelector('button.chip[data-sev=\"high\"]').click();"),
    ):
        runs = []
        for _ in range(3):
            runs.append(_filter_ms(browser, script))
            _filter_ms(browser, "document.getElementById('f-reset').click();")
        warm[name] = statistics.median(runs)

    numbers = {"resources": N, "findings": len(report.findings), "html_bytes": len(text.encode()),
               "render_s": round(render_s, 3), "load_wall_s": round(wall_s, 3),
               "dom_content_loaded_ms": round(timing["dcl"]), "load_event_ms": round(timing["load"]),
               "first_filter_ms": {"status": round(status_ms, 1), "search": round(search_ms, 1),
                                   "severity": round(chip_ms, 1), "reset": round(reset_ms, 1),
                                   "show_more": round(more_ms, 1), "sort": round(sort_ms, 1)},
               "warm_filter_median_ms": {k: round(v, 1) for k, v in warm.items()}}
    (artifacts / "html-scale.json").write_text(json.dumps(numbers, indent=2) + "\n")
    print("\n5,000-resource report in headless Chromium:", json.dumps(numbers))
    # Generous bounds: the targets are < 2 s and < 300 ms on a developer machine.
    assert timing["load"] < 10_000
    for value in (status_ms, search_ms, chip_ms, reset_ms, more_ms, *warm.values()):
        assert value < 3_000


def test_dashboard_of_5000_resources_in_the_browser(browser: Any, tmp_path: Path, artifacts: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from amlguard.reports.dashboard import DashboardData, render_dashboard_data

    start = datetime(2026, 11, 1, tzinfo=UTC)
    report = large_report()
    alerts = large_alerts(report, start)
    runs = [{"kind": "sweep", "at": (start + timedelta(hours=i)).isoformat(),
             "summary": {"resources": N, "passed": 10000 + 5 * i, "failed": 14000 - 5 * i, "exempt": 0, "errors": 0}}
            for i in range(500)]
    page = tmp_path / "dashboard.html"
    page.write_text(render_dashboard_data(DashboardData(report=report, alerts=alerts, runs=runs,
                                                        generated_at=start + timedelta(days=30))), encoding="utf-8")
    wall_s = open_page(browser, page.as_uri())
    load_ms = browser.execute_script("return performance.getEntriesByType('navigation')[0].loadEventEnd")
    assert console_errors(browser) == []
    assert visible_rows(browser) == PAGE and shown_count(browser) == N
    status_ms = _filter_ms(browser, "const s = document.getElementById('f-status'); s.value = 'fail';"
                                    "s.dispatchEvent(new Event('change'));")
    numbers = json.loads((artifacts / "html-scale.json").read_text()) if (artifacts / "html-scale.json").exists() else {}
    numbers["dashboard"] = {"resources": N, "alerts": len(alerts), "runs": len(runs), "html_bytes": page.stat().st_size,
                            "load_wall_s": round(wall_s, 3), "load_event_ms": round(load_ms),
                            "filter_status_ms": round(status_ms, 1)}
    (artifacts / "html-scale.json").write_text(json.dumps(numbers, indent=2) + "\n")
    print("\n5,000-resource dashboard in headless Chromium:", json.dumps(numbers["dashboard"]))
    assert load_ms < 15_000 and status_ms < 3_000
