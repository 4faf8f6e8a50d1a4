"""The HTML report opened from disk in headless Chromium: no console errors, the JSON report's numbers,
working filters, keyboard navigation, and screenshots in both themes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .helpers import REPO_ROOT, console_errors, open_page, shown_count, visible_rows

pytestmark = pytest.mark.browser

STATUS_ORDER = ("error", "fail", "exempt", "pass", "not_applicable")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "amlguard.cli", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """`amlguard audit examples/workspace --format html` written to a file, and the same audit as JSON."""
    out = tmp_path_factory.mktemp("report") / "amlguard-report.html"
    run = _cli("audit", "examples/workspace", "--format", "html", "--output", str(out))
    assert run.returncode in (0, 1), run.stderr
    as_json = _cli("audit", "examples/workspace", "--format", "json")
    return out, json.loads(as_json.stdout)


def _worst(statuses: set[str]) -> str:
    return next((s for s in STATUS_ORDER if s in statuses), "not_applicable")


def _wait(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def _active(driver: Any) -> Any:
    return driver.switch_to.active_element


def _tab_until(driver: Any, predicate: Callable[[Any], bool], limit: int = 60) -> Any:
    from selenium.webdriver.common.keys import Keys

    for _ in range(limit):
        _active(driver).send_keys(Keys.TAB)
        element = _active(driver)
        if predicate(element):
            return element
    raise AssertionError("Tab never reached the element")


def test_report_loads_cleanly_with_the_json_numbers(browser: Any, report: tuple[Path, dict[str, Any]],
                                                    artifacts: Path) -> None:
    path, data = report
    open_page(browser, path.as_uri())
    assert console_errors(browser) == []
    summary = data["summary"]
    for key in ("resources", "passed", "failed", "exempt", "errors"):
        assert browser.find_element("css selector", f'[data-count="{key}"]').text == str(summary[key]), key
    assert visible_rows(browser) == summary["resources"] == shown_count(browser)
    browser.save_screenshot(str(artifacts / "report-light.png"))
    open_page(browser, path.as_uri(), dark=True)
    assert console_errors(browser) == []
    background = browser.execute_script("return getComputedStyle(document.documentElement).backgroundColor")
    assert background == "rgb(15, 20, 26)"  # the dark theme's --bg
    browser.save_screenshot(str(artifacts / "report-dark.png"))


def test_search_and_filters_match_the_json(browser: Any, report: tuple[Path, dict[str, Any]]) -> None:
    from selenium.webdriver.support.ui import Select

    path, data = report
    open_page(browser, path.as_uri())
    resources = data["resources"]
    findings = data["findings"]

    search = browser.find_element("id", "f-search")
    search.send_keys("fraud")
    expected = sum(1 for r in resources if "fraud" in f"{r['id']} {r['name']} {r['source']}".lower())
    assert expected > 0
    _wait(lambda: shown_count(browser) == expected)
    assert visible_rows(browser) == expected
    browser.find_element("id", "f-reset").click()
    assert visible_rows(browser) == len(resources)

    by_resource: dict[str, set[str]] = {}
    for f in findings:
        by_resource.setdefault(f["resource"], set()).add(f["status"])
    Select(browser.find_element("id", "f-status")).select_by_value("fail")
    expected = sum(1 for r in resources if _worst(by_resource.get(r["id"], set())) == "fail")
    assert visible_rows(browser) == expected == shown_count(browser)
    browser.find_element("id", "f-reset").click()

    Select(browser.find_element("id", "f-kind")).select_by_value("online_deployment")
    assert visible_rows(browser) == sum(1 for r in resources if r["kind"] == "online_deployment")
    browser.find_element("id", "f-reset").click()

    rule = "AMLG-TAG-001"
    Select(browser.find_element("id", "f-rule")).select_by_value(rule)
    assert visible_rows(browser) == len({f["resource"] for f in findings if f["rule"] == rule and f["status"] == "fail"})
    assert console_errors(browser) == []


def test_keyboard_reaches_filters_toggles_severity_and_sorts(browser: Any, report: tuple[Path, dict[str, Any]],
                                                             artifacts: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    path, data = report
    open_page(browser, path.as_uri())
    failing: dict[str, set[str]] = {}
    for f in data["findings"]:
        if f["status"] in ("fail", "error"):
            failing.setdefault(f["severity"], set()).add(f["resource"])

    # The first Tab lands on the skip link; Enter moves focus to the main content.
    browser.find_element("tag name", "body").send_keys(Keys.TAB)
    skip = _active(browser)
    assert skip.text == "Skip to content"
    assert browser.execute_script("return getComputedStyle(document.activeElement).outlineStyle") != "none"
    skip.send_keys(Keys.ENTER)
    _wait(lambda: _active(browser).get_attribute("id") == "main")

    # Tab reaches the search box, then the severity toggles; Space and Enter toggle them.
    _tab_until(browser, lambda el: el.get_attribute("id") == "f-search")
    high = _tab_until(browser, lambda el: el.get_attribute("data-sev") == "high")
    assert browser.execute_script("return getComputedStyle(document.activeElement).outlineStyle") != "none"
    high.send_keys(Keys.SPACE)
    assert high.get_attribute("aria-pressed") == "true"
    assert visible_rows(browser) == len(failing["high"]) == shown_count(browser)
    medium = _tab_until(browser, lambda el: el.get_attribute("data-sev") == "medium")
    medium.send_keys(Keys.ENTER)
    assert visible_rows(browser) == len(failing["high"] | failing["medium"])
    browser.save_screenshot(str(artifacts / "report-filtered.png"))
    high.send_keys(Keys.ENTER)
    assert high.get_attribute("aria-pressed") == "false"
    assert visible_rows(browser) == len(failing["medium"])
    medium.send_keys(Keys.SPACE)
    assert visible_rows(browser) == len(data["resources"])

    # Sort by the failing count with the keyboard: ascending, then descending.
    sort = _tab_until(browser, lambda el: el.tag_name == "button" and (el.get_attribute("textContent") or "").strip() == "Failing")
    sort.send_keys(Keys.ENTER)
    header = browser.execute_script("return document.activeElement.closest('th').getAttribute('aria-sort')")
    assert header == "ascending"
    counts = browser.execute_script(
        "return Array.from(document.querySelectorAll('#resource-table tbody tr')).map(r => +r.cells[5].dataset.v)")
    assert counts == sorted(counts)
    sort.send_keys(Keys.ENTER)
    counts = browser.execute_script(
        "return Array.from(document.querySelectorAll('#resource-table tbody tr')).map(r => +r.cells[5].dataset.v)")
    assert counts == sorted(counts, reverse=True)

    # A row's findings open from the keyboard and show the fix.
    summary = _tab_until(browser, lambda el: el.tag_name == "summary")
    summary.send_keys(Keys.ENTER)
    details = browser.execute_script("return document.activeElement.parentElement")
    assert details.get_attribute("open") is not None
    _wait(lambda: "Fix:" in details.text)  # rendered from the JSON block on opening
    assert "Why:" in details.text and details.find_elements("css selector", "li.s-fail")
    assert console_errors(browser) == []


def test_theme_toggle_is_a_real_button(browser: Any, report: tuple[Path, dict[str, Any]]) -> None:
    from selenium.webdriver.common.keys import Keys

    path, _ = report
    open_page(browser, path.as_uri())
    toggle = browser.find_element("id", "theme-toggle")
    assert toggle.tag_name == "button"
    toggle.send_keys(Keys.ENTER)
    assert browser.execute_script("return document.documentElement.dataset.theme") == "light"
    toggle.send_keys(Keys.ENTER)
    assert browser.execute_script("return document.documentElement.dataset.theme") == "dark"
    assert browser.execute_script("return getComputedStyle(document.documentElement).backgroundColor") == \
        "rgb(15, 20, 26)"
    toggle.send_keys(Keys.ENTER)
    assert console_errors(browser) == []
