"""`amlguard serve` over a real socket: events, audits and an acknowledgement go in through the HTTP API, then
GET /api/dashboard (with the bearer token) is loaded in headless Chromium and checked against the JSON routes."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from .helpers import REPO_ROOT, console_errors, open_page, shown_count, visible_rows

pytestmark = pytest.mark.browser

WS = ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ml-prod/providers/"
      "Microsoft.MachineLearningServices/workspaces/mlw-prod")
RECOMMENDER = f"{WS}/onlineEndpoints/recommender"
BLUE = f"{WS}/onlineEndpoints/fraud-scoring/deployments/blue"
UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


HISTORY = 14  # daily sweeps recorded before the server starts


def _seed_state(state: Path) -> None:
    """What an estate's state folder holds after two weeks: daily sweep runs (compliance creeping up as
    teams fix things) and the example's drift signals as the hourly drift run stored them. Latency and the
    other metrics come from the server's own monitor timer (AMLGUARD_MONITOR_EXAMPLE)."""
    from amlguard.alerts import open_store
    from amlguard.inventory import load_paths
    from amlguard.monitor.evaluate import evaluate_rules
    from amlguard.monitor.example import load_example
    from amlguard.monitor.rules import load_monitor_rules
    from amlguard.reports.dashboard import record_monitor_signals

    example = load_example(REPO_ROOT / "examples" / "monitoring")
    snapshot = example.snapshot if isinstance(example.snapshot, (list, tuple)) else [example.snapshot]
    resources = [r for r in load_paths(list(snapshot)).resources if r.kind in ("online_deployment", "online_endpoint")]
    drift_rules = [r for r in load_monitor_rules(example.rules) if r.signal.source == "drift"]
    result = evaluate_rules(drift_rules, resources, example.source, now=example.now)
    store = open_store(state)
    try:
        start = datetime.now(UTC) - timedelta(days=HISTORY)
        for day in range(HISTORY):
            failed = 40 - day
            store.record_run("sweep", start + timedelta(days=day),
                             {"resources": 10, "passed": 51 - failed, "failed": failed, "exempt": 0, "errors": 0})
        record_monitor_signals(store, result, example.now)
    finally:
        store.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`amlguard serve --snapshot examples/workspace --state <tmp>` on a free loopback port."""
    state = tmp_path_factory.mktemp("state")
    _seed_state(state)
    token = secrets.token_urlsafe(24)
    port = _free_port()
    log = (state / "serve.log").open("w")
    env = {**os.environ, "AMLGUARD_API_TOKEN": token, "PYTHONUNBUFFERED": "1",
           # the monitor timer replays the recorded example metrics instead of querying Azure Monitor
           "AMLGUARD_MONITOR_EXAMPLE": str(REPO_ROOT / "examples" / "monitoring"),
           "AMLGUARD_MONITOR_RULES": str(REPO_ROOT / "policies" / "monitors.yaml")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "amlguard.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--snapshot", "examples/workspace", "--state", str(state), "--sweep-interval", "0"],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("amlguard serve did not start:\n" + (state / "serve.log").read_text())
            time.sleep(0.2)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _event(event_id: str, upn: str, subject: str = RECOMMENDER, *, delete: bool = False) -> dict[str, Any]:
    kind = "onlineEndpoints/deployments" if "/deployments/" in subject else "onlineEndpoints"
    return {"id": event_id, "topic": f"/subscriptions/{WS.split('/')[2]}/resourceGroups/rg-ml-prod",
            "subject": subject,
            "eventType": f"Microsoft.Resources.Resource{'Delete' if delete else 'Write'}Success",
            "eventTime": "2099-01-01T00:00:00Z", "dataVersion": "2", "metadataVersion": "1",
            "data": {"operationName": f"Microsoft.MachineLearningServices/workspaces/{kind}/"
                                      f"{'delete' if delete else 'write'}",
                     "resourceUri": subject, "status": "Succeeded", "claims": {UPN: upn}}}


def test_dashboard_served_live(browser: Any, server: tuple[str, str], tmp_path: Path, artifacts: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    base, token = server
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=auth, timeout=60) as client:
        for _ in range(3):  # three sweeps of history
            assert client.post("/api/audit", json={}).status_code == 200
        delivered = client.post("/api/events", json=[_event("evt-1", "dana@contoso.com")],
                                headers={"aeg-event-type": "Notification"})
        assert delivered.status_code == 200, delivered.text
        assert delivered.json()["events"][0]["outcome"] == "audited"
        alerts = client.get("/api/alerts").json()["alerts"]
        firing = [a for a in alerts if a["status"] == "firing" and a["resource"] != BLUE]
        assert client.post(f"/api/alerts/{firing[-1]['fingerprint']}/ack",
                           json={"by": "erin@contoso.com", "comment": "rolling out the fix"}).status_code == 200
        summary = client.get("/api/audit").json()["summary"]  # a fourth sweep: the dashboard shows it
        deleted = client.post("/api/events", json=[_event("evt-2", "frank@contoso.com", BLUE, delete=True)],
                              headers={"aeg-event-type": "Notification"})
        assert deleted.json()["events"][0]["outcome"] == "resolved"
        assert httpx.get(f"{base}/api/dashboard", timeout=30).status_code == 401  # no token, no page
        deadline = time.monotonic() + 60
        while 'id="latency"' not in client.get("/api/dashboard").text:  # the first monitor run has stored
            assert time.monotonic() < deadline, "the monitor timer stored no signals within 60 s"
            time.sleep(1)
        for _ in range(5):  # the timer keeps running: take a page whose alerts match the API's either side
            before = client.get("/api/alerts").json()["alerts"]
            page = client.get("/api/dashboard")
            alerts = client.get("/api/alerts").json()["alerts"]
            if [(a["fingerprint"], a["status"]) for a in before] == [(a["fingerprint"], a["status"]) for a in alerts]:
                break
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    saved = tmp_path / "dashboard.html"
    saved.write_text(page.text, encoding="utf-8")

    open_page(browser, saved.as_uri())
    assert console_errors(browser) == []
    for key in ("resources", "passed", "failed", "exempt", "errors"):
        assert browser.find_element("css selector", f'[data-count="{key}"]').text == str(summary[key]), key
    assert visible_rows(browser) == summary["resources"] == shown_count(browser)

    rows = browser.find_elements("css selector", "#alert-table tbody tr")
    assert len(rows) == len(alerts)
    assert int(browser.find_element("css selector", '[data-count="firing"]').text) == sum(
        1 for a in alerts if a["status"] == "firing" and not a.get("acknowledged_by") and not a.get("silenced_by"))
    acked = browser.find_elements("css selector", '#alert-table tr[data-state="acknowledged"]')
    assert len(acked) == 1 and "erin@contoso.com" in acked[0].text
    resolved = browser.find_elements("css selector", '#alert-table tr[data-state="resolved"]')
    assert resolved and all("fraud-scoring/blue" in r.text and "frank@contoso.com" in r.text for r in resolved)
    assert len(resolved) == sum(1 for a in alerts if a["status"] == "resolved")
    dana = [r for r in rows if "dana@contoso.com" in r.text]
    assert dana and all("recommender" in r.text for r in dana)
    chip = browser.find_element("css selector", 'button[data-alert-state="acknowledged"]')
    chip.send_keys(Keys.SPACE)  # keyboard: show only acknowledged alerts
    shown = [r for r in rows if r.is_displayed()]
    assert len(shown) == 1 and "erin@contoso.com" in shown[0].text
    chip.send_keys(Keys.ENTER)
    assert all(r.is_displayed() for r in rows)
    assert browser.find_element("id", "trend-chart").get_attribute("data-runs") == str(HISTORY + 4)
    assert browser.find_elements("css selector", "#latency tbody tr[data-status='fail']")
    assert browser.find_elements("css selector", ".feature[data-drifted='true']")
    browser.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
    browser.save_screenshot(str(artifacts / "dashboard-top.png"))
    for section in ("alerts", "health"):
        browser.execute_script("document.getElementById(arguments[0]).scrollIntoView()", section)
        browser.save_screenshot(str(artifacts / f"dashboard-{section}.png"))
    open_page(browser, saved.as_uri(), dark=True)
    assert console_errors(browser) == []
    browser.save_screenshot(str(artifacts / "dashboard-dark.png"))
    (artifacts / "dashboard-api-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
