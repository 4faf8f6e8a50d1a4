"""Helpers for the browser tests: load a page in a theme, read console errors, count table rows."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


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
