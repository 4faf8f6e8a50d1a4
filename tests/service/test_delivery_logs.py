"""A whole delivery cycle (sweep -> alerts -> outbox -> receivers that fail some sends -> retries)
logged at DEBUG: no receiver secret appears anywhere in the log, and each failed send is exactly
one WARNING line naming the receiver, the status and the next attempt time."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import ssl
from pathlib import Path

import httpx
import pytest

from amlguard import telemetry
from amlguard.alerts.config import build_notifiers
from amlguard.config import Settings
from amlguard.service import Service
from tests.service.conftest import Clock
from tests.standins.receivers import ReceiverStandin

HMAC_SECRET = "hmac-Secret-4f1c9a"
TEAMS_SIG = "teamsSig0x7E2b"
SLACK_PATH = "slackPathTokenQ9"
SLACK_CODE = "slackCode5Rr1"
HOOK_CODE = "hookCodeA1b2"
API_TOKEN = "api-Token-77ab"
SECRETS = (HMAC_SECRET, TEAMS_SIG, SLACK_PATH, SLACK_CODE, HOOK_CODE, API_TOKEN, "sig=", "code=")

ALERTING = """\
apiVersion: amlguard/v1
kind: AlertRouting
metadata: {name: secrets-in-logs}
route:
  receiver: webhook
  group_by: [rule]
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 4h
  routes:
    - {receiver: teams, continue: true}
    - {receiver: slack, continue: true}
    - {receiver: webhook}
receivers:
  - {name: teams, type: teams, url_from_env: TEAMS_WEBHOOK_URL}
  - {name: slack, type: slack, url_from_env: SLACK_WEBHOOK_URL, timeout: 0.3}
  - {name: webhook, type: webhook, url_from_env: AMLGUARD_WEBHOOK_URL, secret_from_env: WEBHOOK_HMAC_SECRET}
"""


@pytest.mark.parametrize("http_level", ["WARNING", "DEBUG"])
def test_a_delivery_cycle_logs_no_secret_and_one_warning_per_failed_send(
        http_level: str, workspace: Path, tmp_path: Path, clock: Clock) -> None:
    (tmp_path / "alerting.yaml").write_text(ALERTING, encoding="utf-8")
    levels = {name: logging.getLogger(name).level for name in telemetry.HTTP_LOGGERS}
    root_level = logging.getLogger().level
    with ReceiverStandin(webhook_secret=HMAC_SECRET) as receiver:
        env = {
            "TEAMS_WEBHOOK_URL": f"{receiver.url}teams/workflows/1/triggers/manual/paths/invoke"
                                 f"?api-version=2016-06-01&sp=%2Ftriggers&sv=1.0&sig={TEAMS_SIG}",
            "SLACK_WEBHOOK_URL": f"{receiver.url}slack/services/T0/B0/{SLACK_PATH}?code={SLACK_CODE}",
            "AMLGUARD_WEBHOOK_URL": f"{receiver.url}webhook?code={HOOK_CODE}",
            "WEBHOOK_HMAC_SECRET": HMAC_SECRET, "AMLGUARD_API_TOKEN": API_TOKEN,
            "AMLGUARD_ALERTING": str(tmp_path / "alerting.yaml"), "AMLGUARD_HTTP_LOG_LEVEL": http_level,
        }
        settings = dataclasses.replace(Settings.from_env(env), snapshot=(str(workspace),),
                                       state_dir=tmp_path / "state")
        stream = io.StringIO()
        handler = telemetry.configure_logging(json=True, level="DEBUG", stream=stream,
                                              http_level=settings.http_log_level)
        client = httpx.Client(verify=ssl.create_default_context(cafile=str(receiver.ca_file)))
        service = Service.from_settings(settings, clock=clock)
        try:
            for built in service.notifiers.values():
                built.close()  # type: ignore[attr-defined]
            # the same receivers, trusting the stand-in's throwaway CA
            service.notifiers = build_notifiers(service.alerts.config, settings.env,  # type: ignore[attr-defined]
                                                http_client=client)
            receiver.inject(path="/teams/", status=500, body={"error": "boom"}, times=2)
            receiver.inject(path="/slack/", delay=1.0, times=1)
            receiver.inject(path="/webhook", status=503, headers={"Retry-After": "30"}, times=1)
            service.sweep()
            for _ in range(8):
                service.tick()
                clock.advance(700)  # past the longest backoff (10 min)
            assert service.alerts.outbox() == []
        finally:
            service.close()
            client.close()
            logging.getLogger().removeHandler(handler)
            logging.getLogger().setLevel(root_level)
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
    output = stream.getvalue()
    assert [secret for secret in SECRETS if secret in output] == []
    records = [json.loads(line) for line in output.splitlines()]
    if http_level == "DEBUG":  # the request logs were there, and carried no query
        assert any(r["logger"] == "httpx" and "?REDACTED" in r["message"] for r in records)
    else:
        assert not any(r["logger"].startswith(("httpx", "httpcore")) for r in records)
    faulted = [r for r in receiver.requests if r.fault]
    assert len(faulted) == 4
    warnings = [r for r in records if r["level"] == "WARNING"]
    assert sorted((w["receiver"], w["status"]) for w in warnings) == [
        ("slack", "ReadTimeout"), ("teams", "HTTP 500"), ("teams", "HTTP 500"), ("webhook", "HTTP 503")]
    for warning in warnings:
        assert warning["logger"] == "amlguard.alerts.outbox" and warning["retry_at"]
        assert f"receiver {warning['receiver']}: send failed ({warning['status']})" in warning["message"]
        assert f"next attempt at {warning['retry_at']}" in warning["message"]
