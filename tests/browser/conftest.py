"""Headless Chromium from Debian's packages (`chromium`, `chromium-driver`), driven by Selenium.

Never a downloaded browser: the binary is /usr/bin/chromium and the driver /usr/bin/chromedriver
(`make browser` installs both). Without them the tests skip, except in CI where they must run.
Screenshots and timings go to test-artifacts/ at the repository root (gitignored).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-extensions", "--window-size=1400,1000")


def _need_browser() -> None:
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    message = f"headless Chromium not installed ({CHROMIUM}, {CHROMEDRIVER}); run `make browser`"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run the browser tests)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session, with the browser console log enabled."""
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.TemporaryDirectory(prefix="amlguard-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile.name}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        profile.cleanup()


def open_page(driver: Any, url: str, *, dark: bool = False) -> float:
    """Load `url` with the light or dark colour scheme; returns the wall-clock seconds until load."""
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
        "features": [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]})
    driver.get_log("browser")  # drop entries from earlier pages
    started = time.perf_counter()
    driver.get(url)
    while driver.execute_script("return document.readyState") != "complete":
        time.sleep(0.02)
    return time.perf_counter() - started


def console_errors(driver: Any) -> list[dict[str, Any]]:
    """Console entries at SEVERE level (script errors, CSP violations, failed loads)."""
    return [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def visible_rows(driver: Any) -> int:
    return int(driver.execute_script(
        "return Array.from(document.querySelectorAll('#resource-table tbody tr')).filter(r => !r.hidden).length"))


def shown_count(driver: Any) -> int:
    return int(driver.find_element("id", "f-shown").text)
